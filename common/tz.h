/* SPDX-License-Identifier: MIT */
#pragma once

/* IANA time zones read from the system's TZif files (v1, v2+, with the POSIX TZ footer for
 * instants beyond the table), and the two conversions cron needs: UTC instant → local
 * offset, and local civil time → UTC instant(s). Pure: reads files, no setenv("TZ"), no
 * logging, no global state. A Tz is immutable after tz_load() and may be shared. */

#include <stdbool.h>
#include <stdint.h>

typedef struct Tz Tz;

/* Load zone `name` ("America/New_York", "UTC", "Etc/GMT+5"; also a POSIX TZ string such
 * as "EST5EDT,M3.2.0,M11.1.0" or "<+0545>-5:45" when no file of that name exists) from
 * `tzdir`, or from $TZDIR, or /usr/share/zoneinfo when tzdir is NULL or "". An absolute
 * path ("/etc/localtime") is read as it is; a leading ':' (TZ=":Europe/Berlin") is skipped.
 * "UTC", "Etc/UTC", "GMT" and "Etc/GMT" work without a file. The caller frees *ret.
 * Returns 0; -EINVAL for a bad name (empty, or with a ".." component); -ENOENT for an
 * unknown zone; -EBADMSG for a corrupt, truncated or over-1-MiB file; -EOPNOTSUPP for a
 * zone counting leap seconds ("right/..."); -ENOMEM, or another error of open()/read(). */
int tz_load(const char *name, const char *tzdir, Tz **ret);

/* The UTC zone; never fails, never needs freeing (tz_free() ignores it). */
const Tz *tz_utc(void);

/* Frees tz; accepts NULL and tz_utc(). Returns NULL. */
Tz *tz_free(Tz *tz);

/* The name given to tz_load() ("UTC" for tz_utc()). */
const char *tz_name(const Tz *tz);

typedef struct TzOffset {
        int32_t utoff;          /* seconds east of UTC in effect */
        bool isdst;
        const char *abbr;       /* "EST", "+0545"; borrowed from tz, lives as long as tz */
        int64_t start;          /* first instant this utoff is in effect (INT64_MIN: always) */
        int64_t end;            /* first instant after it (INT64_MAX: forever) */
} TzOffset;

/* Offset in effect at UTC instant t, with the longest interval [start, end) around t over
 * which utoff stays the same. Changes of isdst or abbr alone (New York's EWT → EPT in 1945)
 * do not end the interval: abbr and isdst hold at t only. Exact for every instant, far
 * future included (the footer rule repeats every 400 years). O(log n), no allocation. */
void tz_offset_at(const Tz *tz, int64_t t, TzOffset *ret);

/* Local civil seconds (see timeutil.h) of the UTC instant t; saturates at INT64_MIN/MAX. */
int64_t tz_local_seconds(const Tz *tz, int64_t t);

typedef struct TzResolved {
        int n;                  /* 0: local time is in a gap (skipped), 1: unique, 2: repeated */
        int64_t t[2];           /* the n UTC instants, ascending */
        int64_t transition;     /* n == 0 or 2: the UTC instant of the transition causing it;
                                 * for a gap this is also the first instant after the gap;
                                 * n == 1: 0 */
        int32_t off_before;     /* n == 0 or 2: utoff before and after the transition; */
        int32_t off_after;      /* n == 1: both the utoff in effect */
} TzResolved;

/* All UTC instants whose local civil time is `local`. Only utoff changes make gaps and
 * overlaps, of any size (Samoa skipped 2011-12-30 whole). A local time that occurs three
 * times or more (no real zone has one) reports its first and last instants, n == 2. `local`
 * is clamped to ±(INT64_MAX - 2^20). O(log n), no allocation. */
void tz_resolve(const Tz *tz, int64_t local, TzResolved *ret);
