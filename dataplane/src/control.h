/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VIO4WD_CONTROL_H
#define VIO4WD_CONTROL_H

/* Listen on a unix stream socket (mode 0600); see docs/control-protocol.md. */
int control_open(const char *path);
/*
 * Wait up to timeout_ms for the socket, then accept clients and serve each
 * request that has arrived in full (ops.c does what it asks).
 */
void control_serve(int timeout_ms);
void control_close(void);

#endif
