/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * plan_build (src/plan.c): the list of relay directions a worker polls, as
 * the control thread rebuilds it on add, remove and CPU moves.
 */
#include <string.h>

#include "check.h"
#include "plan.h"

static struct relay relays[MAX_RELAYS];

static struct relay *relay_on(unsigned int id, unsigned int vf_to_vm, unsigned int vm_to_vf)
{
	struct relay *r = &relays[id];

	r->id = id;
	r->worker[DIR_VF_TO_VM] = vf_to_vm;
	r->worker[DIR_VM_TO_VF] = vm_to_vf;
	return r;
}

static int has(const struct worker_plan *p, unsigned int i, const struct relay *r, enum direction d)
{
	return i < p->n && p->units[i].relay == r && p->units[i].dir == d;
}

static void test_add_by_lcore(void)
{
	static struct worker_plan empty, on1, on2;
	struct relay *a = relay_on(0, 1, 2);

	plan_build(&on1, &empty, a, true, 1);
	plan_build(&on2, &empty, a, true, 2);
	CHECK(on1.n == 1 && has(&on1, 0, a, DIR_VF_TO_VM));
	CHECK(on2.n == 1 && has(&on2, 0, a, DIR_VM_TO_VF));
	/* Both directions on one worker: VF->VM first. */
	a = relay_on(0, 3, 3);
	plan_build(&on1, &empty, a, true, 3);
	CHECK(on1.n == 2 && has(&on1, 0, a, DIR_VF_TO_VM) && has(&on1, 1, a, DIR_VM_TO_VF));
	/* Neither here. */
	plan_build(&on2, &empty, a, true, 1);
	CHECK(on2.n == 0);
}

static void test_remove_keeps_order(void)
{
	static struct worker_plan p, q;
	struct relay *a = relay_on(0, 1, 1), *b = relay_on(1, 1, 2), *c = relay_on(2, 1, 1);

	memset(&p, 0, sizeof(p));
	plan_build(&q, &p, a, true, 1);
	plan_build(&p, &q, b, true, 1);
	plan_build(&q, &p, c, true, 1);
	CHECK(q.n == 5 && has(&q, 0, a, DIR_VF_TO_VM) && has(&q, 1, a, DIR_VM_TO_VF) &&
	      has(&q, 2, b, DIR_VF_TO_VM) && has(&q, 3, c, DIR_VF_TO_VM) && has(&q, 4, c, DIR_VM_TO_VF));
	/* b leaves: the others keep their order. */
	plan_build(&p, &q, b, false, 1);
	CHECK(p.n == 4 && has(&p, 0, a, DIR_VF_TO_VM) && has(&p, 1, a, DIR_VM_TO_VF) &&
	      has(&p, 2, c, DIR_VF_TO_VM) && has(&p, 3, c, DIR_VM_TO_VF));
	/* Removing a relay that is not there changes nothing. */
	plan_build(&q, &p, b, false, 1);
	CHECK(q.n == 4 && memcmp(q.units, p.units, sizeof(q.units[0]) * 4) == 0);
}

static void test_move(void)
{
	static struct worker_plan on1, on2, tmp;
	struct relay *a = relay_on(0, 1, 1), *b = relay_on(1, 1, 1);

	memset(&tmp, 0, sizeof(tmp));
	plan_build(&on1, &tmp, a, true, 1);
	plan_build(&tmp, &on1, b, true, 1);
	on1 = tmp;
	memset(&on2, 0, sizeof(on2));
	/* Phase 1 (relay_set_cpu): a leaves every worker. */
	plan_build(&tmp, &on1, a, false, 1);
	on1 = tmp;
	plan_build(&tmp, &on2, a, false, 2);
	on2 = tmp;
	CHECK(on1.n == 2 && has(&on1, 0, b, DIR_VF_TO_VM) && has(&on1, 1, b, DIR_VM_TO_VF));
	CHECK(on2.n == 0);
	/* Phase 2: its VM->VF direction joins worker 2, VF->VM stays on 1, at the end. */
	a->worker[DIR_VM_TO_VF] = 2;
	plan_build(&tmp, &on1, a, true, 1);
	on1 = tmp;
	plan_build(&tmp, &on2, a, true, 2);
	on2 = tmp;
	CHECK(on1.n == 3 && has(&on1, 2, a, DIR_VF_TO_VM));
	CHECK(on2.n == 1 && has(&on2, 0, a, DIR_VM_TO_VF));
}

static void test_full(void)
{
	static struct worker_plan p, q;

	/* Every relay, both directions on one worker: the plan's whole capacity. */
	memset(&p, 0, sizeof(p));
	for (unsigned int i = 0; i < MAX_RELAYS; i++) {
		plan_build(&q, &p, relay_on(i, 5, 5), true, 5);
		p = q;
	}
	CHECK(p.n == 2 * MAX_RELAYS);
	CHECK(has(&p, 2 * MAX_RELAYS - 1, &relays[MAX_RELAYS - 1], DIR_VM_TO_VF));
	/* Re-adding one that is there moves it to the end, once. */
	plan_build(&q, &p, &relays[0], true, 5);
	CHECK(q.n == 2 * MAX_RELAYS && has(&q, 0, &relays[1], DIR_VF_TO_VM) &&
	      has(&q, 2 * MAX_RELAYS - 2, &relays[0], DIR_VF_TO_VM));
}

int main(void)
{
	test_add_by_lcore();
	test_remove_keeps_order();
	test_move();
	test_full();
	return check_result("plan_build");
}
