/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The workers from the control thread: each worker lcore runs worker_main
 * on a plan (plan.h) this file builds and publishes. A plan is replaced
 * whole: the next one is built in the worker's spare, published with an
 * atomic store, and the replaced one becomes the spare once every worker
 * has passed a quiescent state (RCU QSBR). Two plans a worker, allocated
 * at start: changing plans never allocates and never fails.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include "log.h"
#include "workers.h"

static struct worker workers[RTE_MAX_LCORE];
static unsigned int n_workers;
static struct rte_rcu_qsbr *qs;
/* The spares were the plans in use when retired_token was taken: a worker may still read them. */
static bool spares_in_use;
static uint64_t retired_token;

static struct worker_plan *plan_alloc(void)
{
	return rte_zmalloc("vio4wd_plan", sizeof(struct worker_plan), RTE_CACHE_LINE_SIZE);
}

int workers_init(unsigned int idle_sleep_us, unsigned int hold_us, unsigned int idle_poll_us)
{
	unsigned int lcore;
	size_t sz;

	worker_loop_init(idle_sleep_us, hold_us, idle_poll_us);
	n_workers = 0;
	spares_in_use = false;
	RTE_LCORE_FOREACH_WORKER(lcore) {
		struct worker *w = &workers[n_workers];

		w->lcore = lcore;
		w->qs_id = n_workers;
		w->late = 0;
		w->plan = plan_alloc();
		w->spare = plan_alloc();
		n_workers++;
		if (w->plan == NULL || w->spare == NULL)
			return -ENOMEM;
	}
	if (n_workers == 0) {
		LOG(ERR, "no worker lcore: give EAL at least two lcores (-l MAIN,WORKER...)");
		return -EINVAL;
	}
	sz = rte_rcu_qsbr_get_memsize(n_workers);
	qs = rte_zmalloc("vio4wd_rcu", sz, RTE_CACHE_LINE_SIZE);
	if (qs == NULL)
		return -ENOMEM;
	for (unsigned int i = 0; i < n_workers; i++)
		workers[i].qs = qs;
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
		rte_free(workers[i].spare);
		workers[i].plan = workers[i].spare = NULL;
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

/*
 * Sleep until every worker has passed a quiescent state since token. Not
 * rte_rcu_qsbr_synchronize(): it spins, and the control thread may share its
 * CPU with other work (or a worker may be descheduled for a while on a
 * shared CPU). Sleep between checks instead.
 */
static void wait_for(uint64_t token)
{
	while (rte_rcu_qsbr_check(qs, token, false) == 0)
		usleep(10);
}

void workers_synchronize(void)
{
	if (qs != NULL)
		wait_for(rte_rcu_qsbr_start(qs));
}

/* The spares are free to be written once no worker can be reading them. */
static void spares_settle(void)
{
	if (spares_in_use) {
		wait_for(retired_token);
		spares_in_use = false;
	}
}

/*
 * Publish every worker's next plan: the current one without r, plus r's
 * units on it (add). wait: return only when no worker can still use the old
 * ones (a relay leaving is freed next). Otherwise (a relay joining) return at
 * once: the next change waits, if it must, and the reply does not wait for a
 * worker that its CPU's scheduler may have set aside for a few milliseconds.
 */
static void plans_update(struct relay *r, bool add)
{
	spares_settle();
	for (unsigned int i = 0; i < n_workers; i++) {
		struct worker *w = &workers[i];
		struct worker_plan *old = w->plan;

		plan_build(w->spare, old, r, add, w->lcore);
		w->n_units = w->spare->n;
		__atomic_store_n(&w->plan, w->spare, __ATOMIC_RELEASE);
		w->spare = old;
	}
	retired_token = rte_rcu_qsbr_start(qs);
	spares_in_use = true;
	if (!add)
		spares_settle();
}

void worker_assign(struct relay *r)
{
	plans_update(r, true);
}

void worker_unassign(struct relay *r)
{
	plans_update(r, false);
}
