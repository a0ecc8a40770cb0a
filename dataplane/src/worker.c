/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fast path. Each worker lcore walks its published plan of work units
 * and moves bursts between the VF port and the vhost-user device. Nothing
 * here allocates, locks, logs or makes a system call while packets flow;
 * control changes arrive as a whole new plan (RCU quiescent-state based
 * reclamation), and vhost device ids are read with atomic loads.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_vhost.h>

#include "log.h"
#include "worker.h"

#define BURST 32
/* Virtqueue indexes of the first queue pair, seen from the host. */
#define VIRTIO_RXQ 0 /* host -> guest */
#define VIRTIO_TXQ 1 /* guest -> host */
/* Empty loop iterations before an idle worker may sleep. */
#define IDLE_LOOPS_BEFORE_SLEEP 1024

struct worker {
	unsigned int lcore;
	unsigned int qs_id;             /* RCU reader id */
	struct worker_plan *plan;       /* atomic */
	unsigned int n_units;           /* control side copy */
	struct worker_counters counters;
	volatile int quit;
} __rte_cache_aligned;

static struct worker workers[RTE_MAX_LCORE];
static unsigned int n_workers;
static struct rte_rcu_qsbr *qs;
static unsigned int idle_sleep;

static inline void stat_add(uint64_t *c, uint64_t v)
{
	__atomic_store_n(c, *c + v, __ATOMIC_RELAXED);
}

static inline uint64_t sum_len(struct rte_mbuf **pkts, uint16_t from, uint16_t to)
{
	uint64_t bytes = 0;

	for (uint16_t i = from; i < to; i++)
		bytes += rte_pktmbuf_pkt_len(pkts[i]);
	return bytes;
}

/*
 * With no VM attached, a VF is only drained (and its drops counted) every
 * IDLE_VF_POLL_EVERY loops, so that idle relays cost the busy ones nothing.
 */
#define IDLE_VF_POLL_EVERY 64

static inline uint16_t fwd_vf_to_vm(struct relay *r, uint64_t loop)
{
	struct dir_stats *s = &r->dir[DIR_VF_TO_VM];
	struct rte_mbuf *pkts[BURST];
	uint64_t sent_bytes, lost_bytes;
	uint16_t n, sent;
	int vid;

	vid = __atomic_load_n(&r->vid, __ATOMIC_ACQUIRE);
	if (vid < 0 && loop % IDLE_VF_POLL_EVERY != 0)
		return 0;
	n = rte_eth_rx_burst(r->vf_port, 0, pkts, BURST);
	if (n == 0)
		return 0;
	sent = vid < 0 ? 0 : rte_vhost_enqueue_burst(vid, VIRTIO_RXQ, pkts, n);
	sent_bytes = sum_len(pkts, 0, sent);
	lost_bytes = sum_len(pkts, sent, n);
	stat_add(&s->rx_pkts, n);
	stat_add(&s->rx_bytes, sent_bytes + lost_bytes);
	stat_add(&s->tx_pkts, sent);
	stat_add(&s->tx_bytes, sent_bytes);
	if (unlikely(sent < n)) {
		if (vid < 0 || !__atomic_load_n(&r->vm_rxq_enabled, __ATOMIC_RELAXED)) {
			stat_add(&s->drop_nc_pkts, n - sent);
			stat_add(&s->drop_nc_bytes, lost_bytes);
		} else {
			stat_add(&s->drop_full_pkts, n - sent);
			stat_add(&s->drop_full_bytes, lost_bytes);
		}
	}
	/* vhost enqueue copies into guest memory: every mbuf is ours to free. */
	rte_pktmbuf_free_bulk(pkts, n);
	return n;
}

static inline uint16_t fwd_vm_to_vf(struct relay *r)
{
	struct dir_stats *s = &r->dir[DIR_VM_TO_VF];
	struct rte_mbuf *pkts[BURST];
	uint64_t bytes;
	uint16_t n, sent;
	int vid;

	vid = __atomic_load_n(&r->vid, __ATOMIC_ACQUIRE);
	if (vid < 0)
		return 0;
	n = rte_vhost_dequeue_burst(vid, VIRTIO_TXQ, r->pool, pkts, BURST);
	if (n == 0)
		return 0;
	sent = rte_eth_tx_burst(r->vf_port, 0, pkts, n);
	bytes = sum_len(pkts, 0, n);
	stat_add(&s->rx_pkts, n);
	stat_add(&s->rx_bytes, bytes);
	if (unlikely(sent < n)) {
		uint64_t lost = sum_len(pkts, sent, n);

		stat_add(&s->tx_pkts, sent);
		stat_add(&s->tx_bytes, bytes - lost);
		if (__atomic_load_n(&r->vf_up, __ATOMIC_RELAXED)) {
			stat_add(&s->drop_full_pkts, n - sent);
			stat_add(&s->drop_full_bytes, lost);
		} else {
			stat_add(&s->drop_nc_pkts, n - sent);
			stat_add(&s->drop_nc_bytes, lost);
		}
		rte_pktmbuf_free_bulk(&pkts[sent], n - sent);
	} else {
		stat_add(&s->tx_pkts, n);
		stat_add(&s->tx_bytes, bytes);
	}
	return n;
}

static int worker_main(void *arg)
{
	struct worker *w = arg;
	unsigned int empty_loops = 0;
	uint64_t t0, t1;

	rte_rcu_qsbr_thread_register(qs, w->qs_id);
	rte_rcu_qsbr_thread_online(qs, w->qs_id);
	LOG(INFO, "worker on lcore %u started", w->lcore);
	t0 = rte_rdtsc();
	for (uint64_t loop = 0; likely(!w->quit); loop++) {
		const struct worker_plan *plan =
			__atomic_load_n(&w->plan, __ATOMIC_ACQUIRE);
		uint64_t busy = 0;
		unsigned int moved = 0;

		for (unsigned int i = 0; i < plan->n; i++) {
			const struct work_unit *u = &plan->units[i];
			uint16_t n = u->dir == DIR_VF_TO_VM ?
				fwd_vf_to_vm(u->relay, loop) : fwd_vm_to_vf(u->relay);

			if (n != 0) {
				t1 = rte_rdtsc();
				stat_add(&u->relay->dir[u->dir].busy_cycles, t1 - t0);
				busy += t1 - t0;
				t0 = t1;
				moved += n;
			}
		}
		t1 = rte_rdtsc();
		stat_add(&w->counters.busy_cycles, busy);
		stat_add(&w->counters.idle_cycles, t1 - t0);
		stat_add(&w->counters.loops, 1);
		t0 = t1;
		/* The plan and every relay in it are released here. */
		rte_rcu_qsbr_quiescent(qs, w->qs_id);

		if (moved != 0) {
			empty_loops = 0;
		} else if (idle_sleep != 0 && ++empty_loops > IDLE_LOOPS_BEFORE_SLEEP) {
			/* Opt-in power saving on an idle worker (never while busy). */
			rte_delay_us_sleep(idle_sleep);
			t0 = rte_rdtsc();
		}
	}
	rte_rcu_qsbr_thread_offline(qs, w->qs_id);
	rte_rcu_qsbr_thread_unregister(qs, w->qs_id);
	LOG(INFO, "worker on lcore %u stopped", w->lcore);
	return 0;
}

int workers_init(unsigned int idle_sleep_us)
{
	unsigned int lcore;
	size_t sz;

	idle_sleep = idle_sleep_us;
	n_workers = 0;
	RTE_LCORE_FOREACH_WORKER(lcore) {
		struct worker *w = &workers[n_workers];

		w->lcore = lcore;
		w->qs_id = n_workers;
		w->plan = rte_zmalloc("vio4wd_plan", sizeof(*w->plan), RTE_CACHE_LINE_SIZE);
		if (w->plan == NULL)
			return -ENOMEM;
		n_workers++;
	}
	if (n_workers == 0) {
		LOG(ERR, "no worker lcore: give EAL at least two lcores (-l MAIN,WORKER...)");
		return -EINVAL;
	}
	sz = rte_rcu_qsbr_get_memsize(n_workers);
	qs = rte_zmalloc("vio4wd_rcu", sz, RTE_CACHE_LINE_SIZE);
	if (qs == NULL)
		return -ENOMEM;
	return rte_rcu_qsbr_init(qs, n_workers);
}

int workers_launch(void)
{
	for (unsigned int i = 0; i < n_workers; i++) {
		int rc = rte_eal_remote_launch(worker_main, &workers[i], workers[i].lcore);

		if (rc != 0) {
			LOG(ERR, "cannot launch worker on lcore %u: %s",
			    workers[i].lcore, rte_strerror(-rc));
			return rc;
		}
	}
	return 0;
}

void workers_stop(void)
{
	for (unsigned int i = 0; i < n_workers; i++)
		workers[i].quit = 1;
	rte_eal_mp_wait_lcore();
	for (unsigned int i = 0; i < n_workers; i++) {
		rte_free(workers[i].plan);
		workers[i].plan = NULL;
	}
	rte_free(qs);
	qs = NULL;
}

unsigned int workers_count(void)
{
	return n_workers;
}

unsigned int worker_lcore(unsigned int i)
{
	return workers[i].lcore;
}

static struct worker *worker_by_lcore(unsigned int lcore)
{
	for (unsigned int i = 0; i < n_workers; i++)
		if (workers[i].lcore == lcore)
			return &workers[i];
	return NULL;
}

int worker_is_lcore(unsigned int lcore)
{
	return worker_by_lcore(lcore) != NULL;
}

unsigned int worker_least_loaded(void)
{
	struct worker *best = &workers[0];

	for (unsigned int i = 1; i < n_workers; i++)
		if (workers[i].n_units < best->n_units)
			best = &workers[i];
	return best->lcore;
}

void worker_counters(unsigned int lcore, struct worker_counters *out)
{
	struct worker *w = worker_by_lcore(lcore);

	memset(out, 0, sizeof(*out));
	if (w == NULL)
		return;
	out->busy_cycles = __atomic_load_n(&w->counters.busy_cycles, __ATOMIC_RELAXED);
	out->idle_cycles = __atomic_load_n(&w->counters.idle_cycles, __ATOMIC_RELAXED);
	out->loops = __atomic_load_n(&w->counters.loops, __ATOMIC_RELAXED);
}

void workers_synchronize(void)
{
	uint64_t token;

	if (qs == NULL)
		return;
	/*
	 * Not rte_rcu_qsbr_synchronize(): it spins, and the control thread may
	 * share its CPU with other work (or a worker may be descheduled for a
	 * while on a shared CPU). Sleep between checks instead.
	 */
	token = rte_rcu_qsbr_start(qs);
	while (rte_rcu_qsbr_check(qs, token, false) == 0)
		usleep(10);
}

/* Build w's next plan: the current one minus relay r, plus r's units on w. */
static struct worker_plan *plan_rebuild(struct worker *w, struct relay *r, int add)
{
	const struct worker_plan *cur = w->plan;
	struct worker_plan *next;

	next = rte_zmalloc("vio4wd_plan", sizeof(*next), RTE_CACHE_LINE_SIZE);
	if (next == NULL)
		return NULL;
	for (unsigned int i = 0; i < cur->n; i++)
		if (cur->units[i].relay != r)
			next->units[next->n++] = cur->units[i];
	if (add)
		for (int d = 0; d < DIR_COUNT; d++)
			if (r->worker[d] == w->lcore)
				next->units[next->n++] = (struct work_unit){ r, d };
	return next;
}

static void plans_publish(struct worker_plan **next)
{
	struct worker_plan *old[RTE_MAX_LCORE];

	for (unsigned int i = 0; i < n_workers; i++) {
		old[i] = workers[i].plan;
		workers[i].n_units = next[i]->n;
		__atomic_store_n(&workers[i].plan, next[i], __ATOMIC_RELEASE);
	}
	workers_synchronize();
	for (unsigned int i = 0; i < n_workers; i++)
		rte_free(old[i]);
}

static int plans_update(struct relay *r, int add)
{
	struct worker_plan *next[RTE_MAX_LCORE];

	for (unsigned int i = 0; i < n_workers; i++) {
		next[i] = plan_rebuild(&workers[i], r, add);
		if (next[i] == NULL) {
			while (i-- > 0)
				rte_free(next[i]);
			return -ENOMEM;
		}
	}
	plans_publish(next);
	return 0;
}

int worker_assign(struct relay *r)
{
	return plans_update(r, 1);
}

void worker_unassign(struct relay *r)
{
	/* Removal must not fail: retry until memory for the plans is found. */
	while (plans_update(r, 0) != 0)
		rte_delay_us_sleep(1000);
}
