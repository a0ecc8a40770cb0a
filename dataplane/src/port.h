/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VIO4WD_PORT_H
#define VIO4WD_PORT_H

#include <stddef.h>
#include <stdint.h>

struct rte_mempool;

/*
 * A VF is named by a PCI address (hot-plugged: the production path) or by
 * DPDK device arguments such as "net_tap0,iface=vf0" (a vdev). Returns 0
 * and fills *port and name (the DPDK device name) or -errno with a message.
 */
int port_probe(const char *vf, uint16_t *port, char *name, size_t namelen,
	       char *err, size_t errlen);
/* Configure one RX and one TX queue within what the device reports, start. */
int port_start(uint16_t port, struct rte_mempool *pool, char *err, size_t errlen);

/* The data room the VF's packet buffers need (see port.c). */
uint16_t port_buf_size(uint16_t port, char *err, size_t errlen);
/* Stop, close and detach. Safe on a half set-up port. */
void port_release(uint16_t port, const char *name);

/*
 * A bond of the ';'-separated member VFs, named net_bonding_<tag> for DPDK.
 * Fills the bond's port and the members' ports and names; on failure
 * everything it attached is released.
 */
int port_bond_create(const char *members, const char *tag, unsigned int mode,
		     uint16_t *bond_port, char *bond_name, size_t bond_namelen,
		     uint16_t *member_port, char (*member_name)[64], unsigned int max_members,
		     unsigned int *n_members, char *err, size_t errlen);
/* Stop and free the bond, then release its members. */
void port_bond_release(uint16_t bond_port, const char *bond_name, const uint16_t *member_port,
		       char (*member_name)[64], unsigned int n_members);

/* Whether s is a well-formed PCI address (DDDD:BB:DD.F or BB:DD.F). */
int port_is_pci_addr(const char *s);

#endif
