/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vio4wd-pktgen: the benchmark's traffic source and sink. One process owns
 * both outer ports of a relay under test: the "VM" (virtio_user on the
 * relay's vhost-user socket) and the far end of the relay's VF (memif).
 * It sends fixed-size UDP frames on one or both, counts what arrives on
 * the other, and prints one JSON line with the delivered rates measured
 * over a timed window after a warm-up.
 *
 *   vio4wd-pktgen [EAL options] -- --vm NAME --vf NAME --dir vm2vf|vf2vm|bidir
 *                 [--size 64] [--warmup-ms 1000] [--duration-ms 2000] [--flows 1] [--hold]
 *                 [--queues 1]  (queue pairs on the VM port; flow f is sent on queue
 *                               f % queues, and received on any)
 *                 [--vf-queues 1] (receive queues on the VF's peer port, read
 *                               all; it sends on its one transmit queue: for a
 *                               relay that transmits on another queue than 0,
 *                               as OVS's PMD threads do)
 *                 [--count N [--pps R]]  (send exactly N per side, at most R per
 *                               second, or fewer if SIGUSR2 says stop sending
 *                               (the totals say how many), drain duration-ms, report totals,
 *                               packets received out of order within their flow,
 *                               flows seen on more than one VM queue, and the
 *                               packets each VM queue received; with --latency,
 *                               the latency of every packet received instead of
 *                               the reordering)
 *                 [--pps R] (without --count: at most R packets per second per
 *                               sending side, sent one by one as they fall due)
 *                 [--latency]   (each packet carries the TSC when it was sent in
 *                               place of its number; each side reports the
 *                               one-way latency of what it received in the
 *                               window: p50, p99, p99.9, max)
 *                 [--sample]    (no timed window: after the warm-up, send until
 *                               signalled to quit, and on each SIGUSR1 print the
 *                               totals so far with the time they were read:
 *                               {"t_ns":…,"vm_tx":…,"vf_rx":…,"vf_tx":…,"vm_rx":…},
 *                               with --latency also the latency of what arrived
 *                               since the previous SIGUSR1; for windows timed
 *                               from outside, e.g. while the relays under test
 *                               take turns. A pause of the process (SIGSTOP) is
 *                               not made up for afterwards: --pps paces from
 *                               where it stopped)
 *
 * Flow f is UDP source port 1024 + f; each flow numbers its packets. A line
 * "window-start" marks the end of the warm-up.
 *
 *   vio4wd-pktgen [EAL options] -- --idle
 *
 * The peers of idle relays: every port of the process (--vdev ...) set up
 * and started, each receive ring filled with buffers as a VM's or a NIC's
 * is; once every link is up, "idle-ready N" (N ports), and then nothing,
 * asleep, until SIGTERM or SIGINT. Nothing is sent or read: the relays see
 * connected VMs and up VFs with no traffic.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include "num.h"

#define BURST 32
#define NB_MBUF 16383
#define DESC 1024
#define MAX_FLOWS 1024
#define MAX_QUEUES 32
/* Latency histogram: 25 ns steps up to 100 us, then 1 us steps up to 100 ms. */
#define LAT_FINE_NS 25
#define LAT_FINE 4000
#define LAT_COARSE_NS 1000
#define LAT_BUCKETS (LAT_FINE + 100000)

struct latency {
	uint64_t n;
	uint64_t max_ns;
	uint64_t hist[LAT_BUCKETS];
};

struct side {
	uint16_t port;
	uint16_t nq;         /* receive queues (read all) */
	uint16_t tx_nq;      /* transmit queues (sent on all) */
	int tx;              /* this side sends */
	uint64_t tx_pkts;
	uint64_t rx_pkts;
	uint64_t seq;        /* packets sent so far (all flows) */
	uint64_t limit;      /* --count: packets to send in all (0: no limit) */
	uint64_t reordered;  /* packets received after a later one of their flow */
	uint64_t split;      /* flows received on more than one queue */
	uint64_t rxq_pkts[MAX_QUEUES];
	uint64_t next_seq[MAX_FLOWS]; /* per flow: next sequence number to send */
	uint64_t last_rx[MAX_FLOWS];  /* per flow: highest sequence number received */
	int16_t rxq_of[MAX_FLOWS];    /* per flow: queue it was first received on, -1: none */
	struct latency lat;           /* --latency: of the packets this side received */
};

static int latency_mode;
static double ns_per_tsc;

/* Sequence number in its flow, then the flow, at the start of the UDP payload. */
#define SEQ_OFF (sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr) + sizeof(struct rte_udp_hdr))
#define FLOW_OFF (SEQ_OFF + sizeof(uint64_t))

static volatile int quit;
static volatile sig_atomic_t sample_asked;
static volatile sig_atomic_t finish_asked;

static void on_signal(int sig)
{
	(void)sig;
	quit = 1;
}

static void on_sample(int sig)
{
	(void)sig;
	sample_asked = 1;
}

static void on_finish(int sig)
{
	(void)sig;
	finish_asked = 1;
}

static int port_by_name(const char *name, uint16_t *port)
{
	if (rte_eth_dev_get_port_by_name(name, port) != 0) {
		fprintf(stderr, "pktgen: no port named %s\n", name);
		return -1;
	}
	return 0;
}

/* nrx receive and ntx transmit queues of desc descriptors each. */
static int port_setup(uint16_t port, uint16_t nrx, uint16_t ntx, uint16_t desc, struct rte_mempool *pool)
{
	struct rte_eth_conf conf;
	uint16_t rxd = desc, txd = desc;
	int rc = 0;

	memset(&conf, 0, sizeof(conf));
	if (rte_eth_dev_configure(port, nrx, ntx, &conf) != 0 ||
	    rte_eth_dev_adjust_nb_rx_tx_desc(port, &rxd, &txd) != 0)
		rc = -1;
	for (uint16_t q = 0; rc == 0 && q < nrx; q++)
		if (rte_eth_rx_queue_setup(port, q, rxd, rte_eth_dev_socket_id(port), NULL, pool) != 0)
			rc = -1;
	for (uint16_t q = 0; rc == 0 && q < ntx; q++)
		if (rte_eth_tx_queue_setup(port, q, txd, rte_eth_dev_socket_id(port), NULL) != 0)
			rc = -1;
	if (rc != 0 || rte_eth_dev_start(port) != 0) {
		fprintf(stderr, "pktgen: cannot set up port %u with %u receive and %u transmit queue(s)\n",
			port, nrx, ntx);
		return -1;
	}
	return 0;
}

/* An Ethernet/IPv4/UDP frame of `size` bytes (FCS excluded: size - 4). */
static void fill(struct rte_mbuf *m, uint16_t size, uint32_t flow, uint64_t seq)
{
	uint16_t len = size - RTE_ETHER_CRC_LEN;
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);

	memset(&eth->dst_addr, 0xff, sizeof(eth->dst_addr));
	memset(&eth->src_addr, 0x02, sizeof(eth->src_addr));
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	memset(ip, 0, sizeof(*ip));
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->total_length = rte_cpu_to_be_16(len - sizeof(*eth));
	ip->src_addr = rte_cpu_to_be_32(0xc6120001); /* 198.18.0.1, benchmark range */
	ip->dst_addr = rte_cpu_to_be_32(0xc6120002);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	udp->src_port = rte_cpu_to_be_16((uint16_t)(1024 + flow));
	udp->dst_port = rte_cpu_to_be_16(9);
	udp->dgram_len = rte_cpu_to_be_16(len - sizeof(*eth) - sizeof(*ip));
	udp->dgram_cksum = 0;
	memcpy((char *)eth + SEQ_OFF, &seq, sizeof(seq));
	memcpy((char *)eth + FLOW_OFF, &flow, sizeof(flow));
	m->data_len = len;
	m->pkt_len = len;
}

/* Send one burst of flows seq % flows, each on its queue (flow % nq). */
static void send_burst(struct side *s, struct rte_mempool *pool, uint16_t size, unsigned int flows)
{
	struct rte_mbuf *pkts[BURST], *q_pkts[BURST];
	uint32_t flow_of[BURST];
	uint16_t want = BURST;
	uint64_t now;

	/* Paced (limit): nothing before it is due (the pace may be a packet behind after a stop). */
	if (s->limit != 0 && s->limit <= s->seq)
		return;
	if (s->limit != 0 && s->limit - s->seq < want)
		want = (uint16_t)(s->limit - s->seq);
	if (want == 0 || rte_pktmbuf_alloc_bulk(pool, pkts, want) != 0)
		return;
	for (uint16_t i = 0; i < want; i++)
		flow_of[i] = (uint32_t)((s->seq + i) % flows);
	now = rte_rdtsc();
	for (uint16_t q = 0; q < s->tx_nq; q++) {
		uint32_t q_flow[BURST];
		uint16_t k = 0, n;

		for (uint16_t i = 0; i < want; i++) {
			if (flow_of[i] % s->tx_nq != q)
				continue;
			q_flow[k] = flow_of[i];
			fill(pkts[i], size, flow_of[i], latency_mode ? now : s->next_seq[flow_of[i]]);
			s->next_seq[flow_of[i]]++;
			q_pkts[k++] = pkts[i];
		}
		if (k == 0)
			continue;
		n = rte_eth_tx_burst(s->port, q, q_pkts, k);
		s->tx_pkts += n;
		s->seq += n;
		/* Not sent: each flow's last numbers go out again in a later burst. */
		for (uint16_t i = n; i < k; i++)
			s->next_seq[q_flow[i]]--;
		rte_pktmbuf_free_bulk(&q_pkts[n], k - n);
	}
}

static void latency_add(struct latency *l, uint64_t ns)
{
	uint64_t b = ns < (uint64_t)LAT_FINE * LAT_FINE_NS ? ns / LAT_FINE_NS :
		LAT_FINE + (ns - (uint64_t)LAT_FINE * LAT_FINE_NS) / LAT_COARSE_NS;

	l->hist[b < LAT_BUCKETS ? b : LAT_BUCKETS - 1]++;
	l->n++;
	if (ns > l->max_ns)
		l->max_ns = ns;
}

/* The latency below which a share q of the samples lie (the bucket's upper bound). */
static uint64_t latency_quantile(const struct latency *l, double q)
{
	uint64_t want = (uint64_t)((double)l->n * q), seen = 0;

	for (uint64_t b = 0; b < LAT_BUCKETS; b++) {
		seen += l->hist[b];
		if (seen > want) {
			uint64_t ns = b < LAT_FINE ? (b + 1) * LAT_FINE_NS :
				(uint64_t)LAT_FINE * LAT_FINE_NS + (b - LAT_FINE + 1) * LAT_COARSE_NS;

			return ns < l->max_ns ? ns : l->max_ns;
		}
	}
	return l->max_ns;
}

static void latency_print(const char *name, const struct latency *l)
{
	printf(",\"%s\":{\"n\":%" PRIu64 ",\"p50_ns\":%" PRIu64 ",\"p99_ns\":%" PRIu64
	       ",\"p999_ns\":%" PRIu64 ",\"max_ns\":%" PRIu64 "}", name, l->n,
	       latency_quantile(l, 0.5), latency_quantile(l, 0.99), latency_quantile(l, 0.999), l->max_ns);
}

static void receive(struct side *s, unsigned int flows)
{
	struct rte_mbuf *pkts[BURST];

	for (uint16_t q = 0; q < s->nq; q++) {
		uint16_t n = rte_eth_rx_burst(s->port, q, pkts, BURST);
		uint64_t now = n && latency_mode ? rte_rdtsc() : 0;

		for (uint16_t i = 0; i < n; i++) {
			uint64_t seq;
			uint32_t flow;

			memcpy(&seq, rte_pktmbuf_mtod_offset(pkts[i], char *, SEQ_OFF), sizeof(seq));
			memcpy(&flow, rte_pktmbuf_mtod_offset(pkts[i], char *, FLOW_OFF), sizeof(flow));
			if (flow >= flows)
				continue;
			if (latency_mode) {
				/* seq is the sender's TSC; one process, one TSC. */
				if (seq <= now)
					latency_add(&s->lat, (uint64_t)((double)(now - seq) * ns_per_tsc));
				continue;
			}
			if (s->rxq_of[flow] < 0)
				s->rxq_of[flow] = (int16_t)q;
			else if (s->rxq_of[flow] != q && s->rxq_of[flow] < MAX_QUEUES) {
				s->split++;
				s->rxq_of[flow] = MAX_QUEUES; /* count each flow once */
			}
			if (seq < s->last_rx[flow])
				s->reordered++;
			else
				s->last_rx[flow] = seq;
		}
		if (n) {
			s->rx_pkts += n;
			s->rxq_pkts[q] += n;
			rte_pktmbuf_free_bulk(pkts, n);
		}
	}
}

/*
 * --pps without --count: each sending side may have sent pps packets a
 * second since t0, plus the one now due (so slow rates go one by one).
 */
static void pace(struct side *a, struct side *b, uint64_t t0, uint64_t hz, unsigned long pps)
{
	if (pps != 0) {
		uint64_t allowed = (rte_rdtsc() - t0) * pps / hz + 1;

		a->limit = allowed;
		b->limit = allowed;
	}
}

static void poll_once(struct side *s, struct rte_mempool *pool, uint16_t size, unsigned int flows)
{
	if (s->tx)
		send_burst(s, pool, size, flows);
	receive(s, flows);
}

/* Ring size of an idle peer's queues: filled with buffers, never read. */
#define IDLE_DESC 256

/* --idle: every port up and its receive ring filled; then asleep until told to quit. */
static int run_idle(void)
{
	uint16_t nb = rte_eth_dev_count_avail(), port, up = 0;
	struct rte_mempool *pool;
	sigset_t none;

	/* Per port: its Rx ring, its Tx ring (empty), the per-lcore cache. */
	pool = rte_pktmbuf_pool_create("idle", (unsigned int)nb * (IDLE_DESC + 64) + 512, 0, 0,
				       RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
	if (nb == 0 || pool == NULL) {
		fprintf(stderr, "pktgen: --idle needs ports (--vdev) and memory for %u of them\n", nb);
		return 1;
	}
	RTE_ETH_FOREACH_DEV(port)
		if (port_setup(port, 1, 1, IDLE_DESC, pool) != 0)
			return 1;
	for (int i = 0; i < 3000 && !quit && up < nb; i++) {
		up = 0;
		RTE_ETH_FOREACH_DEV(port) {
			struct rte_eth_link l;

			if (rte_eth_link_get_nowait(port, &l) == 0 && l.link_status == RTE_ETH_LINK_UP)
				up++;
		}
		if (up < nb)
			rte_delay_ms(10);
	}
	if (up < nb) {
		fprintf(stderr, "pktgen: --idle: %u of %u links up after 30 s\n", up, nb);
		return 1;
	}
	printf("idle-ready %u\n", nb);
	fflush(stdout);
	sigemptyset(&none);
	while (!quit)
		sigsuspend(&none);
	RTE_ETH_FOREACH_DEV(port)
		rte_eth_dev_stop(port);
	rte_eal_cleanup();
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "vm", required_argument, NULL, 'm' },
		{ "vf", required_argument, NULL, 'f' },
		{ "dir", required_argument, NULL, 'd' },
		{ "size", required_argument, NULL, 's' },
		{ "warmup-ms", required_argument, NULL, 'w' },
		{ "duration-ms", required_argument, NULL, 't' },
		{ "flows", required_argument, NULL, 'F' },
		{ "hold", no_argument, NULL, 'H' },
		{ "count", required_argument, NULL, 'c' },
		{ "pps", required_argument, NULL, 'p' },
		{ "queues", required_argument, NULL, 'q' },
		{ "latency", no_argument, NULL, 'L' },
		{ "sample", no_argument, NULL, 'S' },
		{ "vf-queues", required_argument, NULL, 'Q' },
		{ "idle", no_argument, NULL, 'I' },
		{ NULL, 0, NULL, 0 },
	};
	const char *vm_name = NULL, *vf_name = NULL, *dir = "bidir";
	unsigned long size = 64, warmup = 1000, duration = 2000, flows = 1;
	int hold = 0, sample = 0;
	unsigned long count = 0, pps = 0, queues = 1, vf_queues = 1;
	int idle = 0;
	static struct side vm, vf;
	struct rte_mempool *pool;
	uint64_t hz, t_start, t_end, vm_rx0, vf_rx0, vm_tx0, vf_tx0, last, paused = 0;
	double secs;
	int n, c, bad = 0;

	n = rte_eal_init(argc, argv);
	if (n < 0)
		return 1;
	argc -= n;
	argv += n;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': vm_name = optarg; break;
		case 'f': vf_name = optarg; break;
		case 'd': dir = optarg; break;
		case 's': bad |= parse_uint(optarg, ULONG_MAX, &size); break;
		case 'w': bad |= parse_uint(optarg, ULONG_MAX, &warmup); break;
		case 't': bad |= parse_uint(optarg, ULONG_MAX, &duration); break;
		case 'F': bad |= parse_uint(optarg, ULONG_MAX, &flows); break;
		case 'H': hold = 1; break;
		case 'c': bad |= parse_uint(optarg, ULONG_MAX, &count); break;
		case 'p': bad |= parse_uint(optarg, ULONG_MAX, &pps); break;
		case 'q': bad |= parse_uint(optarg, ULONG_MAX, &queues); break;
		case 'L': latency_mode = 1; break;
		case 'S': sample = 1; break;
		case 'Q': bad |= parse_uint(optarg, ULONG_MAX, &vf_queues); break;
		case 'I': idle = 1; break;
		default: return 2;
		}
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (idle && !bad && vm_name == NULL && vf_name == NULL)
		return run_idle();
	if (bad || vm_name == NULL || vf_name == NULL || size < 64 || size > 1518 || flows == 0 ||
	    flows > MAX_FLOWS || queues == 0 || queues > MAX_QUEUES || vf_queues == 0 || vf_queues > MAX_QUEUES ||
	    duration == 0 || (sample && count != 0) ||
	    (strcmp(dir, "vm2vf") && strcmp(dir, "vf2vm") && strcmp(dir, "bidir"))) {
		fprintf(stderr, "usage: vio4wd-pktgen [EAL] -- --vm NAME --vf NAME --dir vm2vf|vf2vm|bidir "
			"[--size 64-1518] [--warmup-ms N] [--duration-ms N] [--flows 1-1024] [--queues 1-32] "
			"[--vf-queues 1-32] [--hold] [--count N] [--pps R] [--latency] [--sample (not with --count)]\n"
			"       vio4wd-pktgen [EAL] -- --idle\n");
		return 2;
	}
	signal(SIGUSR1, on_sample);
	signal(SIGUSR2, on_finish);
	pool = rte_pktmbuf_pool_create("pktgen", NB_MBUF, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
	if (pool == NULL || port_by_name(vm_name, &vm.port) || port_by_name(vf_name, &vf.port) ||
	    port_setup(vm.port, (uint16_t)queues, (uint16_t)queues, DESC, pool) ||
	    port_setup(vf.port, (uint16_t)vf_queues, 1, DESC, pool))
		return 1;
	vm.nq = vm.tx_nq = (uint16_t)queues;
	vf.nq = (uint16_t)vf_queues;
	vf.tx_nq = 1;
	for (unsigned int f = 0; f < MAX_FLOWS; f++)
		vm.rxq_of[f] = vf.rxq_of[f] = -1;
	/* Both links up (memif connected, vhost negotiated) before any traffic. */
	for (int i = 0; i < 1000; i++) {
		struct rte_eth_link a, b;

		if (rte_eth_link_get_nowait(vm.port, &a) == 0 && rte_eth_link_get_nowait(vf.port, &b) == 0 &&
		    a.link_status == RTE_ETH_LINK_UP && b.link_status == RTE_ETH_LINK_UP)
			break;
		rte_delay_ms(10);
	}
	/* ...and the far side's queues enabled (the guest enables them after link-up). */
	rte_delay_ms(200);
	vm.tx = strcmp(dir, "vf2vm") != 0;
	vf.tx = strcmp(dir, "vm2vf") != 0;

	hz = rte_get_tsc_hz();
	ns_per_tsc = 1e9 / (double)hz;
	if (count != 0) {
		/*
		 * --count: send exactly count packets per sending side, then
		 * drain for duration-ms and report totals and reordering.
		 */
		uint64_t start = rte_rdtsc();

		vm.limit = vf.limit = count;
		while (!quit && !finish_asked &&
		       ((vm.tx && vm.tx_pkts < count) || (vf.tx && vf.tx_pkts < count))) {
			/* --pps: no more than pps packets per second per side. */
			uint64_t allowed = pps ? (rte_rdtsc() - start) * pps / hz + BURST : count;

			vm.limit = allowed < count ? allowed : count;
			vf.limit = vm.limit;
			poll_once(&vm, pool, (uint16_t)size, (unsigned int)flows);
			poll_once(&vf, pool, (uint16_t)size, (unsigned int)flows);
		}
		t_end = rte_rdtsc() + hz * duration / 1000;
		while (!quit && rte_rdtsc() < t_end) {
			poll_once(&vm, pool, (uint16_t)size, (unsigned int)flows);
			poll_once(&vf, pool, (uint16_t)size, (unsigned int)flows);
		}
		printf("{\"dir\":\"%s\",\"count\":%lu,\"vm_tx\":%" PRIu64 ",\"vf_rx\":%" PRIu64
		       ",\"vf_tx\":%" PRIu64 ",\"vm_rx\":%" PRIu64 ",\"vf_reordered\":%" PRIu64
		       ",\"vm_reordered\":%" PRIu64 ",\"vm_split_flows\":%" PRIu64 ",\"vm_rxq\":[",
		       dir, count, vm.tx_pkts, vf.rx_pkts, vf.tx_pkts, vm.rx_pkts, vf.reordered,
		       vm.reordered, vm.split);
		for (unsigned long q = 0; q < queues; q++)
			printf("%s%" PRIu64, q ? "," : "", vm.rxq_pkts[q]);
		printf("]");
		if (latency_mode) {
			latency_print("vm_to_vf_latency", &vf.lat);
			latency_print("vf_to_vm_latency", &vm.lat);
		}
		printf("}\n");
		fflush(stdout);
		/*
		 * --hold: keep both ports open (receiving only) until signalled.
		 * DPDK 22.11's memif PMD unmaps its shared memory on a peer's
		 * disconnect while the relay's worker may be inside an rx burst on
		 * it (a SIGSEGV in the relay); tests stop the relay first.
		 */
		while (hold && !quit) {
			poll_once(&vm, pool, (uint16_t)size, (unsigned int)flows);
			poll_once(&vf, pool, (uint16_t)size, (unsigned int)flows);
		}
		rte_eal_cleanup();
		return 0;
	}
	t_start = rte_rdtsc();
	t_end = t_start + hz * warmup / 1000;
	while (!quit && rte_rdtsc() < t_end) {
		pace(&vm, &vf, t_start, hz, pps);
		poll_once(&vm, pool, (uint16_t)size, (unsigned int)flows);
		poll_once(&vf, pool, (uint16_t)size, (unsigned int)flows);
	}
	memset(&vm.lat, 0, sizeof(vm.lat));
	memset(&vf.lat, 0, sizeof(vf.lat));
	/* Before the line: whoever reads it may stop us at once. */
	last = rte_rdtsc();
	printf("window-start\n");
	fflush(stdout);
	while (sample && !quit) {
		uint64_t now = rte_rdtsc();

		/*
		 * Stopped for a while (10 ms or more): pace on from where it
		 * stopped. (The TSC of a virtual CPU may step back a little.)
		 */
		if (now > last && now - last > hz / 100)
			paused += now - last;
		if (now > last)
			last = now;
		pace(&vm, &vf, t_start + paused, hz, pps);
		poll_once(&vm, pool, (uint16_t)size, (unsigned int)flows);
		poll_once(&vf, pool, (uint16_t)size, (unsigned int)flows);
		if (sample_asked) {
			sample_asked = 0;
			printf("{\"t_ns\":%.0f,\"vm_tx\":%" PRIu64 ",\"vf_rx\":%" PRIu64 ",\"vf_tx\":%" PRIu64
			       ",\"vm_rx\":%" PRIu64, (double)(rte_rdtsc() - t_start) * ns_per_tsc,
			       vm.tx_pkts, vf.rx_pkts, vf.tx_pkts, vm.rx_pkts);
			if (latency_mode) {
				latency_print("vm_to_vf_latency", &vf.lat);
				latency_print("vf_to_vm_latency", &vm.lat);
				memset(&vm.lat, 0, sizeof(vm.lat));
				memset(&vf.lat, 0, sizeof(vf.lat));
			}
			printf("}\n");
			fflush(stdout);
		}
	}
	if (sample) {
		rte_eth_dev_stop(vm.port);
		rte_eth_dev_stop(vf.port);
		rte_eal_cleanup();
		return 0;
	}
	vm_rx0 = vm.rx_pkts;
	vf_rx0 = vf.rx_pkts;
	vm_tx0 = vm.tx_pkts;
	vf_tx0 = vf.tx_pkts;
	t_end = rte_rdtsc() + hz * duration / 1000;
	while (!quit && rte_rdtsc() < t_end) {
		pace(&vm, &vf, t_start, hz, pps);
		poll_once(&vm, pool, (uint16_t)size, (unsigned int)flows);
		poll_once(&vf, pool, (uint16_t)size, (unsigned int)flows);
	}
	secs = (double)duration / 1000.0;
	printf("{\"dir\":\"%s\",\"size\":%lu,\"seconds\":%.3f,"
	       "\"vm_to_vf_mpps\":%.4f,\"vf_to_vm_mpps\":%.4f,"
	       "\"vm_tx\":%" PRIu64 ",\"vf_rx\":%" PRIu64 ",\"vf_tx\":%" PRIu64 ",\"vm_rx\":%" PRIu64,
	       dir, size, secs,
	       (double)(vf.rx_pkts - vf_rx0) / secs / 1e6, (double)(vm.rx_pkts - vm_rx0) / secs / 1e6,
	       vm.tx_pkts - vm_tx0, vf.rx_pkts - vf_rx0, vf.tx_pkts - vf_tx0, vm.rx_pkts - vm_rx0);
	if (latency_mode) {
		latency_print("vm_to_vf_latency", &vf.lat);
		latency_print("vf_to_vm_latency", &vm.lat);
	}
	printf("}\n");
	fflush(stdout);
	/*
	 * --hold: keep the traffic (and the peers' connections, whose port
	 * counters reset on disconnect) going until signalled, so that the
	 * relay under test can be read while still loaded.
	 */
	while (hold && !quit) {
		poll_once(&vm, pool, (uint16_t)size, (unsigned int)flows);
		poll_once(&vf, pool, (uint16_t)size, (unsigned int)flows);
	}
	rte_eth_dev_stop(vm.port);
	rte_eth_dev_stop(vf.port);
	rte_eal_cleanup();
	return 0;
}
