/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VIO4WD_OPTIONS_H
#define VIO4WD_OPTIONS_H

#include <stdbool.h>

/* Start-up options that shape every relay (VIRTIOFWD_JUMBO/MRGBUF/TSO). */
struct dp_options {
	bool jumbo;   /* VF MTU up to 9000, multi-segment packets */
	bool mrgbuf;  /* offer mergeable receive buffers to guests */
	bool tso;     /* offer checksum/segmentation offloads; the VF must do them */
	int socket_uid; /* owner and group of server-mode vhost-user sockets; -1: leave */
	int socket_gid;
};

extern struct dp_options dp_opts;

#endif
