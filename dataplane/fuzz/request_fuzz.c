/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness over the control request parser: whatever bytes a
 * client sends, request_parse() must return 0 or -EINVAL with a message,
 * never read or write out of bounds, and a request it accepts must satisfy
 * every invariant the relay table relies on.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct request req;
	char err[256];
	char *buf;
	int rc;

	if (size > REQUEST_MAX + 16)
		return 0;
	/* Exactly the bytes received, plus the spare byte the parser may use. */
	buf = malloc(size + 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	err[0] = '\0';
	rc = request_parse(buf, size, &req, err, sizeof(err));
	assert(rc == 0 || rc == -EINVAL);
	if (rc != 0) {
		assert(err[0] != '\0' && memchr(err, '\0', sizeof(err)) != NULL);
	} else {
		assert(size <= REQUEST_MAX);
		if (req.op == OP_ADD_RELAY) {
			assert(req.relay.id < MAX_RELAYS);
			assert(req.relay.vf != NULL && req.relay.vf[0] != '\0' && strlen(req.relay.vf) < VF_ARGS_MAX);
			assert(req.relay.vhost_path != NULL && req.relay.vhost_path[0] == '/' && strlen(req.relay.vhost_path) < 108);
			for (int d = 0; d < DIR_COUNT; d++)
				assert(req.relay.cpu[d] >= -1 && req.relay.cpu[d] < 1024);
		}
		if (req.op == OP_REMOVE_RELAY)
			assert(req.has_id && req.relay.id < MAX_RELAYS);
		/* A relay set: only for stats, never empty, never beside an id. */
		if (req.has_ids)
			assert(req.op == OP_STATS && req.ids != 0 && !req.has_id);
		else
			assert(req.ids == 0);
	}
	free(buf);
	return 0;
}
