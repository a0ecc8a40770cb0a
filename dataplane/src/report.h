/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VIO4WD_REPORT_H
#define VIO4WD_REPORT_H

/*
 * Relays and workers as the control protocol reports them (JSON objects,
 * docs/control-protocol.md), from what the relay table and the workers
 * keep: formatting a reply touches no device (relay_refresh_counters
 * reads what the VF counts).
 */
#include "json.h"
#include "relay.h"

void report_relay(struct json *j, const struct relay *r);
/* "workers": every worker with its load counters and NUMA node. */
void report_workers(struct json *j);

#endif
