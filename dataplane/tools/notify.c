/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vio4wd-notify STATUS: sends READY=1 and STATUS=... to $NOTIFY_SOCKET for a
 * service written in Node.js (which has no unix datagram sockets), then
 * waits for the service manager to have processed it (a barrier), so that
 * systemd (NotifyAccess=all) can attribute the message to the service even
 * though this helper exits right after. Exit 0 when sent (or no
 * NOTIFY_SOCKET), 1 on failure, with the reason on stderr.
 */
#include <stdio.h>

#include "notify.h"

int main(int argc, char **argv)
{
	char err[160];
	int rc;

	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: vio4wd-notify [STATUS]\n");
		return 2;
	}
	rc = notify_ready(argc == 2 ? argv[1] : "", err, sizeof(err));
	if (rc > 0)
		rc = notify_barrier(5000, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "<4>vio4wd-notify: %s\n", err);
		return 1;
	}
	return 0;
}
