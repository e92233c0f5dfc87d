/* SPDX-License-Identifier: MIT */
#pragma once

/* Bounded parsing of numbers and durations: never bare strtol/atoi. Pure. */

#include <stdbool.h>
#include <stdint.h>

#include "timeutil.h"

/* Decimal unsigned integer, the whole string, no sign, no spaces, value <= max.
 * Returns 0, -EINVAL (not a number) or -ERANGE (too big). */
int parse_uint64(const char *s, uint64_t max, uint64_t *ret);
int parse_int(const char *s, int min, int max, int *ret);

/* Durations: a sequence of NUMBER UNIT with units w d h m s ms us ("90s", "1h30m", "2d",
 * "500ms"); a bare "0" is zero. Returns 0, -EINVAL or -ERANGE. */
int parse_duration(const char *s, usec_t *ret);

/* "2026-12-25" → year, month, day (validated against the calendar). */
int parse_date(const char *s, int32_t *ret_year, int *ret_month, int *ret_day);

/* "2026-11-23T01:00:00Z", "2026-11-23T01:00:00+01:00", "@1700000000": *ret is Unix seconds
 * and *ret_absolute true. "2026-11-23T01:00[:00]", "2026-11-23 01:00" or "2026-11-23": *ret is
 * local civil seconds (timeutil.h) and *ret_absolute false: the caller picks the zone.
 * Returns 0 or -EINVAL. */
int parse_timestamp(const char *s, int64_t *ret, bool *ret_absolute);

/* s is 1..max bytes of ASCII letters, digits and the characters in extra (S3 bucket and region
 * names). NULL: false. */
bool parse_name_ok(const char *s, const char *extra, size_t max);
