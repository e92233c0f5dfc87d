/* SPDX-License-Identifier: MIT */

/* Next firing of a parsed cron expression: a calendar search over local civil time, then
 * the mapping of local times to UTC instants through the zone's DST rules.
 *
 * The calendar search (next_civil) never scans second by second: it takes the next set bit
 * of each field (year, month, day, hour, minute, second) and, when a field runs out, bumps
 * the field above it and resets the ones below. The day field is a per-month bitmask that
 * folds in the Quartz extensions and Vixie's dom/dow rule, computed once per month visited.
 *
 * DST, two rhythms (as Vixie/ISC and OpenBSD cron distinguish "fixed-time" and "wildcard"
 * jobs; the header states the contract):
 *  - Fixed hour (hour field not starting with '*'): the job is tied to the wall clock. Each
 *    scheduled local time L fires once: at its only instant, at its first instant when the
 *    clock falls back over it, or at the end of the gap when spring-forward skips it.
 *    Several scheduled times landing on the same gap end are one firing.
 *  - Hour '*': the job follows real time. We walk the zone's offset segments; a local time
 *    that does not occur is not fired, a local time that occurs twice fires twice.
 */

#include <errno.h>

#include "cronexpr.h"
#include "tz.h"

/* Local civil seconds (timeutil.h) of 1970-01-01T00:00:00 and 2200-01-01T00:00:00. */
#define CIVIL_BEGIN INT64_C(0)
#define CIVIL_END   INT64_C(7258118400)
/* More than any difference of two UTC offsets (Apia 2011 jumped 24 h): we look this far
 * back for a previous offset segment, and clamp `after` to the civil range plus this. */
#define OFFSET_SPAN (2 * 86400)

/* Lowest set bit >= from, or -1. */
static int next_bit(uint64_t mask, int from) {
        if (from >= 64)
                return -1;
        mask &= ~UINT64_C(0) << from;
        return mask ? __builtin_ctzll(mask) : -1;
}

/* Is year y in e's year field? Years after the 64-year window repeat those year_period years
 * before them. */
static bool year_matches(const CronExpr *e, int32_t y) {
        int i = y - e->year_base;

        if (i < 0 || y > CRON_YEAR_MAX)
                return false;
        if (i >= 64) {
                if (e->year_period == 0)
                        return false;
                i = 64 - e->year_period + (i - 64) % e->year_period;
        }
        return e->year >> i & 1;
}

static int next_year(const CronExpr *e, int32_t y) {
        int b;

        if (y > CRON_YEAR_MAX)
                return -1;
        if (y < e->year_base)
                y = e->year_base;
        if (y - e->year_base < 64) {
                b = next_bit(e->year, y - e->year_base);
                if (b >= 0)
                        return e->year_base + b;
                y = e->year_base + 64;
        }
        /* After the window: one period holds a year, if any. */
        for (int k = 0; k < 64 && y <= CRON_YEAR_MAX; k++, y++)
                if (year_matches(e, y))
                        return y;
        return -1;
}

/* The weekday Mon..Fri nearest to day d of a month of n days whose day 1 is weekday wd1,
 * never leaving the month (Quartz "dW"): Saturday the 1st moves to Monday the 3rd. */
static int nearest_weekday(int d, int n, int wd1) {
        int wd = (wd1 + d - 1) % 7;

        if (wd == 6)
                return d > 1 ? d - 1 : d + 2;
        if (wd == 0)
                return d < n ? d + 1 : d - 2;
        return d;
}

/* Bit d set for each day d of (y, m) on which e fires. */
static uint32_t day_mask(const CronExpr *e, int32_t y, int m) {
        int n = days_in_month(y, m);
        int wd1 = weekday_from_days(days_from_civil(y, m, 1));
        int wdn = (wd1 + n - 1) % 7;
        uint32_t valid = (uint32_t) (((UINT64_C(1) << n) - 1) << 1);
        uint32_t dom = e->dom, dow;
        uint64_t rot, weeks;

        /* Plain weekdays: rotate so that bit j is the weekday of day j + 1, then repeat the
         * week five times. */
        rot = ((uint64_t) e->dow >> wd1 | (uint64_t) e->dow << (7 - wd1)) & 0x7f;
        weeks = rot | rot << 7 | rot << 14 | rot << 21 | rot << 28;
        dow = (uint32_t) (weeks << 1);

        if (e->dom_last != 0) {
                for (uint32_t k = e->dom_last; k; k &= k - 1) {
                        int b = __builtin_ctz(k);

                        if (b < n)
                                dom |= UINT32_C(1) << (n - b);
                }
        }
        if (e->dom_weekday != 0) {
                for (uint32_t k = e->dom_weekday & valid; k; k &= k - 1)
                        dom |= UINT32_C(1) << nearest_weekday(__builtin_ctz(k), n, wd1);
        }
        if (e->dom_last_weekday)
                dom |= UINT32_C(1) << (wdn == 6 ? n - 1 : wdn == 0 ? n - 2 : n);
        for (int w = 0; w < 7; w++) {
                int d0 = 1 + (w - wd1 + 7) % 7;         /* first day that is weekday w */

                for (unsigned k = e->dow_nth[w] & 0x3e; k; k &= k - 1) {
                        int d = d0 + 7 * (__builtin_ctz(k) - 1);

                        if (d <= n)
                                dow |= UINT32_C(1) << d;
                }
                if (e->dow_last & (1u << w))
                        dow |= UINT32_C(1) << (n - (wdn - w + 7) % 7);
        }

        /* Vixie: AND when either field is unrestricted ('*' or '?'), OR when both are
         * restricted. A '*' field has all bits set, so AND leaves the other one. */
        if (e->flags & (CRON_DOM_STAR | CRON_DOW_STAR))
                return dom & dow & valid;
        return (dom | dow) & valid;
}

bool cronexpr_matches(const CronExpr *e, const Civil *c) {
        if (e->flags & (CRON_EVERY | CRON_REBOOT))      /* not calendar expressions */
                return false;
        if (c->year < CRON_YEAR_MIN || c->year > CRON_YEAR_MAX || c->month < 1 || c->month > 12 ||
            c->day < 1 || c->day > days_in_month(c->year, c->month) || c->hour < 0 ||
            c->hour > 23 || c->minute < 0 || c->minute > 59 || c->second < 0 || c->second > 59)
                return false;
        return year_matches(e, c->year) && (e->month >> c->month & 1) &&
               (e->hour >> c->hour & 1) && (e->minute >> c->minute & 1) &&
               (e->second >> c->second & 1) && (day_mask(e, c->year, c->month) >> c->day & 1);
}

/* First local civil time >= from that matches e, in CIVIL_BEGIN..CIVIL_END. */
static int next_civil(const CronExpr *e, int64_t from, int64_t *ret) {
        int32_t days_y = 0, y;
        int days_m = 0, m, d, h, mi, s, x;
        uint32_t days = 0;
        Civil c;

        if (from < CIVIL_BEGIN)
                from = CIVIL_BEGIN;
        if (from >= CIVIL_END)
                return -ERANGE;
        civil_from_seconds(from, &c);
        y = c.year, m = c.month, d = c.day, h = c.hour, mi = c.minute, s = c.second;

        /* Each step either returns or moves (y, m, d, h, mi, s) strictly forward, jumping to
         * the next candidate of the first field that fails; at most a few steps per month
         * visited. */
        for (;;) {
                x = next_year(e, y);
                if (x < 0)
                        return -ERANGE;
                if (x != y) {
                        y = x, m = 1, d = 1, h = 0, mi = 0, s = 0;
                }
                x = next_bit(e->month, m);
                if (x < 0) {
                        y++, m = 1, d = 1, h = 0, mi = 0, s = 0;
                        continue;
                }
                if (x != m) {
                        m = x, d = 1, h = 0, mi = 0, s = 0;
                }
                if (days_y != y || days_m != m) {
                        days = day_mask(e, y, m);
                        days_y = y, days_m = m;
                }
                x = next_bit(days, d);
                if (x < 0) {
                        m++, d = 1, h = 0, mi = 0, s = 0;
                        continue;
                }
                if (x != d) {
                        d = x, h = 0, mi = 0, s = 0;
                }
                x = next_bit(e->hour, h);
                if (x < 0) {
                        d++, h = 0, mi = 0, s = 0;
                        continue;
                }
                if (x != h) {
                        h = x, mi = 0, s = 0;
                }
                x = next_bit(e->minute, mi);
                if (x < 0) {
                        h++, mi = 0, s = 0;
                        continue;
                }
                if (x != mi) {
                        mi = x, s = 0;
                }
                x = next_bit(e->second, s);
                if (x < 0) {
                        mi++, s = 0;
                        continue;
                }
                *ret = days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60 + x;
                return 0;
        }
}

/* Without a search, for most tables: no year field, and a day that every month has (1..28)
 * whatever the weekday, or any weekday on every day. Days only add to these (day_mask()). */
static bool surely_satisfiable(const CronExpr *e) {
        const uint32_t days_1_28 = UINT32_C(0x1ffffffe);
        bool any_month = (e->flags & CRON_DOW_STAR && e->dow == 0x7f && e->dom & days_1_28) ||
                         (e->flags & CRON_DOM_STAR && (e->dom & days_1_28) == days_1_28 &&
                          e->dow & 0x7f);

        return any_month && e->year_base == CRON_YEAR_MIN && e->year == UINT64_MAX &&
               e->year_period == 1 && e->month & 0x1ffe && e->hour & 0xffffff &&
               e->minute & (UINT64_MAX >> 4) && e->second & (UINT64_MAX >> 4);
}

int cronexpr_check_satisfiable(const CronExpr *e) {
        int64_t l;

        if (e->flags & CRON_EVERY)
                return e->every > 0 ? 0 : -ERANGE;
        if (e->flags & CRON_REBOOT)     /* fires when the daemon starts */
                return 0;
        if (surely_satisfiable(e))
                return 0;
        return next_civil(e, CIVIL_BEGIN, &l) < 0 ? -ERANGE : 0;
}

static bool tz_is_utc(const Tz *tz) {
        return !tz || tz == tz_utc();
}

static int64_t floor_div(int64_t a, int64_t b) {
        return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* @every: the next multiple of the interval, the same instants in every zone. */
static int next_every(const CronExpr *e, const Tz *tz, int64_t after, CronFiring *ret) {
        int64_t t;

        if (e->every <= 0)
                return -ERANGE;
        if (after < -1)
                after = -1;
        /* |after| < CIVIL_END + OFFSET_SPAN and every < 2^45: no overflow. */
        t = (floor_div(after, e->every) + 1) * e->every;
        if (t >= CIVIL_END)
                return -ERANGE;
        *ret = (CronFiring) { .t = t, .local = tz_is_utc(tz) ? t : tz_local_seconds(tz, t) };
        return 0;
}

/* The instant a wall-clock job scheduled at local time l fires at. */
static int64_t wallclock_instant(const Tz *tz, int64_t l, CronFireFlags *ret_flags) {
        TzResolved r;

        tz_resolve(tz, l, &r);
        if (r.n == 0) {
                *ret_flags = CRON_FIRE_DST_GAP;
                return r.transition;
        }
        *ret_flags = 0;
        return r.t[0];          /* repeated: the first occurrence only */
}

/* Fixed hour. f(L) = wallclock_instant(L) is non-decreasing in L, so the answer is f of
 * the first matching L with f(L) > after. Every L <= local(after) has f(L) <= after, so
 * the search starts just past local(after). */
static int next_wallclock(const CronExpr *e, const Tz *tz, int64_t after, CronFiring *ret) {
        CronFireFlags flags;
        TzOffset o;
        int64_t from, l, t;
        int r;

        tz_offset_at(tz, after, &o);
        from = after + o.utoff + 1;
        /* `after` in the second pass of a fall-back overlap: the rest of the repeated local
         * times already fired at their first occurrence. Skip to the end of the overlap
         * rather than testing them one by one. */
        if (o.start != INT64_MIN && after - o.start < OFFSET_SPAN) {
                TzOffset prev;

                tz_offset_at(tz, o.start - 1, &prev);
                if (prev.utoff > o.utoff && from < o.start + prev.utoff)
                        from = o.start + prev.utoff;
        }

        for (;;) {
                r = next_civil(e, from, &l);
                if (r < 0)
                        return r;
                t = wallclock_instant(tz, l, &flags);
                if (t > after)
                        break;
                from = l + 1;   /* only with odd zone histories; still moves forward */
        }

        /* A gap's end can collect several scheduled times (02:00 and 02:30 in the gap, or
         * 03:00 right after it): one firing. Only the next scheduled time can join it. */
        if (flags & CRON_FIRE_DST_GAP) {
                CronFireFlags f2;
                int64_t l2;

                if (next_civil(e, l + 1, &l2) >= 0 && wallclock_instant(tz, l2, &f2) == t)
                        flags |= CRON_FIRE_DST_MERGED;
        }
        *ret = (CronFiring) { .t = t, .local = l, .flags = flags };
        return 0;
}

/* Hour '*': walk the offset segments [start, end) of the zone; in each, local = t + utoff
 * is a plain shift, so the first matching local time of the segment is its answer. */
static int next_realtime(const CronExpr *e, const Tz *tz, int64_t after, CronFiring *ret) {
        int64_t t = after + 1;

        for (;;) {
                CronFireFlags flags = 0;
                TzOffset o;
                int64_t l, at;
                int r;

                tz_offset_at(tz, t, &o);
                r = next_civil(e, t + o.utoff, &l);
                if (r < 0)
                        return r;
                at = l - o.utoff;
                if (at >= o.end) {
                        t = o.end;
                        continue;
                }
                /* Shown before, in the previous segment? Then this is the second pass. */
                if (o.start != INT64_MIN && at - o.start < OFFSET_SPAN) {
                        TzOffset prev;

                        tz_offset_at(tz, o.start - 1, &prev);
                        if (l < o.start + prev.utoff)
                                flags |= CRON_FIRE_DST_REPEAT;
                }
                *ret = (CronFiring) { .t = at, .local = l, .flags = flags };
                return 0;
        }
}

int cronexpr_next(const CronExpr *e, const Tz *tz, int64_t after, CronFiring *ret) {
        int64_t l;
        int r;

        if (after >= CIVIL_END + OFFSET_SPAN || (e->flags & CRON_REBOOT))
                return -ERANGE;
        if (after < CIVIL_BEGIN - OFFSET_SPAN)
                after = CIVIL_BEGIN - OFFSET_SPAN;

        if (e->flags & CRON_EVERY)
                return next_every(e, tz, after, ret);
        if (!tz_is_utc(tz))
                return e->flags & CRON_HOUR_STAR ? next_realtime(e, tz, after, ret) :
                                                   next_wallclock(e, tz, after, ret);

        r = next_civil(e, after + 1, &l);
        if (r < 0)
                return r;
        *ret = (CronFiring) { .t = l, .local = l };
        return 0;
}
