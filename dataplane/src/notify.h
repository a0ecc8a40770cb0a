/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VIO4WD_NOTIFY_H
#define VIO4WD_NOTIFY_H

#include <stddef.h>

/*
 * Tells the service manager that the service is ready ("READY=1" and a
 * STATUS line) on $NOTIFY_SOCKET, as sd_notify(3) does. The supervisor asks
 * the dataplane to send it: the dataplane is a long-lived process of the
 * service's cgroup, so systemd (NotifyAccess=all) can always attribute the
 * datagram, which a short-lived helper cannot guarantee.
 * Returns 1 if sent, 0 if there is no NOTIFY_SOCKET, or -errno with a
 * message in err.
 */
int notify_ready(const char *status, char *err, size_t errlen);

/*
 * Sends "BARRIER=1" with one end of a pipe and waits (up to timeout_ms) for
 * the service manager to close it, which it does once it has processed every
 * earlier message: a helper process that exits after this was alive while
 * its READY=1 was attributed (sd_notify_barrier(3)). Same returns.
 */
int notify_barrier(int timeout_ms, char *err, size_t errlen);

#endif
