/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <time.h>

#include "cronexpr.h"
#include "macro.h"
#include "parse.h"
#include "tests.h"
#include "tz.h"

#define GAP    CRON_FIRE_DST_GAP
#define MERGED CRON_FIRE_DST_MERGED
#define REPEAT CRON_FIRE_DST_REPEAT

static CronExpr parse_key(const char *s, const char *key) {
        const char *msg = NULL;
        unsigned col = 0;
        CronExpr e;
        int r;

        r = cronexpr_parse(s, key, &e, &col, &msg);
        if (r < 0)
                TEST_FAIL("'%s': column %u: %s", s, col, msg);
        return e;
}

static CronExpr parse(const char *s) {
        return parse_key(s, "job");
}

static int64_t ts(const char *s) {
        bool absolute;
        int64_t t;

        if (parse_timestamp(s, &t, &absolute) < 0)
                TEST_FAIL("bad timestamp '%s'", s);
        return t;
}

static const Tz *load_zone(const char *name) {
        Tz *tz = NULL;
        int r;

        if (strcmp(name, "UTC") == 0)
                return tz_utc();
        r = tz_load(name, NULL, &tz);
        if (r < 0)
                TEST_FAIL("tz_load('%s'): %s (is tzdata installed?)", name, strerror(-r));
        return tz;
}

static void assert_same_bits(const char *sa, const CronExpr *a, const char *sb, const CronExpr *b) {
        if (a->second != b->second || a->minute != b->minute || a->hour != b->hour ||
            a->dom != b->dom || a->month != b->month || a->dow != b->dow ||
            a->year != b->year || a->year_base != b->year_base || a->dom_last != b->dom_last ||
            a->dom_weekday != b->dom_weekday || a->dom_last_weekday != b->dom_last_weekday ||
            a->dow_last != b->dow_last || memcmp(a->dow_nth, b->dow_nth, sizeof(a->dow_nth)) != 0 ||
            a->year_period != b->year_period)   /* year and every share a word */
                TEST_FAIL("'%s' and '%s' differ: minute %" PRIx64 "/%" PRIx64
                          " hour %x/%x dom %x/%x month %x/%x dow %x/%x", sa, sb, a->minute,
                          b->minute, a->hour, b->hour, a->dom, b->dom, a->month, b->month,
                          a->dow, b->dow);
}

/* ---- parsing ---------------------------------------------------------------------- */

TEST(parse_star) {
        CronExpr e = parse("* * * * *");

        ASSERT_EQ(e.second, 1);
        ASSERT_TRUE(e.minute == (UINT64_C(1) << 60) - 1);
        ASSERT_EQ(e.hour, 0xffffff);
        ASSERT_EQ(e.dom, 0xfffffffe);
        ASSERT_EQ(e.month, 0x1ffe);
        ASSERT_EQ(e.dow, 0x7f);
        ASSERT_TRUE(e.year == UINT64_MAX && e.year_base == CRON_YEAR_MIN && e.year_period == 1);
        ASSERT_EQ(e.flags, CRON_DOM_STAR | CRON_DOW_STAR | CRON_HOUR_STAR);
        ASSERT_EQ(e.dom_last | e.dom_weekday | e.dow_last, 0);

        e = parse("0 30 4 1 JAN MON 2030");
        ASSERT_EQ(e.second, 1);
        ASSERT_TRUE(e.minute == UINT64_C(1) << 30);
        ASSERT_EQ(e.hour, 1 << 4);
        ASSERT_EQ(e.dom, 1 << 1);
        ASSERT_EQ(e.month, 1 << 1);
        ASSERT_EQ(e.dow, 1 << 1);
        ASSERT_TRUE(e.year == 1 && e.year_base == 2030);
        ASSERT_EQ(e.flags, CRON_HAS_SECONDS | CRON_HAS_YEAR);

        /* Years: a window of 64 from the first, then a period of at most 64. */
        e = parse("0 0 0 1 1 * 2026,2030-2031,2089");
        ASSERT_TRUE(e.year_base == 2026 && e.year == (UINT64_C(1) | 3 << 4 | UINT64_C(1) << 63));
        ASSERT_EQ(e.year_period, 0);
        e = parse("0 0 0 1 1 * 2100-2199");
        ASSERT_TRUE(e.year_base == 2100 && e.year == UINT64_MAX && e.year_period == 1);
        e = parse("0 0 0 1 1 * */2");
        ASSERT_TRUE(e.year_base == 1970 && e.year == UINT64_C(0x5555555555555555));
        ASSERT_EQ(e.year_period, 2);
        e = parse("0 0 0 1 1 * 2001/60");
        ASSERT_TRUE(e.year_base == 2001 && e.year == (1 | UINT64_C(1) << 60) && e.year_period == 60);
}

/* Each expression against a plainer spelling of the same schedule. */
TEST(parse_equivalent) {
        static const struct {
                const char *a, *b;
        } cases[] = {
                { "*/15 * * * *", "0,15,30,45 * * * *" },
                { "5/20 * * * *", "5,25,45 * * * *" },
                { "10-30/10 * * * *", "10,20,30 * * * *" },
                { "*/60 * * * *", "0 * * * *" },
                { "0-59 * * * *", "* * * * *" },
                { "0 1-23/4 * * *", "0 1,5,9,13,17,21 * * *" },
                { "0 22-2 * * *", "0 22,23,0,1,2 * * *" },
                { "0 22-2/2 * * *", "0 22,0,2 * * *" },
                { "0 0 25-5 * *", "0 0 25,26,27,28,29,30,31,1,2,3,4,5 * *" },
                { "0 0 1-31 * *", "0 0 * * *" },
                { "0 0 */10 * *", "0 0 1,11,21,31 * *" },
                { "0 0 * jan-MAR,dec *", "0 0 * 1,2,3,12 *" },
                { "0 0 * NOV-FEB *", "0 0 * 11,12,1,2 *" },
                { "0 0 * */3 *", "0 0 * 1,4,7,10 *" },
                { "0 0 * Jan/4 *", "0 0 * 1,5,9 *" },
                { "0 0 * * mon,Wed,FRI", "0 0 * * 1,3,5" },
                { "0 0 * * MON-FRI", "0 0 * * 1,2,3,4,5" },
                { "0 0 * * FRI-MON", "0 0 * * 5,6,0,1" },
                { "0 0 * * FRI-MON/2", "0 0 * * 5,0" },
                { "0 0 * * SAT-SUN", "0 0 * * 6,0" },
                { "0 0 * * 7", "0 0 * * 0" },
                { "0 0 * * 7-7", "0 0 * * 0" },
                { "0 0 * * 7-2", "0 0 * * 0,1,2" },
                { "0 0 * * 5-7", "0 0 * * 5,6,0" },
                { "0 0 * * 0-7", "0 0 * * 0,1,2,3,4,5,6" },
                { "0 0 * * */2", "0 0 * * SUN,TUE,THU,SAT" },
                { "0 0 * * 1/2", "0 0 * * 1,3,5" },
                { "0 0 * * 7/3", "0 0 * * 0,3,6" },
                { "0 0 ? * MON", "0 0 * * 1" },
                { "0 0 1 * ?", "0 0 1 * *" },
                { "  0\t0 *  * *  ", "0 0 * * *" },
                { "0 0 0 * * *", "0 0 * * *" },
                { "0 0 * * * *", "0 * * * *" },
                { "0 0 0 * * * *", "0 0 * * *" },
                { "0 0 0 * * * 1970-2199", "0 0 * * *" },
                { "0 0 L,l * *", "0 0 L-0 * *" },
                { "0 0 lw * *", "0 0 LW * *" },
                { "0 0 ? * fril", "0 0 ? * 5L" },
                { "0 0 ? * 7L", "0 0 ? * 0L" },
                { "0 0 ? * 7#2", "0 0 ? * SUN#2" },
                { "@yearly", "0 0 1 1 *" },
                { "@annually", "0 0 1 1 *" },
                { "@monthly", "0 0 1 * *" },
                { "@weekly", "0 0 * * 0" },
                { "@daily", "0 0 * * *" },
                { "@midnight", "0 0 * * *" },
                { "@hourly", "0 * * * *" },
                { "  @HOURLY ", "0 * * * *" },
                /* H: with the key "job", minute 14, hour 13, dom 26, month 6, dow 3 (see
                 * parse_hash_stability for the definition). */
                { "H H H H H", "14 13 26 6 3" },
                { "H/15 * * * *", "14,29,44,59 * * * *" },
                { "h(0-29)/10 * * * *", "4,14,24 * * * *" },
                { "0 H(9-17) * * *", "0 13 * * *" },
                { "0 H(22-2) * * *", "0 22 * * *" },
                { "H/1 * * * *", "* * * * *" },
                { "0 0 H(1-5)/1 * *", "0 0 1-5 * *" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                CronExpr a = parse(cases[i].a), b = parse(cases[i].b);

                assert_same_bits(cases[i].a, &a, cases[i].b, &b);
        }
}

TEST(parse_flags) {
        static const struct {
                const char *s;
                CronFlags flags;
        } cases[] = {
                { "* * * * *", CRON_DOM_STAR | CRON_DOW_STAR | CRON_HOUR_STAR },
                { "0 */2 * * *", CRON_DOM_STAR | CRON_DOW_STAR | CRON_HOUR_STAR },
                { "0 *,5 * * *", CRON_DOM_STAR | CRON_DOW_STAR | CRON_HOUR_STAR },
                /* Vixie looks at the first character only: "5,*" is restricted. */
                { "0 5,* * * *", CRON_DOM_STAR | CRON_DOW_STAR },
                { "0 H * * *", CRON_DOM_STAR | CRON_DOW_STAR },
                { "0 0 */2 * 1", CRON_DOM_STAR },
                { "0 0 1-31/2 * 1", 0 },
                { "0 0 ? * 1", CRON_DOM_STAR },
                { "0 0 1 * ?", CRON_DOW_STAR },
                { "0 0 1 * */2", CRON_DOW_STAR },
                { "0 0 1 * 1", 0 },
                { "0 0 L * MON", 0 },
                { "0 0 0 * * *", CRON_DOM_STAR | CRON_DOW_STAR | CRON_HAS_SECONDS },
                { "0 0 0 * * * 2030",
                  CRON_DOM_STAR | CRON_DOW_STAR | CRON_HAS_SECONDS | CRON_HAS_YEAR },
                { "@hourly", CRON_DOM_STAR | CRON_DOW_STAR | CRON_HOUR_STAR },
                { "@daily", CRON_DOM_STAR | CRON_DOW_STAR },
                { "@weekly", CRON_DOM_STAR },
                { "@monthly", CRON_DOW_STAR },
                { "@yearly", CRON_DOW_STAR },
                { "@every 1m", CRON_EVERY },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                CronExpr e = parse(cases[i].s);

                if (e.flags != cases[i].flags)
                        TEST_FAIL("'%s': flags %#x, want %#x", cases[i].s, e.flags, cases[i].flags);
        }
}

TEST(parse_quartz) {
        CronExpr e = parse("0 0 L,L-3,15W,LW,1,3-4 * *");

        ASSERT_EQ(e.dom, (1 << 1) | (1 << 3) | (1 << 4));
        ASSERT_EQ(e.dom_last, 1 | (1 << 3));
        ASSERT_EQ(e.dom_weekday, 1 << 15);
        ASSERT_TRUE(e.dom_last_weekday);
        ASSERT_EQ(e.flags, CRON_DOW_STAR);

        e = parse("0 0 ? * MON#1,5L,fri#3,7#5,SATL,TUE");
        ASSERT_EQ(e.dow, 1 << 2);
        ASSERT_EQ(e.dow_nth[1], 1 << 1);
        ASSERT_EQ(e.dow_nth[5], 1 << 3);
        ASSERT_EQ(e.dow_nth[0], 1 << 5);
        ASSERT_EQ(e.dow_nth[2] | e.dow_nth[3] | e.dow_nth[4] | e.dow_nth[6], 0);
        ASSERT_EQ(e.dow_last, (1 << 5) | (1 << 6));
        ASSERT_EQ(e.flags, CRON_DOM_STAR);
}

TEST(parse_every) {
        static const struct {
                const char *s;
                int64_t every;
        } cases[] = {
                { "@every 90s", 90 },
                { "@every 1h30m", 5400 },
                { "@EVERY   2d ", 172800 },
                { "@every 1500ms500ms", 2 },
                { "@every 1w", 604800 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                CronExpr e = parse(cases[i].s);

                ASSERT_EQ(e.flags, CRON_EVERY);
                ASSERT_EQ(e.every, cases[i].every);
        }
}

/* @reboot is no calendar: it never matches and has no next firing, yet it is satisfiable
 * (the daemon runs it when it starts). */
TEST(parse_reboot) {
        static const char *const spellings[] = { "@reboot", "@REBOOT ", " @Reboot\t" };
        Civil c = { .year = 2026, .month = 1, .day = 1 };
        CronFiring f;

        for (size_t i = 0; i < ELEMENTSOF(spellings); i++) {
                CronExpr e = parse(spellings[i]);

                ASSERT_EQ(e.flags, CRON_REBOOT);
                ASSERT_EQ(cronexpr_check_satisfiable(&e), 0);
                ASSERT_EQ(cronexpr_next(&e, NULL, 0, &f), -ERANGE);
                ASSERT_TRUE(!cronexpr_matches(&e, &c));
        }
}

TEST(parse_errors) {
        static const struct {
                const char *s;
                unsigned column;
                const char *msg;
        } cases[] = {
                { "", 1, "expression is empty" },
                { "   ", 4, "expression is empty" },
                { "*", 1, "expected 5, 6 or 7 fields, got 1" },
                { "* *", 1, "expected 5, 6 or 7 fields, got 2" },
                { "* * *", 1, "expected 5, 6 or 7 fields, got 3" },
                { "* * * *", 1, "expected 5, 6 or 7 fields, got 4" },
                { "* * * * * * * *", 15, "expected 5, 6 or 7 fields, got more than 7" },
                { "60 * * * *", 1, "minute out of range 0-59" },
                { "0-60 * * * *", 3, "minute out of range 0-59" },
                { "99999999999999999999 * * * *", 1, "minute out of range 0-59" },
                { "* 24 * * *", 3, "hour out of range 0-23" },
                { "* * 0 * *", 5, "day-of-month out of range 1-31" },
                { "* * 32 * *", 5, "day-of-month out of range 1-31" },
                { "* * * 0 *", 7, "month out of range 1-12" },
                { "* * * 13 *", 7, "month out of range 1-12" },
                { "* * * * 8", 9, "day-of-week out of range 0-7" },
                { "60 * * * * *", 1, "second out of range 0-59" },
                { "0 60 * * * *", 3, "minute out of range 0-59" },
                { "0 0 0 * * * 1969", 13, "year out of range 1970-2199" },
                { "0 0 0 * * * 2200", 13, "year out of range 1970-2199" },
                { "0 0 0 * * * 2030-2020", 13, "year range must be ascending" },
                { "0 0 0 * * * 2030,2150", 13,
                  "a year field must fit in 64 consecutive years, or repeat every 64 years or less (split the job in two)" },
                { "0 0 0 * * * 1970/100", 13,
                  "a year field must fit in 64 consecutive years, or repeat every 64 years or less (split the job in two)" },
                { "* * * JNA *", 7, "unknown month name" },
                { "* * * JANUARY *", 7, "unknown month name" },
                { "* * * MON *", 7, "unknown month name" },
                { "* * * * FRIDAY", 9, "unknown weekday name" },
                { "* * * * MON-FRX", 13, "unknown weekday name" },
                { "* * * * JAN", 9, "unknown weekday name" },
                { "JAN * * * *", 1, "expected a number" },
                { "* * * -1 *", 7, "expected a number or a name" },
                { "1-/2 * * * *", 3, "expected a number" },
                { "*/0 * * * *", 3, "step must be > 0" },
                { "*/61 * * * *", 3, "step larger than the field's range" },
                { "0 0 * * */8", 11, "step larger than the field's range" },
                { "*/ * * * *", 3, "expected a number after '/'" },
                { "*/x * * * *", 3, "expected a number after '/'" },
                { "L * * * *", 1, "'L' is only allowed in day-of-month or day-of-week" },
                { "5L * * * *", 2, "'L' is only allowed in day-of-month or day-of-week" },
                { "* * * L *", 7, "'L' is only allowed in day-of-month or day-of-week" },
                { "* * 5L * *", 6, "'L' stands alone in day-of-month: 'L', 'L-n' or 'LW'" },
                { "* * * * L", 9,
                  "'L' alone is ambiguous in day-of-week, write e.g. '5L' or 'FRIL'" },
                { "W * * * *", 1, "'W' is only allowed in day-of-month" },
                { "* 5W * * *", 4, "'W' is only allowed in day-of-month" },
                { "* * * * 5W", 10, "'W' is only allowed in day-of-month" },
                { "* * 32W * *", 5, "day-of-month out of range 1-31" },
                { "* * W * *", 5, "expected a number" },
                { "* * 1#2 * *", 6, "'#' is only allowed in day-of-week, after a weekday" },
                { "* * * * #2", 9, "'#' is only allowed in day-of-week, after a weekday" },
                { "* * * * 5#6", 11, "'#' occurrence out of range 1-5" },
                { "* * * * 5#0", 11, "'#' occurrence out of range 1-5" },
                { "* * * * 5#", 11, "expected a number after '#'" },
                { "* * * * 5#1-3", 12, "unexpected character" },
                { "* * L-31 * *", 7, "'L-n' offset out of range 0-30" },
                { "* * L- * *", 7, "expected a number after 'L-'" },
                { "* * L/2 * *", 6, "unexpected character" },
                { "* * 1W-3 * *", 7, "unexpected character" },
                { "? * * * *", 1, "'?' is only allowed in day-of-month or day-of-week" },
                { "* * * ?,1 *", 7, "'?' is only allowed in day-of-month or day-of-week" },
                { "* * ?,1 * *", 5, "'?' must be the whole field" },
                { "* * 1,? * *", 7, "'?' must be the whole field" },
                { "* * ?/2 * *", 5, "'?' must be the whole field" },
                { "1,,2 * * * *", 3, "empty list item" },
                { "1, * * * *", 3, "empty list item" },
                { ",1 * * * *", 1, "empty list item" },
                { "1;2 * * * *", 2, "unexpected character" },
                { "1-2-3 * * * *", 4, "unexpected character" },
                { "*5 * * * *", 2, "unexpected character" },
                { "* * * * *\n", 10, "unexpected character" },
                { "\xc3\xa4 * * * *", 1, "expected a number" },
                { "H(5 * * * *", 4, "expected '-' in 'H(a-b)'" },
                { "H(5-10 * * * *", 7, "expected ')' after 'H(a-b'" },
                { "H(5-70) * * * *", 5, "minute out of range 0-59" },
                { "H(0-9)/20 * * * *", 8, "step larger than the 'H' range" },
                { "HH * * * *", 1, "expected a number" },
                { "@reboot now", 9, "unexpected text after the macro" },
                { "@foo", 1, "unknown macro" },
                { "@", 1, "unknown macro" },
                { "@daily x", 8, "unexpected text after the macro" },
                { "@every", 7, "'@every' needs a duration, e.g. '@every 90s'" },
                { "@every ", 8, "'@every' needs a duration, e.g. '@every 90s'" },
                { "@every 0s", 8, "'@every' interval must be > 0" },
                { "@every 0", 8, "'@every' interval must be > 0" },
                { "@every 1500ms", 8, "'@every' interval must be whole seconds" },
                { "@every 5x", 8, "invalid duration" },
                { "@every 90", 8, "invalid duration" },
                { "@every 99999999999999999999999w", 8, "invalid duration" },
                { "@every 5s x", 11, "unexpected text after the duration" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const char *msg = NULL;
                unsigned col = 0;
                CronExpr e;
                int r;

                r = cronexpr_parse(cases[i].s, "job", &e, &col, &msg);
                if (r != -EINVAL)
                        TEST_FAIL("'%s' parsed: %d", cases[i].s, r);
                if (col != cases[i].column || !msg || strcmp(msg, cases[i].msg) != 0)
                        TEST_FAIL("'%s': got column %u '%s', want column %u '%s'", cases[i].s, col,
                                  msg ? msg : "(null)", cases[i].column, cases[i].msg);
        }
}

TEST(parse_too_long) {
        char s[1100];
        const char *msg = NULL;
        unsigned col = 0;
        CronExpr e;

        memset(s, ' ', sizeof(s) - 1);
        s[sizeof(s) - 1] = '\0';
        memcpy(s, "* * * * *", 9);
        ASSERT_EQ(cronexpr_parse(s, NULL, &e, &col, &msg), -EINVAL);
        ASSERT_EQ(col, 1025);
        ASSERT_STREQ(msg, "expression too long");
        s[1024] = '\0';
        ASSERT_OK(cronexpr_parse(s, NULL, &e, &col, &msg));
}

/* The 'H' values must never change: a job's schedule would silently move on upgrade.
 * Definition in cronexpr.c; these values were also computed by an independent Python
 * implementation of it. */
TEST(parse_hash_stability) {
        static const struct {
                const char *key;
                int second, minute, hour, dom, month, dow, year;
        } cases[] = {
                { "backup", 3, 47, 23, 7, 2, 1, 2156 },
                { "job", 10, 14, 13, 26, 6, 3, 1972 },
                { "", 27, 0, 17, 2, 9, 0, 2141 },
                { "nightly-report", 52, 6, 7, 2, 7, 4, 1999 },
                { "db-vacuum", 4, 57, 6, 23, 6, 1, 2181 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                CronExpr e = parse_key("H H H H H H H", cases[i].key);

                ASSERT_TRUE(e.second == UINT64_C(1) << cases[i].second);
                ASSERT_TRUE(e.minute == UINT64_C(1) << cases[i].minute);
                ASSERT_EQ(e.hour, 1u << cases[i].hour);
                ASSERT_EQ(e.dom, 1u << cases[i].dom);
                ASSERT_EQ(e.month, 1u << cases[i].month);
                ASSERT_EQ(e.dow, 1u << cases[i].dow);
                ASSERT_TRUE(e.year == 1 && e.year_base == cases[i].year);

                /* The 5-field form hashes the same field indices. */
                e = parse_key("H H H H H", cases[i].key);
                ASSERT_TRUE(e.minute == UINT64_C(1) << cases[i].minute);
                ASSERT_EQ(e.dow, 1u << cases[i].dow);
        }

        /* NULL key is the empty key; same key, same value. */
        CronExpr a = parse_key("H H * * *", NULL), b = parse_key("H H * * *", "");
        assert_same_bits("NULL", &a, "''", &b);

        a = parse_key("H/15 H(9-17) * * *", "backup");
        b = parse("2,17,32,47 11 * * *");
        assert_same_bits("H/15 H(9-17) 'backup'", &a, "explicit", &b);
        a = parse_key("H(0-29)/10 H(22-2) * * *", "nightly-report");
        b = parse("6,16,26 1 * * *");
        assert_same_bits("H(0-29)/10 H(22-2) 'nightly-report'", &a, "explicit", &b);
}

/* ---- next firing ------------------------------------------------------------------- */

typedef struct Want {
        const char *t;          /* RFC 3339 UTC; "ERANGE": no further firing */
        CronFireFlags flags;
} Want;

typedef struct NextCase {
        const char *zone;
        const char *expr;
        const char *after;
        Want want[8];
} NextCase;

static void check_next_cases(const NextCase *cases, size_t n) {
        for (size_t i = 0; i < n; i++) {
                const NextCase *c = &cases[i];
                const Tz *tz = load_zone(c->zone);
                CronExpr e = parse(c->expr);
                int64_t t = ts(c->after);

                for (size_t k = 0; k < ELEMENTSOF(c->want) && c->want[k].t; k++) {
                        char buf[RFC3339_UTC_MAX];
                        CronFiring f;
                        int r;

                        r = cronexpr_next(&e, tz, t, &f);
                        if (strcmp(c->want[k].t, "ERANGE") == 0) {
                                if (r != -ERANGE)
                                        TEST_FAIL("'%s' in %s after %s: firing %zu: got %d %s, "
                                                  "want ERANGE", c->expr, c->zone, c->after, k, r,
                                                  r < 0 ? "" : format_rfc3339_utc(f.t, buf));
                                break;
                        }
                        if (r < 0)
                                TEST_FAIL("'%s' in %s after %s: firing %zu: error %d", c->expr,
                                          c->zone, c->after, k, r);
                        format_rfc3339_utc(f.t, buf);
                        if (strcmp(buf, c->want[k].t) != 0 || f.flags != c->want[k].flags)
                                TEST_FAIL("'%s' in %s after %s: firing %zu is %s flags %#x, "
                                          "want %s flags %#x", c->expr, c->zone, c->after, k, buf,
                                          f.flags, c->want[k].t, c->want[k].flags);
                        if (!(f.flags & GAP) && tz_local_seconds(tz, f.t) != f.local)
                                TEST_FAIL("'%s': local %" PRId64 " is not the local time of %s",
                                          c->expr, f.local, buf);
                        t = f.t;
                }
                tz_free((Tz *) tz);
        }
}

TEST(next_utc) {
        static const NextCase cases[] = {
                { "UTC", "*/15 * * * *", "2026-12-31T23:50:00Z", {
                        { "2027-01-01T00:00:00Z", 0 }, { "2027-01-01T00:15:00Z", 0 } } },
                { "UTC", "0 1 * * *", "2026-01-01T01:00:00Z", {
                        { "2026-01-02T01:00:00Z", 0 }, { "2026-01-03T01:00:00Z", 0 } } },
                { "UTC", "0 1 * * *", "2026-01-01T00:59:59Z", { { "2026-01-01T01:00:00Z", 0 } } },
                { "UTC", "30 2 * * MON-FRI", "2026-01-02T03:00:00Z", {
                        { "2026-01-05T02:30:00Z", 0 }, { "2026-01-06T02:30:00Z", 0 } } },
                { "UTC", "0 0 1 1 *", "2026-12-31T23:59:59Z", {
                        { "2027-01-01T00:00:00Z", 0 }, { "2028-01-01T00:00:00Z", 0 } } },
                { "UTC", "59 23 31 12 *", "2026-12-31T23:59:00Z", {
                        { "2027-12-31T23:59:00Z", 0 } } },
                /* Leap days, and 2100 is not a leap year. */
                { "UTC", "0 0 29 2 *", "2024-03-01T00:00:00Z", {
                        { "2028-02-29T00:00:00Z", 0 }, { "2032-02-29T00:00:00Z", 0 } } },
                { "UTC", "0 0 29 2 *", "2096-03-01T00:00:00Z", { { "2104-02-29T00:00:00Z", 0 } } },
                { "UTC", "0 12 L 2 *", "2099-03-01T00:00:00Z", {
                        { "2100-02-28T12:00:00Z", 0 }, { "2101-02-28T12:00:00Z", 0 },
                        { "2102-02-28T12:00:00Z", 0 }, { "2103-02-28T12:00:00Z", 0 },
                        { "2104-02-29T12:00:00Z", 0 } } },
                /* Seconds. */
                { "UTC", "*/20 * * * * *", "2026-01-01T00:00:50Z", {
                        { "2026-01-01T00:01:00Z", 0 }, { "2026-01-01T00:01:20Z", 0 } } },
                { "UTC", "30 0 0 * * *", "2026-01-01T00:00:30Z", {
                        { "2026-01-02T00:00:30Z", 0 } } },
                { "UTC", "59 59 23 31 12 *", "2026-06-01T00:00:00Z", {
                        { "2026-12-31T23:59:59Z", 0 } } },
                /* Year field, and its end. */
                { "UTC", "0 0 0 1 1 * 2030,2032", "2026-06-01T00:00:00Z", {
                        { "2030-01-01T00:00:00Z", 0 }, { "2032-01-01T00:00:00Z", 0 },
                        { "ERANGE", 0 } } },
                { "UTC", "0 0 0 1 1 * 2030-2040/5", "2026-06-01T00:00:00Z", {
                        { "2030-01-01T00:00:00Z", 0 }, { "2035-01-01T00:00:00Z", 0 },
                        { "2040-01-01T00:00:00Z", 0 }, { "ERANGE", 0 } } },
                { "UTC", "0 0 1 1 *", "2198-06-01T00:00:00Z", {
                        { "2199-01-01T00:00:00Z", 0 }, { "ERANGE", 0 } } },
                { "UTC", "59 59 23 31 12 * 2199", "2199-12-31T23:59:58Z", {
                        { "2199-12-31T23:59:59Z", 0 }, { "ERANGE", 0 } } },
                { "UTC", "* * * * *", "2199-12-31T23:59:00Z", { { "ERANGE", 0 } } },
                { "UTC", "* * * * *", "2500-01-01T00:00:00Z", { { "ERANGE", 0 } } },
                /* Before 1970 is clamped to the start of the range. */
                { "UTC", "0 0 1 1 *", "1900-01-01T00:00:00Z", { { "1970-01-01T00:00:00Z", 0 } } },
                /* Vixie: both restricted → OR; either '*' (or '?', or '*' + step) → AND. */
                { "UTC", "0 0 13 * FRI", "2026-01-01T00:00:00Z", {
                        { "2026-01-02T00:00:00Z", 0 }, { "2026-01-09T00:00:00Z", 0 },
                        { "2026-01-13T00:00:00Z", 0 }, { "2026-01-16T00:00:00Z", 0 } } },
                { "UTC", "0 0 13 * *", "2026-01-01T00:00:00Z", {
                        { "2026-01-13T00:00:00Z", 0 }, { "2026-02-13T00:00:00Z", 0 } } },
                { "UTC", "0 0 ? * FRI", "2026-01-01T00:00:00Z", {
                        { "2026-01-02T00:00:00Z", 0 }, { "2026-01-09T00:00:00Z", 0 } } },
                { "UTC", "0 0 */2 * FRI", "2026-01-01T00:00:00Z", {
                        { "2026-01-09T00:00:00Z", 0 }, { "2026-01-23T00:00:00Z", 0 },
                        { "2026-02-13T00:00:00Z", 0 }, { "2026-02-27T00:00:00Z", 0 } } },
                { "UTC", "0 0 1-31/2 * FRI", "2026-01-01T00:00:00Z", {
                        { "2026-01-02T00:00:00Z", 0 }, { "2026-01-03T00:00:00Z", 0 },
                        { "2026-01-05T00:00:00Z", 0 } } },
                /* dow starts with '*': AND; SUN, WED, SAT. */
                { "UTC", "0 0 13 * */3", "2026-01-01T00:00:00Z", {
                        { "2026-05-13T00:00:00Z", 0 }, { "2026-06-13T00:00:00Z", 0 },
                        { "2026-09-13T00:00:00Z", 0 } } },
                /* Quartz: L, L-n, LW, nW, #, nL. */
                { "UTC", "0 0 L * *", "2024-01-15T00:00:00Z", {
                        { "2024-01-31T00:00:00Z", 0 }, { "2024-02-29T00:00:00Z", 0 },
                        { "2024-03-31T00:00:00Z", 0 }, { "2024-04-30T00:00:00Z", 0 } } },
                { "UTC", "0 0 L-2 * *", "2026-01-01T00:00:00Z", {
                        { "2026-01-29T00:00:00Z", 0 }, { "2026-02-26T00:00:00Z", 0 } } },
                { "UTC", "0 0 L-30 * *", "2025-12-31T00:00:00Z", {
                        { "2026-01-01T00:00:00Z", 0 }, { "2026-03-01T00:00:00Z", 0 },
                        { "2026-05-01T00:00:00Z", 0 } } },
                /* 2026-01-31 and 02-28 are Saturdays, 05-31 a Sunday. */
                { "UTC", "0 0 LW * *", "2026-01-01T00:00:00Z", {
                        { "2026-01-30T00:00:00Z", 0 }, { "2026-02-27T00:00:00Z", 0 },
                        { "2026-03-31T00:00:00Z", 0 }, { "2026-04-30T00:00:00Z", 0 },
                        { "2026-05-29T00:00:00Z", 0 } } },
                /* 15th: 2026-02-15 and 03-15 are Sundays → Monday; 08-15 a Saturday →
                 * Friday. */
                { "UTC", "0 0 15W * *", "2026-01-20T00:00:00Z", {
                        { "2026-02-16T00:00:00Z", 0 }, { "2026-03-16T00:00:00Z", 0 },
                        { "2026-04-15T00:00:00Z", 0 } } },
                { "UTC", "0 0 15W * *", "2026-07-20T00:00:00Z", { { "2026-08-14T00:00:00Z", 0 } } },
                /* 1st: Saturday 2026-08-01 → Monday 3rd (not back into July); Sunday
                 * 02-01 → 2nd. */
                { "UTC", "0 0 1W * *", "2026-07-20T00:00:00Z", {
                        { "2026-08-03T00:00:00Z", 0 }, { "2026-09-01T00:00:00Z", 0 } } },
                { "UTC", "0 0 1W * *", "2026-01-20T00:00:00Z", { { "2026-02-02T00:00:00Z", 0 } } },
                /* 31st: Sunday 2026-05-31 → Friday 29th; months without a 31st never fire. */
                { "UTC", "0 0 31W * *", "2026-04-01T00:00:00Z", {
                        { "2026-05-29T00:00:00Z", 0 }, { "2026-07-31T00:00:00Z", 0 } } },
                { "UTC", "0 0 ? * MON#1", "2026-01-01T00:00:00Z", {
                        { "2026-01-05T00:00:00Z", 0 }, { "2026-02-02T00:00:00Z", 0 } } },
                { "UTC", "0 0 ? * FRI#3", "2026-01-01T00:00:00Z", {
                        { "2026-01-16T00:00:00Z", 0 }, { "2026-02-20T00:00:00Z", 0 } } },
                { "UTC", "0 0 ? * 5L", "2026-01-01T00:00:00Z", {
                        { "2026-01-30T00:00:00Z", 0 }, { "2026-02-27T00:00:00Z", 0 },
                        { "2026-03-27T00:00:00Z", 0 } } },
                { "UTC", "0 0 ? * SUNL,MON#1", "2026-01-01T00:00:00Z", {
                        { "2026-01-05T00:00:00Z", 0 }, { "2026-01-25T00:00:00Z", 0 },
                        { "2026-02-02T00:00:00Z", 0 } } },
                { "UTC", "0 0 * 2 MON#5", "2026-01-01T00:00:00Z", {
                        { "2044-02-29T00:00:00Z", 0 }, { "2072-02-29T00:00:00Z", 0 },
                        { "2112-02-29T00:00:00Z", 0 } } },
                /* Both restricted: OR of 'L' and Mondays. */
                { "UTC", "0 0 L * MON", "2026-01-27T00:00:00Z", {
                        { "2026-01-31T00:00:00Z", 0 }, { "2026-02-02T00:00:00Z", 0 } } },
                /* Wrapped ranges. */
                { "UTC", "0 22-2/2 * * *", "2026-01-01T03:00:00Z", {
                        { "2026-01-01T22:00:00Z", 0 }, { "2026-01-02T00:00:00Z", 0 },
                        { "2026-01-02T02:00:00Z", 0 }, { "2026-01-02T22:00:00Z", 0 } } },
                { "UTC", "0 0 ? * FRI-MON", "2026-01-01T00:00:00Z", {
                        { "2026-01-02T00:00:00Z", 0 }, { "2026-01-03T00:00:00Z", 0 },
                        { "2026-01-04T00:00:00Z", 0 }, { "2026-01-05T00:00:00Z", 0 },
                        { "2026-01-09T00:00:00Z", 0 } } },
                /* @every: anchored at the epoch, whatever the zone. */
                { "UTC", "@every 90s", "1970-01-01T00:00:00Z", {
                        { "1970-01-01T00:01:30Z", 0 }, { "1970-01-01T00:03:00Z", 0 } } },
                { "UTC", "@every 1h30m", "2026-01-01T00:00:00Z", {
                        { "2026-01-01T01:30:00Z", 0 }, { "2026-01-01T03:00:00Z", 0 } } },
                { "UTC", "@every 13s", "2026-01-01T00:00:00Z", {   /* 1767225603 = 13 * 135940431 */
                        { "2026-01-01T00:00:03Z", 0 }, { "2026-01-01T00:00:16Z", 0 } } },
                { "America/New_York", "@every 1h", "2026-03-08T06:30:00Z", {
                        { "2026-03-08T07:00:00Z", 0 }, { "2026-03-08T08:00:00Z", 0 } } },
                { "Asia/Kathmandu", "@every 1d", "2026-03-08T06:30:00Z", {
                        { "2026-03-09T00:00:00Z", 0 } } },
                { "UTC", "@every 1h", "2199-12-31T22:30:00Z", {
                        { "2199-12-31T23:00:00Z", 0 }, { "ERANGE", 0 } } },
                /* Macros. */
                { "UTC", "@hourly", "2026-01-01T00:00:00Z", { { "2026-01-01T01:00:00Z", 0 } } },
                { "UTC", "@weekly", "2026-01-01T00:00:00Z", { { "2026-01-04T00:00:00Z", 0 } } },
                { "UTC", "@monthly", "2026-01-01T00:00:00Z", { { "2026-02-01T00:00:00Z", 0 } } },
                { "UTC", "@yearly", "2026-01-01T00:00:00Z", { { "2027-01-01T00:00:00Z", 0 } } },
        };

        check_next_cases(cases, ELEMENTSOF(cases));
}

TEST(next_every_negative) {
        CronExpr e = parse("@every 90s");
        CronFiring f;

        ASSERT_OK(cronexpr_next(&e, NULL, -1, &f));
        ASSERT_EQ(f.t, 0);
        ASSERT_OK(cronexpr_next(&e, NULL, INT64_MIN, &f));
        ASSERT_EQ(f.t, 0);
        ASSERT_OK(cronexpr_next(&e, NULL, 89, &f));
        ASSERT_EQ(f.t, 90);
        ASSERT_OK(cronexpr_next(&e, NULL, 90, &f));
        ASSERT_EQ(f.t, 180);
        ASSERT_EQ(cronexpr_next(&e, NULL, INT64_MAX, &f), -ERANGE);
        e = parse("* * * * *");
        ASSERT_EQ(cronexpr_next(&e, NULL, INT64_MAX, &f), -ERANGE);
        ASSERT_OK(cronexpr_next(&e, NULL, INT64_MIN, &f));
        ASSERT_EQ(f.t, 0);
}

/* DST, zone by zone. Expected values come from an independent oracle (Python zoneinfo,
 * minute by minute) applying the rules in cronexpr.h. */
TEST(next_dst) {
        static const NextCase cases[] = {
                /* America/New_York 2026: 03-08 02:00 EST → 03:00 EDT;
                 * 11-01 02:00 EDT → 01:00 EST. */
                { "America/New_York", "30 2 * * *", "2026-03-06T12:00:00Z", {
                        { "2026-03-07T07:30:00Z", 0 }, { "2026-03-08T07:00:00Z", GAP },
                        { "2026-03-09T06:30:00Z", 0 }, { "2026-03-10T06:30:00Z", 0 } } },
                { "America/New_York", "0 2 * * *", "2026-03-07T12:00:00Z", {
                        { "2026-03-08T07:00:00Z", GAP }, { "2026-03-09T06:00:00Z", 0 } } },
                { "America/New_York", "0,30 2 * * *", "2026-03-07T12:00:00Z", {
                        { "2026-03-08T07:00:00Z", GAP | MERGED }, { "2026-03-09T06:00:00Z", 0 },
                        { "2026-03-09T06:30:00Z", 0 } } },
                { "America/New_York", "0 2,3 * * *", "2026-03-07T12:00:00Z", {
                        { "2026-03-08T07:00:00Z", GAP | MERGED }, { "2026-03-09T06:00:00Z", 0 },
                        { "2026-03-09T07:00:00Z", 0 } } },
                { "America/New_York", "30 1 * * *", "2026-10-30T12:00:00Z", {
                        { "2026-10-31T05:30:00Z", 0 }, { "2026-11-01T05:30:00Z", 0 },
                        { "2026-11-02T06:30:00Z", 0 }, { "2026-11-03T06:30:00Z", 0 } } },
                /* From inside the second pass of the repeated hour. */
                { "America/New_York", "30 1 * * *", "2026-11-01T06:15:00Z", {
                        { "2026-11-02T06:30:00Z", 0 }, { "2026-11-03T06:30:00Z", 0 } } },
                { "America/New_York", "0,30 1,2 * * *", "2026-11-01T06:10:00Z", {
                        { "2026-11-01T07:00:00Z", 0 }, { "2026-11-01T07:30:00Z", 0 },
                        { "2026-11-02T06:00:00Z", 0 } } },
                { "America/New_York", "*/30 * * * *", "2026-11-01T04:00:00Z", {
                        { "2026-11-01T04:30:00Z", 0 }, { "2026-11-01T05:00:00Z", 0 },
                        { "2026-11-01T05:30:00Z", 0 }, { "2026-11-01T06:00:00Z", REPEAT },
                        { "2026-11-01T06:30:00Z", REPEAT }, { "2026-11-01T07:00:00Z", 0 },
                        { "2026-11-01T07:30:00Z", 0 }, { "2026-11-01T08:00:00Z", 0 } } },
                { "America/New_York", "*/30 * * * *", "2026-03-08T06:00:00Z", {
                        { "2026-03-08T06:30:00Z", 0 }, { "2026-03-08T07:00:00Z", 0 },
                        { "2026-03-08T07:30:00Z", 0 }, { "2026-03-08T08:00:00Z", 0 } } },
                { "America/New_York", "0 * * * *", "2026-11-01T04:30:00Z", {
                        { "2026-11-01T05:00:00Z", 0 }, { "2026-11-01T06:00:00Z", REPEAT },
                        { "2026-11-01T07:00:00Z", 0 }, { "2026-11-01T08:00:00Z", 0 },
                        { "2026-11-01T09:00:00Z", 0 } } },
                { "America/New_York", "0 * * * *", "2026-03-08T05:30:00Z", {
                        { "2026-03-08T06:00:00Z", 0 }, { "2026-03-08T07:00:00Z", 0 },
                        { "2026-03-08T08:00:00Z", 0 } } },

                /* Europe/London 2026: 03-29 01:00 GMT → 02:00 BST;
                 * 10-25 02:00 BST → 01:00 GMT. */
                { "Europe/London", "30 1 * * *", "2026-03-27T12:00:00Z", {
                        { "2026-03-28T01:30:00Z", 0 }, { "2026-03-29T01:00:00Z", GAP },
                        { "2026-03-30T00:30:00Z", 0 }, { "2026-03-31T00:30:00Z", 0 } } },
                { "Europe/London", "0,30 1 * * *", "2026-03-28T12:00:00Z", {
                        { "2026-03-29T01:00:00Z", GAP | MERGED }, { "2026-03-30T00:00:00Z", 0 },
                        { "2026-03-30T00:30:00Z", 0 } } },
                { "Europe/London", "30 1 * * *", "2026-10-23T12:00:00Z", {
                        { "2026-10-24T00:30:00Z", 0 }, { "2026-10-25T00:30:00Z", 0 },
                        { "2026-10-26T01:30:00Z", 0 }, { "2026-10-27T01:30:00Z", 0 } } },
                { "Europe/London", "*/30 * * * *", "2026-10-25T00:00:00Z", {
                        { "2026-10-25T00:30:00Z", 0 }, { "2026-10-25T01:00:00Z", REPEAT },
                        { "2026-10-25T01:30:00Z", REPEAT }, { "2026-10-25T02:00:00Z", 0 },
                        { "2026-10-25T02:30:00Z", 0 }, { "2026-10-25T03:00:00Z", 0 } } },
                { "Europe/London", "0 * * * *", "2026-03-28T23:30:00Z", {
                        { "2026-03-29T00:00:00Z", 0 }, { "2026-03-29T01:00:00Z", 0 },
                        { "2026-03-29T02:00:00Z", 0 } } },

                /* Australia/Lord_Howe, 30-minute DST: 2026-04-05 02:00 +11 → 01:30 +1030;
                 * 2026-10-04 02:00 +1030 → 02:30 +11. */
                { "Australia/Lord_Howe", "30 2 * * *", "2026-10-02T12:00:00Z", {
                        { "2026-10-02T16:00:00Z", 0 }, { "2026-10-03T15:30:00Z", 0 },
                        { "2026-10-04T15:30:00Z", 0 } } },
                { "Australia/Lord_Howe", "15 2 * * *", "2026-10-02T12:00:00Z", {
                        { "2026-10-02T15:45:00Z", 0 }, { "2026-10-03T15:30:00Z", GAP },
                        { "2026-10-04T15:15:00Z", 0 } } },
                { "Australia/Lord_Howe", "0,30 2 * * *", "2026-10-02T12:00:00Z", {
                        { "2026-10-02T15:30:00Z", 0 }, { "2026-10-02T16:00:00Z", 0 },
                        { "2026-10-03T15:30:00Z", GAP | MERGED } } },
                { "Australia/Lord_Howe", "45 1 * * *", "2026-04-03T12:00:00Z", {
                        { "2026-04-03T14:45:00Z", 0 }, { "2026-04-04T14:45:00Z", 0 },
                        { "2026-04-05T15:15:00Z", 0 } } },
                { "Australia/Lord_Howe", "*/30 * * * *", "2026-04-04T13:50:00Z", {
                        { "2026-04-04T14:00:00Z", 0 }, { "2026-04-04T14:30:00Z", 0 },
                        { "2026-04-04T15:00:00Z", REPEAT }, { "2026-04-04T15:30:00Z", 0 },
                        { "2026-04-04T16:00:00Z", 0 }, { "2026-04-04T16:30:00Z", 0 } } },
                { "Australia/Lord_Howe", "*/15 * * * *", "2026-10-03T15:00:00Z", {
                        { "2026-10-03T15:15:00Z", 0 }, { "2026-10-03T15:30:00Z", 0 },
                        { "2026-10-03T15:45:00Z", 0 }, { "2026-10-03T16:00:00Z", 0 } } },
                { "Australia/Lord_Howe", "0 * * * *", "2026-04-04T13:30:00Z", {
                        { "2026-04-04T14:00:00Z", 0 }, { "2026-04-04T15:30:00Z", 0 },
                        { "2026-04-04T16:30:00Z", 0 }, { "2026-04-04T17:30:00Z", 0 } } },

                /* Asia/Kathmandu: +0545; on 1986-01-01 00:00 +0530 became 00:15 +0545. */
                { "Asia/Kathmandu", "0 0 * * *", "1985-12-30T00:00:00Z", {
                        { "1985-12-30T18:30:00Z", 0 }, { "1985-12-31T18:30:00Z", GAP },
                        { "1986-01-01T18:15:00Z", 0 } } },
                { "Asia/Kathmandu", "10 0 * * *", "1985-12-30T00:00:00Z", {
                        { "1985-12-30T18:40:00Z", 0 }, { "1985-12-31T18:30:00Z", GAP },
                        { "1986-01-01T18:25:00Z", 0 } } },
                { "Asia/Kathmandu", "15 0 * * *", "1985-12-30T00:00:00Z", {
                        { "1985-12-30T18:45:00Z", 0 }, { "1985-12-31T18:30:00Z", 0 },
                        { "1986-01-01T18:30:00Z", 0 } } },
                { "Asia/Kathmandu", "0 * * * *", "1985-12-31T17:00:00Z", {
                        { "1985-12-31T17:30:00Z", 0 }, { "1985-12-31T19:15:00Z", 0 },
                        { "1985-12-31T20:15:00Z", 0 } } },
                { "Asia/Kathmandu", "30 2 * * *", "2026-06-01T00:00:00Z", {
                        { "2026-06-01T20:45:00Z", 0 }, { "2026-06-02T20:45:00Z", 0 } } },

                /* Pacific/Apia skipped 2011-12-30 entirely: 12-29 23:59:59 -10 → 12-31 00:00 +14.
                 * The daily job of the 30th fires when the gap ends, 2011-12-31 00:00 local. */
                { "Pacific/Apia", "0 9 * * *", "2011-12-28T12:00:00Z", {
                        { "2011-12-28T19:00:00Z", 0 }, { "2011-12-29T19:00:00Z", 0 },
                        { "2011-12-30T10:00:00Z", GAP }, { "2011-12-30T19:00:00Z", 0 } } },
                { "Pacific/Apia", "0 0 * * *", "2011-12-28T12:00:00Z", {
                        { "2011-12-29T10:00:00Z", 0 }, { "2011-12-30T10:00:00Z", GAP | MERGED },
                        { "2011-12-31T10:00:00Z", 0 }, { "2012-01-01T10:00:00Z", 0 } } },
                { "Pacific/Apia", "0 */6 * * *", "2011-12-29T12:00:00Z", {
                        { "2011-12-29T16:00:00Z", 0 }, { "2011-12-29T22:00:00Z", 0 },
                        { "2011-12-30T04:00:00Z", 0 }, { "2011-12-30T10:00:00Z", 0 },
                        { "2011-12-30T16:00:00Z", 0 } } },

                /* America/Santiago changes at midnight: 2026-04-05 00:00 -03 → 04-04 23:00 -04;
                 * 2026-09-06 00:00 -04 → 01:00 -03. */
                { "America/Santiago", "0 0 * * *", "2026-09-04T12:00:00Z", {
                        { "2026-09-05T04:00:00Z", 0 }, { "2026-09-06T04:00:00Z", GAP },
                        { "2026-09-07T03:00:00Z", 0 }, { "2026-09-08T03:00:00Z", 0 } } },
                { "America/Santiago", "30 23 * * *", "2026-04-03T12:00:00Z", {
                        { "2026-04-04T02:30:00Z", 0 }, { "2026-04-05T02:30:00Z", 0 },
                        { "2026-04-06T03:30:00Z", 0 }, { "2026-04-07T03:30:00Z", 0 } } },
                { "America/Santiago", "*/30 * * * *", "2026-04-05T01:30:00Z", {
                        { "2026-04-05T02:00:00Z", 0 }, { "2026-04-05T02:30:00Z", 0 },
                        { "2026-04-05T03:00:00Z", REPEAT }, { "2026-04-05T03:30:00Z", REPEAT },
                        { "2026-04-05T04:00:00Z", 0 }, { "2026-04-05T04:30:00Z", 0 } } },
                { "America/Santiago", "0 * * * *", "2026-09-06T02:30:00Z", {
                        { "2026-09-06T03:00:00Z", 0 }, { "2026-09-06T04:00:00Z", 0 },
                        { "2026-09-06T05:00:00Z", 0 } } },

                { "UTC", "30 2 * * *", "2026-03-07T00:00:00Z", {
                        { "2026-03-07T02:30:00Z", 0 }, { "2026-03-08T02:30:00Z", 0 },
                        { "2026-03-09T02:30:00Z", 0 } } },
                { "UTC", "*/30 * * * *", "2026-11-01T00:50:00Z", {
                        { "2026-11-01T01:00:00Z", 0 }, { "2026-11-01T01:30:00Z", 0 },
                        { "2026-11-01T02:00:00Z", 0 } } },
                /* A loaded "UTC" zone takes the general path; same answers. */
                { "Etc/UTC", "30 2 * * *", "2026-03-07T00:00:00Z", {
                        { "2026-03-07T02:30:00Z", 0 }, { "2026-03-08T02:30:00Z", 0 } } },
                { "Etc/UTC", "0 0 1 1 *", "2198-06-01T00:00:00Z", {
                        { "2199-01-01T00:00:00Z", 0 }, { "ERANGE", 0 } } },
                { "America/New_York", "0 0 1 1 *", "2198-06-01T00:00:00Z", {
                        { "2199-01-01T05:00:00Z", 0 }, { "ERANGE", 0 } } },
                { "America/New_York", "0 * 1 1 *", "2199-01-01T20:00:00Z", {
                        { "2199-01-01T21:00:00Z", 0 }, { "2199-01-01T22:00:00Z", 0 } } },
        };

        check_next_cases(cases, ELEMENTSOF(cases));
}

/* The scheduled local time is reported, also when the firing moved. */
TEST(next_dst_local) {
        const Tz *tz = load_zone("America/New_York");
        CronExpr e = parse("30 2 * * *");
        CronFiring f;

        ASSERT_OK(cronexpr_next(&e, tz, ts("2026-03-07T12:00:00Z"), &f));
        ASSERT_EQ(f.t, ts("2026-03-08T07:00:00Z"));
        ASSERT_EQ(f.local, ts("2026-03-08T02:30:00Z"));
        ASSERT_EQ(f.flags, GAP);

        e = parse("0 * * * *");
        ASSERT_OK(cronexpr_next(&e, tz, ts("2026-11-01T05:30:00Z"), &f));
        ASSERT_EQ(f.t, ts("2026-11-01T06:00:00Z"));
        ASSERT_EQ(f.local, ts("2026-11-01T01:00:00Z"));
        ASSERT_EQ(f.flags, REPEAT);
        tz_free((Tz *) tz);
}

/* ---- calendar checks ------------------------------------------------------------------ */

TEST(check_satisfiable) {
        static const struct {
                const char *s;
                int r;
        } cases[] = {
                { "0 0 30 2 *", -ERANGE },
                { "0 0 31 4,6,9,11 *", -ERANGE },
                { "0 0 31 2 FRI", 0 },          /* OR: Fridays in February */
                { "0 0 29 2 *", 0 },
                { "0 0 * 2 MON#5", 0 },
                { "0 0 0 ? 2 MON#5 2017-2019", -ERANGE },
                { "0 0 0 29 2 ? 2100", -ERANGE },
                { "0 0 0 29 2 ? 2100-2104", 0 },
                { "0 0 L-30 2 *", -ERANGE },
                { "0 0 L-28 2 *", 0 },          /* Feb 1st of leap years */
                { "0 0 30W 2 *", -ERANGE },
                { "0 0 ? 2 5#5", 0 },
                { "0 0 ? 4 MON#6", -EINVAL },
                { "0 0 0 * * * 2199", 0 },
                { "@every 1s", 0 },
                { "* * * * *", 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                CronExpr e;
                int r;

                r = cronexpr_parse(cases[i].s, NULL, &e, NULL, NULL);
                if (r == 0)
                        r = cronexpr_check_satisfiable(&e);
                if (r != cases[i].r)
                        TEST_FAIL("'%s': %d, want %d", cases[i].s, r, cases[i].r);
        }
}

/* Day d of month m, with any weekday, a weekday list, or a year: satisfiable exactly when
 * some year in range has that day (the common cases skip the search). */
TEST(check_satisfiable_days) {
        static const int max_day[13] = { 0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

        for (int m = 1; m <= 12; m++)
                for (int d = 1; d <= 31; d++) {
                        char s[64];
                        CronExpr e;

                        (void) snprintf(s, sizeof(s), "0 0 %d %d *", d, m);
                        e = parse(s);
                        if (cronexpr_check_satisfiable(&e) != (d <= max_day[m] ? 0 : -ERANGE))
                                TEST_FAIL("'%s'", s);
                        (void) snprintf(s, sizeof(s), "0 0 0 %d %d ? 2023", d, m);
                        e = parse(s);
                        if (cronexpr_check_satisfiable(&e) !=
                            (d <= (m == 2 ? 28 : max_day[m]) ? 0 : -ERANGE))
                                TEST_FAIL("'%s'", s);
                }
        for (int w = 0; w < 7; w++) {
                char s[64];
                CronExpr e;

                (void) snprintf(s, sizeof(s), "*/5 1-3 * 2 %d", w);
                e = parse(s);
                ASSERT_OK(cronexpr_check_satisfiable(&e));
        }
}

TEST(check_satisfiable_fast) {
        CronExpr e = parse("0 0 31 4,6,9,11 *");
        struct timespec a, b;
        int n = 200;

        clock_gettime(CLOCK_MONOTONIC, &a);
        for (int i = 0; i < n; i++)
                ASSERT_EQ(cronexpr_check_satisfiable(&e), -ERANGE);
        clock_gettime(CLOCK_MONOTONIC, &b);
        double per = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n;
        fprintf(stderr, "  check_satisfiable worst case: %.1f us\n", per / 1e3);
        ASSERT_TRUE(per < 1e6);         /* < 1 ms, even under sanitizers */
}

TEST(matches) {
        CronExpr e = parse("30 2 * * MON-FRI");
        Civil c = { .year = 2026, .month = 1, .day = 5, .hour = 2, .minute = 30 };

        ASSERT_TRUE(cronexpr_matches(&e, &c));
        c.day = 4;                      /* Sunday */
        ASSERT_TRUE(!cronexpr_matches(&e, &c));
        c.day = 5, c.second = 1;
        ASSERT_TRUE(!cronexpr_matches(&e, &c));
        c.second = 0, c.month = 13;
        ASSERT_TRUE(!cronexpr_matches(&e, &c));
        c.month = 2, c.day = 30;
        ASSERT_TRUE(!cronexpr_matches(&e, &c));
        c = (Civil) { .year = 2200, .month = 1, .day = 1, .hour = 2, .minute = 30 };
        ASSERT_TRUE(!cronexpr_matches(&e, &c));

        e = parse("0 0 LW * *");
        c = (Civil) { .year = 2026, .month = 1, .day = 30 };
        ASSERT_TRUE(cronexpr_matches(&e, &c));
        c.day = 31;
        ASSERT_TRUE(!cronexpr_matches(&e, &c));

        e = parse("@every 1m");
        c = (Civil) { .year = 2026, .month = 1, .day = 1 };
        ASSERT_TRUE(!cronexpr_matches(&e, &c));
}

/* ---- brute-force oracle ----------------------------------------------------------------- */

static uint64_t rng_state = UINT64_C(0x9e3779b97f4a7c15);

static uint64_t rng(void) {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return rng_state;
}

static int rnd(int n) {
        return (int) (rng() % (uint64_t) n);
}

/* The day rules written the slow, obvious way, independent of cronexpr_next.c. */
static bool naive_day(const CronExpr *e, int32_t y, int m, int d) {
        int n = days_in_month(y, m);
        int wd = weekday_from_days(days_from_civil(y, m, d));
        bool dom = e->dom >> d & 1, dow = e->dow >> wd & 1;

        for (int k = 0; k <= 30; k++)
                if ((e->dom_last >> k & 1) && d == n - k)
                        dom = true;
        for (int k = 1; k <= n; k++) {
                int best = -1;

                if (!(e->dom_weekday >> k & 1))
                        continue;
                /* the weekday of this month closest to day k */
                for (int j = 1; j <= n; j++) {
                        int w = weekday_from_days(days_from_civil(y, m, j));

                        if (w >= 1 && w <= 5 && (best < 0 || abs(j - k) < abs(best - k)))
                                best = j;
                }
                if (best == d)
                        dom = true;
        }
        if (e->dom_last_weekday) {
                int j = n;

                while (weekday_from_days(days_from_civil(y, m, j)) % 6 == 0)
                        j--;
                if (j == d)
                        dom = true;
        }
        if (e->dow_nth[wd] >> ((d - 1) / 7 + 1) & 1)
                dow = true;
        if ((e->dow_last >> wd & 1) && d + 7 > n)
                dow = true;
        return e->flags & (CRON_DOM_STAR | CRON_DOW_STAR) ? dom && dow : dom || dow;
}

static bool naive_matches(const CronExpr *e, const Civil *c) {
        int i = c->year - e->year_base;

        if (i >= 64 && e->year_period)
                i = 64 - e->year_period + (i - 64) % e->year_period;
        return i >= 0 && i < 64 && c->year <= CRON_YEAR_MAX && (e->year >> i & 1) &&
               (e->month >> c->month & 1) && (e->hour >> c->hour & 1) &&
               (e->minute >> c->minute & 1) && (e->second >> c->second & 1) &&
               naive_day(e, c->year, c->month, c->day);
}

static void random_field(char *buf, size_t size, int f) {
        static const char *const dom_extra[] = { "L", "L-3", "LW", "15W", "1W", "31W", "L-30" };
        static const char *const dow_extra[] = { "MON#1", "FRI#3", "5L", "SUNL", "2#5", "SAT#2" };
        static const int lo[] = { 0, 0, 0, 1, 1, 0 }, hi[] = { 59, 59, 23, 31, 12, 7 };
        size_t n = 0;
        int items = 1 + rnd(3);

        if (rnd(4) == 0) {
                snprintf(buf, size, "%s", (f == 3 || f == 5) && rnd(2) ? "?" : "*");
                return;
        }
        for (int i = 0; i < items; i++) {
                int a = lo[f] + rnd(hi[f] - lo[f] + 1), b = lo[f] + rnd(hi[f] - lo[f] + 1);
                int k = rnd(8);

                if (f == 3 && k == 7)
                        n += (size_t) snprintf(buf + n, size - n, "%s", dom_extra[rnd(7)]);
                else if (f == 5 && k == 7)
                        n += (size_t) snprintf(buf + n, size - n, "%s", dow_extra[rnd(6)]);
                else if (k <= 2)
                        n += (size_t) snprintf(buf + n, size - n, "%d", a);
                else if (k <= 4)
                        n += (size_t) snprintf(buf + n, size - n, "%d-%d", a, b);
                else if (k == 5)
                        n += (size_t) snprintf(buf + n, size - n, "*/%d",
                                               1 + rnd(f == 5 ? 7 : hi[f] - lo[f] + 1));
                else
                        n += (size_t) snprintf(buf + n, size - n, "%d-%d/%d", a, b, 1 + rnd(7));
                if (i + 1 < items)
                        n += (size_t) snprintf(buf + n, size - n, ",");
        }
}

static void random_expr(char *buf, size_t size, bool *ret_seconds) {
        char f[6][64];
        bool seconds = rnd(4) == 0;

        for (int i = 0; i < 6; i++)
                random_field(f[i], sizeof(f[i]), i);
        if (seconds)
                snprintf(buf, size, "%s %s %s %s %s %s", f[0], f[1], f[2], f[3], f[4], f[5]);
        else
                snprintf(buf, size, "%s %s %s %s %s", f[1], f[2], f[3], f[4], f[5]);
        *ret_seconds = seconds;
}

/* Chain cronexpr_next() in UTC against a scan of every second (or minute) of a window,
 * visiting each day and testing each time with the naive matcher. */
TEST(next_oracle) {
        int compared = 0;

        for (int iter = 0; iter < 400; iter++) {
                const char *msg = NULL;
                char s[512];
                bool seconds;
                CronExpr e;
                int64_t t, day0, day_end;
                int found = 0, want_max = 40;

                random_expr(s, sizeof(s), &seconds);
                if (cronexpr_parse(s, "oracle", &e, NULL, &msg) < 0)
                        TEST_FAIL("'%s': %s", s, msg);

                /* Start anywhere 1970..2199, sometimes close to the end of the range. */
                t = rnd(8) == 0 ? ts("2199-06-01T00:00:00Z") + rnd(200 * 86400) :
                                  (int64_t) (rng() % (uint64_t) INT64_C(7258118400));
                day0 = t / 86400 * 86400;
                day_end = day0 + (seconds ? 3 : 400) * INT64_C(86400);

                int64_t cur = t;
                for (int64_t day = day0; day < day_end && found < want_max; day += 86400) {
                        Civil c;

                        civil_from_seconds(day, &c);
                        if (c.year > CRON_YEAR_MAX)
                                break;
                        bool daymatch = naive_day(&e, c.year, c.month, c.day);
                        Civil probe = c;
                        probe.hour = 12;
                        ASSERT_EQ(cronexpr_matches(&e, &probe), naive_matches(&e, &probe));
                        if (!daymatch)
                                continue;
                        for (int sod = 0; sod < 86400 && found < want_max;
                             sod += seconds ? 1 : 60) {
                                int64_t x = day + sod;
                                CronFiring f;

                                if (x <= t)
                                        continue;
                                civil_from_seconds(x, &c);
                                if (!naive_matches(&e, &c))
                                        continue;
                                ASSERT_TRUE(cronexpr_matches(&e, &c));
                                if (cronexpr_next(&e, NULL, cur, &f) < 0 || f.t != x)
                                        TEST_FAIL("'%s' after %" PRId64 ": next %" PRId64
                                                  ", oracle %" PRId64, s, cur, f.t, x);
                                cur = x;
                                found++;
                                compared++;
                        }
                }
                if (found < want_max) {
                        /* Nothing else in the window: next must be beyond it. */
                        CronFiring f;
                        int r = cronexpr_next(&e, NULL, cur, &f);

                        if (r == 0 && f.t < day_end)
                                TEST_FAIL("'%s' after %" PRId64 ": next %" PRId64
                                          " but oracle found none", s, cur, f.t);
                        if (r < 0 && r != -ERANGE)
                                TEST_FAIL("'%s': %d", s, r);
                }
                if (found > 0)
                        ASSERT_OK(cronexpr_check_satisfiable(&e));
        }
        fprintf(stderr, "  %d firings compared\n", compared);
        ASSERT_TRUE(compared > 1000);
}

/* Random bytes and random token soup: never crash, errors point into the string, and
 * whatever parses gives consistent answers. */
TEST(fuzz_smoke) {
        static const char *const tokens[] = {
                "*", "?", "/", "-", ",", " ", "L", "W", "H", "#", "(", ")", "@", "0", "1", "5",
                "7", "12", "31", "59", "60", "99999", "JAN", "fri", "MON", "every", "daily", "L-",
                "LW", "H(", "1h", "s", "\t", "2199", "1970",
        };
        const Tz *ny = load_zone("America/New_York");

        for (int iter = 0; iter < 200000; iter++) {
                char s[96];
                size_t n = 0;
                int len = rnd(20);
                const char *msg = NULL;
                unsigned col = 0;
                CronExpr e;
                CronFiring f;

                if (iter % 4 == 0) {
                        for (int i = 0; i < len * 3 && n < sizeof(s) - 1; i++)
                                s[n++] = (char) (1 + rnd(255));
                } else {
                        for (int i = 0; i < len; i++) {
                                const char *tok = tokens[rnd((int) ELEMENTSOF(tokens))];
                                size_t k = strlen(tok);

                                if (n + k >= sizeof(s))
                                        break;
                                memcpy(s + n, tok, k);
                                n += k;
                        }
                }
                s[n] = '\0';

                if (cronexpr_parse(s, "fuzz", &e, &col, &msg) < 0) {
                        ASSERT_TRUE(msg != NULL);
                        ASSERT_TRUE(col >= 1 && col <= n + 1);
                        continue;
                }
                (void) cronexpr_check_satisfiable(&e);
                int64_t t = (int64_t) (rng() % (uint64_t) INT64_C(7258118400));
                if (cronexpr_next(&e, NULL, t, &f) == 0) {
                        Civil c;

                        ASSERT_TRUE(f.t > t);
                        civil_from_seconds(f.t, &c);
                        ASSERT_TRUE((e.flags & CRON_EVERY) || cronexpr_matches(&e, &c));
                }
                if (cronexpr_next(&e, ny, t, &f) == 0)
                        ASSERT_TRUE(f.t > t);
        }
        tz_free((Tz *) ny);
}

TESTS_MAIN
