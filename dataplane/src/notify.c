/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"

/* $NOTIFY_SOCKET as an address: 1 on success, 0 when unset, -EINVAL when not a unix socket. */
static int notify_address(struct sockaddr_un *sa, socklen_t *salen, char *err, size_t errlen)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t plen;

	if (path == NULL || path[0] == '\0')
		return 0;
	plen = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || plen < 2 || plen >= sizeof(sa->sun_path)) {
		snprintf(err, errlen, "NOTIFY_SOCKET '%.60s' is not a unix socket address", path);
		return -EINVAL;
	}
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, plen);
	if (path[0] == '@')
		sa->sun_path[0] = '\0'; /* abstract namespace: no terminating NUL counted */
	*salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + (path[0] == '/'));
	return 1;
}

/* One datagram to the manager, with pass_fd attached (SCM_RIGHTS) unless it is -1. */
static int notify_send(const struct sockaddr_un *sa, socklen_t salen, const char *msg, size_t len, int pass_fd,
		       char *err, size_t errlen)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = len };
	struct msghdr mh;
	int fd, rc = 1;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot open a socket to notify the service manager: %s", strerror(errno));
		return rc;
	}
	memset(&mh, 0, sizeof(mh));
	mh.msg_name = (void *)sa;
	mh.msg_namelen = salen;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (pass_fd >= 0) {
		struct cmsghdr *cm;

		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = sizeof(control.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
	}
	if (sendmsg(fd, &mh, MSG_NOSIGNAL) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot notify the service manager on %.60s: %s", getenv("NOTIFY_SOCKET"), strerror(errno));
	}
	close(fd);
	return rc;
}

int notify_ready(const char *status, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	char msg[320];
	socklen_t salen;
	int n, rc;

	rc = notify_address(&sa, &salen, err, errlen);
	if (rc <= 0)
		return rc;
	n = snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", status != NULL ? status : "");
	if (n < 0 || (size_t)n >= sizeof(msg))
		n = (int)sizeof(msg) - 1;
	return notify_send(&sa, salen, msg, (size_t)n, -1, err, errlen);
}

int notify_barrier(int timeout_ms, char *err, size_t errlen)
{
	static const char msg[] = "BARRIER=1";
	struct sockaddr_un sa;
	struct pollfd pfd;
	socklen_t salen;
	int pipefd[2], rc;

	rc = notify_address(&sa, &salen, err, errlen);
	if (rc <= 0)
		return rc;
	if (pipe2(pipefd, O_CLOEXEC) != 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot make a pipe for the notify barrier: %s", strerror(errno));
		return rc;
	}
	rc = notify_send(&sa, salen, msg, sizeof(msg) - 1, pipefd[1], err, errlen);
	/* The manager closes its copy of the write end once it has read every message before it. */
	close(pipefd[1]);
	if (rc > 0) {
		pfd.fd = pipefd[0];
		pfd.events = 0;
		rc = poll(&pfd, 1, timeout_ms);
		if (rc == 0) {
			rc = -ETIMEDOUT;
			snprintf(err, errlen, "the service manager did not take the notify barrier within %d ms", timeout_ms);
		} else if (rc < 0) {
			rc = -errno;
			snprintf(err, errlen, "waiting for the notify barrier: %s", strerror(errno));
		} else {
			rc = 1;
		}
	}
	close(pipefd[0]);
	return rc;
}
