/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VIO4WD_CONTROL_H
#define VIO4WD_CONTROL_H

/* Listen on a unix stream socket (mode 0600); see docs/control-protocol.md. */
int control_open(const char *path);
/* Serve requests until *quit is set (by a signal or a shutdown request). */
void control_run(volatile int *quit);
void control_close(void);

#endif
