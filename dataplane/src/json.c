/* SPDX-License-Identifier: BSD-3-Clause */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "json.h"

void json_init(struct json *j, char *buf, size_t cap)
{
	j->buf = buf;
	j->cap = cap;
	j->len = 0;
	j->overflow = false;
	j->need_comma = false;
	if (cap > 0)
		buf[0] = '\0';
}

static void put(struct json *j, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (j->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(j->buf + j->len, j->cap - j->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= j->cap - j->len)
		j->overflow = true;
	else
		j->len += (size_t)n;
}

static void put_string(struct json *j, const char *s)
{
	put(j, "\"");
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			put(j, "\\%c", c);
		else if (c < 0x20)
			put(j, "\\u%04x", c);
		else
			put(j, "%c", c);
	}
	put(j, "\"");
}

static void key(struct json *j, const char *k)
{
	if (j->need_comma)
		put(j, ",");
	if (k != NULL) {
		put_string(j, k);
		put(j, ":");
	}
	j->need_comma = true;
}

void json_open(struct json *j, const char *k, char bracket)
{
	key(j, k);
	put(j, "%c", bracket);
	j->need_comma = false;
}

void json_close(struct json *j, char bracket)
{
	put(j, "%c", bracket);
	j->need_comma = true;
}

void json_str(struct json *j, const char *k, const char *val)
{
	key(j, k);
	put_string(j, val);
}

void json_u64(struct json *j, const char *k, uint64_t val)
{
	key(j, k);
	put(j, "%" PRIu64, val);
}

void json_i64(struct json *j, const char *k, int64_t val)
{
	key(j, k);
	put(j, "%" PRId64, val);
}

void json_bool(struct json *j, const char *k, bool val)
{
	key(j, k);
	put(j, val ? "true" : "false");
}
