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
 * as "EST5EDT,M3.2.0,M11.1.0" when no file of that name exists) from `tzdir`, or from
 * $TZDIR, or /usr/share/zoneinfo when tzdir is NULL. Names with ".." components or a
 * leading '/' are refused (-EINVAL) unless they name an absolute file path.
 * Returns 0, -ENOENT for an unknown zone, -EBADMSG for a corrupt file, -EINVAL for a bad name. */
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
        int64_t start;          /* first instant this offset is in effect (INT64_MIN: always) */
        int64_t end;            /* first instant after it (INT64_MAX: forever) */
} TzOffset;

/* Offset in effect at UTC instant t, with the interval [start, end) over which it holds. */
void tz_offset_at(const Tz *tz, int64_t t, TzOffset *ret);

/* Local civil seconds (see timeutil.h) of the UTC instant t. */
int64_t tz_local_seconds(const Tz *tz, int64_t t);

typedef struct TzResolved {
        int n;                  /* 0: local time is in a gap (skipped), 1: unique, 2: repeated */
        int64_t t[2];           /* the n UTC instants, ascending */
        int64_t transition;     /* n == 0 or 2: the UTC instant of the transition causing it;
                                 * for a gap this is also the first instant after the gap */
        int32_t off_before;     /* n == 0 or 2: utoff before and after the transition */
        int32_t off_after;
} TzResolved;

/* All UTC instants whose local civil time is `local`. */
void tz_resolve(const Tz *tz, int64_t local, TzResolved *ret);
