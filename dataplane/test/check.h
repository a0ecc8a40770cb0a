/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VIO4WD_CHECK_H
#define VIO4WD_CHECK_H

/* The dataplane's C unit tests (meson test): a failed check is printed and counted. */
#include <stdio.h>

static int check_failures;
static int check_count;

#define CHECK(cond) do { \
	check_count++; \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		check_failures++; \
	} \
} while (0)

/* main's return: the number of failed checks (0: passed), said once. */
static inline int check_result(const char *name)
{
	if (check_failures == 0)
		printf("%s: %d checks passed\n", name, check_count);
	else
		printf("%s: %d of %d checks failed\n", name, check_failures, check_count);
	return check_failures == 0 ? 0 : 1;
}

#endif
