/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DPDK's vhost-user driver, wrapped: sockets registered and unregistered,
 * and its device callbacks passed on to the events the caller gave
 * vhost_init() (the relay table: it owns the devices' state). The callbacks
 * run on DPDK's vhost thread (or, for destroy_device, in whichever thread
 * unregisters the socket).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/virtio_net.h>
#include <rte_vhost.h>

#include "log.h"
#include "options.h"
#include "vhost.h"

static const struct vhost_events *events;

void vhost_init(const struct vhost_events *ev)
{
	events = ev;
}

/*
 * The workers poll every queue: the guest need not notify (kick) us after
 * each transmit burst, which for a real VM is an exit and an eventfd write.
 */
void vhost_quiet_device(int vid)
{
	uint16_t n_vrings = rte_vhost_get_vring_num(vid);

	for (uint16_t q = 0; q < n_vrings; q++)
		if (rte_vhost_enable_guest_notification(vid, q, 0) != 0)
			LOG(DEBUG, "vhost device %d: queue %u keeps guest notifications", vid, q);
}

/* A guest enabled a queue since the control thread last looked. */
static int quiet_pending;

bool vhost_quiet_wanted(void)
{
	return __atomic_exchange_n(&quiet_pending, 0, __ATOMIC_ACQ_REL) != 0;
}

static int new_device(int vid)
{
	char sock[PATH_MAX], path[PATH_MAX];

	if (rte_vhost_get_ifname(vid, sock, sizeof(sock)) != 0)
		return -1;
	events->shown_path(sock, path, sizeof(path));
	if (events->attach(sock, vid) != 0) {
		LOG(WARNING, "vhost device %d on %s belongs to no relay", vid, path);
		return -1;
	}
	vhost_quiet_device(vid);
	LOG(INFO, "VM connected on %s (vhost device %d, %u queue pair(s))", path, vid,
	    rte_vhost_get_vring_num(vid) / 2);
	return 0;
}

static void destroy_device(int vid)
{
	char sock[PATH_MAX] = "?", path[PATH_MAX];

	rte_vhost_get_ifname(vid, sock, sizeof(sock));
	events->shown_path(sock, path, sizeof(path));
	/* Nothing may touch the device once this callback returns. */
	events->detach(vid);
	LOG(INFO, "VM disconnected from %s (vhost device %d)", path, vid);
}

/*
 * The guest enables and disables its queues (multiqueue: ethtool -L) at
 * run time; the workers follow the masks. Until a receive queue is enabled,
 * VF->VM packets have nowhere to go and count as not connected.
 */
static int vring_state_changed(int vid, uint16_t queue_id, int enable)
{
	char sock[PATH_MAX];

	if (rte_vhost_get_ifname(vid, sock, sizeof(sock)) != 0)
		return 0;
	/*
	 * Called with the virtqueue locked: quieting it here would deadlock on
	 * that lock. The control thread does it (vhost_quiet_wanted).
	 */
	if (enable)
		__atomic_store_n(&quiet_pending, 1, __ATOMIC_RELEASE);
	events->vring(sock, queue_id, enable);
	return 0;
}

#define OFFLOAD_FEATURES ( \
	(1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM) | \
	(1ULL << VIRTIO_NET_F_GUEST_TSO4) | (1ULL << VIRTIO_NET_F_GUEST_TSO6) | \
	(1ULL << VIRTIO_NET_F_GUEST_ECN) | (1ULL << VIRTIO_NET_F_GUEST_UFO) | \
	(1ULL << VIRTIO_NET_F_HOST_TSO4) | (1ULL << VIRTIO_NET_F_HOST_TSO6) | \
	(1ULL << VIRTIO_NET_F_HOST_ECN) | (1ULL << VIRTIO_NET_F_HOST_UFO))

static const struct rte_vhost_device_ops vhost_ops = {
	.new_device = new_device,
	.destroy_device = destroy_device,
	.vring_state_changed = vring_state_changed,
};

/*
 * A socket file left by a process that died (kill -9, crash) makes bind()
 * fail. Remove it, but only when it is a socket nobody listens on.
 */
static int remove_stale_socket(const char *sock, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (lstat(sock, &st) != 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock);
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen, "%s is in use by another process", path);
		return -EADDRINUSE;
	}
	unlink(sock);
	return 0;
}

int vhost_open(const char *sock, const char *path, bool client, char *err, size_t errlen)
{
	uint64_t flags = client ? RTE_VHOST_USER_CLIENT : 0;
	int rc;

	if (!client) {
		rc = remove_stale_socket(sock, path, err, errlen);
		if (rc != 0)
			return rc;
	}

	rc = rte_vhost_driver_register(sock, flags);
	if (rc != 0) {
		snprintf(err, errlen, "cannot register vhost-user socket %s", path);
		return -EINVAL;
	}
	/*
	 * Without TSO, offer no checksum or segmentation offloads: the guest
	 * does that work itself (the relay does not finish partial checksums),
	 * and neither side parses a virtio-net header per packet. With it, the
	 * VF does the work (port_start checks that it can). Dirty-page logging
	 * for live migration always stays on.
	 */
	rc = rte_vhost_driver_disable_features(sock, (dp_opts.tso ? 0 : OFFLOAD_FEATURES) |
					       (dp_opts.mrgbuf ? 0 : 1ULL << VIRTIO_NET_F_MRG_RXBUF));
	if (rc == 0)
		rc = rte_vhost_driver_callback_register(sock, &vhost_ops);
	if (rc == 0)
		rc = rte_vhost_driver_start(sock);
	if (rc != 0) {
		snprintf(err, errlen, "cannot %s vhost-user socket %s",
			 client ? "connect to" : "listen on", path);
		rte_vhost_driver_unregister(sock);
		return -EIO;
	}
	/*
	 * The socket we created is for QEMU's user (VIRTIOFWD_SOCKET_OWNER/GROUP).
	 * Not through a symlink swapped in since the bind: that would hand
	 * any file on the host to that user. The mode first, while the file
	 * is still ours (no CAP_FOWNER needed: see the unit).
	 */
	if (!client && (dp_opts.socket_uid >= 0 || dp_opts.socket_gid >= 0) &&
	    (fchmodat(AT_FDCWD, sock, 0660, AT_SYMLINK_NOFOLLOW) != 0 ||
	     fchownat(AT_FDCWD, sock, (uid_t)dp_opts.socket_uid, (gid_t)dp_opts.socket_gid,
		      AT_SYMLINK_NOFOLLOW) != 0)) {
		rc = -errno;
		snprintf(err, errlen, "cannot give vhost-user socket %s owner %d, group %d: %s",
			 path, dp_opts.socket_uid, dp_opts.socket_gid, strerror(-rc));
		vhost_close(sock);
		return rc;
	}
	return 0;
}

/* How long a busy socket is waited for between tries, and how often that is said. */
#define CLOSE_RETRY_US 100
#define CLOSE_WARN_EVERY (10 * 1000000 / CLOSE_RETRY_US)

void vhost_close(const char *sock)
{
	unsigned long tries = 0;
	int rc;

	/*
	 * -EBUSY while one of the socket's callbacks runs on the vhost thread
	 * (they are short). Giving up would leave callbacks that name a relay
	 * about to be freed, so wait, asleep, and say so if it lasts.
	 */
	while ((rc = rte_vhost_driver_unregister(sock)) == -EBUSY) {
		if (++tries % CLOSE_WARN_EVERY == 0)
			LOG(WARNING, "vhost-user socket %s: still busy after %lu s; waiting for its callback",
			    sock, tries / CLOSE_WARN_EVERY * 10);
		usleep(CLOSE_RETRY_US);
	}
	if (rc != 0)
		LOG(WARNING, "cannot unregister vhost-user socket %s", sock);
}
