/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VIO4WD_RELAY_H
#define VIO4WD_RELAY_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_dev.h>

#include "relay_request.h"
#include "sockpath.h"

/* Queue pairs a relay serves on the VM side (the guide's maximum). */
#define MAX_QUEUE_PAIRS 32
#define BURST 32

struct rte_mempool;

/*
 * Counters of one direction. Only the worker that owns the direction writes
 * them (relaxed stores); the control thread reads them with relaxed loads.
 */
struct dir_stats {
	uint64_t rx_pkts;
	uint64_t rx_bytes;
	uint64_t tx_pkts;
	uint64_t tx_bytes;
	uint64_t drop_full_pkts;   /* far queue full */
	uint64_t drop_full_bytes;
	uint64_t drop_nc_pkts;     /* far side not connected */
	uint64_t drop_nc_bytes;
	uint64_t busy_cycles;      /* TSC cycles spent moving packets */
} __rte_cache_aligned;

/*
 * State of one direction that only the worker polling it touches (it moves
 * with the direction, under RCU, when the direction changes worker).
 */
struct dir_fast {
	/* A burst the far side took only part of: sent before anything new is read. */
	struct rte_mbuf *pending[BURST];  /* relay.n_pending[d] of them */
	uint8_t pending_q[BURST];  /* VF->VM: each packet's guest queue pair */
	uint8_t pending_one_q;     /* VF->VM: all of pending_q are pending_q[0] */
	uint16_t stalled;          /* the far side took nothing for a whole hold: drop at once */
	uint64_t since;            /* TSC of the far side's last progress while holding */
	/* The enabled guest queue pairs, as a list, for the mask it was built from. */
	uint32_t q_mask;
	uint16_t n_q;
	uint16_t next_q;           /* VM->VF: queue to drain first (round robin) */
	uint8_t q[MAX_QUEUE_PAIRS];
} __rte_cache_aligned;

/* A VF <-> vhost-user pairing. */
struct relay {
	/* Read by the fast path. */
	uint16_t vf_port;
	int vid;                  /* vhost device id, -1 while no VM; atomic */
	int vf_up;                /* VF link is up; atomic, from LSC events and polling */
	uint32_t vm_rxq_mask;     /* guest receive queues enabled (bit = queue pair); atomic */
	uint32_t vm_txq_mask;     /* guest transmit queues enabled; atomic */
	/*
	 * Packets held in fast[d].pending (only d's worker touches it). Here,
	 * beside vid, rather than in fast[d]: a worker tells an idle relay (no
	 * VM, nothing held) from this cache line alone, 64 of them a loop.
	 */
	uint16_t n_pending[DIR_COUNT];
	/* mbufs for packets copied out of the guest; on the VM memory's node. */
	struct rte_mempool *vm_pool;
	struct dir_stats dir[DIR_COUNT];
	struct dir_fast fast[DIR_COUNT];

	/* Control side only. */
	unsigned int id;
	unsigned int worker[DIR_COUNT]; /* lcore serving each direction */
	bool vhost_client;
	uint64_t waiting_since;   /* TSC since when no VM is connected (0: one is); under the table's lock */
	/* VMs that connected to and disconnected from the relay's socket; atomic (vhost thread, read by reports). */
	uint64_t vm_connects;
	uint64_t vm_disconnects;
	bool leaving;             /* being removed: see relay.c; under the table's lock */
	bool vhost_registered;
	bool vf_probed;
	/*
	 * The VF was hot-unplugged: set (atomic) by the removal events (the
	 * interrupt thread); the control thread then takes the relay off its
	 * workers and lets the device go (vf_gone). The relay stays, without a
	 * VF, until it is removed.
	 */
	bool vf_removed;
	bool vf_gone;
	char vf[VF_ARGS_MAX];     /* PCI address or device arguments; bond: members, ';' between */
	char vf_name[RTE_DEV_NAME_MAX_LEN];
	/* A bond: its members are VFs of their own, the bond port is vf_port. */
	char bond[BOND_NAME_MAX]; /* the user's name; empty: not a bond */
	char ident[IDENT_MAX];    /* who it serves, for messages; empty: not given */
	unsigned int bond_mode;
	unsigned int n_members;
	uint16_t member_port[BOND_MEMBERS_MAX];
	char member_name[BOND_MEMBERS_MAX][64];
	char vhost_path[PATH_MAX];      /* as the client gave it */
	char vhost_sock[SOCKPATH_MAX];  /* what it is registered as: through vhost_dirfd */
	int vhost_dirfd;                /* the socket's directory, pinned (sockpath.h) */
	struct rte_mempool *vf_pool;      /* the VF's receive ring; on the VF's node */
	struct rte_mempool *retired_pool; /* a vm_pool left behind: freed once all its mbufs are back */
	/* What the VM negotiated, read at connect: the control thread must not
	 * ask the vhost library about a device that may be going away. Atomic. */
	uint64_t vhost_features;
	uint16_t vf_mtu;                  /* read once the port has started */
	uint64_t vf_rx_missed;            /* the VF's imissed, at relay_refresh_counters */
};

int relay_table_init(void);
int relay_add(const struct relay_request *req, char *err, size_t errlen);
int relay_remove(unsigned int id, char *err, size_t errlen);
/*
 * Move a relay's directions to other workers (cpu[d] < 0: leave it). No
 * packet is lost or reordered: a direction leaves its old worker, every
 * worker passes a quiescent state, then it joins its new worker.
 */
int relay_set_cpu(unsigned int id, const int cpu[DIR_COUNT], char *err, size_t errlen);
void relay_remove_all(void);
/* Relay by id; NULL if there is none or it is being removed. Control thread only. */
struct relay *relay_get(unsigned int id);

/* Read what the relay's VF counts itself (its receive ring's misses) into the relay. */
void relay_refresh_counters(struct relay *r);
/* Refresh every relay's VF link state (devices without LSC interrupts). */
void relay_poll_links(void);
/* Let go of the VFs that were hot-unplugged (see vf_removed). */
void relay_release_removed(void);
/* Free retired packet-buffer pools whose mbufs have all come back. */
void relay_reap_pools(void);
/* NUMA node of the relay's guest-side buffers (SOCKET_ID_ANY: not placed yet). */
int relay_socket(const struct relay *r);

/* Stop guest notifications on the queues guests enabled since the last call. */
void relay_quiet_guests(void);

#endif
