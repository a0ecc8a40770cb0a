/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VIO4WD_RELAY_REQUEST_H
#define VIO4WD_RELAY_REQUEST_H

/*
 * What a control request asks of the relay table, and the limits it is
 * checked against. libc only: the request parser and its fuzz harness
 * build without DPDK.
 */
#include <stdbool.h>

#define MAX_RELAYS 64
#define VF_ARGS_MAX 1024
#define BOND_MEMBERS_MAX 8
#define BOND_NAME_MAX 64
/* Who a relay serves, for its log lines: up to 128 bytes and the NUL. */
#define IDENT_MAX 129

enum direction {
	DIR_VF_TO_VM = 0,
	DIR_VM_TO_VF = 1,
	DIR_COUNT = 2,
};

struct relay_request {
	unsigned int id;
	const char *vf;
	const char *vhost_path;
	bool vhost_client;
	int cpu[DIR_COUNT];       /* -1: least busy worker */
	const char *bond;         /* NULL, or the bond's name: vf lists the members */
	unsigned int bond_mode;   /* 0-6, as rte_eth_bond */
	const char *ident;        /* NULL, or printable text (UTF-8 passes as is) */
};

#endif
