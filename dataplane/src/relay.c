/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The relay table: control-side state of every VF <-> vhost-user pairing.
 * The control thread adds and removes relays; the vhost callbacks (here,
 * beside the table they update) attach and detach device ids. A mutex
 * guards the table (never the fast path, which sees relays only through
 * worker plans).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_vhost.h>

#include "log.h"
#include "pools.h"
#include "port.h"
#include "relay.h"
#include "vhost.h"
#include "workers.h"

/*
 * VF pool: the VF's receive ring (per bond member), a held burst and the
 * per-lcore caches. VM pool: what waits in the VF's transmit ring, a held
 * burst and the caches.
 */
#define VF_POOL_MBUFS POOL_MBUFS
#define BOND_POOL_MBUFS 8191
#define VM_POOL_MBUFS POOL_MBUFS

/*
 * A relay stays in its slot until it is freed; while it is being removed
 * (r->leaving) no VM attaches to it, but one leaving is still detached
 * from it, and its socket still has its name for messages.
 */
static struct relay *relays[MAX_RELAYS];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

struct relay *relay_get(unsigned int id)
{
	return id < MAX_RELAYS && relays[id] != NULL && !relays[id]->leaving ? relays[id] : NULL;
}

/*
 * The relay whose socket was registered as sock, or NULL; one being
 * removed only if leaving_too. Caller holds table_lock.
 */
static struct relay *relay_by_sock(const char *sock, bool leaving_too)
{
	for (unsigned int i = 0; i < MAX_RELAYS; i++)
		if (relays[i] != NULL && (leaving_too || !relays[i]->leaving) &&
		    strcmp(relays[i]->vhost_sock, sock) == 0)
			return relays[i];
	return NULL;
}

static void shown_path(const char *sock, char *out, size_t len)
{
	const struct relay *r;

	pthread_mutex_lock(&table_lock);
	r = relay_by_sock(sock, true);
	/* With the relay's identity: every message about the socket says whose it is. */
	if (r != NULL && r->ident[0] != '\0')
		snprintf(out, len, "%s (%s)", r->vhost_path, r->ident);
	else
		snprintf(out, len, "%s", r != NULL ? r->vhost_path : sock);
	pthread_mutex_unlock(&table_lock);
}

static struct rte_mempool *vm_pool_create(int socket)
{
	return pool_get(VM_POOL_MBUFS, POOL_BUF_SIZE, socket);
}

int relay_socket(const struct relay *r)
{
	return r->vm_pool->socket_id;
}

/*
 * Put the guest-side buffers on the node of the VM's memory (the copy out
 * of the guest then stays local). Runs before the VM's device id is
 * published, when no worker can be dequeuing with the old pool; mbufs of
 * it still in the VF's transmit ring come back to it later.
 */
static void vm_pool_follow(struct relay *r, int vid)
{
	int node = rte_vhost_get_numa_node(vid);
	struct rte_mempool *mp;

	if (node < 0 || node == relay_socket(r))
		return;
	if (r->retired_pool != NULL) {
		LOG(NOTICE, "relay %u: VM memory on NUMA node %d; buffers stay on node %d until the "
		    "previous move completes", r->id, node, relay_socket(r));
		return;
	}
	mp = vm_pool_create(node);
	if (mp == NULL) {
		LOG(NOTICE, "relay %u: VM memory on NUMA node %d, which has no memory for vio4wd; "
		    "buffers stay on node %d", r->id, node, relay_socket(r));
		return;
	}
	r->retired_pool = r->vm_pool;
	r->vm_pool = mp;
	LOG(INFO, "relay %u: VM memory on NUMA node %d: packet buffers moved there", r->id, node);
}

void relay_reap_pools(void)
{
	pthread_mutex_lock(&table_lock);
	for (unsigned int i = 0; i < MAX_RELAYS; i++) {
		struct relay *r = relays[i];

		if (r != NULL && r->retired_pool != NULL && rte_mempool_full(r->retired_pool)) {
			LOG(INFO, "relay %u: buffers left on NUMA node %d released", r->id,
			    r->retired_pool->socket_id);
			pool_put(r->retired_pool);
			r->retired_pool = NULL;
		}
	}
	pthread_mutex_unlock(&table_lock);
}

/* vhost: a VM connected on sock. */
static int attach_vid(const char *sock, int vid)
{
	uint64_t waited = 0;
	unsigned int id = 0;
	struct relay *r;

	pthread_mutex_lock(&table_lock);
	r = relay_by_sock(sock, false);
	if (r != NULL) {
		uint64_t features = 0;

		if (r->vhost_client && r->waiting_since != 0)
			waited = rte_get_timer_cycles() - r->waiting_since;
		r->waiting_since = 0;
		id = r->id;

		vm_pool_follow(r, vid);
		rte_vhost_get_negotiated_features(vid, &features);
		__atomic_store_n(&r->vhost_features, features, __ATOMIC_RELAXED);
		__atomic_store_n(&r->vid, vid, __ATOMIC_RELEASE);
		__atomic_fetch_add(&r->vm_connects, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&table_lock);
	/* Client mode: the vhost library tried once a second meanwhile. */
	if (waited >= rte_get_timer_hz())
		LOG(INFO, "relay %u: the VM's socket answered after %.0f s of waiting (about one try a second)",
		    id, (double)waited / (double)rte_get_timer_hz());
	return r != NULL ? 0 : -ENOENT;
}

/* vhost: the guest enabled or disabled one of its queues. */
static void set_vring(const char *sock, uint16_t queue_id, int enabled)
{
	unsigned int pair = queue_id / 2;
	struct relay *r;

	if (pair >= MAX_QUEUE_PAIRS) {
		char path[PATH_MAX];

		if (!enabled)
			return;
		shown_path(sock, path, sizeof(path));
		LOG(WARNING, "%s: the guest enabled queue pair %u; vio4wd serves queue pairs 0-%u only",
		    path, pair, MAX_QUEUE_PAIRS - 1);
		return;
	}
	pthread_mutex_lock(&table_lock);
	r = relay_by_sock(sock, false);
	if (r != NULL) {
		/* Even virtqueues carry host->guest (the guest's receive side). */
		uint32_t *mask = queue_id % 2 == 0 ? &r->vm_rxq_mask : &r->vm_txq_mask;

		if (enabled)
			__atomic_fetch_or(mask, 1u << pair, __ATOMIC_RELEASE);
		else
			__atomic_fetch_and(mask, ~(1u << pair), __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&table_lock);
}

/*
 * vhost: device vid went away. No worker may touch it once this returns:
 * withdraw it from the relay that had it (one being removed too: its
 * workers may still poll it), then wait for every worker to pass a
 * quiescent state. The socket of a relay being removed is closed after its
 * workers let go of it: no relay has the device then, and nothing to wait for.
 */
static void detach_vid(int vid)
{
	bool had = false;

	pthread_mutex_lock(&table_lock);
	for (unsigned int i = 0; i < MAX_RELAYS; i++) {
		struct relay *r = relays[i];

		if (r != NULL && __atomic_load_n(&r->vid, __ATOMIC_RELAXED) == vid) {
			r->waiting_since = rte_get_timer_cycles();
			__atomic_store_n(&r->vid, -1, __ATOMIC_RELEASE);
			__atomic_store_n(&r->vm_rxq_mask, 0, __ATOMIC_RELEASE);
			__atomic_store_n(&r->vm_txq_mask, 0, __ATOMIC_RELEASE);
			__atomic_fetch_add(&r->vm_disconnects, 1, __ATOMIC_RELAXED);
			had = true;
		}
	}
	pthread_mutex_unlock(&table_lock);
	if (had)
		workers_synchronize();
}

static const struct vhost_events relay_vhost_events = {
	.attach = attach_vid,
	.detach = detach_vid,
	.vring = set_vring,
	.shown_path = shown_path,
};

void relay_quiet_guests(void)
{
	if (!vhost_quiet_wanted())
		return;
	for (unsigned int i = 0; i < MAX_RELAYS; i++) {
		const struct relay *r = relay_get(i);
		int vid = r == NULL ? -1 : __atomic_load_n(&r->vid, __ATOMIC_ACQUIRE);

		/* A device gone meanwhile only makes the calls fail. */
		if (vid >= 0)
			vhost_quiet_device(vid);
	}
}

static void link_refresh(struct relay *r)
{
	struct rte_eth_link link;
	int up = rte_eth_link_get_nowait(r->vf_port, &link) == 0 &&
		link.link_status == RTE_ETH_LINK_UP;

	if (__atomic_exchange_n(&r->vf_up, up, __ATOMIC_RELEASE) != up)
		LOG(INFO, "relay %u: VF %s link %s", r->id, r->vf_name, up ? "up" : "down");
}

void relay_refresh_counters(struct relay *r)
{
	struct rte_eth_stats st;

	if (!r->vf_gone && rte_eth_stats_get(r->vf_port, &st) == 0)
		r->vf_rx_missed = st.imissed;
}

void relay_poll_links(void)
{
	pthread_mutex_lock(&table_lock);
	for (unsigned int i = 0; i < MAX_RELAYS; i++)
		if (relay_get(i) != NULL && !relays[i]->vf_gone)
			link_refresh(relays[i]);
	pthread_mutex_unlock(&table_lock);
}

/* Link-state-change interrupt (interrupt thread). */
static int on_lsc(uint16_t port, enum rte_eth_event_type type, void *arg, void *ret)
{
	(void)type;
	(void)arg;
	(void)ret;
	pthread_mutex_lock(&table_lock);
	for (unsigned int i = 0; i < MAX_RELAYS; i++)
		if (relay_get(i) != NULL && !relays[i]->vf_gone && relays[i]->vf_port == port)
			link_refresh(relays[i]);
	pthread_mutex_unlock(&table_lock);
	return 0;
}

/* Whether the relay's VF is, or has as a bond member, this port or device. */
static bool relay_has_vf(const struct relay *r, int port, const char *name)
{
	if (r->vf_gone)
		return false;
	if (port >= 0 && r->vf_port == port)
		return true;
	if (name != NULL && strcmp(r->vf_name, name) == 0)
		return true;
	for (unsigned int m = 0; m < r->n_members; m++)
		if ((port >= 0 && r->member_port[m] == port) || (name != NULL && strcmp(r->member_name[m], name) == 0))
			return true;
	return false;
}

/* A device is going away (interrupt thread): its relay lets go of it on the control thread. */
static void vf_removed(int port, const char *name)
{
	pthread_mutex_lock(&table_lock);
	for (unsigned int i = 0; i < MAX_RELAYS; i++)
		if (relays[i] != NULL && relay_has_vf(relays[i], port, name))
			__atomic_store_n(&relays[i]->vf_removed, true, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&table_lock);
}

/* The PMD's own removal interrupt (devices with RTE_PCI_DRV_INTR_RMV). */
static int on_rmv(uint16_t port, enum rte_eth_event_type type, void *arg, void *ret)
{
	(void)type;
	(void)arg;
	(void)ret;
	vf_removed(port, NULL);
	return 0;
}

/* The bus's: vfio-pci relays the kernel's request to release a device being removed. */
static void on_dev_event(const char *name, enum rte_dev_event_type type, void *arg)
{
	(void)arg;
	if (type == RTE_DEV_EVENT_REMOVE && name != NULL)
		vf_removed(-1, name);
}

static void release_vf(struct relay *r)
{
	if (!r->vf_probed)
		return;
	rte_eth_dev_callback_unregister(r->vf_port, RTE_ETH_EVENT_INTR_LSC, on_lsc, NULL);
	rte_eth_dev_callback_unregister(r->vf_port, RTE_ETH_EVENT_INTR_RMV, on_rmv, NULL);
	if (r->n_members > 0)
		port_bond_release(r->vf_port, r->vf_name, r->member_port, r->member_name, r->n_members);
	else
		port_release(r->vf_port, r->vf_name);
	r->vf_probed = false;
}

void relay_release_removed(void)
{
	for (unsigned int i = 0; i < MAX_RELAYS; i++) {
		struct relay *r = relay_get(i);

		if (r == NULL || r->vf_gone || !__atomic_load_n(&r->vf_removed, __ATOMIC_ACQUIRE))
			continue;
		/* No worker touches the device once this returns; what they held back is ours. */
		worker_unassign(r);
		for (int d = 0; d < DIR_COUNT; d++) {
			rte_pktmbuf_free_bulk(r->fast[d].pending, r->n_pending[d]);
			r->n_pending[d] = 0;
		}
		__atomic_store_n(&r->vf_up, 0, __ATOMIC_RELAXED);
		pthread_mutex_lock(&table_lock);
		r->vf_gone = true;
		pthread_mutex_unlock(&table_lock);
		release_vf(r);
		LOG(WARNING, "relay %u: VF %s was removed from the system (hot-unplug): released; the relay "
		    "stays, without a VF, until it is removed. Once the VF is back on vfio-pci, remove "
		    "and add the relay, or restart virtio-forwarder (it binds VIRTIOFWD_BIND_VFIO_PCI "
		    "again and plugs every relay)", r->id, r->vf_name);
	}
}

int relay_table_init(void)
{
	int rc;

	memset(relays, 0, sizeof(relays));
	vhost_init(&relay_vhost_events);
	rc = rte_dev_event_callback_register(NULL, on_dev_event, NULL);
	if (rc != 0)
		LOG(WARNING, "no device removal events (%s): a hot-unplugged VF is not released",
		    rte_strerror(-rc));
	return 0;
}

static void relay_free(struct relay *r)
{
	/* No worker polls r any more: what it held back is ours to free. */
	for (int d = 0; d < DIR_COUNT; d++)
		rte_pktmbuf_free_bulk(r->fast[d].pending, r->n_pending[d]);
	if (r->vhost_registered)
		vhost_close(r->vhost_sock);
	/* After the unregister: it unlinks the socket through this directory. */
	sockpath_close(r->vhost_dirfd);
	release_vf(r);
	pool_put(r->vm_pool);
	pool_put(r->retired_pool);
	pool_put(r->vf_pool);
	pthread_mutex_lock(&table_lock);
	if (relays[r->id] == r)
		relays[r->id] = NULL;
	pthread_mutex_unlock(&table_lock);
	rte_free(r);
}

/* Out of the table for everything but a VM leaving it and messages: see relays[]. */
static void mark_leaving(struct relay *r)
{
	pthread_mutex_lock(&table_lock);
	r->leaving = true;
	pthread_mutex_unlock(&table_lock);
}

static int check_request(const struct relay_request *req, char *err, size_t errlen)
{
	if (req->id >= MAX_RELAYS) {
		snprintf(err, errlen, "relay id %u is outside 0-%u", req->id, MAX_RELAYS - 1);
		return -EINVAL;
	}
	if (relays[req->id] != NULL) {
		snprintf(err, errlen, "relay %u already exists", req->id);
		return -EEXIST;
	}
	if (req->vf[0] == '\0' || strlen(req->vf) >= VF_ARGS_MAX) {
		snprintf(err, errlen, "VF must be 1 to %d characters", VF_ARGS_MAX - 1);
		return -EINVAL;
	}
	if (req->vhost_path[0] != '/' || strlen(req->vhost_path) >= PATH_MAX) {
		snprintf(err, errlen, "vhost-user socket path must be absolute");
		return -EINVAL;
	}
	for (int d = 0; d < DIR_COUNT; d++) {
		if (req->cpu[d] >= 0 && !worker_is_lcore((unsigned int)req->cpu[d])) {
			snprintf(err, errlen, "CPU %d is not a worker CPU", req->cpu[d]);
			return -EINVAL;
		}
	}
	for (unsigned int i = 0; i < MAX_RELAYS; i++) {
		const struct relay *o = relays[i];

		if (o == NULL)
			continue;
		if (strcmp(o->vhost_path, req->vhost_path) == 0) {
			snprintf(err, errlen, "vhost-user socket %s is used by relay %u",
				 req->vhost_path, i);
			return -EEXIST;
		}
		if (strcmp(o->vf, req->vf) == 0) {
			snprintf(err, errlen, "VF %s is used by relay %u", req->vf, i);
			return -EEXIST;
		}
	}
	return 0;
}

int relay_add(const struct relay_request *req, char *err, size_t errlen)
{
	struct relay *r;
	int rc, socket;
	uint16_t buf;

	rc = check_request(req, err, errlen);
	if (rc != 0)
		return rc;
	r = rte_zmalloc("vio4wd_relay", sizeof(*r), RTE_CACHE_LINE_SIZE);
	if (r == NULL) {
		snprintf(err, errlen, "out of memory for relay %u", req->id);
		return -ENOMEM;
	}
	r->id = req->id;
	r->vid = -1;
	r->vhost_client = req->vhost_client;
	snprintf(r->ident, sizeof(r->ident), "%s", req->ident != NULL ? req->ident : "");
	snprintf(r->vf, sizeof(r->vf), "%s", req->vf);
	snprintf(r->vhost_path, sizeof(r->vhost_path), "%s", req->vhost_path);
	r->vhost_dirfd = -1;
	rc = sockpath_open(r->vhost_path, &r->vhost_dirfd, r->vhost_sock, sizeof(r->vhost_sock),
			   err, errlen);
	if (rc != 0)
		goto fail;

	if (req->bond != NULL) {
		char tag[16];

		snprintf(r->bond, sizeof(r->bond), "%s", req->bond);
		r->bond_mode = req->bond_mode;
		snprintf(tag, sizeof(tag), "relay%u", r->id);
		rc = port_bond_create(r->vf, tag, r->bond_mode, &r->vf_port, r->vf_name,
				      sizeof(r->vf_name), r->member_port, r->member_name,
				      BOND_MEMBERS_MAX, &r->n_members, err, errlen);
	} else {
		rc = port_probe(r->vf, &r->vf_port, r->vf_name, sizeof(r->vf_name), err, errlen);
	}
	if (rc != 0)
		goto fail;
	r->vf_probed = true;
	rte_eth_dev_callback_register(r->vf_port, RTE_ETH_EVENT_INTR_LSC, on_lsc, NULL);
	rte_eth_dev_callback_register(r->vf_port, RTE_ETH_EVENT_INTR_RMV, on_rmv, NULL);
	/* Both pools start on the VF's node (any, for a virtual device); the
	 * guest-side one moves to the VM's when it connects. */
	socket = rte_eth_dev_socket_id(r->vf_port);
	buf = port_buf_size(r->vf_port, err, errlen);
	if (buf == 0) {
		rc = -EINVAL;
		goto fail;
	}
	r->vf_pool = pool_get(r->n_members > 0 ? BOND_POOL_MBUFS : VF_POOL_MBUFS, buf, socket);
	if (r->vf_pool != NULL)
		r->vm_pool = vm_pool_create(socket);
	if (r->vf_pool == NULL || r->vm_pool == NULL) {
		snprintf(err, errlen, "cannot allocate packet buffers: %s", rte_strerror(rte_errno));
		rc = -ENOMEM;
		goto fail;
	}
	rc = port_start(r->vf_port, r->vf_pool, err, errlen);
	if (rc != 0)
		goto fail;
	if (rte_eth_dev_get_mtu(r->vf_port, &r->vf_mtu) != 0)
		r->vf_mtu = 0;
	for (int d = 0; d < DIR_COUNT; d++)
		r->worker[d] = req->cpu[d] >= 0 ? (unsigned int)req->cpu[d] :
			worker_least_loaded();

	/* Visible to the vhost callbacks before the socket can connect. */
	r->waiting_since = rte_get_timer_cycles();
	pthread_mutex_lock(&table_lock);
	relays[r->id] = r;
	link_refresh(r);
	pthread_mutex_unlock(&table_lock);

	rc = vhost_open(r->vhost_sock, r->vhost_path, r->vhost_client, err, errlen);
	if (rc != 0)
		goto unpublish;
	r->vhost_registered = true;
	worker_assign(r);
	LOG(INFO, "relay %u%s%s%s added: VF %s%s%s (port %u) <-> %s (%s), workers %u/%u",
	    r->id, r->ident[0] ? " (" : "", r->ident, r->ident[0] ? ")" : "",
	    r->vf, r->bond[0] ? " as bond " : "", r->bond, r->vf_port, r->vhost_path,
	    r->vhost_client ? "client" : "server", r->worker[0], r->worker[1]);
	return 0;

unpublish:
	mark_leaving(r);
fail:
	relay_free(r);
	return rc;
}

int relay_remove(unsigned int id, char *err, size_t errlen)
{
	struct relay *r;

	if (id >= MAX_RELAYS) {
		snprintf(err, errlen, "relay id %u is outside 0-%u", id, MAX_RELAYS - 1);
		return -EINVAL;
	}
	r = relay_get(id);
	if (r == NULL) {
		snprintf(err, errlen, "relay %u does not exist", id);
		return -ENOENT;
	}
	/*
	 * Leaving; then no worker polls it; then tear down (closing its
	 * socket no longer waits for the workers: they let go of it).
	 */
	mark_leaving(r);
	worker_unassign(r);
	relay_free(r);
	LOG(INFO, "relay %u removed", id);
	return 0;
}

int relay_set_cpu(unsigned int id, const int cpu[DIR_COUNT], char *err, size_t errlen)
{
	struct relay *r = relay_get(id);

	if (r == NULL) {
		snprintf(err, errlen, "relay %u does not exist", id);
		return -ENOENT;
	}
	for (int d = 0; d < DIR_COUNT; d++) {
		if (cpu[d] >= 0 && !worker_is_lcore((unsigned int)cpu[d])) {
			snprintf(err, errlen, "CPU %d is not a worker CPU", cpu[d]);
			return -EINVAL;
		}
	}
	if ((cpu[0] < 0 || (unsigned int)cpu[0] == r->worker[0]) &&
	    (cpu[1] < 0 || (unsigned int)cpu[1] == r->worker[1]))
		return 0;
	/* Phase 1: no worker polls the relay once this returns. */
	worker_unassign(r);
	for (int d = 0; d < DIR_COUNT; d++)
		if (cpu[d] >= 0)
			r->worker[d] = (unsigned int)cpu[d];
	/* Phase 2: the new workers pick it up (a relay whose VF is gone: when it has one again). */
	if (!r->vf_gone)
		worker_assign(r);
	LOG(INFO, "relay %u now on workers %u/%u", id, r->worker[0], r->worker[1]);
	return 0;
}

void relay_remove_all(void)
{
	char err[256];

	for (unsigned int i = 0; i < MAX_RELAYS; i++)
		if (relay_get(i) != NULL)
			relay_remove(i, err, sizeof(err));
}
