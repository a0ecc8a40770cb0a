/* SPDX-License-Identifier: BSD-3-Clause */
/* A worker's next plan from its current one: pure (dataplane/test/test_plan.c). */
#include "plan.h"

void plan_build(struct worker_plan *next, const struct worker_plan *cur, struct relay *r, bool add,
		unsigned int lcore)
{
	next->n = 0;
	for (unsigned int i = 0; i < cur->n; i++)
		if (cur->units[i].relay != r)
			next->units[next->n++] = cur->units[i];
	if (add)
		for (int d = 0; d < DIR_COUNT; d++)
			if (r->worker[d] == lcore)
				next->units[next->n++] = (struct work_unit){ r, (enum direction)d };
}
