/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VIO4WD_WORKER_H
#define VIO4WD_WORKER_H

/* One worker lcore and its loop (worker.c); the control side is workers.h. */
#include <stdint.h>

#include <rte_common.h>

#include "plan.h"

struct rte_rcu_qsbr;

struct worker_counters {
	uint64_t busy_cycles;
	uint64_t idle_cycles;
	uint64_t loops;
};

struct worker {
	/* Set before the loop starts. */
	unsigned int lcore;
	unsigned int qs_id;             /* RCU reader id */
	struct rte_rcu_qsbr *qs;
	/* What the loop polls: published by the control thread (atomic). */
	struct worker_plan *plan;
	/* Control side only: the next plan is built here; the number of units. */
	struct worker_plan *spare;
	unsigned int n_units;
	/* Written by the loop only (relaxed stores), read by the control thread. */
	struct worker_counters counters;
	uint64_t late;                  /* how late its sleeps end, cycles (see nap) */
	/*
	 * The loop's own, reset when the plan changes: per unit of the plan,
	 * the TSC of its last poll that moved packets; the units polled on
	 * every pass (active) and those polled together every idle_poll_us
	 * (quiet: see worker_loop_init), as indexes into the plan.
	 */
	uint64_t last_moved[2 * MAX_RELAYS];
	uint16_t active[2 * MAX_RELAYS];
	uint16_t quiet[2 * MAX_RELAYS];
	unsigned int n_active;
	unsigned int n_quiet;
	volatile int quit;
} __rte_cache_aligned;

/*
 * Before any worker starts. idle_sleep_us: how long an idle worker sleeps
 * (0: never). hold_us: how long a burst the far side took only part of is
 * held back (the source is not read meanwhile, so its own ring absorbs the
 * backlog) before the far side counts as stalled and what it cannot take at
 * once is dropped. A guest vCPU or a VF that pauses for less loses nothing.
 * idle_poll_us: a relay direction that has moved nothing for QUIET_US
 * (10 ms) is polled once every idle_poll_us instead of on every pass of the
 * loop, until it moves packets again (0: every direction on every pass), so
 * that quiet relays take little of the worker their busy neighbours need;
 * the first packet after such a quiet spell waits up to idle_poll_us.
 */
void worker_loop_init(unsigned int idle_sleep_us, unsigned int hold_us, unsigned int idle_poll_us);
/* The loop of worker arg (a struct worker), until its quit is set. */
int worker_main(void *arg);

#endif
