/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VIO4WD_PLAN_H
#define VIO4WD_PLAN_H

/* What a worker polls: a list of relay directions, replaced whole. */
#include <stdbool.h>

#include "relay.h"

/* One direction of one relay. */
struct work_unit {
	struct relay *relay;
	enum direction dir;
};

/* Immutable once published; replaced whole (RCU) on every change. */
struct worker_plan {
	unsigned int n;
	struct work_unit units[2 * MAX_RELAYS];
};

/*
 * next = cur without relay r's units, then (add) with those of r's
 * directions that r->worker puts on lcore. The order of the others is kept.
 */
void plan_build(struct worker_plan *next, const struct worker_plan *cur, struct relay *r, bool add,
		unsigned int lcore);

#endif
