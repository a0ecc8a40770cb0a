/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VIO4WD_FLOW_HASH_H
#define VIO4WD_FLOW_HASH_H

/*
 * Which guest queue a VF->VM packet goes to, when the guest has enabled
 * several: its flow's hash. Inline: the fast path calls it per packet
 * (dataplane/test/test_flow_hash.c).
 */
#include <stdint.h>
#include <string.h>

#include <netinet/in.h>
#include <rte_branch_prediction.h>
#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

static inline uint32_t mix32(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x7feb352d;
	h ^= h >> 15;
	h *= 0x846ca68b;
	h ^= h >> 16;
	return h;
}

/*
 * A flow's hash: the VF's RSS hash where it gives one, else addresses,
 * protocol and ports (or the MAC addresses of a non-IP frame). Every
 * packet of a flow gets the same value, so a flow stays on one queue.
 */
static inline uint32_t flow_hash(const struct rte_mbuf *m)
{
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	uint32_t len = rte_pktmbuf_data_len(m), off = RTE_ETHER_HDR_LEN, h = 0;
	uint16_t type;
	uint8_t proto = 0;

	if (m->ol_flags & RTE_MBUF_F_RX_RSS_HASH)
		return m->hash.rss;
	if (unlikely(len < RTE_ETHER_HDR_LEN))
		return 0;
	type = ((const struct rte_ether_hdr *)p)->ether_type;
	while ((type == rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN) ||
		type == rte_cpu_to_be_16(RTE_ETHER_TYPE_QINQ)) && len >= off + 4) {
		type = *(const uint16_t *)(p + off + 2);
		off += 4;
	}
	if (type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) && len >= off + sizeof(struct rte_ipv4_hdr)) {
		const struct rte_ipv4_hdr *ip = (const void *)(p + off);

		proto = ip->next_proto_id;
		h = ip->src_addr ^ mix32(ip->dst_addr) ^ proto;
		/* Ports only in the first fragment would split a flow: skip fragments. */
		if (ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK))
			return mix32(h);
		off += rte_ipv4_hdr_len(ip);
	} else if (type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6) &&
		   len >= off + sizeof(struct rte_ipv6_hdr)) {
		const struct rte_ipv6_hdr *ip = (const void *)(p + off);
		uint32_t a[8];

		memcpy(a, ip->src_addr, sizeof(a));
		proto = ip->proto;
		for (int i = 0; i < 8; i++)
			h = mix32(h ^ a[i]);
		h ^= proto;
		off += sizeof(*ip);
	} else {
		uint32_t mac[3];

		memcpy(mac, p, sizeof(mac));
		return mix32(mac[0] ^ mix32(mac[1] ^ mix32(mac[2])));
	}
	if ((proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP) && len >= off + 4) {
		uint32_t ports;

		memcpy(&ports, p + off, sizeof(ports));
		h ^= mix32(ports);
	}
	return mix32(h);
}

#endif
