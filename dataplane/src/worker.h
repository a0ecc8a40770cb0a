/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VIO4WD_WORKER_H
#define VIO4WD_WORKER_H

#include <stdint.h>

#include "relay.h"

/* One direction of one relay: what a worker polls. */
struct work_unit {
	struct relay *relay;
	enum direction dir;
};

/* Immutable once published; replaced whole (RCU) on every change. */
struct worker_plan {
	unsigned int n;
	struct work_unit units[2 * MAX_RELAYS];
};

struct worker_counters {
	uint64_t busy_cycles;
	uint64_t idle_cycles;
	uint64_t loops;
};

/*
 * hold_us: how long a burst the far side took only part of is held back
 * (the source is not read meanwhile, so its own ring absorbs the backlog)
 * before the far side counts as stalled and what it cannot take at once is
 * dropped. A guest vCPU or a VF that pauses for less loses nothing.
 */
int workers_init(unsigned int idle_sleep_us, unsigned int hold_us);
int workers_launch(void);
void workers_stop(void);

unsigned int workers_count(void);
/* lcore id of the i-th worker. */
unsigned int worker_lcore(unsigned int i);
int worker_is_lcore(unsigned int lcore);
/* The worker lcore with the fewest units (ties: lowest lcore). */
unsigned int worker_least_loaded(void);
void worker_counters(unsigned int lcore, struct worker_counters *out);

/*
 * Control thread: publish plans that include (or, for unassign, exclude)
 * the relay's units. unassign waits until no worker can still see them.
 */
int worker_assign(struct relay *r);
void worker_unassign(struct relay *r);

/* Wait until every worker has finished the loop iteration it is in. */
void workers_synchronize(void);
/* Frees plans no worker can read any more (control thread, from time to time). */
void workers_reap(void);

#endif
