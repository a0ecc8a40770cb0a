/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VIO4WD_VHOST_H
#define VIO4WD_VHOST_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Register a vhost-user socket. Server mode creates and listens on it;
 * client mode connects to the VM's socket and reconnects whenever it goes.
 */
/* sock: the name to register (relay.vhost_sock); path: the one for messages. */
int vhost_open(const char *sock, const char *path, bool client, char *err, size_t errlen);
void vhost_close(const char *sock);
/* Control thread: stop guest notifications on queues enabled since new_device. */
void vhost_quiet_pending(void);

#endif
