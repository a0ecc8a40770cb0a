/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * flow_hash (src/flow_hash.h): which guest queue a VF->VM packet goes to.
 * Frames are built by hand in an mbuf on the stack: no EAL, no pool.
 */
#include <string.h>

#include "check.h"
#include "flow_hash.h"

struct frame {
	struct rte_mbuf m;
	uint8_t buf[256];
	uint32_t len;
};

static void frame_init(struct frame *f)
{
	memset(f, 0, sizeof(*f));
	f->m.buf_addr = f->buf;
	f->m.data_off = 0;
}

static void put(struct frame *f, const void *p, uint32_t n)
{
	memcpy(f->buf + f->len, p, n);
	f->len += n;
	f->m.data_len = (uint16_t)f->len;
	f->m.pkt_len = f->len;
}

static void put_be16(struct frame *f, uint16_t v)
{
	v = rte_cpu_to_be_16(v);
	put(f, &v, 2);
}

static const uint8_t dst_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t src_mac[6] = { 0x02, 0x00, 0x00, 0xab, 0xcd, 0xef };

/* Ethernet with n_tags VLAN tags (the outer one QinQ when there are two). */
static void put_eth(struct frame *f, int n_tags, uint16_t type)
{
	put(f, dst_mac, 6);
	put(f, src_mac, 6);
	for (int i = 0; i < n_tags; i++) {
		put_be16(f, n_tags == 2 && i == 0 ? RTE_ETHER_TYPE_QINQ : RTE_ETHER_TYPE_VLAN);
		put_be16(f, (uint16_t)(100 + i));
	}
	put_be16(f, type);
}

static void put_ipv4(struct frame *f, uint32_t src, uint32_t dst, uint8_t proto, uint16_t frag)
{
	struct rte_ipv4_hdr ip;

	memset(&ip, 0, sizeof(ip));
	ip.version_ihl = RTE_IPV4_VHL_DEF;
	ip.next_proto_id = proto;
	ip.src_addr = rte_cpu_to_be_32(src);
	ip.dst_addr = rte_cpu_to_be_32(dst);
	ip.fragment_offset = rte_cpu_to_be_16(frag);
	ip.time_to_live = 64;
	put(f, &ip, sizeof(ip));
}

static void put_ports(struct frame *f, uint16_t sport, uint16_t dport, uint8_t fill)
{
	uint8_t rest[20];

	put_be16(f, sport);
	put_be16(f, dport);
	memset(rest, fill, sizeof(rest));
	put(f, rest, sizeof(rest));
}

/* A TCP or UDP segment over IPv4, with n_tags VLAN tags. */
static uint32_t hash_v4(int n_tags, uint32_t src, uint32_t dst, uint8_t proto, uint16_t sport,
			uint16_t dport, uint8_t fill)
{
	struct frame f;

	frame_init(&f);
	put_eth(&f, n_tags, RTE_ETHER_TYPE_IPV4);
	put_ipv4(&f, src, dst, proto, 0);
	put_ports(&f, sport, dport, fill);
	return flow_hash(&f.m);
}

static uint32_t hash_v6(const uint8_t src[16], const uint8_t dst[16], uint16_t sport, uint8_t fill)
{
	struct rte_ipv6_hdr ip;
	struct frame f;

	memset(&ip, 0, sizeof(ip));
	ip.vtc_flow = rte_cpu_to_be_32(6u << 28);
	ip.proto = IPPROTO_UDP;
	ip.hop_limits = 64;
	memcpy(ip.src_addr, src, 16);
	memcpy(ip.dst_addr, dst, 16);
	frame_init(&f);
	put_eth(&f, 0, RTE_ETHER_TYPE_IPV6);
	put(&f, &ip, sizeof(ip));
	put_ports(&f, sport, 4789, fill);
	return flow_hash(&f.m);
}

/* The queue the worker picks among n (worker.c: the hash scaled to n). */
static unsigned int queue_of(uint32_t h, unsigned int n)
{
	return (unsigned int)(((uint64_t)h * n) >> 32);
}

static void test_rss_passthrough(void)
{
	struct frame f;

	frame_init(&f);
	put_eth(&f, 0, RTE_ETHER_TYPE_IPV4);
	put_ipv4(&f, 0x0a000001, 0x0a000002, IPPROTO_TCP, 0);
	put_ports(&f, 1000, 80, 0);
	f.m.hash.rss = 0xdeadbeef;
	CHECK(flow_hash(&f.m) != 0xdeadbeef);
	f.m.ol_flags |= RTE_MBUF_F_RX_RSS_HASH;
	CHECK(flow_hash(&f.m) == 0xdeadbeef);
}

static void test_same_flow_same_hash(void)
{
	uint32_t a = hash_v4(0, 0x0a000001, 0x0a000002, IPPROTO_TCP, 40000, 80, 0x00);

	/* Another packet of the flow (other payload, as a segment's would be). */
	CHECK(hash_v4(0, 0x0a000001, 0x0a000002, IPPROTO_TCP, 40000, 80, 0xff) == a);
	/* Each of the five fields makes another flow. */
	CHECK(hash_v4(0, 0x0a000003, 0x0a000002, IPPROTO_TCP, 40000, 80, 0) != a);
	CHECK(hash_v4(0, 0x0a000001, 0x0a000004, IPPROTO_TCP, 40000, 80, 0) != a);
	CHECK(hash_v4(0, 0x0a000001, 0x0a000002, IPPROTO_UDP, 40000, 80, 0) != a);
	CHECK(hash_v4(0, 0x0a000001, 0x0a000002, IPPROTO_TCP, 40001, 80, 0) != a);
	CHECK(hash_v4(0, 0x0a000001, 0x0a000002, IPPROTO_TCP, 40000, 81, 0) != a);
	/* Ports count for TCP, UDP and SCTP only: ICMP's first bytes are not ports. */
	CHECK(hash_v4(0, 0x0a000001, 0x0a000002, IPPROTO_ICMP, 1, 2, 0) ==
	      hash_v4(0, 0x0a000001, 0x0a000002, IPPROTO_ICMP, 3, 4, 0));
	CHECK(hash_v4(0, 0x0a000001, 0x0a000002, IPPROTO_SCTP, 1, 2, 0) !=
	      hash_v4(0, 0x0a000001, 0x0a000002, IPPROTO_SCTP, 3, 4, 0));
}

static void test_vlan(void)
{
	uint32_t plain = hash_v4(0, 0xc0a80001, 0xc0a80002, IPPROTO_UDP, 5000, 53, 0);

	/* The tags are skipped: the flow's fields are found behind one or two. */
	CHECK(hash_v4(1, 0xc0a80001, 0xc0a80002, IPPROTO_UDP, 5000, 53, 0) == plain);
	CHECK(hash_v4(2, 0xc0a80001, 0xc0a80002, IPPROTO_UDP, 5000, 53, 0) == plain);
	CHECK(hash_v4(2, 0xc0a80001, 0xc0a80002, IPPROTO_UDP, 5001, 53, 0) != plain);
}

static void test_fragments(void)
{
	struct frame first, later;

	/* The first fragment carries the ports, a later one does not: both go together. */
	frame_init(&first);
	put_eth(&first, 0, RTE_ETHER_TYPE_IPV4);
	put_ipv4(&first, 0x0a000001, 0x0a000002, IPPROTO_UDP, RTE_IPV4_HDR_MF_FLAG);
	put_ports(&first, 7000, 7001, 0);
	frame_init(&later);
	put_eth(&later, 0, RTE_ETHER_TYPE_IPV4);
	put_ipv4(&later, 0x0a000001, 0x0a000002, IPPROTO_UDP, 185); /* offset 1480 bytes, last */
	put_ports(&later, 0x4142, 0x4344, 0x45);
	CHECK(flow_hash(&first.m) == flow_hash(&later.m));
	/* And not with another pair of hosts. */
	frame_init(&later);
	put_eth(&later, 0, RTE_ETHER_TYPE_IPV4);
	put_ipv4(&later, 0x0a000009, 0x0a000002, IPPROTO_UDP, 185);
	put_ports(&later, 0x4142, 0x4344, 0x45);
	CHECK(flow_hash(&first.m) != flow_hash(&later.m));
}

static void test_ipv6(void)
{
	uint8_t a[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 }, b[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };
	uint32_t h = hash_v6(a, b, 1234, 0);

	CHECK(hash_v6(a, b, 1234, 0x77) == h);
	CHECK(hash_v6(b, a, 1234, 0) != h);
	CHECK(hash_v6(a, b, 1235, 0) != h);
	b[7] ^= 1;  /* a bit in the middle of an address */
	CHECK(hash_v6(a, b, 1234, 0) != h);
}

static void test_not_ip(void)
{
	struct frame f, g;
	uint8_t arp[28];

	memset(arp, 0x11, sizeof(arp));
	frame_init(&f);
	put_eth(&f, 0, RTE_ETHER_TYPE_ARP);
	put(&f, arp, sizeof(arp));
	memset(arp, 0x22, sizeof(arp));
	frame_init(&g);
	put_eth(&g, 1, RTE_ETHER_TYPE_ARP);
	put(&g, arp, sizeof(arp));
	/* By MAC addresses only. */
	CHECK(flow_hash(&f.m) == flow_hash(&g.m));
	/* An IPv4 frame too short for its header: by MAC addresses too. */
	frame_init(&g);
	put_eth(&g, 0, RTE_ETHER_TYPE_IPV4);
	put(&g, arp, 10);
	CHECK(flow_hash(&f.m) == flow_hash(&g.m));
	/* Shorter than an Ethernet header: queue 0. */
	frame_init(&g);
	put(&g, arp, 13);
	CHECK(flow_hash(&g.m) == 0);
}

static void test_spread(void)
{
	unsigned int per_queue[4] = { 0 };

	/* 4000 connections of one client to one server: about 1000 a queue. */
	for (uint16_t port = 20000; port < 24000; port++)
		per_queue[queue_of(hash_v4(0, 0x0a000001, 0x0a000002, IPPROTO_TCP, port, 443, 0), 4)]++;
	for (int q = 0; q < 4; q++) {
		printf("  queue %d: %u of 4000 flows\n", q, per_queue[q]);
		CHECK(per_queue[q] > 850 && per_queue[q] < 1150);
	}
}

int main(void)
{
	test_rss_passthrough();
	test_same_flow_same_hash();
	test_vlan();
	test_fragments();
	test_ipv6();
	test_not_ip();
	test_spread();
	return check_result("flow_hash");
}
