/* SPDX-License-Identifier: MIT */
#pragma once

/* POSIX TZ strings ("EST5EDT,M3.2.0,M11.1.0", "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0") with
 * the RFC 8536 extension (transition times from -167 to 167 hours), as found in TZif footers
 * and in zone names that are not files. Internal to tz.c, split out to keep both files small.
 * Pure: no I/O, no globals. Grammar is in tz_posix.c. */

#include <stdbool.h>
#include <stdint.h>

#define TZ_ABBR_MAX 15          /* longest abbreviation kept, without the NUL */
#define TZ_POSIX_MAX 127        /* longest TZ string accepted, without the NUL */

typedef enum TzRuleKind {
        TZ_RULE_JULIAN,         /* "Jn": day n = 1..365 of the year, February 29 never counted */
        TZ_RULE_DAY,            /* "n": day n = 0..365 of the year, February 29 counted */
        TZ_RULE_MONTH,          /* "Mm.w.d": weekday d of week w (1..5, 5 = last) of month m */
} TzRuleKind;

typedef struct TzRule {
        TzRuleKind kind;
        int16_t day;            /* JULIAN: 1..365, DAY: 0..365, MONTH: weekday 0..6, Sunday = 0 */
        int8_t week;            /* MONTH only: 1..5 */
        int8_t month;           /* MONTH only: 1..12 */
        int32_t time;           /* local time of day of the change in seconds, -167h..+167h */
} TzRule;

typedef struct TzPosix {        /* plain value */
        char std_abbr[TZ_ABBR_MAX + 1];
        char dst_abbr[TZ_ABBR_MAX + 1];         /* "" unless has_dst */
        int32_t std_utoff;      /* seconds east of UTC (POSIX counts west: the sign is flipped) */
        int32_t dst_utoff;
        bool has_dst;
        TzRule start;           /* std → dst; its time is standard time */
        TzRule end;             /* dst → std; its time is daylight time */
} TzPosix;

/* Parses the whole NUL-terminated string s. Returns 0 or -EINVAL. */
int tz_posix_parse(const char *s, TzPosix *ret);

/* The UTC instant at which rule r fires in year y, given the offset in effect before it. */
int64_t tz_posix_rule_at(const TzRule *r, int32_t y, int32_t utoff_before);
