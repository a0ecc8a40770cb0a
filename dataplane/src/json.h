/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VIO4WD_JSON_H
#define VIO4WD_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A tiny JSON writer into a fixed buffer; overflow is sticky. */
struct json {
	char *buf;
	size_t cap;
	size_t len;
	bool overflow;
	bool need_comma;
};

void json_init(struct json *j, char *buf, size_t cap);
void json_open(struct json *j, const char *key, char bracket);  /* key NULL in arrays */
void json_close(struct json *j, char bracket);
void json_str(struct json *j, const char *key, const char *val);
void json_u64(struct json *j, const char *key, uint64_t val);
void json_i64(struct json *j, const char *key, int64_t val);
void json_bool(struct json *j, const char *key, bool val);

#endif
