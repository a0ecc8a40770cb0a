/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Relays and workers in the control protocol's replies: what the relay
 * table and the workers' counters hold, formatted; no device is asked.
 */
#include <rte_lcore.h>

#include "report.h"
#include "workers.h"

static void report_dir(struct json *j, const char *name, const struct dir_stats *s)
{
	json_open(j, name, '{');
	json_u64(j, "rx_pkts", __atomic_load_n(&s->rx_pkts, __ATOMIC_RELAXED));
	json_u64(j, "rx_bytes", __atomic_load_n(&s->rx_bytes, __ATOMIC_RELAXED));
	json_u64(j, "tx_pkts", __atomic_load_n(&s->tx_pkts, __ATOMIC_RELAXED));
	json_u64(j, "tx_bytes", __atomic_load_n(&s->tx_bytes, __ATOMIC_RELAXED));
	json_u64(j, "drop_full_pkts", __atomic_load_n(&s->drop_full_pkts, __ATOMIC_RELAXED));
	json_u64(j, "drop_full_bytes", __atomic_load_n(&s->drop_full_bytes, __ATOMIC_RELAXED));
	json_u64(j, "drop_nc_pkts", __atomic_load_n(&s->drop_nc_pkts, __ATOMIC_RELAXED));
	json_u64(j, "drop_nc_bytes", __atomic_load_n(&s->drop_nc_bytes, __ATOMIC_RELAXED));
	json_u64(j, "busy_cycles", __atomic_load_n(&s->busy_cycles, __ATOMIC_RELAXED));
	json_close(j, '}');
}

void report_relay(struct json *j, const struct relay *r)
{
	int socket = relay_socket(r);
	int vid = __atomic_load_n(&r->vid, __ATOMIC_ACQUIRE);

	json_open(j, NULL, '{');
	json_u64(j, "id", r->id);
	json_str(j, "vf", r->vf);
	json_str(j, "vf_name", r->vf_name);
	if (r->bond[0] != '\0') {
		json_str(j, "bond", r->bond);
		json_u64(j, "bond_mode", r->bond_mode);
	}
	json_u64(j, "vf_port", r->vf_port);
	json_str(j, "vhost_path", r->vhost_path);
	json_bool(j, "vhost_client", r->vhost_client);
	json_bool(j, "connected", vid >= 0);
	json_bool(j, "vf_up", __atomic_load_n(&r->vf_up, __ATOMIC_RELAXED) != 0);
	json_bool(j, "vf_gone", r->vf_gone);
	json_u64(j, "socket_id", socket < 0 ? 0 : (uint64_t)socket);
	/* The same, with -1 while not placed on a node (a virtual VF, no VM yet). */
	json_i64(j, "buffer_node", socket);
	/* What the VM negotiated (0 while none is connected), and the VF's MTU. */
	json_u64(j, "vhost_features", vid >= 0 ? __atomic_load_n(&r->vhost_features, __ATOMIC_RELAXED) : 0);
	json_u64(j, "vf_mtu", r->vf_mtu);
	/* Packets the VF's own receive ring had no room for (NIC drops). */
	json_u64(j, "vf_rx_missed", r->vf_rx_missed);
	json_u64(j, "vm_connects", __atomic_load_n(&r->vm_connects, __ATOMIC_RELAXED));
	json_u64(j, "vm_disconnects", __atomic_load_n(&r->vm_disconnects, __ATOMIC_RELAXED));
	json_open(j, "cpu", '[');
	json_u64(j, NULL, r->worker[DIR_VF_TO_VM]);
	json_u64(j, NULL, r->worker[DIR_VM_TO_VF]);
	json_close(j, ']');
	report_dir(j, "vf_to_vm", &r->dir[DIR_VF_TO_VM]);
	report_dir(j, "vm_to_vf", &r->dir[DIR_VM_TO_VF]);
	json_close(j, '}');
}

void report_workers(struct json *j)
{
	json_open(j, "workers", '[');
	for (unsigned int i = 0; i < workers_count(); i++) {
		struct worker_counters c;

		worker_counters(worker_lcore(i), &c);
		json_open(j, NULL, '{');
		json_u64(j, "lcore", worker_lcore(i));
		json_u64(j, "busy_cycles", c.busy_cycles);
		json_u64(j, "idle_cycles", c.idle_cycles);
		/* The scheduler keeps a relay's directions on its own node. */
		json_i64(j, "numa_node", (int)rte_lcore_to_socket_id(worker_lcore(i))); /* -1: several nodes */
		json_close(j, '}');
	}
	json_close(j, ']');
}
