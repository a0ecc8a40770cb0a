/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket: a unix stream socket on which each request and each
 * reply is one frame, a 4-byte big-endian length then the payload.
 * Requests are "key=value" lines (request.c), replies are one JSON object.
 * Served from the main lcore with poll(); never touches the fast path
 * except through the relay table and worker plans.
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

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_vhost.h>

#include "control.h"
#include "json.h"
#include "log.h"
#include "notify.h"
#include "relay.h"
#include "request.h"
#include "vhost.h"
#include "worker.h"

#define MAX_CLIENTS 8
#define REPLY_MAX (256 * 1024)
#define PROTOCOL_VERSION 1

struct client {
	int fd;
	size_t have;
	uint8_t buf[4 + REQUEST_MAX + 1];
};

static int listen_fd = -1;
static char listen_path[108];
static struct client clients[MAX_CLIENTS];
static char reply[REPLY_MAX];
static volatile int *quit_flag;

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

static void put_dir(struct json *j, const char *name, const struct dir_stats *s)
{
	json_open(j, name, '{');
	json_u64(j, "rx_pkts", __atomic_load_n(&s->rx_pkts, __ATOMIC_RELAXED));
	json_u64(j, "rx_bytes", __atomic_load_n(&s->rx_bytes, __ATOMIC_RELAXED));
	json_u64(j, "tx_pkts", __atomic_load_n(&s->tx_pkts, __ATOMIC_RELAXED));
	json_u64(j, "tx_bytes", __atomic_load_n(&s->tx_bytes, __ATOMIC_RELAXED));
	json_u64(j, "drop_full_pkts", __atomic_load_n(&s->drop_full_pkts, __ATOMIC_RELAXED));
	json_u64(j, "drop_full_bytes", __atomic_load_n(&s->drop_full_bytes, __ATOMIC_RELAXED));
	json_u64(j, "drop_nc_pkts", __atomic_load_n(&s->drop_nc_pkts, __ATOMIC_RELAXED));
	json_u64(j, "drop_nc_bytes", __atomic_load_n(&s->drop_nc_bytes, __ATOMIC_RELAXED));
	json_u64(j, "busy_cycles", __atomic_load_n(&s->busy_cycles, __ATOMIC_RELAXED));
	json_close(j, '}');
}

static void put_relay(struct json *j, const struct relay *r)
{
	int socket = relay_socket(r);

	json_open(j, NULL, '{');
	json_u64(j, "id", r->id);
	json_str(j, "vf", r->vf);
	json_str(j, "vf_name", r->vf_name);
	if (r->bond[0] != '\0') {
		json_str(j, "bond", r->bond);
		json_u64(j, "bond_mode", r->bond_mode);
	}
	json_u64(j, "vf_port", r->vf_port);
	json_str(j, "vhost_path", r->vhost_path);
	json_bool(j, "vhost_client", r->vhost_client);
	json_bool(j, "connected", __atomic_load_n(&r->vid, __ATOMIC_RELAXED) >= 0);
	json_bool(j, "vf_up", __atomic_load_n(&r->vf_up, __ATOMIC_RELAXED) != 0);
	json_u64(j, "socket_id", socket < 0 ? 0 : (uint64_t)socket);
	/* The same, with -1 while not placed on a node (a virtual VF, no VM yet). */
	json_i64(j, "buffer_node", socket);
	{
		uint16_t mtu = 0;
		int vid = __atomic_load_n(&r->vid, __ATOMIC_ACQUIRE);

		/* What the VM negotiated (0 while none is connected), and the VF's MTU. */
		json_u64(j, "vhost_features", vid >= 0 ? __atomic_load_n(&r->vhost_features, __ATOMIC_RELAXED) : 0);
		rte_eth_dev_get_mtu(r->vf_port, &mtu);
		json_u64(j, "vf_mtu", mtu);
	}
	{
		/* Packets the VF's own receive ring had no room for (NIC drops). */
		struct rte_eth_stats st;

		json_u64(j, "vf_rx_missed", rte_eth_stats_get(r->vf_port, &st) == 0 ? st.imissed : 0);
	}
	json_open(j, "cpu", '[');
	json_u64(j, NULL, r->worker[DIR_VF_TO_VM]);
	json_u64(j, NULL, r->worker[DIR_VM_TO_VF]);
	json_close(j, ']');
	put_dir(j, "vf_to_vm", &r->dir[DIR_VF_TO_VM]);
	put_dir(j, "vm_to_vf", &r->dir[DIR_VM_TO_VF]);
	json_close(j, '}');
}

static void put_workers(struct json *j)
{
	json_open(j, "workers", '[');
	for (unsigned int i = 0; i < workers_count(); i++) {
		struct worker_counters c;

		worker_counters(worker_lcore(i), &c);
		json_open(j, NULL, '{');
		json_u64(j, "lcore", worker_lcore(i));
		json_u64(j, "busy_cycles", c.busy_cycles);
		json_u64(j, "idle_cycles", c.idle_cycles);
		/* The scheduler keeps a relay's directions on its own node. */
		json_i64(j, "numa_node", (int)rte_lcore_to_socket_id(worker_lcore(i))); /* -1: several nodes */
		json_close(j, '}');
	}
	json_close(j, ']');
}

/* Handle one request payload; the reply JSON ends up in reply[]. */
static void handle(char *payload, size_t len, struct json *j)
{
	struct request req;
	char err[512];
	bool sent = false;
	int rc;

	rc = request_parse(payload, len, &req, err, sizeof(err));
	if (rc != 0) {
		reply_error(j, rc, err);
		return;
	}
	switch (req.op) {
	case OP_ADD_RELAY:
		rc = relay_add(&req.relay, err, sizeof(err));
		break;
	case OP_REMOVE_RELAY:
		rc = relay_remove(req.relay.id, err, sizeof(err));
		break;
	case OP_SET_CPU:
		rc = relay_set_cpu(req.relay.id, req.relay.cpu, err, sizeof(err));
		break;
	case OP_NOTIFY:
		rc = notify_ready(req.status, err, sizeof(err));
		if (rc > 0)
			LOG(DEBUG, "told the service manager: ready (%s)", req.status != NULL ? req.status : "");
		sent = rc > 0;
		rc = rc > 0 ? 0 : rc;
		break;
	case OP_STATS:
		if (req.has_id && relay_get(req.relay.id) == NULL) {
			snprintf(err, sizeof(err), "relay %u does not exist", req.relay.id);
			rc = -ENOENT;
		}
		break;
	default:
		break;
	}
	if (rc != 0) {
		reply_error(j, rc, err);
		return;
	}
	json_init(j, reply, sizeof(reply));
	json_open(j, NULL, '{');
	json_bool(j, "ok", true);
	switch (req.op) {
	case OP_HELLO:
		json_u64(j, "version", PROTOCOL_VERSION);
		json_u64(j, "pid", (uint64_t)getpid());
		json_u64(j, "tsc_hz", rte_get_tsc_hz());
		put_workers(j);
		break;
	case OP_ADD_RELAY:
	case OP_SET_CPU: {
		const struct relay *r = relay_get(req.relay.id);

		json_open(j, "relay", '[');
		put_relay(j, r);
		json_close(j, ']');
		break;
	}
	case OP_STATS:
		json_u64(j, "tsc", rte_rdtsc());
		json_u64(j, "tsc_hz", rte_get_tsc_hz());
		put_workers(j);
		json_open(j, "relays", '[');
		for (unsigned int i = 0; i < MAX_RELAYS; i++) {
			const struct relay *r = relay_get(i);

			if (r != NULL && (!req.has_id || i == req.relay.id) &&
			    (!req.has_ids || (req.ids >> i & 1) != 0))
				put_relay(j, r);
		}
		json_close(j, ']');
		break;
	case OP_SHUTDOWN:
		*quit_flag = 1;
		break;
	case OP_NOTIFY:
		json_bool(j, "sent", sent);
		break;
	default:
		break;
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

/* Link state of devices without LSC interrupts is polled this often. */
#define LINK_POLL_MS 100

void control_run(volatile int *quit)
{
	const uint64_t link_poll = rte_get_tsc_hz() / 1000 * LINK_POLL_MS;
	uint64_t next_link_poll = 0;

	quit_flag = quit;
	while (!*quit) {
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
		/* On a timer, not when idle: a busy control socket must not starve it. */
		if (rte_rdtsc() >= next_link_poll) {
			relay_poll_links();
			vhost_quiet_pending();
			relay_reap_pools();
			workers_reap();
			next_link_poll = rte_rdtsc() + link_poll;
		}
		if (poll(pfd, n, LINK_POLL_MS) <= 0)
			continue;
		for (nfds_t k = 0; k < n && !*quit; k++) {
			if (pfd[k].revents == 0)
				continue;
			if (idx[k] < 0)
				accept_client();
			else
				client_readable(&clients[idx[k]]);
		}
	}
}
