/* SPDX-License-Identifier: BSD-3-Clause */
/* VF ports: hot-plug, set-up within the device's capabilities, release. */
#include <ctype.h>
#include <linux/if_packet.h>
#include <stdlib.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_eth_bond.h>
#include <rte_devargs.h>
#include <rte_ethdev.h>
#include <rte_kvargs.h>
#include <rte_mbuf.h>

#include "log.h"
#include "options.h"
#include "port.h"

#define RX_DESC 1024
#define TX_DESC 1024

static int hexdigits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

int port_is_pci_addr(const char *s)
{
	size_t len = strlen(s);

	if (len == 12) /* DDDD:BB:DD.F */
		return hexdigits(s, 4) && s[4] == ':' && port_is_pci_addr(s + 5);
	if (len != 7) /* BB:DD.F */
		return 0;
	return hexdigits(s, 2) && s[2] == ':' && hexdigits(s + 3, 2) &&
		s[5] == '.' && s[6] >= '0' && s[6] <= '7' &&
		strtoul(s + 3, NULL, 16) < 32;
}

int port_probe(const char *vf, uint16_t *port, char *name, size_t namelen,
	       char *err, size_t errlen)
{
	struct rte_devargs da;
	char args[512];
	int rc;

	memset(&da, 0, sizeof(da));
	if (port_is_pci_addr(vf))
		snprintf(args, sizeof(args), "%s%s", strlen(vf) == 7 ? "0000:" : "", vf);
	else
		snprintf(args, sizeof(args), "%s", vf);
	rc = rte_devargs_parse(&da, args);
	if (rc != 0) {
		snprintf(err, errlen, "cannot parse VF '%s' as a PCI address or device arguments", vf);
		return -EINVAL;
	}
	snprintf(name, namelen, "%s", da.name);
	rte_devargs_reset(&da);
	if (rte_eth_dev_get_port_by_name(name, port) == 0) {
		snprintf(err, errlen, "VF %s is already in use", name);
		return -EEXIST;
	}
	/* A fixed limit of the DPDK build (Debian's 22.11: 32), not of vio4wd. */
	if (rte_eth_dev_count_total() >= RTE_MAX_ETHPORTS) {
		snprintf(err, errlen, "cannot attach VF '%s': this DPDK build supports at most %d ports (RTE_MAX_ETHPORTS)",
			 vf, RTE_MAX_ETHPORTS);
		return -ENOSPC;
	}
	rc = rte_dev_probe(args);
	if (rc != 0) {
		snprintf(err, errlen, "cannot attach VF '%s': %s%s", vf, rte_strerror(-rc),
			 port_is_pci_addr(vf) ? " (is it bound to vfio-pci?)" : "");
		return rc < 0 ? rc : -EIO;
	}
	if (rte_eth_dev_get_port_by_name(name, port) != 0) {
		snprintf(err, errlen, "VF '%s' attached but is not an ethernet device", vf);
		port_release(RTE_MAX_ETHPORTS, name);
		return -ENODEV;
	}
	return 0;
}

/*
 * The data room of a VF's packet buffers: DPDK's default, or what the
 * device needs. af_packet copies each frame of its ring (framesz= bytes,
 * 2048 by default) into a single buffer and refuses a queue whose buffers
 * are smaller than a frame less its ring header; so its buffers follow its
 * frame size (as OVS-DPDK sizes its pools by the MTU): framesz=9216 for
 * jumbo frames. Devices that scatter (real VFs, tap) or chain by themselves (memif) keep
 * the default. 0: no buffer can be that large (err says why).
 */
#define AF_PACKET_DEFAULT_FRAME 2048
static uint32_t af_packet_frame_size(const struct rte_eth_dev_info *info)
{
	const struct rte_devargs *da = info->device != NULL ? rte_dev_devargs(info->device) : NULL;
	struct rte_kvargs *kv;
	const char *v;
	uint32_t size = AF_PACKET_DEFAULT_FRAME;

	if (da == NULL || da->args == NULL)
		return size;
	kv = rte_kvargs_parse(da->args, NULL);
	if (kv == NULL)
		return size;
	v = rte_kvargs_get(kv, "framesz");
	if (v != NULL)
		size = (uint32_t)strtoul(v, NULL, 10);
	rte_kvargs_free(kv);
	return size;
}

uint16_t port_buf_size(uint16_t port, char *err, size_t errlen)
{
	struct rte_eth_dev_info info;
	uint32_t frame, room;

	if (rte_eth_dev_info_get(port, &info) != 0 || info.driver_name == NULL ||
	    strcmp(info.driver_name, "net_af_packet") != 0 ||
	    (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER))
		return RTE_MBUF_DEFAULT_BUF_SIZE;
	frame = af_packet_frame_size(&info);
	/* What the PMD checks: the frame less the ring's header before the data. */
	room = frame > TPACKET_ALIGN(sizeof(struct tpacket2_hdr)) ?
		frame - (uint32_t)TPACKET_ALIGN(sizeof(struct tpacket2_hdr)) : 0;
	room = RTE_MAX(room, (uint32_t)RTE_MBUF_DEFAULT_DATAROOM);
	if (RTE_PKTMBUF_HEADROOM + room > UINT16_MAX) {
		snprintf(err, errlen, "af_packet frames of %u bytes (framesz=) need packet buffers of %u "
			 "bytes; DPDK's buffers hold at most %u: give framesz=%u or less", frame,
			 RTE_PKTMBUF_HEADROOM + room, UINT16_MAX,
			 UINT16_MAX - RTE_PKTMBUF_HEADROOM + (unsigned int)TPACKET_ALIGN(sizeof(struct tpacket2_hdr)));
		return 0;
	}
	return (uint16_t)(RTE_PKTMBUF_HEADROOM + room);
}

int port_start(uint16_t port, struct rte_mempool *pool, char *err, size_t errlen)
{
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	struct rte_eth_rxconf rxconf;
	struct rte_eth_txconf txconf;
	uint16_t nb_rx = RX_DESC, nb_tx = TX_DESC;
	int socket = rte_eth_dev_socket_id(port);
	int rc;

	rc = rte_eth_dev_info_get(port, &info);
	if (rc != 0) {
		snprintf(err, errlen, "cannot read device info: %s", rte_strerror(-rc));
		return rc;
	}
	memset(&conf, 0, sizeof(conf));
	/* Ask only for what the device says it can do. */
	conf.rxmode.offloads = 0;
	conf.txmode.offloads = info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
	if (dp_opts.tso) {
		const uint64_t need = RTE_ETH_TX_OFFLOAD_TCP_TSO | RTE_ETH_TX_OFFLOAD_TCP_CKSUM |
			RTE_ETH_TX_OFFLOAD_UDP_CKSUM | RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;

		/* Guests hand over partial checksums and large segments: the VF must finish them. */
		if ((info.tx_offload_capa & need) != need) {
			snprintf(err, errlen, "TSO is on (VIRTIOFWD_TSO) but this VF cannot do TSO and "
				 "checksum offload");
			return -ENOTSUP;
		}
		conf.txmode.offloads |= need;
	}
	if (dp_opts.jumbo) {
		uint32_t overhead = RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN;
		uint16_t mtu = RTE_MIN((uint16_t)9000, info.max_mtu);

		if (info.max_rx_pktlen > overhead && info.max_rx_pktlen - overhead < mtu)
			mtu = (uint16_t)(info.max_rx_pktlen - overhead);

		/* Frames larger than one mbuf arrive and leave as segment chains. */
		conf.rxmode.offloads |= info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER;
		conf.txmode.offloads |= info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
		conf.txmode.offloads &= ~(uint64_t)RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
		if (!(conf.rxmode.offloads & RTE_ETH_RX_OFFLOAD_SCATTER))
			mtu = RTE_MIN(mtu, (uint16_t)(rte_pktmbuf_data_room_size(pool) -
						      RTE_PKTMBUF_HEADROOM - RTE_ETHER_HDR_LEN - RTE_ETHER_CRC_LEN));
		conf.rxmode.mtu = RTE_MAX(mtu, (uint16_t)RTE_ETHER_MTU);
	}
	/* Link changes as interrupts where the device has them (else polled). */
	if (*info.dev_flags & RTE_ETH_DEV_INTR_LSC)
		conf.intr_conf.lsc = 1;
	rc = rte_eth_dev_configure(port, 1, 1, &conf);
	if (rc != 0) {
		snprintf(err, errlen, "cannot configure port: %s", rte_strerror(-rc));
		return rc;
	}
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nb_rx, &nb_tx);
	if (rc != 0) {
		snprintf(err, errlen, "cannot size queues: %s", rte_strerror(-rc));
		return rc;
	}
	rxconf = info.default_rxconf;
	rxconf.offloads = conf.rxmode.offloads;
	rc = rte_eth_rx_queue_setup(port, 0, nb_rx, socket < 0 ? SOCKET_ID_ANY : socket,
				    &rxconf, pool);
	if (rc != 0) {
		snprintf(err, errlen, "cannot set up RX queue: %s", rte_strerror(-rc));
		return rc;
	}
	txconf = info.default_txconf;
	txconf.offloads = conf.txmode.offloads;
	rc = rte_eth_tx_queue_setup(port, 0, nb_tx, socket < 0 ? SOCKET_ID_ANY : socket,
				    &txconf);
	if (rc != 0) {
		snprintf(err, errlen, "cannot set up TX queue: %s", rte_strerror(-rc));
		return rc;
	}
	rc = rte_eth_dev_start(port);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start port: %s", rte_strerror(-rc));
		return rc;
	}
	if (dp_opts.jumbo) {
		uint16_t mtu = 0;

		rte_eth_dev_get_mtu(port, &mtu);
		LOG(INFO, "port %u: MTU %u%s", port, mtu,
		    conf.rxmode.offloads & RTE_ETH_RX_OFFLOAD_SCATTER ? ", scattered receive" : "");
	}
	/* The VF carries the VM's traffic, whatever its MAC: best effort. */
	rc = rte_eth_promiscuous_enable(port);
	if (rc != 0 && rc != -ENOTSUP)
		LOG(WARNING, "port %u: cannot enable promiscuous mode: %s", port,
		    rte_strerror(-rc));
	return 0;
}

void port_release(uint16_t port, const char *name)
{
	struct rte_device *dev = NULL;
	struct rte_devargs da;
	int rc = 0;

	if (port < RTE_MAX_ETHPORTS && rte_eth_dev_is_valid_port(port)) {
		struct rte_eth_dev_info info;

		if (rte_eth_dev_info_get(port, &info) == 0)
			dev = info.device;
		rte_eth_dev_stop(port);
		rte_eth_dev_close(port);
	}
	if (dev != NULL) {
		rc = rte_dev_remove(dev);
	} else {
		/* A probe that made no usable port: detach by bus and name. */
		memset(&da, 0, sizeof(da));
		if (rte_devargs_parse(&da, name) == 0 && da.bus != NULL)
			rc = rte_eal_hotplug_remove(rte_bus_name(da.bus), da.name);
		rte_devargs_reset(&da);
	}
	if (rc != 0)
		LOG(WARNING, "cannot detach %s: %s", name, rte_strerror(-rc));
}

int port_bond_create(const char *members, const char *tag, unsigned int mode,
		     uint16_t *bond_port, char *bond_name, size_t bond_namelen,
		     uint16_t *member_port, char (*member_name)[64], unsigned int max_members,
		     unsigned int *n_members, char *err, size_t errlen)
{
	char list[1024];
	char *save = NULL, *m;
	int rc;

	*n_members = 0;
	snprintf(list, sizeof(list), "%s", members);
	for (m = strtok_r(list, ";", &save); m != NULL; m = strtok_r(NULL, ";", &save)) {
		if (*n_members == max_members) {
			snprintf(err, errlen, "a bond takes at most %u members", max_members);
			rc = -EINVAL;
			goto fail;
		}
		rc = port_probe(m, &member_port[*n_members], member_name[*n_members], 64, err, errlen);
		if (rc != 0)
			goto fail;
		(*n_members)++;
	}
	/* DPDK names bond devices after their driver; the user's name is kept apart. */
	snprintf(bond_name, bond_namelen, "net_bonding_%s", tag);
	rc = rte_eth_bond_create(bond_name, (uint8_t)mode, (uint8_t)rte_socket_id());
	if (rc < 0) {
		snprintf(err, errlen, "cannot create bond %s (mode %u): %s", bond_name, mode, rte_strerror(-rc));
		goto fail;
	}
	*bond_port = (uint16_t)rc;
	for (unsigned int i = 0; i < *n_members; i++) {
		rc = rte_eth_bond_slave_add(*bond_port, member_port[i]);
		if (rc != 0) {
			snprintf(err, errlen, "cannot add %s to bond %s: %s", member_name[i], bond_name,
				 rte_strerror(-rc));
			rte_eth_bond_free(bond_name);
			goto fail;
		}
	}
	/* Active-backup: the first member named is the primary. */
	rte_eth_bond_primary_set(*bond_port, member_port[0]);
	return 0;

fail:
	for (unsigned int i = 0; i < *n_members; i++)
		port_release(member_port[i], member_name[i]);
	*n_members = 0;
	return rc < 0 ? rc : -EIO;
}

void port_bond_release(uint16_t bond_port, const char *bond_name, const uint16_t *member_port,
		       char (*member_name)[64], unsigned int n_members)
{
	int rc;

	/* Closing the bond port lets go of its members; then free the device. */
	if (rte_eth_dev_is_valid_port(bond_port)) {
		rte_eth_dev_stop(bond_port);
		rte_eth_dev_close(bond_port);
	}
	rc = rte_eth_bond_free(bond_name);
	if (rc != 0)
		LOG(WARNING, "cannot free bond %s: %s", bond_name, rte_strerror(-rc));
	for (unsigned int i = 0; i < n_members; i++)
		port_release(member_port[i], member_name[i]);
}
