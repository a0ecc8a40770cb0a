/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fast path: one worker's loop. Each worker lcore walks its published
 * plan of work units (plan.h) and moves bursts between the VF port and the
 * vhost-user device. Nothing here allocates, locks, logs or makes a system
 * call while packets flow; control changes arrive as a whole new plan
 * (RCU quiescent-state based reclamation: workers.c), and vhost device ids
 * are read with atomic loads.
 */
#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_vhost.h>

#include "flow_hash.h"
#include "log.h"
#include "worker.h"

/* Virtqueue indexes of queue pair q, seen from the host. */
#define VIRTIO_RXQ(q) (2u * (q))      /* host -> guest */
#define VIRTIO_TXQ(q) (2u * (q) + 1u) /* guest -> host */
/* Empty loop iterations before an idle worker may sleep. */
#define IDLE_LOOPS_BEFORE_SLEEP 1024

/* A relay direction quiet this long is polled every idle_poll_cycles only. */
#define QUIET_US 10000

/* How long an idle worker sleeps (0: it never does), and see nap(). */
static uint64_t idle_sleep_cycles, late_step, min_ask;
static uint64_t hold_cycles;
static uint64_t idle_poll_cycles, quiet_cycles;

void worker_loop_init(unsigned int idle_sleep_us, unsigned int hold_us, unsigned int idle_poll_us)
{
	uint64_t us = rte_get_tsc_hz() / 1000000;

	idle_sleep_cycles = us * idle_sleep_us;
	min_ask = us;
	late_step = rte_get_tsc_hz() / 20000000;
	hold_cycles = us * hold_us;
	idle_poll_cycles = us * idle_poll_us;
	quiet_cycles = us * QUIET_US;
}

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

/* Rebuild the list of enabled guest queue pairs when the guest changed them. */
static inline void queues_follow(struct dir_fast *f, uint32_t mask)
{
	if (likely(mask == f->q_mask))
		return;
	f->q_mask = mask;
	f->n_q = 0;
	for (unsigned int q = 0; q < MAX_QUEUE_PAIRS; q++)
		if (mask & (1u << q))
			f->q[f->n_q++] = (uint8_t)q;
	f->next_q = 0;
}


/*
 * Enqueue pkts[0..n) to the guest, packet i on queue pair q[i], and free
 * what it took (vhost copies into guest memory). What a queue refused is
 * moved to the front of pkts/q, in order. Returns the number taken; their
 * bytes in *bytes.
 */
static inline uint16_t enqueue_to_vm(int vid, struct rte_mbuf **pkts, uint8_t *q, uint16_t n,
				     uint64_t *bytes)
{
	struct rte_mbuf *group[BURST], *keep[BURST];
	uint8_t keep_q[BURST];
	uint16_t sent = 0, n_keep = 0;
	uint64_t present = 0;

	*bytes = 0;
	for (uint16_t i = 0; i < n; i++)
		present |= 1ull << q[i];
	while (present != 0) {
		uint8_t qq = (uint8_t)__builtin_ctzll(present);
		uint16_t k = 0, done;

		present &= present - 1;
		for (uint16_t i = 0; i < n; i++)
			if (q[i] == qq)
				group[k++] = pkts[i];
		done = rte_vhost_enqueue_burst(vid, VIRTIO_RXQ(qq), group, k);
		*bytes += sum_len(group, 0, done);
		rte_pktmbuf_free_bulk(group, done);
		sent += done;
		for (uint16_t i = done; i < k; i++) {
			keep_q[n_keep] = qq;
			keep[n_keep++] = group[i];
		}
	}
	memcpy(pkts, keep, n_keep * sizeof(keep[0]));
	memcpy(q, keep_q, n_keep);
	return sent;
}

/*
 * Enqueue pkts[0..n), all for the guest's queue pair q, and free what it
 * took; what it refused is moved to the front of pkts. Returns the number
 * taken; their bytes in *bytes.
 */
static inline uint16_t enqueue_one_q(int vid, struct rte_mbuf **pkts, uint8_t q, uint16_t n, uint64_t *bytes)
{
	uint16_t sent = rte_vhost_enqueue_burst(vid, VIRTIO_RXQ(q), pkts, n);

	*bytes = sum_len(pkts, 0, sent);
	rte_pktmbuf_free_bulk(pkts, sent);
	memmove(pkts, pkts + sent, (n - sent) * sizeof(pkts[0]));
	return sent;
}

static inline void count_drops(struct dir_stats *s, struct rte_mbuf **pkts, uint16_t n, int not_connected)
{
	uint64_t bytes = sum_len(pkts, 0, n);

	if (not_connected) {
		stat_add(&s->drop_nc_pkts, n);
		stat_add(&s->drop_nc_bytes, bytes);
	} else {
		stat_add(&s->drop_full_pkts, n);
		stat_add(&s->drop_full_bytes, bytes);
	}
	rte_pktmbuf_free_bulk(pkts, n);
}

/*
 * Packets the far side refused after a fresh burst: hold them (at most one
 * burst) unless the far side has already stalled, in which case drop them.
 */
static inline void hold_or_drop(struct dir_fast *f, uint16_t *held, struct dir_stats *s,
				struct rte_mbuf **pkts, const uint8_t *q, uint16_t n)
{
	if (f->stalled) {
		count_drops(s, pkts, n, 0);
		return;
	}
	memcpy(f->pending, pkts, n * sizeof(pkts[0]));
	if (q != NULL) {
		memcpy(f->pending_q, q, n);
		/* All for one guest queue (the common case): retried without sorting by queue. */
		f->pending_one_q = f->n_q == 1;
	}
	*held = n;
	f->since = rte_rdtsc();
}

/*
 * After a retry of the held burst, of which the far side took `taken`:
 * keep holding what is left while the far side makes progress or the hold
 * has not run out. Returns true when the way is clear for new packets.
 */
static inline int hold_settle(struct dir_fast *f, uint16_t *held, struct dir_stats *s, uint16_t taken)
{
	uint64_t now;

	if (*held == 0) {
		f->stalled = 0;
		return 1;
	}
	now = rte_rdtsc();
	if (taken != 0) {
		f->since = now;
		return 0;
	}
	if (now - f->since < hold_cycles)
		return 0;
	count_drops(s, f->pending, *held, 0);
	*held = 0;
	f->stalled = 1;
	return 1;
}

/*
 * With no VM attached, a VF is only drained (and its drops counted) every
 * IDLE_VF_POLL_EVERY loops, so that idle relays cost the busy ones nothing.
 */
#define IDLE_VF_POLL_EVERY 64

static inline uint16_t fwd_vf_to_vm(struct relay *r, uint64_t loop)
{
	struct dir_stats *s = &r->dir[DIR_VF_TO_VM];
	struct dir_fast *f = &r->fast[DIR_VF_TO_VM];
	uint16_t *held = &r->n_pending[DIR_VF_TO_VM];
	struct rte_mbuf *pkts[BURST];
	uint8_t q[BURST];
	uint64_t bytes, sent_bytes;
	uint16_t n, sent;
	int vid;

	/* An idle relay (no VM, nothing held) is told by one cache line. */
	vid = __atomic_load_n(&r->vid, __ATOMIC_ACQUIRE);
	if (unlikely(*held != 0)) {
		if (vid < 0) {
			count_drops(s, f->pending, *held, 1);
			*held = 0;
		} else {
			sent = f->pending_one_q ? enqueue_one_q(vid, f->pending, f->pending_q[0], *held, &sent_bytes) :
				enqueue_to_vm(vid, f->pending, f->pending_q, *held, &sent_bytes);
			*held -= sent;
			stat_add(&s->tx_pkts, sent);
			stat_add(&s->tx_bytes, sent_bytes);
			if (!hold_settle(f, held, s, sent))
				return sent;
		}
	}
	if (vid < 0 && loop % IDLE_VF_POLL_EVERY != 0)
		return 0;
	n = rte_eth_rx_burst(r->vf_port, 0, pkts, BURST);
	if (n == 0)
		return 0;
	bytes = sum_len(pkts, 0, n);
	stat_add(&s->rx_pkts, n);
	stat_add(&s->rx_bytes, bytes);
	queues_follow(f, vid < 0 ? 0 : __atomic_load_n(&r->vm_rxq_mask, __ATOMIC_ACQUIRE));
	if (unlikely(f->n_q == 0)) {
		/* No VM, or it has not enabled a receive queue yet. */
		count_drops(s, pkts, n, 1);
		return n;
	}
	if (likely(f->n_q == 1)) {
		sent = rte_vhost_enqueue_burst(vid, VIRTIO_RXQ(f->q[0]), pkts, n);
		sent_bytes = sent == n ? bytes : sum_len(pkts, 0, sent);
		rte_pktmbuf_free_bulk(pkts, sent);
		if (unlikely(sent < n)) {
			memmove(pkts, pkts + sent, (n - sent) * sizeof(pkts[0]));
			memset(q, f->q[0], n - sent);
		}
	} else {
		for (uint16_t i = 0; i < n; i++)
			q[i] = f->q[((uint64_t)flow_hash(pkts[i]) * f->n_q) >> 32];
		sent = enqueue_to_vm(vid, pkts, q, n, &sent_bytes);
	}
	stat_add(&s->tx_pkts, sent);
	stat_add(&s->tx_bytes, sent_bytes);
	if (unlikely(sent < n))
		hold_or_drop(f, held, s, pkts, q, n - sent);
	else if (unlikely(f->stalled))
		f->stalled = 0; /* it took a whole burst: hold again next time */
	return n;
}

static inline uint16_t fwd_vm_to_vf(struct relay *r)
{
	struct dir_stats *s = &r->dir[DIR_VM_TO_VF];
	struct dir_fast *f = &r->fast[DIR_VM_TO_VF];
	uint16_t *held = &r->n_pending[DIR_VM_TO_VF];
	struct rte_mbuf *pkts[BURST];
	uint16_t n, sent, moved = 0;
	int vid;

	if (unlikely(*held != 0)) {
		if (!__atomic_load_n(&r->vf_up, __ATOMIC_RELAXED)) {
			count_drops(s, f->pending, *held, 1);
			*held = 0;
		} else {
			sent = rte_eth_tx_burst(r->vf_port, 0, f->pending, *held);
			stat_add(&s->tx_pkts, sent);
			stat_add(&s->tx_bytes, sum_len(f->pending, 0, sent));
			*held -= sent;
			memmove(f->pending, f->pending + sent, *held * sizeof(f->pending[0]));
			if (!hold_settle(f, held, s, sent))
				return sent;
		}
	}
	vid = __atomic_load_n(&r->vid, __ATOMIC_ACQUIRE);
	if (vid < 0)
		return 0;
	queues_follow(f, __atomic_load_n(&r->vm_txq_mask, __ATOMIC_ACQUIRE));
	/* Every enabled queue, one burst each, starting where the last poll stopped. */
	for (uint16_t k = 0; k < f->n_q; k++) {
		uint16_t qq = f->q[(f->next_q + k) % f->n_q];
		uint64_t bytes;

		n = rte_vhost_dequeue_burst(vid, VIRTIO_TXQ(qq), r->vm_pool, pkts, BURST);
		if (n == 0)
			continue;
		moved += n;
		bytes = sum_len(pkts, 0, n);
		stat_add(&s->rx_pkts, n);
		stat_add(&s->rx_bytes, bytes);
		sent = rte_eth_tx_burst(r->vf_port, 0, pkts, n);
		stat_add(&s->tx_pkts, sent);
		stat_add(&s->tx_bytes, sent == n ? bytes : sum_len(pkts, 0, sent));
		if (unlikely(sent < n)) {
			if (!__atomic_load_n(&r->vf_up, __ATOMIC_RELAXED))
				count_drops(s, pkts + sent, n - sent, 1);
			else
				hold_or_drop(f, held, s, pkts + sent, NULL, n - sent);
			/* The VF is full: the other queues wait for the next poll. */
			f->next_q = (uint16_t)((f->next_q + k + 1) % f->n_q);
			return moved;
		}
	}
	if (unlikely(f->stalled) && moved != 0)
		f->stalled = 0; /* the VF took every burst: hold again next time */
	if (f->n_q > 1)
		f->next_q = (uint16_t)((f->next_q + 1) % f->n_q);
	return moved;
}

/* The cycles since *t0 to unit u, which just moved packets, and to the pass's busy total. */
static inline void charge(const struct work_unit *u, uint64_t *t0, uint64_t *busy)
{
	uint64_t t1 = rte_rdtsc();

	stat_add(&u->relay->dir[u->dir].busy_cycles, t1 - *t0);
	*busy += t1 - *t0;
	*t0 = t1;
}

/* One poll of a unit (loop: see fwd_vf_to_vm); the packets it moved. */
static inline uint16_t poll_unit(const struct work_unit *u, uint64_t loop)
{
	return u->dir == DIR_VF_TO_VM ? fwd_vf_to_vm(u->relay, loop) : fwd_vm_to_vf(u->relay);
}

/*
 * An idle worker's sleep: away for idle_sleep_cycles in all, the kernel's
 * lateness included. A sleep ends some microseconds after the time asked (a VM's
 * timer wake-up: 4.5 us at best, 6 typically on the test host), which would
 * otherwise add to every sleep, and to the latency of the packet that finds
 * the worker asleep. So the worker asks for that much less: w->late follows
 * the median of how late its sleeps end (one step up when a sleep lasted
 * longer than idle_sleep_cycles, one down when not), at most all but min_ask
 * of the sleep.
 */
static void nap(struct worker *w)
{
	uint64_t late = RTE_MIN(w->late, idle_sleep_cycles - min_ask);
	uint64_t ask_ns = (idle_sleep_cycles - late) * NS_PER_S / rte_get_tsc_hz();
	struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)ask_ns };
	uint64_t t0 = rte_rdtsc();

	nanosleep(&ts, NULL);
	if (rte_rdtsc() - t0 > idle_sleep_cycles)
		w->late = late + late_step;
	else if (late >= late_step)
		w->late = late - late_step;
}

/*
 * The loop, until w->quit. A function of its own, marked hot: DPDK declares
 * rte_log() cold, and GCC takes code that runs only after a cold call (as a
 * loop after a log line would) for cold too, compiling it for size: the
 * helpers below left out of line, the loop in .text.unlikely.
 */
static __attribute__((hot, noinline)) void worker_run(struct worker *w)
{
	const struct worker_plan *seen = NULL;
	unsigned int empty_loops = 0;
	uint64_t t0, t1, next_sweep = 0;

	t0 = rte_rdtsc();
	for (uint64_t loop = 0; likely(!w->quit); loop++) {
		const struct worker_plan *plan =
			__atomic_load_n(&w->plan, __ATOMIC_ACQUIRE);
		const uint64_t now = t0;
		uint64_t busy = 0;
		unsigned int moved = 0;

		if (unlikely(plan != seen)) {
			/* A new plan: every unit is active, as if it had just moved packets. */
			for (unsigned int i = 0; i < plan->n; i++) {
				w->active[i] = (uint16_t)i;
				w->last_moved[i] = now;
			}
			w->n_active = plan->n;
			w->n_quiet = 0;
			seen = plan;
		}
		for (unsigned int k = 0; k < w->n_active;) {
			unsigned int i = w->active[k];
			const struct work_unit *u = &plan->units[i];
			uint16_t n = poll_unit(u, loop);

			if (n != 0) {
				charge(u, &t0, &busy);
				moved += n;
				w->last_moved[i] = now;
			} else if (now - w->last_moved[i] > quiet_cycles && idle_poll_cycles != 0 &&
				   u->relay->n_pending[u->dir] == 0) {
				/* Quiet for long, and holds nothing: to the quiet list (k now names another). */
				w->quiet[w->n_quiet++] = (uint16_t)i;
				w->active[k] = w->active[--w->n_active];
				continue;
			}
			k++;
		}
		/* The quiet units, all together, every idle_poll_cycles. */
		if (w->n_quiet != 0 && now >= next_sweep) {
			for (unsigned int k = 0; k < w->n_quiet;) {
				unsigned int i = w->quiet[k];
				const struct work_unit *u = &plan->units[i];
				uint16_t n = poll_unit(u, 0);

				if (n == 0) {
					k++;
					continue;
				}
				charge(u, &t0, &busy);
				moved += n;
				/* Awake again: polled on every pass from now on. */
				w->last_moved[i] = now;
				w->active[w->n_active++] = (uint16_t)i;
				w->quiet[k] = w->quiet[--w->n_quiet];
			}
			next_sweep = now + idle_poll_cycles;
		}
		t1 = rte_rdtsc();
		stat_add(&w->counters.busy_cycles, busy);
		stat_add(&w->counters.idle_cycles, t1 - t0);
		stat_add(&w->counters.loops, 1);
		t0 = t1;
		/* The plan and every relay in it are released here. */
		rte_rcu_qsbr_quiescent(w->qs, w->qs_id);

		if (moved != 0) {
			empty_loops = 0;
		} else if (idle_sleep_cycles != 0 && ++empty_loops > IDLE_LOOPS_BEFORE_SLEEP) {
			/* Opt-in power saving on an idle worker (never while busy). */
			nap(w);
			/* Slept time is idle time: load = busy / (busy + idle) stays true. */
			t1 = rte_rdtsc();
			stat_add(&w->counters.idle_cycles, t1 - t0);
			t0 = t1;
		}
	}
}

int worker_main(void *arg)
{
	struct worker *w = arg;

	rte_rcu_qsbr_thread_register(w->qs, w->qs_id);
	rte_rcu_qsbr_thread_online(w->qs, w->qs_id);
	/*
	 * The idle sleep is short: without this, Linux may stretch each one
	 * by its default timer slack (50 us), doubling a 50 us sleep.
	 */
	if (idle_sleep_cycles != 0 && prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0) != 0)
		LOG(WARNING, "worker on lcore %u: cannot shorten its timer slack: %s", w->lcore, strerror(errno));
	LOG(INFO, "worker on lcore %u started", w->lcore);
	worker_run(w);
	rte_rcu_qsbr_thread_offline(w->qs, w->qs_id);
	rte_rcu_qsbr_thread_unregister(w->qs, w->qs_id);
	LOG(INFO, "worker on lcore %u stopped", w->lcore);
	return 0;
}
