/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VIO4WD_VHOST_H
#define VIO4WD_VHOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * What the vhost-user driver tells its user about the devices on its
 * sockets ("sock": the name a socket was registered with). Called on DPDK's
 * vhost thread, or for detach in whichever thread unregisters the socket.
 */
struct vhost_events {
	/* A VM connected on sock as device vid: 0 takes it, anything else refuses it. */
	int (*attach)(const char *sock, int vid);
	/* Device vid went away: once this returns, nothing may touch it. */
	void (*detach)(int vid);
	/* The guest enabled or disabled its virtqueue queue_id (even: its receive side). */
	void (*vring)(const char *sock, uint16_t queue_id, int enabled);
	/* The path to show for sock in messages. */
	void (*shown_path)(const char *sock, char *out, size_t len);
};

/* Before any vhost_open: where the device callbacks go. */
void vhost_init(const struct vhost_events *ev);
/*
 * Register a vhost-user socket. Server mode creates and listens on it;
 * client mode connects to the VM's socket and reconnects whenever it goes.
 */
/* sock: the name to register (relay.vhost_sock); path: the one for messages. */
int vhost_open(const char *sock, const char *path, bool client, char *err, size_t errlen);
/* Unregister it; waits (asleep) while one of its callbacks runs. */
void vhost_close(const char *sock);
/* Control thread: whether a guest enabled a queue since the last call (then quiet its device). */
bool vhost_quiet_wanted(void);
/* Stop guest notifications on every queue of device vid (the workers poll). */
void vhost_quiet_device(int vid);

#endif
