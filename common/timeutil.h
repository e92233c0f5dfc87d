/* SPDX-License-Identifier: MIT */
#pragma once

/* Civil (calendar) time arithmetic on plain integers. Pure: no time zones, no libc
 * time functions. "Local seconds" are a civil date-time counted as if it were UTC:
 * days_from_civil(y, m, d) * 86400 + h * 3600 + min * 60 + s. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t usec_t;        /* durations in microseconds */
#define USEC_PER_SEC  UINT64_C(1000000)
#define USEC_PER_MSEC UINT64_C(1000)
#define USEC_INFINITY UINT64_MAX

typedef struct Civil {
        int32_t year;           /* proleptic Gregorian, e.g. 2026 */
        int8_t month;           /* 1..12 */
        int8_t day;             /* 1..31 */
        int8_t hour;            /* 0..23 */
        int8_t minute;          /* 0..59 */
        int8_t second;          /* 0..59 */
        int8_t wday;            /* 0..6, Sunday = 0 (output of civil_from_seconds only) */
} Civil;

/* Days since 1970-01-01 of a proleptic Gregorian date (may be negative). */
int64_t days_from_civil(int32_t y, int m, int d);
/* Inverse of days_from_civil(). */
void civil_from_days(int64_t days, int32_t *ret_y, int *ret_m, int *ret_d);
/* 0..6, Sunday = 0. */
int weekday_from_days(int64_t days);

bool is_leap_year(int32_t y);
int days_in_month(int32_t y, int m);

int64_t civil_to_seconds(const Civil *c);
void civil_from_seconds(int64_t s, Civil *ret);

/* RFC 3339 in UTC ("2026-11-23T06:00:00Z"). */
#define RFC3339_UTC_MAX 48
char *format_rfc3339_utc(int64_t t, char buf[static RFC3339_UTC_MAX]);
/* RFC 3339 with a numeric offset ("2026-11-23T01:00:00-05:00"). */
#define RFC3339_LOCAL_MAX 64
char *format_rfc3339_offset(int64_t t, int32_t utoff, char buf[static RFC3339_LOCAL_MAX]);
