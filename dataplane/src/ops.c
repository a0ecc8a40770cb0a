/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control requests' handlers, one an operation (the table at the end).
 * A handler validates what the request parser could not (what exists now),
 * acts, and only then writes its reply fields: a failure leaves nothing
 * written that the caller would have to take back.
 */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_version.h>

#include "log.h"
#include "notify.h"
#include "ops.h"
#include "relay.h"
#include "report.h"

#define PROTOCOL_VERSION 1

static volatile int *quit_flag;

void ops_init(volatile int *quit)
{
	quit_flag = quit;
}

/* "relay": [the relay as it is now], for requests that changed it. */
static void reply_relay(struct json *j, unsigned int id)
{
	struct relay *r = relay_get(id);

	relay_refresh_counters(r);
	json_open(j, "relay", '[');
	report_relay(j, r);
	json_close(j, ']');
}

static int op_hello(const struct request *req, struct json *j, char *err, size_t errlen)
{
	(void)req;
	(void)err;
	(void)errlen;
	json_u64(j, "version", PROTOCOL_VERSION);
	json_u64(j, "pid", (uint64_t)getpid());
	json_u64(j, "tsc_hz", rte_get_tsc_hz());
	json_str(j, "dpdk", rte_version());
	report_workers(j);
	return 0;
}

static int op_add_relay(const struct request *req, struct json *j, char *err, size_t errlen)
{
	int rc = relay_add(&req->relay, err, errlen);

	if (rc == 0)
		reply_relay(j, req->relay.id);
	return rc;
}

static int op_remove_relay(const struct request *req, struct json *j, char *err, size_t errlen)
{
	(void)j;
	return relay_remove(req->relay.id, err, errlen);
}

static int op_set_cpu(const struct request *req, struct json *j, char *err, size_t errlen)
{
	int rc = relay_set_cpu(req->relay.id, req->relay.cpu, err, errlen);

	if (rc == 0)
		reply_relay(j, req->relay.id);
	return rc;
}

static int op_stats(const struct request *req, struct json *j, char *err, size_t errlen)
{
	if (req->has_id && relay_get(req->relay.id) == NULL) {
		snprintf(err, errlen, "relay %u does not exist", req->relay.id);
		return -ENOENT;
	}
	json_u64(j, "tsc", rte_rdtsc());
	json_u64(j, "tsc_hz", rte_get_tsc_hz());
	report_workers(j);
	json_open(j, "relays", '[');
	for (unsigned int i = 0; i < MAX_RELAYS; i++) {
		struct relay *r = relay_get(i);

		if (r != NULL && (!req->has_id || i == req->relay.id) &&
		    (!req->has_ids || (req->ids >> i & 1) != 0)) {
			relay_refresh_counters(r);
			report_relay(j, r);
		}
	}
	json_close(j, ']');
	return 0;
}

static int op_shutdown(const struct request *req, struct json *j, char *err, size_t errlen)
{
	(void)req;
	(void)j;
	(void)err;
	(void)errlen;
	*quit_flag = 1;
	return 0;
}

static int op_notify(const struct request *req, struct json *j, char *err, size_t errlen)
{
	int rc = notify_ready(req->status, err, errlen);

	if (rc < 0)
		return rc;
	if (rc > 0)
		LOG(DEBUG, "told the service manager: ready (%s)", req->status != NULL ? req->status : "");
	json_bool(j, "sent", rc > 0);
	return 0;
}

static const struct op {
	enum request_op op;
	int (*handle)(const struct request *req, struct json *j, char *err, size_t errlen);
} ops[] = {
	{ OP_HELLO, op_hello },
	{ OP_ADD_RELAY, op_add_relay },
	{ OP_REMOVE_RELAY, op_remove_relay },
	{ OP_STATS, op_stats },
	{ OP_SHUTDOWN, op_shutdown },
	{ OP_SET_CPU, op_set_cpu },
	{ OP_NOTIFY, op_notify },
};

int ops_handle(const struct request *req, struct json *j, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (ops[i].op == req->op)
			return ops[i].handle(req, j, err, errlen);
	snprintf(err, errlen, "operation %d has no handler", (int)req->op);
	return -ENOSYS;
}
