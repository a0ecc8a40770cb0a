/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Control request parser. Every field is checked here, before anything
 * reaches the relay table or the fast path; this file is also the target
 * of the fuzz harness, so it depends on nothing but libc.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "num.h"
#include "request.h"

struct op_spec {
	const char *name;
	enum request_op op;
	const char *const *required;
	const char *const *optional;
};

static const char *const none[] = { NULL };
static const char *const add_required[] = { "id", "vf", "vhost", NULL };
static const char *const add_optional[] = { "mode", "cpu", "bond", "bond_mode", "ident", NULL };
static const char *const id_only[] = { "id", NULL };
static const char *const id_or_ids[] = { "id", "ids", NULL };
static const char *const id_cpu[] = { "id", "cpu", NULL };
static const char *const status_only[] = { "status", NULL };

static const struct op_spec ops[] = {
	{ "hello", OP_HELLO, none, none },
	{ "add_relay", OP_ADD_RELAY, add_required, add_optional },
	{ "remove_relay", OP_REMOVE_RELAY, id_only, none },
	{ "stats", OP_STATS, none, id_or_ids },
	{ "shutdown", OP_SHUTDOWN, none, none },
	{ "set_cpu", OP_SET_CPU, id_cpu, none },
	{ "notify", OP_NOTIFY, none, status_only },
};

static int in_list(const char *const *list, const char *key)
{
	for (; *list != NULL; list++)
		if (strcmp(*list, key) == 0)
			return 1;
	return 0;
}

_Static_assert(MAX_RELAYS <= 64, "a relay set is one 64-bit mask");

/* Relay ids separated by commas ("3" or "0,5,63"), each once: a bit each. */
static int parse_id_set(const char *s, uint64_t *out)
{
	char item[16];
	unsigned long v;

	*out = 0;
	for (;;) {
		const char *comma = strchr(s, ',');
		size_t n = comma != NULL ? (size_t)(comma - s) : strlen(s);

		if (n == 0 || n >= sizeof(item))
			return -1;
		memcpy(item, s, n);
		item[n] = '\0';
		if (parse_uint(item, MAX_RELAYS - 1, &v) != 0 || (*out & (UINT64_C(1) << v)) != 0)
			return -1;
		*out |= UINT64_C(1) << v;
		if (comma == NULL)
			return 0;
		s = comma + 1;
	}
}

static int parse_cpu_pair(const char *s, int cpu[DIR_COUNT])
{
	char a[16], b[16];
	const char *comma = strchr(s, ',');
	unsigned long v;

	if (comma == NULL || (size_t)(comma - s) >= sizeof(a) || strlen(comma + 1) >= sizeof(b))
		return -1;
	memcpy(a, s, (size_t)(comma - s));
	a[comma - s] = '\0';
	strcpy(b, comma + 1);
	if (parse_uint(a, 1023, &v) != 0)
		return -1;
	cpu[DIR_VF_TO_VM] = (int)v;
	if (parse_uint(b, 1023, &v) != 0)
		return -1;
	cpu[DIR_VM_TO_VF] = (int)v;
	return 0;
}

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -EINVAL; } while (0)

int request_parse(char *buf, size_t len, struct request *req, char *err, size_t errlen)
{
	const struct op_spec *spec = NULL;
	const char *keys[16];
	const char *vals[16];
	unsigned int n = 0;
	char *line, *next;
	unsigned long v;

	memset(req, 0, sizeof(*req));
	req->relay.cpu[0] = req->relay.cpu[1] = -1;
	if (len > REQUEST_MAX)
		FAIL("request longer than %d bytes", REQUEST_MAX);
	if (memchr(buf, '\0', len) != NULL)
		FAIL("request contains a NUL byte");
	buf[len] = '\0';

	for (line = buf; line != NULL && *line != '\0'; line = next) {
		char *eq;

		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (*line == '\0')
			continue;
		eq = strchr(line, '=');
		if (eq == NULL || eq == line)
			FAIL("line '%.40s' is not key=value", line);
		*eq = '\0';
		for (unsigned int i = 0; i < n; i++)
			if (strcmp(keys[i], line) == 0)
				FAIL("key '%.40s' given twice", line);
		if (n == sizeof(keys) / sizeof(keys[0]))
			FAIL("too many keys");
		keys[n] = line;
		vals[n] = eq + 1;
		n++;
	}
	if (n == 0 || strcmp(keys[0], "op") != 0)
		FAIL("the first key must be 'op'");
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(ops[i].name, vals[0]) == 0)
			spec = &ops[i];
	if (spec == NULL)
		FAIL("unknown op '%.40s'", vals[0]);
	req->op = spec->op;

	for (const char *const *k = spec->required; *k != NULL; k++) {
		unsigned int i;

		for (i = 1; i < n; i++)
			if (strcmp(keys[i], *k) == 0)
				break;
		if (i == n)
			FAIL("%s needs '%s'", spec->name, *k);
	}
	for (unsigned int i = 1; i < n; i++) {
		const char *k = keys[i], *val = vals[i];

		if (!in_list(spec->required, k) && !in_list(spec->optional, k))
			FAIL("%s takes no '%.40s'", spec->name, k);
		if (strcmp(k, "id") == 0) {
			if (parse_uint(val, MAX_RELAYS - 1, &v) != 0)
				FAIL("id must be a relay id from 0 to %d", MAX_RELAYS - 1);
			req->relay.id = (unsigned int)v;
			req->has_id = true;
		} else if (strcmp(k, "ids") == 0) {
			if (parse_id_set(val, &req->ids) != 0)
				FAIL("ids must be distinct relay ids from 0 to %d separated by commas",
				     MAX_RELAYS - 1);
			req->has_ids = true;
		} else if (strcmp(k, "vf") == 0) {
			if (val[0] == '\0' || strlen(val) >= VF_ARGS_MAX)
				FAIL("vf must be 1 to %d characters", VF_ARGS_MAX - 1);
			req->relay.vf = val;
		} else if (strcmp(k, "vhost") == 0) {
			if (val[0] != '/' || strlen(val) >= 108)
				FAIL("vhost must be an absolute path shorter than 108 bytes");
			req->relay.vhost_path = val;
		} else if (strcmp(k, "mode") == 0) {
			if (strcmp(val, "client") == 0)
				req->relay.vhost_client = true;
			else if (strcmp(val, "server") != 0)
				FAIL("mode must be 'server' or 'client'");
		} else if (strcmp(k, "bond") == 0) {
			if (val[0] == '\0' || strlen(val) >= BOND_NAME_MAX || strpbrk(val, ",;= ") != NULL)
				FAIL("bond must be a name of 1 to %d characters without , ; = or space",
				     BOND_NAME_MAX - 1);
			req->relay.bond = val;
		} else if (strcmp(k, "bond_mode") == 0) {
			if (parse_uint(val, 6, &v) != 0)
				FAIL("bond_mode must be 0 to 6");
			req->relay.bond_mode = (unsigned int)v;
		} else if (strcmp(k, "status") == 0) {
			if (strlen(val) >= STATUS_MAX)
				FAIL("status must be shorter than %d characters", STATUS_MAX);
			for (const char *c = val; *c != '\0'; c++)
				if ((unsigned char)*c < 0x20 || *c == 0x7f)
					FAIL("status must be printable text");
			req->status = val;
		} else if (strcmp(k, "ident") == 0) {
			if (val[0] == '\0' || strlen(val) >= IDENT_MAX)
				FAIL("ident must be 1 to %d bytes", IDENT_MAX - 1);
			for (const char *c = val; *c != '\0'; c++)
				if ((unsigned char)*c < 0x20 || *c == 0x7f)
					FAIL("ident must be printable text");
			req->relay.ident = val;
		} else if (strcmp(k, "cpu") == 0) {
			if (parse_cpu_pair(val, req->relay.cpu) != 0)
				FAIL("cpu must be 'VF2VM_CPU,VM2VF_CPU'");
		}
	}
	if (req->has_id && req->has_ids)
		FAIL("%s takes 'id' or 'ids', not both", spec->name);
	if (req->op == OP_ADD_RELAY) {
		const char *vf = req->relay.vf;
		unsigned int members = 1;

		for (const char *c = vf; *c != '\0'; c++)
			members += *c == ';';
		if (req->relay.bond == NULL && members > 1)
			FAIL("several VFs (';') make a bond: give it a name with 'bond'");
		if (req->relay.bond != NULL && (members < 2 || members > BOND_MEMBERS_MAX))
			FAIL("a bond needs 2 to %d member VFs separated by ';'", BOND_MEMBERS_MAX);
		if (strstr(vf, ";;") != NULL || vf[0] == ';' || vf[strlen(vf) - 1] == ';')
			FAIL("empty member VF in '%.40s'", vf);
	}
	return 0;
}
