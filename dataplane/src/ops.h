/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VIO4WD_OPS_H
#define VIO4WD_OPS_H

/*
 * What each control request does (docs/control-protocol.md): one handler
 * an operation, which acts and then writes its reply's fields.
 */
#include <stddef.h>

#include "json.h"
#include "request.h"

/* Where a shutdown request is recorded (main.c's loop watches it). */
void ops_init(volatile int *quit);
/*
 * Carry out req. On success, return 0 with the reply's fields written into
 * j (an object the caller opened, "ok": true already in it); otherwise a
 * negative errno with a message for a person in err, j left to the caller.
 */
int ops_handle(const struct request *req, struct json *j, char *err, size_t errlen);

#endif
