/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vio4wd-dataplane: relays packets between VFs (DPDK ports) and VMs
 * (vhost-user). Started by the virtio-forwarder supervisor:
 *
 *   vio4wd-dataplane [EAL options] -- --control-socket PATH [--idle-sleep-us N]
 *
 * It keeps no state the supervisor cannot rebuild: relays are added and
 * removed over the control socket.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>

#include "control.h"
#include "log.h"
#include "num.h"
#include "ops.h"
#include "options.h"
#include "pools.h"
#include "relay.h"
#include "sockpath.h"
#include "workers.h"

static volatile int quit;
struct dp_options dp_opts;

static void on_signal(int sig)
{
	(void)sig;
	quit = 1;
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [EAL options] -- --control-socket PATH [--vhost-dir DIR]... [options]\n"
		"  --control-socket PATH  unix socket the supervisor drives (required)\n"
		"  --idle-sleep-us N      let an idle worker sleep N us (0-1000, default 0:\n"
		"                         always poll)\n"
		"  --idle-poll-us N       poll a relay direction quiet for 10 ms every N us only\n"
		"                         (0-10000, default 200; 0: every direction every pass)\n"
		"  --hold-us N            hold a burst the far side is too full for up to N us\n"
		"                         before dropping (0-1000000, default 10000)\n"
		"  --jumbo                VF MTU up to 9000 (multi-segment packets)\n"
		"  --mrgbuf               offer mergeable receive buffers to guests\n"
		"  --tso                  offer checksum and TSO offloads (VFs must support them)\n"
		"  --socket-owner UID     owner of the vhost-user sockets it creates (mode 0660)\n"
		"  --socket-group GID     group of the vhost-user sockets it creates (mode 0660)\n"
		"  --vhost-dir DIR        a directory vhost-user sockets may be in (repeat: up to %d;\n"
		"                         none given: no relay can be added)\n", prog, SOCKPATH_DIRS_MAX);
}

struct options {
	const char *control_socket;
	unsigned int idle_sleep_us;
	unsigned int hold_us;
	unsigned int idle_poll_us;
};

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "control-socket", required_argument, NULL, 's' },
		{ "idle-sleep-us", required_argument, NULL, 'i' },
		{ "hold-us", required_argument, NULL, 'H' },
		{ "idle-poll-us", required_argument, NULL, 'P' },
		{ "jumbo", no_argument, NULL, 'j' },
		{ "mrgbuf", no_argument, NULL, 'm' },
		{ "tso", no_argument, NULL, 't' },
		{ "socket-owner", required_argument, NULL, 'u' },
		{ "socket-group", required_argument, NULL, 'g' },
		{ "vhost-dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->hold_us = 10000;
	o->idle_poll_us = 200;
	dp_opts.socket_uid = -1;
	dp_opts.socket_gid = -1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		unsigned long v;

		switch (c) {
		case 's':
			o->control_socket = optarg;
			break;
		case 'i':
			if (parse_uint(optarg, 1000, &v) != 0) {
				fprintf(stderr, "<3>--idle-sleep-us must be 0 to 1000\n");
				return -1;
			}
			o->idle_sleep_us = (unsigned int)v;
			break;
		case 'H':
			if (parse_uint(optarg, 1000000, &v) != 0) {
				fprintf(stderr, "<3>--hold-us must be 0 to 1000000\n");
				return -1;
			}
			o->hold_us = (unsigned int)v;
			break;
		case 'P':
			if (parse_uint(optarg, 10000, &v) != 0) {
				fprintf(stderr, "<3>--idle-poll-us must be 0 to 10000\n");
				return -1;
			}
			o->idle_poll_us = (unsigned int)v;
			break;
		case 'j':
			dp_opts.jumbo = true;
			break;
		case 'm':
			dp_opts.mrgbuf = true;
			break;
		case 't':
			dp_opts.tso = true;
			break;
		case 'u':
		case 'g':
			if (parse_uint(optarg, INT_MAX - 1, &v) != 0) {
				fprintf(stderr, "<3>--socket-%s takes a numeric id\n", c == 'u' ? "owner" : "group");
				return -1;
			}
			*(c == 'u' ? &dp_opts.socket_uid : &dp_opts.socket_gid) = (int)v;
			break;
		case 'd':
			if (sockpath_allow(optarg) != 0) {
				fprintf(stderr, "<3>--vhost-dir takes an absolute path shorter than %zu bytes, "
					"at most %d times\n", SOCKPATH_MAX, SOCKPATH_DIRS_MAX);
				return -1;
			}
			break;
		default:
			return -1;
		}
	}
	if (optind != argc || o->control_socket == NULL)
		return -1;
	return 0;
}

/* How often the housekeeping runs (link state of devices without LSC interrupts, ...). */
#define HOUSEKEEPING_MS 100

/* What the control thread does on a timer, besides requests. */
static void housekeeping(void)
{
	relay_release_removed();
	relay_poll_links();
	relay_quiet_guests();
	relay_reap_pools();
}

/*
 * The control thread: requests as they come, the housekeeping on a timer
 * (not when idle: a busy control socket must not starve it).
 */
static void run(void)
{
	const uint64_t hz = rte_get_tsc_hz();
	const uint64_t period = hz / 1000 * HOUSEKEEPING_MS;
	uint64_t next = 0;

	while (!quit) {
		uint64_t now = rte_rdtsc();

		if (now >= next) {
			housekeeping();
			now = rte_rdtsc();
			next = now + period;
		}
		/* Until the next round is due (rounded up: never a busy 0 ms poll). */
		control_serve((int)((next - now) * 1000 / hz) + 1);
	}
}

int main(int argc, char **argv)
{
	struct options opts;
	struct sigaction sa;
	int n, rc = EXIT_FAILURE;

	/* Never outlive the supervisor: it replays our state when it restarts. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	log_init();
	n = rte_eal_init(argc, argv);
	if (n < 0) {
		fprintf(stderr, "<3>vio4wd: EAL initialisation failed: %s\n", rte_strerror(rte_errno));
		return EXIT_FAILURE;
	}
	if (parse_options(argc - n, argv + n, &opts) != 0) {
		usage(argv[0]);
		goto cleanup;
	}
	if (relay_table_init() != 0 || workers_init(opts.idle_sleep_us, opts.hold_us, opts.idle_poll_us) != 0 || pools_init() != 0)
		goto cleanup;
	ops_init(&quit);
	if (control_open(opts.control_socket) != 0)
		goto cleanup;
	if (workers_launch() != 0)
		goto stop;
	LOG(NOTICE, "ready: control socket %s, %u worker(s)%s%s%s; directions quiet for 10 ms polled every %u us%s",
	    opts.control_socket, workers_count(), dp_opts.jumbo ? ", jumbo" : "",
	    dp_opts.mrgbuf ? ", mergeable buffers" : "", dp_opts.tso ? ", TSO" : "", opts.idle_poll_us,
	    opts.idle_poll_us == 0 ? " (0: every pass)" : "");

	run();
	LOG(NOTICE, "shutting down");
	rc = EXIT_SUCCESS;
stop:
	relay_remove_all();
	workers_stop();
	control_close();
cleanup:
	pools_stop();
	rte_eal_cleanup();
	return rc;
}
