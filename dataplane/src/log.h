/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VIO4WD_LOG_H
#define VIO4WD_LOG_H

#include <rte_log.h>

extern int vio4wd_logtype;

/* DPDK log levels are syslog priorities + 1 (RTE_LOG_EMERG == 1). */
#define LOG(level, fmt, ...) \
	rte_log(RTE_LOG_##level, vio4wd_logtype, "vio4wd: " fmt "\n", ##__VA_ARGS__)

/*
 * Route every DPDK log line (ours and the libraries') to stderr with a
 * "<N>" syslog priority prefix, so journald files each at its own level.
 */
int log_init(void);

#endif
