/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VIO4WD_NUM_H
#define VIO4WD_NUM_H

/*
 * The one integer parser of every input (control requests, command-line
 * options, the tools): decimal digits only (no sign, no space, no empty
 * string), at most 10 of them, and at most max. 0, or -1 with *out unset.
 * libc only (the fuzz harness builds it alone).
 */
int parse_uint(const char *s, unsigned long max, unsigned long *out);

#endif
