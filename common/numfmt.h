/* SPDX-License-Identifier: MIT */
#pragma once

/* Decimal numbers written digit by digit, for the paths that format a few per firing (log
 * lines, lease records, the jobs' environment), where snprintf() was most of the cost. Pure. */

#include <stddef.h>

#define FMT_INT_MAX 21          /* "-9223372036854775808" and its NUL; 20 digits unsigned */

/* v at buf, NUL-terminated; returns the length (without the NUL). */
size_t fmt_uint(char buf[static FMT_INT_MAX], unsigned long long v);
size_t fmt_int(char buf[static FMT_INT_MAX], long long v);

/* The n lowest decimal digits of v at p, zero-padded, no NUL ("007" for 7 and n = 3). */
void fmt_digits(char *p, unsigned v, int n);
