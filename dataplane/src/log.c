/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_log.h>

#include "log.h"
#include "sockpath.h"

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
 * DPDK's vhost library names a socket by the name it was registered as,
 * /proc/self/fd/N/NAME (sockpath.h): put the user's directory back. And in
 * client mode a relay waits for its VM, which is normal: the library's
 * "failed to connect" (a warning, in the name of a descriptor) and
 * "reconnecting..." become one line at info that says what is awaited.
 * (It then tries again every second, silently; the relay says how long it
 * waited once the VM is there.) Returns the line to write, in out, and the
 * level for it.
 */
static size_t vhost_line(const char *in, size_t len, char *out, size_t outlen, int *level)
{
	static const char tag[] = "(/proc/self/fd/";
	char dir[256], text[1024];
	const char *at, *rest, *tail;
	size_t consumed, n;
	bool absent;

	if (len >= sizeof(text))
		return 0;
	memcpy(text, in, len);
	text[len] = '\0';
	at = strstr(text, tag);
	if (at == NULL || sockpath_shown_dir(at + 1, dir, sizeof(dir), &consumed) != 0)
		return 0;
	rest = at + 1 + consumed; /* "/NAME) ..." */
	tail = strchr(rest, ')');
	if (tail == NULL)
		return 0;
	absent = strstr(tail, ") failed to connect: No such file or directory") == tail;
	if (absent || strstr(tail, ") failed to connect: Connection refused") == tail) {
		*level = RTE_LOG_INFO;
		n = (size_t)snprintf(out, outlen, "vio4wd: waiting for the VM: %s %s%.*s yet (vhost-user client "
				     "mode: the relay connects once QEMU listens there, trying every second)\n",
				     absent ? "no socket at" : "nothing listens on", dir,
				     (int)(tail - rest), rest);
		return n < outlen ? n : outlen - 1;
	}
	if (strcmp(tail, ") reconnecting...\n") == 0)
		*level = RTE_LOG_DEBUG;
	n = (size_t)snprintf(out, outlen, "%.*s%s%s", (int)(at + 1 - text), text, dir, rest);
	return n < outlen ? n : outlen - 1;
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
		size_t n = 0, shown = 0;
		int line_level = level;
		char fixed[1024];

		if (line_start && nl != NULL)
			shown = vhost_line(buf + off, len, fixed, sizeof(fixed), &line_level);
		if (line_start)
			n = (size_t)snprintf(line, sizeof(line), "<%d>", line_level - 1);
		if (shown > 0 && line_level > (int)rte_log_get_global_level()) {
			off += len;
			continue;
		}
		if (shown > 0) {
			/* (A rewritten line is whole: it ends in its newline.) */
			if (shown > sizeof(line) - n)
				shown = sizeof(line) - n;
			memcpy(line + n, fixed, shown);
			write_all(line, n + shown);
			line_start = 1;
			off += len;
			continue;
		}
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
