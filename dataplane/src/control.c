/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket: a unix stream socket on which each request and each
 * reply is one frame, a 4-byte big-endian length then the payload.
 * Requests are "key=value" lines (request.c), replies are one JSON object.
 * Served from the main lcore with poll() (main.c's loop); what a request
 * does is ops.c's. Never touches the fast path except through the relay
 * table and worker plans.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "json.h"
#include "log.h"
#include "ops.h"
#include "request.h"

#define MAX_CLIENTS 8
#define REPLY_MAX (256 * 1024)

struct client {
	int fd;
	size_t have;
	uint8_t buf[4 + REQUEST_MAX + 1];
};

static int listen_fd = -1;
static char listen_path[108];
static struct client clients[MAX_CLIENTS];
static char reply[REPLY_MAX];

int control_open(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	/* Room for the temporary name too (path + ".new"). */
	if (strlen(path) + 4 >= sizeof(sun.sun_path)) {
		LOG(ERR, "control socket path %s is too long", path);
		return -ENAMETOOLONG;
	}
	/*
	 * Bound and listening under a temporary name, then renamed: the path
	 * appears only once it accepts connections, with its final mode.
	 */
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s.new", path);
	snprintf(listen_path, sizeof(listen_path), "%s", path);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (listen_fd < 0)
		return -errno;
	unlink(sun.sun_path);
	unlink(path);
	if (bind(listen_fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
	    chmod(sun.sun_path, 0600) != 0 || listen(listen_fd, MAX_CLIENTS) != 0 ||
	    rename(sun.sun_path, path) != 0) {
		int rc = -errno;

		LOG(ERR, "cannot listen on control socket %s: %s", path, strerror(-rc));
		close(listen_fd);
		unlink(sun.sun_path);
		listen_fd = -1;
		return rc;
	}
	for (int i = 0; i < MAX_CLIENTS; i++)
		clients[i].fd = -1;
	return 0;
}

void control_close(void)
{
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].fd >= 0)
			close(clients[i].fd);
	if (listen_fd >= 0) {
		close(listen_fd);
		unlink(listen_path);
		listen_fd = -1;
	}
}

static void reply_error(struct json *j, int err, const char *msg)
{
	json_init(j, reply, sizeof(reply));
	json_open(j, NULL, '{');
	json_bool(j, "ok", false);
	json_i64(j, "errno", err < 0 ? -err : err);
	json_str(j, "error", msg);
	json_close(j, '}');
}

/* Handle one request payload; the reply JSON ends up in reply[]. */
static void handle(char *payload, size_t len, struct json *j)
{
	struct request req;
	char err[512];
	int rc;

	rc = request_parse(payload, len, &req, err, sizeof(err));
	if (rc != 0) {
		reply_error(j, rc, err);
		return;
	}
	json_init(j, reply, sizeof(reply));
	json_open(j, NULL, '{');
	json_bool(j, "ok", true);
	rc = ops_handle(&req, j, err, sizeof(err));
	if (rc != 0) {
		reply_error(j, rc, err);
		return;
	}
	json_close(j, '}');
}

static int send_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };

			if (poll(&pfd, 1, 1000) <= 0)
				return -1;
			continue;
		}
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static void drop_client(struct client *c)
{
	close(c->fd);
	c->fd = -1;
	c->have = 0;
}

static void client_readable(struct client *c)
{
	struct json j;
	uint32_t len;
	ssize_t n;

	n = recv(c->fd, c->buf + c->have, sizeof(c->buf) - 1 - c->have, MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		drop_client(c);
		return;
	}
	if (n < 0)
		return;
	c->have += (size_t)n;
	while (c->have >= 4) {
		uint32_t be;

		memcpy(&be, c->buf, 4);
		len = ntohl(be);
		if (len > REQUEST_MAX) {
			reply_error(&j, -EMSGSIZE, "request frame too long");
			be = htonl((uint32_t)j.len);
			send_all(c->fd, &be, 4);
			send_all(c->fd, reply, j.len);
			drop_client(c);
			return;
		}
		if (c->have < 4 + len)
			return;
		handle((char *)c->buf + 4, len, &j);
		if (j.overflow)
			reply_error(&j, -E2BIG, "reply too large");
		be = htonl((uint32_t)j.len);
		if (send_all(c->fd, &be, 4) != 0 || send_all(c->fd, reply, j.len) != 0) {
			drop_client(c);
			return;
		}
		memmove(c->buf, c->buf + 4 + len, c->have - 4 - len);
		c->have -= 4 + len;
	}
}

static void accept_client(void)
{
	int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return;
	for (int i = 0; i < MAX_CLIENTS; i++) {
		if (clients[i].fd < 0) {
			clients[i].fd = fd;
			clients[i].have = 0;
			return;
		}
	}
	LOG(WARNING, "control socket: too many clients, refusing one");
	close(fd);
}

void control_serve(int timeout_ms)
{
	struct pollfd pfd[MAX_CLIENTS + 1];
	int idx[MAX_CLIENTS + 1];
	nfds_t n = 0;

	pfd[n] = (struct pollfd){ .fd = listen_fd, .events = POLLIN };
	idx[n++] = -1;
	for (int i = 0; i < MAX_CLIENTS; i++) {
		if (clients[i].fd >= 0) {
			pfd[n] = (struct pollfd){ .fd = clients[i].fd, .events = POLLIN };
			idx[n++] = i;
		}
	}
	if (poll(pfd, n, timeout_ms) <= 0)
		return;
	for (nfds_t k = 0; k < n; k++) {
		if (pfd[k].revents == 0)
			continue;
		if (idx[k] < 0)
			accept_client();
		else
			client_readable(&clients[idx[k]]);
	}
}
