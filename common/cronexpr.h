/* SPDX-License-Identifier: MIT */
#pragma once

/* Cron expressions and their exact next firing in a time zone. Pure: no I/O, no logging,
 * no globals. The grammar (EBNF) and the DST rules are documented above the parser in
 * cronexpr.c and in solocron.yaml(5). */

#include <stdbool.h>
#include <stdint.h>

#include "timeutil.h"

typedef struct Tz Tz;

#define CRON_YEAR_MIN 1970
#define CRON_YEAR_MAX 2199

typedef enum CronFlags {
        CRON_DOM_STAR    = 1 << 0, /* dom was '*' or '?': dom/dow combine with AND, else OR (Vixie) */
        CRON_DOW_STAR    = 1 << 1,
        CRON_HOUR_STAR   = 1 << 2, /* hour field starts with '*': real-time rhythm across DST */
        CRON_EVERY       = 1 << 3, /* @every: fixed interval anchored at the Unix epoch, zone-free */
        CRON_HAS_SECONDS = 1 << 4, /* written with a seconds field */
        CRON_HAS_YEAR    = 1 << 5, /* written with a year field */
        CRON_REBOOT      = 1 << 6, /* @reboot: once when the daemon starts; never a calendar
                                    * match, cronexpr_next() finds nothing */
} CronFlags;

typedef struct CronExpr {       /* plain value: copy freely, nothing to free. 64 bytes: one
                                 * sits in every job of a table (bench/: per-job memory) */
        uint64_t second;        /* bit n = second n, 0..59 */
        uint64_t minute;        /* bit n = minute n, 0..59 */
        union {
                uint64_t year;  /* bit n = year year_base + n, n < 64; after that window the
                                 * pattern repeats every year_period years (0: no more years).
                                 * No year field: year_base CRON_YEAR_MIN, all bits, period 1 */
                int64_t every;  /* CRON_EVERY (which has no year): interval in seconds, > 0 */
        };
        uint32_t hour;          /* bit n = hour n, 0..23 */
        uint32_t dom;           /* bit n = day n, 1..31 (plain days only) */
        CronFlags flags;
        /* Quartz extensions, all on top of the plain bitsets: */
        uint32_t dom_last;      /* bit k: "L-k", the k-th day before the last (k = 0: "L") */
        uint32_t dom_weekday;   /* bit n: "nW", the weekday nearest to day n */
        uint16_t month;         /* bit n = month n, 1..12 */
        uint16_t year_base;     /* the first year of year's window */
        uint8_t dow;            /* bit n = weekday n, 0..6, Sunday = 0 (7 folded to 0) */
        uint8_t dow_last;       /* bit n: "nL", last weekday n of the month */
        bool dom_last_weekday;  /* "LW": last weekday (Mon..Fri) of the month */
        uint8_t dow_nth[7];     /* dow_nth[n] bit k (1..5): "n#k", k-th weekday n of the month */
        uint8_t year_period;    /* 0..64, see year */
} CronExpr;

/* Parse s. A year field's years must lie within 64 consecutive years, or repeat from there on
 * with a period of at most 64 years ("2030,2031", "2027-2199", "1970/2": yes; "2030,2150": no).
 * `hash_key` (the job's name; may be NULL, then "") seeds the 'H' fields, so the same
 * name gives the same values on every machine. Returns 0, or -EINVAL and sets
 * *reterr_column (1-based, into s) and *reterr_message (static string) when s is invalid.
 * Parsing alone does not prove the expression can ever fire: see cronexpr_next(). */
int cronexpr_parse(const char *s, const char *hash_key, CronExpr *ret,
                   unsigned *reterr_column, const char **reterr_message);

/* Does the local civil time c match (ignoring DST, a pure calendar test)? Out-of-range
 * fields and years outside CRON_YEAR_MIN..CRON_YEAR_MAX never match; neither does @every,
 * which is not a calendar expression. c->wday is ignored (computed from the date). */
bool cronexpr_matches(const CronExpr *e, const Civil *c);

typedef enum CronFireFlags {
        CRON_FIRE_DST_GAP    = 1 << 0, /* scheduled local time did not exist; fired at the end
                                        * of the gap instead */
        CRON_FIRE_DST_MERGED = 1 << 1, /* several scheduled local times landed on this instant */
        CRON_FIRE_DST_REPEAT = 1 << 2, /* second occurrence of a repeated local time (hour '*') */
} CronFireFlags;

typedef struct CronFiring {
        int64_t t;              /* UTC instant (Unix seconds) */
        int64_t local;          /* scheduled local civil seconds (before any DST move) */
        CronFireFlags flags;
} CronFiring;

/* First firing strictly after `after` in zone tz (tz may be NULL for UTC).
 * DST: for a fixed hour, a local time skipped by spring-forward fires once at the first
 * instant after the gap and a repeated local time fires once, at its first occurrence; with
 * an hour field starting with '*', skipped times do not occur and repeated times fire twice.
 * Firings on the same instant are one firing.
 * Returns 0, or -ERANGE when there is no further firing (year field exhausted, or none
 * before CRON_YEAR_MAX). */
int cronexpr_next(const CronExpr *e, const Tz *tz, int64_t after, CronFiring *ret);

/* -ERANGE if e can never fire at all (e.g. "0 0 30 2 *"), else 0. Pure calendar check over
 * the whole supported year range; independent of the current time. */
int cronexpr_check_satisfiable(const CronExpr *e);   /* @reboot: 0 */
