/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_log.h>

#include "log.h"

int vio4wd_logtype = RTE_LOGTYPE_USER1;

static int line_start = 1;

static void write_all(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDERR_FILENO, p, n);

		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/*
 * Called with whole messages: rte_vlog() flushes after each one. Each line
 * goes out in one write() with its prefix, so lines from other processes
 * sharing the terminal or journal stream never split it.
 */
static ssize_t journal_write(void *cookie, const char *buf, size_t size)
{
	int level = rte_log_cur_msg_loglevel();
	char line[1024];
	size_t off = 0;

	(void)cookie;
	if (level < (int)RTE_LOG_EMERG || level > (int)RTE_LOG_DEBUG)
		level = RTE_LOG_INFO;
	while (off < size) {
		const char *nl = memchr(buf + off, '\n', size - off);
		size_t len = nl ? (size_t)(nl - (buf + off)) + 1 : size - off;
		size_t n = 0;

		if (line_start)
			n = (size_t)snprintf(line, sizeof(line), "<%d>", level - 1);
		if (len > sizeof(line) - n)
			len = sizeof(line) - n;
		memcpy(line + n, buf + off, len);
		write_all(line, n + len);
		line_start = line[n + len - 1] == '\n';
		off += len;
	}
	return (ssize_t)size;
}

int log_init(void)
{
	static char buffer[8192];
	cookie_io_functions_t io = { .write = journal_write };
	FILE *f = fopencookie(NULL, "w", io);
	int t;

	if (f == NULL)
		return -1;
	setvbuf(f, buffer, _IOFBF, sizeof(buffer));
	t = rte_log_register("vio4wd");
	if (t >= 0)
		vio4wd_logtype = t;
	return rte_openlog_stream(f);
}
