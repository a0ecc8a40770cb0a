/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VIO4WD_WORKERS_H
#define VIO4WD_WORKERS_H

/*
 * The workers seen from the control thread (workers.c): started and
 * stopped, loaded with relays, their plans published under RCU. Their loop
 * is worker.c.
 */
#include "relay.h"
#include "worker.h"

/* idle_sleep_us, hold_us, idle_poll_us: see worker_loop_init. */
int workers_init(unsigned int idle_sleep_us, unsigned int hold_us, unsigned int idle_poll_us);
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
 * Publish plans that include (assign) or exclude (unassign) the relay's
 * units; unassign returns once no worker can still see them. Neither
 * allocates (each worker has a spare plan), so neither fails.
 */
void worker_assign(struct relay *r);
void worker_unassign(struct relay *r);

/* Wait until every worker has finished the loop iteration it is in. */
void workers_synchronize(void);

#endif
