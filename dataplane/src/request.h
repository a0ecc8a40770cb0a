/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VIO4WD_REQUEST_H
#define VIO4WD_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relay_request.h"

#define REQUEST_MAX 4096
#define STATUS_MAX 256

enum request_op {
	OP_HELLO,
	OP_ADD_RELAY,
	OP_REMOVE_RELAY,
	OP_STATS,
	OP_SHUTDOWN,
	OP_SET_CPU,
	OP_NOTIFY,
};

/* A validated control request. Strings point into the parsed buffer. */
struct request {
	enum request_op op;
	struct relay_request relay;  /* OP_ADD_RELAY; id also for remove/stats */
	bool has_id;
	uint64_t ids;                /* OP_STATS: the relays asked for, one bit each */
	bool has_ids;
	const char *status;          /* OP_NOTIFY: printable text, may be NULL */
};

/*
 * Parse one request payload ("key=value" lines, see docs/control-protocol.md)
 * in place. buf must hold len bytes plus one spare byte for a terminator.
 * Returns 0, or -EINVAL with a message for a person in err.
 */
int request_parse(char *buf, size_t len, struct request *req, char *err, size_t errlen);

#endif
