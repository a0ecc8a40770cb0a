/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vio4wd-stall-probe CPU MS [WINDOW_MS]: how often the host takes a CPU away
 * from a thread that never yields, as a polling worker is. Pinned to CPU, it
 * reads the clock in a tight loop for MS milliseconds; any step between two
 * reads of 10 us or more is a stall (an interrupt, another task, the
 * hypervisor running something else). Prints one JSON line: the share of
 * the time lost in stalls, how many stalls of 10 us and of 50 us or more a
 * second, the longest, and the least and most lost in any WINDOW_MS (500)
 * window: what a latency percentile measured over such a window rides on.
 */
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STALL_NS 10000
#define LONG_STALL_NS 50000

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static long arg(const char *s, long lo, long hi, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v < lo || v > hi) {
		fprintf(stderr, "vio4wd-stall-probe: %s must be %ld to %ld, not '%s'\n", what, lo, hi, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	uint64_t window_ns, end, start, prev, w_start, w_lost = 0, lost = 0, stalls = 0, long_stalls = 0, longest = 0;
	double w_min = 1, w_max = 0;
	unsigned int windows = 0;
	cpu_set_t set;
	long cpu, ms;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: vio4wd-stall-probe CPU MS [WINDOW_MS]\n");
		return 2;
	}
	cpu = arg(argv[1], 0, CPU_SETSIZE - 1, "CPU");
	ms = arg(argv[2], 1, 3600000, "MS");
	window_ns = (uint64_t)(argc == 4 ? arg(argv[3], 1, ms, "WINDOW_MS") : 500) * 1000000u;
	CPU_ZERO(&set);
	CPU_SET((int)cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0) {
		fprintf(stderr, "vio4wd-stall-probe: cannot run on CPU %ld: %s\n", cpu, strerror(errno));
		return 1;
	}
	start = prev = w_start = now_ns();
	end = start + (uint64_t)ms * 1000000u;
	while (prev < end) {
		uint64_t t = now_ns(), step = t - prev;

		if (step >= STALL_NS) {
			stalls++;
			lost += step;
			w_lost += step;
			if (step >= LONG_STALL_NS)
				long_stalls++;
			if (step > longest)
				longest = step;
		}
		prev = t;
		if (t - w_start >= window_ns) {
			double share = (double)w_lost / (double)(t - w_start);

			w_min = share < w_min ? share : w_min;
			w_max = share > w_max ? share : w_max;
			windows++;
			w_start = t;
			w_lost = 0;
		}
	}
	double secs = (double)(prev - start) / 1e9;

	printf("{\"cpu\":%ld,\"seconds\":%.3f,\"lost_share\":%.5f,\"stalls_per_s\":%.1f,\"long_stalls_per_s\":%.1f,"
	       "\"longest_us\":%.1f,\"windows\":%u,\"window_lost_min\":%.5f,\"window_lost_max\":%.5f}\n",
	       cpu, secs, (double)lost / (double)(prev - start), (double)stalls / secs, (double)long_stalls / secs,
	       (double)longest / 1000.0, windows, windows ? w_min : 0.0, windows ? w_max : 0.0);
	return 0;
}
