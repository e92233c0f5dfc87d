/* SPDX-License-Identifier: MIT */
/* common/tz*.c: known values for unusual zones, POSIX TZ strings, hand-made and corrupt
 * TZif files, and a cross-check of every system zone against glibc's localtime_r() and
 * mktime(). Setting TZ here is fine: only the library must not. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "timeutil.h"
#include "tz.h"
#include "tz_internal.h"        /* the table itself, to visit every transition */
#include "tests.h"

#define SYSTEM_TZDIR "/usr/share/zoneinfo"
#define DAY INT64_C(86400)
#define CYCLE (INT64_C(146097) * DAY)   /* 400 Gregorian years */

/* Civil seconds: a UTC instant, or a local time (timeutil.h "local seconds"). */
static int64_t at(int y, int mo, int d, int h, int mi, int s) {
        return days_from_civil(y, mo, d) * DAY + h * 3600 + mi * 60 + s;
}

static Tz *load(const char *name) {
        Tz *tz = NULL;

        ASSERT_OK(tz_load(name, SYSTEM_TZDIR, &tz));
        ASSERT_TRUE(tz);
        return tz;
}

static const char *fmt(int64_t t, char buf[static RFC3339_UTC_MAX]) {
        if (t == INT64_MIN || t == INT64_MAX)
                return t == INT64_MIN ? "-inf" : "+inf";
        return format_rfc3339_utc(t, buf);
}

/* ---- known values -------------------------------------------------------------------- */

#define NONE INT64_C(1)                 /* start/end not checked */

typedef struct OffsetCase {
        const char *zone;
        int64_t t;
        int32_t utoff;
        bool isdst;
        const char *abbr;
        int64_t start, end;
} OffsetCase;

static void check_offset_case(const OffsetCase *c) {
        char b1[RFC3339_UTC_MAX], b2[RFC3339_UTC_MAX];
        Tz *tz = load(c->zone);
        TzOffset o;

        tz_offset_at(tz, c->t, &o);
        fprintf(stderr, "  %s %s: %d %s [%s, ", c->zone, fmt(c->t, b1), o.utoff, o.abbr,
                fmt(o.start, b2));
        fprintf(stderr, "%s)\n", fmt(o.end, b1));
        ASSERT_EQ(o.utoff, c->utoff);
        ASSERT_EQ(o.isdst, c->isdst);
        ASSERT_STREQ(o.abbr, c->abbr);
        if (c->start != NONE)
                ASSERT_EQ(o.start, c->start);
        if (c->end != NONE)
                ASSERT_EQ(o.end, c->end);
        ASSERT_EQ(tz_local_seconds(tz, c->t), c->t + c->utoff);
        tz_free(tz);
}

TEST(offsets_known) {
        const OffsetCase cases[] = {
                { "America/New_York", at(2026, 1, 15, 12, 0, 0), -18000, false, "EST",
                  at(2025, 11, 2, 6, 0, 0), at(2026, 3, 8, 7, 0, 0) },
                { "America/New_York", at(2026, 3, 8, 6, 59, 59), -18000, false, "EST",
                  NONE, at(2026, 3, 8, 7, 0, 0) },
                { "America/New_York", at(2026, 3, 8, 7, 0, 0), -14400, true, "EDT",
                  at(2026, 3, 8, 7, 0, 0), at(2026, 11, 1, 6, 0, 0) },
                { "America/New_York", at(2026, 11, 1, 6, 0, 0), -18000, false, "EST",
                  at(2026, 11, 1, 6, 0, 0), NONE },
                /* EWT → EPT changed only the name: one interval from 1942 to 1945. */
                { "America/New_York", at(1945, 8, 14, 22, 59, 59), -14400, true, "EWT",
                  at(1942, 2, 9, 7, 0, 0), at(1945, 9, 30, 6, 0, 0) },
                { "America/New_York", at(1945, 8, 14, 23, 0, 0), -14400, true, "EPT",
                  at(1942, 2, 9, 7, 0, 0), at(1945, 9, 30, 6, 0, 0) },
                { "Europe/London", at(2026, 6, 1, 0, 0, 0), 3600, true, "BST",
                  at(2026, 3, 29, 1, 0, 0), at(2026, 10, 25, 1, 0, 0) },
                { "Europe/London", at(2026, 10, 25, 1, 0, 0), 0, false, "GMT",
                  at(2026, 10, 25, 1, 0, 0), NONE },
                /* British Standard Time 1968-71: isdst flips, the offset does not. */
                { "Europe/London", at(1968, 10, 26, 22, 59, 59), 3600, true, "BST",
                  at(1968, 2, 18, 2, 0, 0), at(1971, 10, 31, 2, 0, 0) },
                { "Europe/London", at(1968, 10, 26, 23, 0, 0), 3600, false, "BST",
                  at(1968, 2, 18, 2, 0, 0), at(1971, 10, 31, 2, 0, 0) },
                /* Ireland's "negative DST": winter GMT is the isdst type. */
                { "Europe/Dublin", at(2026, 1, 1, 0, 0, 0), 0, true, "GMT",
                  at(2025, 10, 26, 1, 0, 0), at(2026, 3, 29, 1, 0, 0) },
                { "Asia/Kathmandu", at(1985, 12, 31, 18, 29, 59), 19800, false, "+0530",
                  NONE, at(1985, 12, 31, 18, 30, 0) },
                { "Asia/Kathmandu", at(2026, 6, 1, 0, 0, 0), 20700, false, "+0545",
                  at(1985, 12, 31, 18, 30, 0), INT64_MAX },
                { "Australia/Lord_Howe", at(2026, 7, 1, 0, 0, 0), 37800, false, "+1030",
                  at(2026, 4, 4, 15, 0, 0), at(2026, 10, 3, 15, 30, 0) },
                { "Australia/Lord_Howe", at(2026, 10, 3, 15, 30, 0), 39600, true, "+11",
                  at(2026, 10, 3, 15, 30, 0), NONE },
                { "Pacific/Apia", at(2011, 12, 30, 9, 59, 59), -36000, true, "-10",
                  at(2011, 9, 24, 14, 0, 0), at(2011, 12, 30, 10, 0, 0) },
                { "Pacific/Apia", at(2011, 12, 30, 10, 0, 0), 50400, true, "+14",
                  at(2011, 12, 30, 10, 0, 0), at(2012, 3, 31, 14, 0, 0) },
                { "America/Santiago", at(2026, 7, 1, 0, 0, 0), -14400, false, "-04",
                  at(2026, 4, 5, 3, 0, 0), at(2026, 9, 6, 4, 0, 0) },
                /* Past the table (2037 in "fat" files): the footer rule. */
                { "America/New_York", at(2150, 7, 1, 0, 0, 0), -14400, true, "EDT",
                  at(2150, 3, 8, 7, 0, 0), at(2150, 11, 1, 6, 0, 0) },
                { "America/New_York", at(2300, 7, 15, 0, 0, 0), -14400, true, "EDT",
                  at(2300, 3, 11, 7, 0, 0), at(2300, 11, 4, 6, 0, 0) },
                { "America/New_York", at(2300, 1, 15, 0, 0, 0), -18000, false, "EST",
                  NONE, at(2300, 3, 11, 7, 0, 0) },
                { "America/Santiago", at(2150, 7, 1, 0, 0, 0), -14400, false, "-04",
                  at(2150, 4, 5, 3, 0, 0), at(2150, 9, 6, 4, 0, 0) },
                { "Australia/Lord_Howe", at(2300, 1, 1, 0, 0, 0), 39600, true, "+11",
                  at(2299, 9, 30, 15, 30, 0), at(2300, 3, 31, 15, 0, 0) },
                /* Past the first expanded 400-year cycle: folded back by whole cycles. */
                { "America/New_York", at(2500, 7, 1, 0, 0, 0), -14400, true, "EDT",
                  at(2500, 3, 14, 7, 0, 0), at(2500, 11, 7, 6, 0, 0) },
                { "America/New_York", at(3001, 7, 1, 0, 0, 0), -14400, true, "EDT",
                  at(3001, 3, 8, 7, 0, 0), at(3001, 11, 1, 6, 0, 0) },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                check_offset_case(&cases[i]);
}

typedef struct ResolveCase {
        const char *zone;
        int64_t local;
        int n;
        int64_t t0, t1;                 /* n >= 1, n == 2 */
        int64_t transition;             /* n != 1 */
        int32_t before, after;          /* n != 1 */
} ResolveCase;

static void check_resolve(const Tz *tz, const ResolveCase *c) {
        char b1[RFC3339_UTC_MAX];
        TzResolved r;

        tz_resolve(tz, c->local, &r);
        if (r.n != c->n)
                TEST_FAIL("%s local %s: n = %d, expected %d", c->zone, fmt(c->local, b1), r.n,
                          c->n);
        if (c->n >= 1)
                ASSERT_EQ(r.t[0], c->t0);
        if (c->n == 2)
                ASSERT_EQ(r.t[1], c->t1);
        if (c->n != 1) {
                ASSERT_EQ(r.transition, c->transition);
                ASSERT_EQ(r.off_before, c->before);
                ASSERT_EQ(r.off_after, c->after);
        }
}

/* A local time in a gap, repeated, or unique. */
#define GAP(z, l, tr, b, a) { z, l, 0, 0, 0, tr, b, a }
#define TWO(z, l, t0, t1, tr, b, a) { z, l, 2, t0, t1, tr, b, a }
#define ONE(z, l, t0) { z, l, 1, t0, 0, 0, 0, 0 }
#define NY "America/New_York"
#define LHI "Australia/Lord_Howe"

TEST(resolve_known) {
        const int64_t ny_spring = at(2026, 3, 8, 7, 0, 0), ny_fall = at(2026, 11, 1, 6, 0, 0);
        const int64_t apia = at(2011, 12, 30, 10, 0, 0), apia_1892 = at(1892, 7, 4, 11, 26, 56);
        const int64_t ktm = at(1985, 12, 31, 18, 30, 0), lhi = at(2026, 10, 3, 15, 30, 0);
        const ResolveCase cases[] = {
                GAP(NY, at(2026, 3, 8, 2, 30, 0), ny_spring, -18000, -14400),
                GAP(NY, at(2026, 3, 8, 2, 0, 0), ny_spring, -18000, -14400),
                GAP(NY, at(2026, 3, 8, 2, 59, 59), ny_spring, -18000, -14400),
                ONE(NY, at(2026, 3, 8, 1, 59, 59), ny_spring - 1),
                ONE(NY, at(2026, 3, 8, 3, 0, 0), ny_spring),
                TWO(NY, at(2026, 11, 1, 1, 30, 0), at(2026, 11, 1, 5, 30, 0),
                    at(2026, 11, 1, 6, 30, 0), ny_fall, -14400, -18000),
                TWO(NY, at(2026, 11, 1, 1, 0, 0), ny_fall - 3600, ny_fall, ny_fall, -14400, -18000),
                ONE(NY, at(2026, 11, 1, 0, 59, 59), ny_fall - 3601),
                ONE(NY, at(2026, 11, 1, 2, 0, 0), ny_fall + 3600),
                /* Name-only or isdst-only changes: neither gap nor overlap. */
                ONE(NY, at(1945, 8, 14, 19, 0, 0), at(1945, 8, 14, 23, 0, 0)),
                ONE(NY, at(1945, 8, 14, 18, 59, 59), at(1945, 8, 14, 22, 59, 59)),
                ONE("Europe/London", at(1968, 10, 27, 0, 0, 0), at(1968, 10, 26, 23, 0, 0)),
                GAP("Europe/London", at(2026, 3, 29, 1, 30, 0), at(2026, 3, 29, 1, 0, 0), 0, 3600),
                TWO("Europe/London", at(2026, 10, 25, 1, 30, 0), at(2026, 10, 25, 0, 30, 0),
                    at(2026, 10, 25, 1, 30, 0), at(2026, 10, 25, 1, 0, 0), 3600, 0),
                /* +05:30 → +05:45: a 15-minute gap. */
                GAP("Asia/Kathmandu", at(1986, 1, 1, 0, 10, 0), ktm, 19800, 20700),
                ONE("Asia/Kathmandu", at(1986, 1, 1, 0, 15, 0), ktm),
                /* 30-minute DST. */
                GAP(LHI, at(2026, 10, 4, 2, 15, 0), lhi, 37800, 39600),
                ONE(LHI, at(2026, 10, 4, 2, 30, 0), lhi),
                TWO(LHI, at(2026, 4, 5, 1, 45, 0), at(2026, 4, 4, 14, 45, 0),
                    at(2026, 4, 4, 15, 15, 0), at(2026, 4, 4, 15, 0, 0), 39600, 37800),
                /* Samoa skipped Friday 2011-12-30 entirely... */
                GAP("Pacific/Apia", at(2011, 12, 30, 0, 0, 0), apia, -36000, 50400),
                GAP("Pacific/Apia", at(2011, 12, 30, 12, 0, 0), apia, -36000, 50400),
                GAP("Pacific/Apia", at(2011, 12, 30, 23, 59, 59), apia, -36000, 50400),
                ONE("Pacific/Apia", at(2011, 12, 29, 23, 59, 59), apia - 1),
                ONE("Pacific/Apia", at(2011, 12, 31, 0, 0, 0), apia),
                /* ... and lived 1892-07-04 twice (LMT +12:33:04 → LMT -11:26:56). */
                TWO("Pacific/Apia", at(1892, 7, 4, 12, 0, 0), at(1892, 7, 3, 23, 26, 56),
                    at(1892, 7, 4, 23, 26, 56), apia_1892, 45184, -41216),
                TWO("Pacific/Apia", at(1892, 7, 4, 0, 0, 0), apia_1892 - DAY, apia_1892,
                    apia_1892, 45184, -41216),
                /* Santiago changes at 24:00. */
                GAP("America/Santiago", at(2026, 9, 6, 0, 30, 0), at(2026, 9, 6, 4, 0, 0),
                    -14400, -10800),
                TWO("America/Santiago", at(2026, 4, 4, 23, 30, 0), at(2026, 4, 5, 2, 30, 0),
                    at(2026, 4, 5, 3, 30, 0), at(2026, 4, 5, 3, 0, 0), -10800, -14400),
                /* The footer rule, and instants folded back by whole 400-year cycles. */
                GAP(NY, at(2300, 3, 11, 2, 30, 0), at(2300, 3, 11, 7, 0, 0), -18000, -14400),
                TWO(NY, at(2500, 11, 7, 1, 30, 0), at(2500, 11, 7, 5, 30, 0),
                    at(2500, 11, 7, 6, 30, 0), at(2500, 11, 7, 6, 0, 0), -14400, -18000),
                GAP(NY, at(3001, 3, 8, 2, 30, 0), at(3001, 3, 8, 7, 0, 0), -18000, -14400),
                ONE(NY, at(3001, 7, 1, 12, 0, 0), at(3001, 7, 1, 16, 0, 0)),
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                Tz *tz = load(cases[i].zone);

                check_resolve(tz, &cases[i]);
                tz_free(tz);
        }
}

TEST(utc) {
        const Tz *utc = tz_utc();
        TzResolved r;
        TzOffset o;
        Tz *tz;

        ASSERT_STREQ(tz_name(utc), "UTC");
        tz_offset_at(utc, 1234567890, &o);
        ASSERT_EQ(o.utoff, 0);
        ASSERT_EQ(o.isdst, false);
        ASSERT_STREQ(o.abbr, "UTC");
        ASSERT_EQ(o.start, INT64_MIN);
        ASSERT_EQ(o.end, INT64_MAX);
        ASSERT_EQ(tz_local_seconds(utc, 42), 42);
        tz_resolve(utc, 42, &r);
        ASSERT_EQ(r.n, 1);
        ASSERT_EQ(r.t[0], 42);
        ASSERT_TRUE(tz_free(NULL) == NULL);
        ASSERT_TRUE(tz_free((Tz *) tz_utc()) == NULL);
        ASSERT_STREQ(tz_name(tz_utc()), "UTC");

        /* Extreme instants stay in range and inside their interval. */
        tz = load("America/New_York");
        for (int i = 0; i < 4; i++) {
                int64_t t = (int64_t[]) { INT64_MIN, INT64_MAX, INT64_MIN / 2, INT64_MAX / 2 }[i];

                tz_offset_at(tz, t, &o);
                ASSERT_TRUE(t >= o.start && (t < o.end || o.end == INT64_MAX));
                (void) tz_local_seconds(tz, t);
                tz_resolve(tz, t, &r);
                ASSERT_TRUE(r.n >= 0 && r.n <= 2);
        }
        tz_free(tz);

        /* From the file, and built in when there is none. */
        tz = load("Etc/UTC");
        tz_offset_at(tz, 0, &o);
        ASSERT_EQ(o.utoff, 0);
        ASSERT_STREQ(o.abbr, "UTC");
        tz_free(tz);
        for (int i = 0; i < 4; i++) {
                const char *name = (const char *[]) { "UTC", "Etc/UTC", "GMT", "Etc/GMT" }[i];

                ASSERT_OK(tz_load(name, "/nonexistent", &tz));
                ASSERT_STREQ(tz_name(tz), name);
                tz_offset_at(tz, 1700000000, &o);
                ASSERT_EQ(o.utoff, 0);
                ASSERT_STREQ(o.abbr, i < 2 ? "UTC" : "GMT");
                ASSERT_EQ(o.start, INT64_MIN);
                tz_free(tz);
        }
}

TEST(load_errors) {
        Tz *tz = NULL;
        TzOffset o;

        ASSERT_EQ(tz_load("Mars/Olympus_Mons", SYSTEM_TZDIR, &tz), -ENOENT);
        ASSERT_EQ(tz_load("America", SYSTEM_TZDIR, &tz), -ENOENT);       /* a directory */
        ASSERT_EQ(tz_load("America/New_York/x", SYSTEM_TZDIR, &tz), -ENOENT);
        ASSERT_EQ(tz_load("/nonexistent/zone", NULL, &tz), -ENOENT);
        ASSERT_EQ(tz_load("../zoneinfo/UTC", SYSTEM_TZDIR, &tz), -EINVAL);
        ASSERT_EQ(tz_load("America/../../../etc/passwd", SYSTEM_TZDIR, &tz), -EINVAL);
        ASSERT_EQ(tz_load("America/..", SYSTEM_TZDIR, &tz), -EINVAL);
        ASSERT_EQ(tz_load("/usr/share/zoneinfo/../zoneinfo/UTC", NULL, &tz), -EINVAL);
        ASSERT_EQ(tz_load("", SYSTEM_TZDIR, &tz), -EINVAL);
        ASSERT_EQ(tz_load(":", SYSTEM_TZDIR, &tz), -EINVAL);
        ASSERT_EQ(tz_load(NULL, SYSTEM_TZDIR, &tz), -EINVAL);
        ASSERT_TRUE(tz == NULL);
        if (access(SYSTEM_TZDIR "/right/UTC", R_OK) == 0)       /* leap seconds */
                ASSERT_EQ(tz_load("right/UTC", SYSTEM_TZDIR, &tz), -EOPNOTSUPP);

        /* "..." and "a..b" are ordinary names. */
        ASSERT_EQ(tz_load("America/...", SYSTEM_TZDIR, &tz), -ENOENT);
        ASSERT_EQ(tz_load("America/a..b", SYSTEM_TZDIR, &tz), -ENOENT);

        /* Absolute paths, and TZ's ":" prefix. */
        ASSERT_OK(tz_load(SYSTEM_TZDIR "/Europe/London", "/nonexistent", &tz));
        ASSERT_STREQ(tz_name(tz), SYSTEM_TZDIR "/Europe/London");
        tz_offset_at(tz, at(2026, 6, 1, 0, 0, 0), &o);
        ASSERT_STREQ(o.abbr, "BST");
        tz_free(tz);
        ASSERT_OK(tz_load(":Europe/London", SYSTEM_TZDIR, &tz));
        ASSERT_STREQ(tz_name(tz), "Europe/London");
        tz_free(tz);
}

/* ---- POSIX TZ strings ---------------------------------------------------------------- */

TEST(posix_strings) {
        static const char *const bad[] = {
                "EST", "EST5EDT,M3.2.0", "<AB>5", "AB5", "EST25", "EST5EDT,M13.1.0,M11.1.0",
                "EST5EDT,M3.0.0,M11.1.0", "EST5EDT,M3.2.7,M11.1.0", "EST5EDT,J0,J365",
                "EST5EDT,366,0", "EST5EDT,M3.2.0/168,M11.1.0", "EST5EDT,M3.2.0,M11.1.0,",
                "EST5:60", "<+05>", "<+0545-5:45", "EST5 ", "ESTABCDEFGHIJKLMNOP5",
                "EST5EDT,M3.2.0/1:2:3:4,M11.1.0",
        };
        TzOffset o;
        Tz *tz;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                if (tz_load(bad[i], "/nonexistent", &tz) != -ENOENT)
                        TEST_FAIL("'%s' should be refused", bad[i]);

        /* The same rules as New York's footer. */
        ASSERT_OK(tz_load("EST5EDT,M3.2.0,M11.1.0", SYSTEM_TZDIR, &tz));
        ASSERT_STREQ(tz_name(tz), "EST5EDT,M3.2.0,M11.1.0");
        {
                const ResolveCase c[] = {
                        GAP("EST5EDT", at(2026, 3, 8, 2, 30, 0), at(2026, 3, 8, 7, 0, 0),
                            -18000, -14400),
                        TWO("EST5EDT", at(2026, 11, 1, 1, 30, 0), at(2026, 11, 1, 5, 30, 0),
                            at(2026, 11, 1, 6, 30, 0), at(2026, 11, 1, 6, 0, 0), -14400, -18000),
                        GAP("EST5EDT", at(2300, 3, 11, 2, 30, 0), at(2300, 3, 11, 7, 0, 0),
                            -18000, -14400),
                };

                for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
                        check_resolve(tz, &c[i]);
        }
        tz_offset_at(tz, at(2026, 7, 1, 0, 0, 0), &o);
        ASSERT_STREQ(o.abbr, "EDT");
        ASSERT_EQ(o.start, at(2026, 3, 8, 7, 0, 0));
        ASSERT_EQ(o.end, at(2026, 11, 1, 6, 0, 0));
        tz_free(tz);

        /* Quoted names, a fixed offset with minutes. */
        ASSERT_OK(tz_load("<+0545>-5:45", SYSTEM_TZDIR, &tz));
        tz_offset_at(tz, at(2026, 1, 1, 0, 0, 0), &o);
        ASSERT_EQ(o.utoff, 20700);
        ASSERT_STREQ(o.abbr, "+0545");
        ASSERT_EQ(o.start, INT64_MIN);
        ASSERT_EQ(o.end, INT64_MAX);
        tz_free(tz);

        /* A dst without rules gets the US rules; offset one hour ahead. */
        ASSERT_OK(tz_load("AAA5BBB", SYSTEM_TZDIR, &tz));
        tz_offset_at(tz, at(2026, 7, 1, 0, 0, 0), &o);
        ASSERT_EQ(o.utoff, -14400);
        ASSERT_STREQ(o.abbr, "BBB");
        ASSERT_EQ(o.start, at(2026, 3, 8, 7, 0, 0));
        tz_free(tz);

        /* Transition times past 24 h and negative ones (RFC 8536), Jn and n dates. */
        ASSERT_OK(tz_load("XXX-2YYY,J60/-1,300/50", SYSTEM_TZDIR, &tz));
        tz_offset_at(tz, at(2024, 6, 1, 0, 0, 0), &o);
        /* J60 is March 1 even in a leap year; -1 h: Feb 29 23:00 local = 21:00Z. Day 300
         * (from 0, with Feb 29) of 2024 is Oct 27; +50 h → Oct 29 02:00 local (+3) = 23:00Z
         * on Oct 28. */
        ASSERT_EQ(o.utoff, 10800);
        ASSERT_EQ(o.start, at(2024, 2, 29, 21, 0, 0));
        ASSERT_EQ(o.end, at(2024, 10, 28, 23, 0, 0));
        tz_free(tz);

        /* A change that lands in the next UTC year: DST from Jan 1 00:00 (-3 = 03:00Z) to
         * Dec 31 23:00 (-2 = Jan 1 01:00Z), so standard time only 01:00Z-03:00Z on Jan 1.
         * glibc is no oracle here: it evaluates both rules in the UTC year of the instant
         * and so reports standard time from 00:00Z. */
        ASSERT_OK(tz_load("AAA3BBB,J1/0,J365/23", SYSTEM_TZDIR, &tz));
        tz_offset_at(tz, at(2026, 1, 1, 0, 59, 59), &o);
        ASSERT_STREQ(o.abbr, "BBB");
        ASSERT_EQ(o.start, at(2025, 1, 1, 3, 0, 0));
        ASSERT_EQ(o.end, at(2026, 1, 1, 1, 0, 0));
        tz_offset_at(tz, at(2026, 1, 1, 1, 0, 0), &o);
        ASSERT_STREQ(o.abbr, "AAA");
        ASSERT_EQ(o.end, at(2026, 1, 1, 3, 0, 0));
        tz_free(tz);
}

/* ---- hand-made TZif files ------------------------------------------------------------ */

typedef struct MkType {
        int32_t utoff;
        uint8_t isdst;
        const char *abbr;
} MkType;

typedef struct MkZone {
        char version;                   /* 0: version 1 only; '2', '3', '4' */
        size_t n_times, n_types;
        const int64_t *times;
        const uint8_t *idx;
        const MkType *types;
        const char *footer;             /* version 2+: without its newlines */
        uint32_t leapcnt;               /* that many zero leap records */
} MkZone;

static uint8_t *put32(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t) (v >> 24), p[1] = (uint8_t) (v >> 16), p[2] = (uint8_t) (v >> 8);
        p[3] = (uint8_t) v;
        return p + 4;
}

static uint8_t *put64(uint8_t *p, int64_t v) {
        return put32(put32(p, (uint32_t) ((uint64_t) v >> 32)), (uint32_t) v);
}

/* Header and data block; a "slim" empty block (one type, one char) if !full. */
static uint8_t *mk_block(uint8_t *p, const MkZone *z, char version, int timesize, bool full) {
        size_t nchars = 0;

        memcpy(p, "TZif", 4);
        p[4] = (uint8_t) version;
        memset(p + 5, 0, 15);
        for (size_t i = 0; full && i < z->n_types; i++)
                nchars += strlen(z->types[i].abbr) + 1;
        p = put32(p + 20, 0);                                   /* isutcnt */
        p = put32(p, 0);                                        /* isstdcnt */
        p = put32(p, full ? z->leapcnt : 0);
        p = put32(p, full ? (uint32_t) z->n_times : 0);
        p = put32(p, full ? (uint32_t) z->n_types : 1);
        p = put32(p, full ? (uint32_t) nchars : 1);
        if (!full) {
                memset(p, 0, 7);
                return p + 7;
        }
        for (size_t i = 0; i < z->n_times; i++)
                p = timesize == 8 ? put64(p, z->times[i]) : put32(p, (uint32_t) z->times[i]);
        if (z->n_times > 0)
                memcpy(p, z->idx, z->n_times);
        p += z->n_times;
        nchars = 0;
        for (size_t i = 0; i < z->n_types; i++) {
                p = put32(p, (uint32_t) z->types[i].utoff);
                *p++ = z->types[i].isdst;
                *p++ = (uint8_t) nchars;
                nchars += strlen(z->types[i].abbr) + 1;
        }
        for (size_t i = 0; i < z->n_types; i++) {
                memcpy(p, z->types[i].abbr, strlen(z->types[i].abbr) + 1);
                p += strlen(z->types[i].abbr) + 1;
        }
        memset(p, 0, z->leapcnt * (size_t) (timesize + 4));
        return p + z->leapcnt * (size_t) (timesize + 4);
}

static size_t mk_tzif(uint8_t buf[static 4096], const MkZone *z) {
        uint8_t *p = buf;

        if (z->version == 0)
                return (size_t) (mk_block(p, z, 0, 4, true) - buf);
        p = mk_block(p, z, z->version, 4, false);
        p = mk_block(p, z, z->version, 8, true);
        *p++ = '\n';
        memcpy(p, z->footer, strlen(z->footer));
        p += strlen(z->footer);
        *p++ = '\n';
        return (size_t) (p - buf);
}

static void write_file(const char *dir, const char *name, const void *data, size_t size) {
        char path[PATH_MAX];
        int fd;

        ASSERT_TRUE((size_t) snprintf(path, sizeof(path), "%s/%s", dir, name) < sizeof(path));
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, data, size), (ssize_t) size);
        ASSERT_OK(close(fd));
}

static size_t read_file(const char *path, uint8_t *buf, size_t cap) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        ASSERT_TRUE(fd >= 0);
        n = read(fd, buf, cap);
        ASSERT_TRUE(n > 0 && (size_t) n < cap);
        ASSERT_OK(close(fd));
        return (size_t) n;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st, (void) flag, (void) ftw;
        return remove(path);
}

static void rm_rf(const char *dir) {
        ASSERT_OK(nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS));
}

static int load_made(const char *dir, const MkZone *z, Tz **ret) {
        uint8_t buf[4096];

        write_file(dir, "Made", buf, mk_tzif(buf, z));
        return tz_load("Made", dir, ret);
}

TEST(made_files) {
        char dir[] = "/tmp/test-tz-XXXXXX";
        TzResolved r;
        TzOffset o;
        Tz *tz;

        ASSERT_TRUE(mkdtemp(dir));

        /* Version 1: 32-bit times, no footer. */
        {
                const MkType types[] = {
                        { 1000, 0, "LMT" }, { 3600, 0, "AAA" }, { 7200, 1, "BBB" },
                };
                const int64_t times[] = { -100000, 0, 10 * DAY };
                const uint8_t idx[] = { 1, 2, 1 };
                const MkZone z = { 0, 3, 3, times, idx, types, NULL, 0 };

                ASSERT_OK(load_made(dir, &z, &tz));
                tz_offset_at(tz, -200000, &o);
                ASSERT_EQ(o.utoff, 1000);
                ASSERT_STREQ(o.abbr, "LMT");
                ASSERT_EQ(o.end, -100000);
                tz_offset_at(tz, 5, &o);
                ASSERT_EQ(o.utoff, 7200);
                ASSERT_EQ(o.isdst, true);
                ASSERT_EQ(o.start, 0);
                ASSERT_EQ(o.end, 10 * DAY);
                tz_offset_at(tz, 100 * DAY, &o);
                ASSERT_STREQ(o.abbr, "AAA");
                ASSERT_EQ(o.end, INT64_MAX);
                tz_free(tz);
        }

        /* Adjacent changes 10 minutes apart, a 24 h overlap, a 26 h gap, a name-only change,
         * a duplicate type, and a local time that occurs three times. */
        {
                const MkType types[] = {
                        { 0, 0, "Z" }, { 3600, 0, "P1" }, { 7200, 0, "P2" }, { 43200, 0, "P12" },
                        { -43200, 0, "M12" }, { 50400, 0, "P14" }, { 50400, 1, "D14" },
                        { 50400, 1, "D14" }, { 7200, 0, "Q2" }, { 3600, 0, "Q1" },
                };
                const int64_t T = 100 * DAY;
                const int64_t times[] = {
                        T, T + 600,                     /* +1 h, then +2 h */
                        2 * T,                          /* +12 h */
                        3 * T,                          /* -12 h: local day repeated */
                        4 * T,                          /* +14 h: 26 h skipped */
                        5 * T,                          /* same offset, isdst, new name */
                        6 * T,                          /* identical type: no change */
                        7 * T - DAY, 7 * T,             /* +2 h, +1 h for 20 min, then 0 */
                        7 * T + 1200,
                };
                const uint8_t idx[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 0 };
                const MkZone z = { '2', 10, 10, times, idx, types, "", 0 };

                ASSERT_OK(load_made(dir, &z, &tz));
                tz_resolve(tz, T + 1800, &r);                   /* first gap */
                ASSERT_EQ(r.n, 0);
                ASSERT_EQ(r.transition, T);
                ASSERT_EQ(r.off_before, 0);
                ASSERT_EQ(r.off_after, 3600);
                tz_resolve(tz, T + 3600 + 300, &r);             /* inside the 10 minutes */
                ASSERT_EQ(r.n, 1);
                ASSERT_EQ(r.t[0], T + 300);
                tz_resolve(tz, T + 5400, &r);                   /* second gap */
                ASSERT_EQ(r.n, 0);
                ASSERT_EQ(r.transition, T + 600);
                ASSERT_EQ(r.off_before, 3600);
                ASSERT_EQ(r.off_after, 7200);

                tz_resolve(tz, 3 * T, &r);                      /* 24 h overlap */
                ASSERT_EQ(r.n, 2);
                ASSERT_EQ(r.t[0], 3 * T - 43200);
                ASSERT_EQ(r.t[1], 3 * T + 43200);
                ASSERT_EQ(r.transition, 3 * T);
                ASSERT_EQ(r.off_before, 43200);
                ASSERT_EQ(r.off_after, -43200);

                tz_resolve(tz, 4 * T + 13 * 3600, &r);          /* 26 h gap */
                ASSERT_EQ(r.n, 0);
                ASSERT_EQ(r.transition, 4 * T);
                ASSERT_EQ(r.off_before, -43200);
                ASSERT_EQ(r.off_after, 50400);

                tz_offset_at(tz, 5 * T + 1, &o);                /* name-only change */
                ASSERT_STREQ(o.abbr, "D14");
                ASSERT_EQ(o.isdst, true);
                ASSERT_EQ(o.start, 4 * T);
                ASSERT_EQ(o.end, 7 * T - DAY);
                tz_offset_at(tz, 5 * T - 1, &o);
                ASSERT_STREQ(o.abbr, "P14");
                ASSERT_EQ(o.end, 7 * T - DAY);
                tz_resolve(tz, 5 * T + 50400, &r);
                ASSERT_EQ(r.n, 1);
                ASSERT_EQ(r.t[0], 5 * T);

                /* 7T + 1 h 5 min local happens at +2 h, at +1 h and at 0: the first and the
                 * last are kept. */
                tz_resolve(tz, 7 * T + 3900, &r);
                ASSERT_EQ(r.n, 2);
                ASSERT_EQ(r.t[0], 7 * T + 3900 - 7200);
                ASSERT_EQ(r.t[1], 7 * T + 3900);
                ASSERT_EQ(r.transition, 7 * T + 1200);
                tz_free(tz);
        }

        /* Version 2, no transitions: the footer rule holds for all time. */
        {
                const MkType types[] = { { 3600, 0, "CET" } };
                const MkZone z = { '2', 0, 1, NULL, NULL, types, "CET-1CEST,M3.5.0,M10.5.0/3", 0 };

                ASSERT_OK(load_made(dir, &z, &tz));
                tz_offset_at(tz, at(2026, 7, 1, 0, 0, 0), &o);
                ASSERT_EQ(o.utoff, 7200);
                ASSERT_STREQ(o.abbr, "CEST");
                ASSERT_EQ(o.start, at(2026, 3, 29, 1, 0, 0));
                ASSERT_EQ(o.end, at(2026, 10, 25, 1, 0, 0));
                tz_free(tz);
        }

        /* Version 3 with a table, then the footer; version 4 is read the same way. */
        for (char v = '3'; v <= '4'; v++) {
                const MkType types[] = { { -17762, 0, "LMT" }, { -18000, 0, "EST" } };
                const int64_t times[] = { at(1883, 11, 18, 17, 0, 0) };
                const uint8_t idx[] = { 1 };
                const MkZone z = { v, 1, 2, times, idx, types, "EST5EDT,M3.2.0,M11.1.0", 0 };

                ASSERT_OK(load_made(dir, &z, &tz));
                tz_offset_at(tz, at(1883, 1, 1, 0, 0, 0), &o);
                ASSERT_STREQ(o.abbr, "LMT");
                tz_offset_at(tz, at(2026, 7, 1, 0, 0, 0), &o);
                ASSERT_STREQ(o.abbr, "EDT");
                ASSERT_EQ(o.start, at(2026, 3, 8, 7, 0, 0));
                tz_free(tz);
        }

        rm_rf(dir);
}

/* ---- corrupt files ------------------------------------------------------------------- */

static uint64_t xorshift(uint64_t *s) {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        return *s;
}

/* Whatever loaded must behave: offsets inside their interval, resolve consistent. */
static void exercise(const Tz *tz, uint64_t *rng) {
        for (int i = 0; i < 16; i++) {
                int64_t t = (int64_t) (xorshift(rng) % (UINT64_C(1) << 36)) - (INT64_C(1) << 35);
                TzResolved r;
                TzOffset o;

                tz_offset_at(tz, t, &o);
                ASSERT_TRUE(t >= o.start && t < o.end && o.abbr);
                tz_resolve(tz, t + o.utoff, &r);
                ASSERT_TRUE(r.n >= 1 && r.n <= 2);
                for (int k = 0; k < r.n; k++)
                        ASSERT_EQ(tz_local_seconds(tz, r.t[k]), t + o.utoff);
        }
}

static void expect_bad(const char *dir, const MkZone *z, int expected) {
        Tz *tz = NULL;
        int r;

        r = load_made(dir, z, &tz);
        if (r != expected)
                TEST_FAIL("made file (footer '%s'): %d, expected %d", z->footer, r, expected);
        ASSERT_TRUE(tz == NULL);
}

TEST(corrupt_files) {
        static const char garbage[] = "This is not a time zone.\n";
        char dir[] = "/tmp/test-tz-XXXXXX", path[PATH_MAX];
        uint8_t orig[65536], buf[65536];
        uint64_t rng = 0x9e3779b97f4a7c15;
        size_t size, loaded = 0;
        Tz *tz = NULL;

        ASSERT_TRUE(mkdtemp(dir));
        (void) snprintf(path, sizeof(path), "%s/Bad", dir);
        write_file(dir, "Bad", garbage, sizeof(garbage) - 1);
        ASSERT_EQ(tz_load("Bad", dir, &tz), -EBADMSG);
        ASSERT_EQ(tz_load(path, NULL, &tz), -EBADMSG);
        write_file(dir, "Bad", "", 0);
        ASSERT_EQ(tz_load("Bad", dir, &tz), -EBADMSG);
        ASSERT_EQ(tz_load("/dev/null", NULL, &tz), -EBADMSG);

        /* Every proper prefix of a real file. */
        size = read_file(SYSTEM_TZDIR "/America/New_York", orig, sizeof(orig));
        for (size_t n = 0; n < size; n++) {
                write_file(dir, "Bad", orig, n);
                if (tz_load("Bad", dir, &tz) != -EBADMSG)
                        TEST_FAIL("prefix of %zu bytes accepted", n);
        }

        /* Too big: 1 MiB + 1. */
        {
                size_t big = 1024 * 1024 + 1;
                uint8_t *p = calloc(1, big);

                ASSERT_TRUE(p);
                memcpy(p, orig, size);
                write_file(dir, "Bad", p, big);
                free(p);
                ASSERT_EQ(tz_load("Bad", dir, &tz), -EBADMSG);
        }

        /* Hand-made invalid files. */
        {
                const MkType ok[] = { { 0, 0, "AAA" }, { 3600, 1, "BBB" } };
                const MkType big_off[] = { { 100000, 0, "AAA" } };
                const MkType bad_dst[] = { { 0, 2, "AAA" } };
                const MkType long_abbr[] = { { 0, 0, "ABCDEFGHIJKLMNOPQRSTUVWXYZ" } };
                const int64_t t2[] = { 1000, 1000 }, t1[] = { 1000 };
                const int64_t far[] = { (INT64_C(1) << 59) + 1 };
                const uint8_t i01[] = { 0, 1 }, i2[] = { 2 };

                expect_bad(dir, &(MkZone) { '1', 0, 2, NULL, NULL, ok, "", 0 }, -EBADMSG);
                expect_bad(dir, &(MkZone) { '2', 0, 0, NULL, NULL, ok, "", 0 }, -EBADMSG);
                expect_bad(dir, &(MkZone) { '2', 2, 2, t2, i01, ok, "", 0 }, -EBADMSG);
                expect_bad(dir, &(MkZone) { '2', 1, 2, t1, i2, ok, "", 0 }, -EBADMSG);
                expect_bad(dir, &(MkZone) { '2', 1, 2, far, i01, ok, "", 0 }, -EBADMSG);
                expect_bad(dir, &(MkZone) { '2', 0, 1, NULL, NULL, big_off, "", 0 }, -EBADMSG);
                expect_bad(dir, &(MkZone) { '2', 0, 1, NULL, NULL, bad_dst, "", 0 }, -EBADMSG);
                expect_bad(dir, &(MkZone) { '2', 0, 1, NULL, NULL, long_abbr, "", 0 }, -EBADMSG);
                expect_bad(dir, &(MkZone) { '2', 0, 2, NULL, NULL, ok, "XYZ", 0 }, -EBADMSG);
                expect_bad(dir, &(MkZone) { '2', 0, 2, NULL, NULL, ok, "AAA0BBB,M3.2.0", 0 },
                           -EBADMSG);
                expect_bad(dir, &(MkZone) { '2', 0, 2, NULL, NULL, ok, "", 1 }, -EOPNOTSUPP);
                expect_bad(dir, &(MkZone) { 0, 0, 2, NULL, NULL, ok, NULL, 1 }, -EOPNOTSUPP);
        }

        /* Abbreviation index out of range, abbreviation without its NUL, indicator of 2. */
        {
                const MkType ok[] = { { 0, 0, "AAA" } };
                uint8_t b[4096];
                size_t n = mk_tzif(b, &(MkZone) { 0, 0, 1, NULL, NULL, ok, NULL, 0 });

                b[44 + 5] = 4;                          /* desigidx == charcnt */
                write_file(dir, "Bad", b, n);
                ASSERT_EQ(tz_load("Bad", dir, &tz), -EBADMSG);
                b[44 + 5] = 0;
                b[44 + 6 + 3] = 'X';                    /* "AAAX", no NUL */
                write_file(dir, "Bad", b, n);
                ASSERT_EQ(tz_load("Bad", dir, &tz), -EBADMSG);
                b[44 + 6 + 3] = 0;
                write_file(dir, "Bad", b, n);
                ASSERT_OK(tz_load("Bad", dir, &tz));
                tz = tz_free(tz);
        }

        /* Random byte flips: never a crash, only 0, -EBADMSG or -EOPNOTSUPP. */
        for (int i = 0; i < 4000; i++) {
                int r;

                memcpy(buf, orig, size);
                for (int k = 1 + (int) (xorshift(&rng) % 4); k > 0; k--) {
                        size_t pos = xorshift(&rng) % size;

                        /* Mostly the header and the 64-bit part, where it matters. */
                        if (k % 2 == 0 && pos > 64)
                                pos = size - 1 - pos % (size / 2);
                        buf[pos] ^= (uint8_t) (1u << (xorshift(&rng) % 8));
                }
                write_file(dir, "Bad", buf, size);
                r = tz_load("Bad", dir, &tz);
                if (r == 0) {
                        exercise(tz, &rng);
                        tz = tz_free(tz);
                        loaded++;
                } else if (r != -EBADMSG && r != -EOPNOTSUPP)
                        TEST_FAIL("flip %d: unexpected %d", i, r);
        }
        fprintf(stderr, "  byte flips: %zu of 4000 still loaded and behaved\n", loaded);

        rm_rf(dir);
}

TEST(tzdir) {
        char dir[] = "/tmp/test-tz-XXXXXX", sub[PATH_MAX];
        uint8_t buf[65536];
        size_t size;
        TzOffset o;
        Tz *tz;

        ASSERT_TRUE(mkdtemp(dir));
        (void) snprintf(sub, sizeof(sub), "%s/Test", dir);
        ASSERT_OK(mkdir(sub, 0755));
        size = read_file(SYSTEM_TZDIR "/Asia/Kathmandu", buf, sizeof(buf));
        write_file(sub, "Zone", buf, size);

        ASSERT_OK(setenv("TZDIR", dir, 1));
        ASSERT_OK(tz_load("Test/Zone", NULL, &tz));
        tz_offset_at(tz, at(2026, 1, 1, 0, 0, 0), &o);
        ASSERT_EQ(o.utoff, 20700);
        tz_free(tz);
        ASSERT_EQ(tz_load("Europe/London", NULL, &tz), -ENOENT);
        ASSERT_EQ(tz_load("Test/Zone", SYSTEM_TZDIR, &tz), -ENOENT);    /* the argument wins */
        ASSERT_OK(unsetenv("TZDIR"));
        ASSERT_EQ(tz_load("Test/Zone", NULL, &tz), -ENOENT);
        ASSERT_OK(tz_load("Europe/London", NULL, &tz));
        tz_free(tz);

        rm_rf(dir);
}

/* After the first expanded cycle, answers repeat every 400 years, shifted exactly. */
TEST(cycle_fold) {
        static const char *const zones[] = {
                "America/New_York", "Australia/Lord_Howe", "America/Santiago", "Europe/Dublin",
                "Asia/Gaza", "America/Nuuk", "Asia/Kathmandu",
        };
        uint64_t rng = 12345;

        for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
                Tz *tz = load(zones[z]);

                for (int i = 0; i < 2000; i++) {
                        int64_t t = at(2450, 1, 1, 0, 0, 0) +
                                    (int64_t) (xorshift(&rng) % (uint64_t) CYCLE);
                        int64_t k = 1 + (int64_t) (xorshift(&rng) % 100000);
                        TzOffset a, b;
                        TzResolved ra, rb;

                        tz_offset_at(tz, t, &a);
                        tz_offset_at(tz, t + k * CYCLE, &b);
                        ASSERT_EQ(a.utoff, b.utoff);
                        ASSERT_EQ(a.isdst, b.isdst);
                        ASSERT_STREQ(a.abbr, b.abbr);
                        /* A fixed offset began in the table's time and never ends. */
                        ASSERT_EQ(a.start < at(2400, 1, 1, 0, 0, 0) ? a.start : a.start + k * CYCLE,
                                  b.start);
                        ASSERT_EQ(a.end == INT64_MAX ? a.end : a.end + k * CYCLE, b.end);
                        tz_resolve(tz, t + a.utoff, &ra);
                        tz_resolve(tz, t + a.utoff + k * CYCLE, &rb);
                        ASSERT_EQ(ra.n, rb.n);
                        for (int j = 0; j < ra.n; j++)
                                ASSERT_EQ(ra.t[j] + k * CYCLE, rb.t[j]);
                }
                tz_free(tz);
        }
}

/* ---- cross-check against glibc ------------------------------------------------------- */

typedef struct Stats {
        size_t zones, aliases, skipped, instants, transitions, renames, gaps, overlaps, mktimes;
        size_t mismatches;
} Stats;

typedef struct State {
        int32_t utoff;
        bool isdst;
        char abbr[16];
} State;

static void glibc_state(int64_t t, State *ret) {
        time_t tt = (time_t) t;
        struct tm tm;

        ASSERT_TRUE(localtime_r(&tt, &tm));
        *ret = (State) { .utoff = (int32_t) tm.tm_gmtoff, .isdst = tm.tm_isdst > 0 };
        (void) snprintf(ret->abbr, sizeof(ret->abbr), "%s", tm.tm_zone);
}

static void our_state(const Tz *tz, int64_t t, State *ret) {
        TzOffset o;

        tz_offset_at(tz, t, &o);
        *ret = (State) { .utoff = o.utoff, .isdst = o.isdst };
        (void) snprintf(ret->abbr, sizeof(ret->abbr), "%s", o.abbr);
}

static bool state_eq(const State *a, const State *b) {
        return a->utoff == b->utoff && a->isdst == b->isdst && strcmp(a->abbr, b->abbr) == 0;
}

/* One instant: same offset, isdst and abbreviation as glibc; t inside its interval; t is
 * among the instants of its own local time. */
static void check_instant(const Tz *tz, const char *zone, int64_t t, Stats *st) {
        char b[RFC3339_UTC_MAX];
        State ours, theirs;
        TzResolved r;
        TzOffset o;
        int64_t l;

        our_state(tz, t, &ours);
        glibc_state(t, &theirs);
        st->instants++;
        if (!state_eq(&ours, &theirs) && st->mismatches++ < 20)
                fprintf(stderr, "  MISMATCH %s at %s: ours %d %d %s, glibc %d %d %s\n", zone,
                        fmt(t, b), ours.utoff, ours.isdst, ours.abbr, theirs.utoff,
                        theirs.isdst, theirs.abbr);

        tz_offset_at(tz, t, &o);
        ASSERT_TRUE(t >= o.start && t < o.end);
        l = tz_local_seconds(tz, t);
        ASSERT_EQ(l, t + o.utoff);
        tz_resolve(tz, l, &r);
        if (!(r.n >= 1 && (r.t[0] == t || (r.n == 2 && r.t[1] == t))))
                TEST_FAIL("%s: %s not among the %d instants of its local time", zone, fmt(t, b),
                          r.n);
}

/* glibc's mktime() agrees on local times that occur once. */
static void check_mktime(const Tz *tz, const char *zone, int64_t t, Stats *st) {
        char b[RFC3339_UTC_MAX];
        time_t tt = (time_t) t;
        TzResolved r;
        struct tm tm;

        tz_resolve(tz, tz_local_seconds(tz, t), &r);
        if (r.n != 1)
                return;
        ASSERT_TRUE(localtime_r(&tt, &tm));
        tm.tm_isdst = -1;
        st->mktimes++;
        if (mktime(&tm) != tt && st->mismatches++ < 20)
                fprintf(stderr, "  MISMATCH %s: mktime(local of %s) differs\n", zone, fmt(t, b));
}

/* The gap or overlap of the change at T, if its neighbours are at least a day away. */
static void check_change(const Tz *tz, const char *zone, int64_t T, Stats *st) {
        int32_t d, before, after;
        TzOffset prev, cur;
        TzResolved r;

        tz_offset_at(tz, T - 1, &prev);
        tz_offset_at(tz, T, &cur);
        ASSERT_EQ(prev.end, T);
        ASSERT_EQ(cur.start, T);
        before = prev.utoff, after = cur.utoff;
        if (before == after)
                TEST_FAIL("%s: interval ends without an offset change", zone);
        d = after - before;
        if (prev.start != INT64_MIN && prev.start > T - abs(d) - DAY)
                return;
        if (cur.end != INT64_MAX && cur.end < T + abs(d) + DAY)
                return;

        for (int i = 0; i < 3; i++) {
                /* First, middle and last local second of the gap or overlap. */
                int64_t l = T + (d > 0 ? before : after) +
                            (int64_t[]) { 0, abs(d) / 2, abs(d) - 1 }[i];

                tz_resolve(tz, l, &r);
                ASSERT_EQ(r.n, d > 0 ? 0 : 2);
                ASSERT_EQ(r.transition, T);
                ASSERT_EQ(r.off_before, before);
                ASSERT_EQ(r.off_after, after);
                if (d < 0) {
                        ASSERT_EQ(r.t[0], l - before);
                        ASSERT_EQ(r.t[1], l - after);
                }
        }
        /* Just outside it, one instant each. */
        tz_resolve(tz, T + (d > 0 ? before : after) - 1, &r);
        ASSERT_EQ(r.n, 1);
        tz_resolve(tz, T + (d > 0 ? after : before), &r);
        ASSERT_EQ(r.n, 1);
        if (d > 0)
                st->gaps++;
        else
                st->overlaps++;
}

/* The first instant in (lo, hi] whose state differs from that at lo, by bisection. */
static int64_t bisect(const Tz *tz, bool glibc, int64_t lo, int64_t hi) {
        State s0, s;

        if (glibc)
                glibc_state(lo, &s0);
        else
                our_state(tz, lo, &s0);
        while (hi - lo > 1) {
                int64_t mid = lo + (hi - lo) / 2;

                if (glibc)
                        glibc_state(mid, &s);
                else
                        our_state(tz, mid, &s);
                if (state_eq(&s, &s0))
                        lo = mid;
                else
                        hi = mid;
        }
        return hi;
}

static void check_zone(const Tz *tz, const char *zone, int64_t from, int64_t to, int64_t step,
                       Stats *st) {
        State g0, o0, g, o;
        int64_t t, prev = from;
        size_t n = 0;

        /* Every change of ours, with its neighbours: of utoff through the intervals (folded
         * cycles included), of isdst or name only from the table itself. */
        for (t = from;;) {
                TzOffset off;

                tz_offset_at(tz, t, &off);
                if (off.end >= to)
                        break;
                t = off.end;
                for (int64_t d = -1; d <= 1; d++)
                        check_instant(tz, zone, t + d, st);
                check_change(tz, zone, t, st);
                st->transitions++;
        }
        for (size_t i = 0; i < tz->n_trans; i++) {
                const TzType *was = &tz->types[i > 0 ? tz->trans_type[i - 1] : tz->type0];

                t = tz->trans_at[i];
                if (t < from || t >= to || was->utoff != tz->types[tz->trans_type[i]].utoff)
                        continue;
                for (int64_t d = -1; d <= 1; d++)
                        check_instant(tz, zone, t + d, st);
                st->renames++;
        }

        /* A spread of instants at varying times of day; any change of state between two of
         * them, ours or glibc's (name-only changes included), is found by bisection. */
        glibc_state(from, &g0);
        our_state(tz, from, &o0);
        for (t = from; t < to; t += step, n++) {
                check_instant(tz, zone, t, st);
                if (n % 16 == 0)
                        check_mktime(tz, zone, t, st);
                glibc_state(t, &g);
                our_state(tz, t, &o);
                for (int side = 0; side < 2; side++) {
                        if (state_eq(side ? &o : &g, side ? &o0 : &g0))
                                continue;
                        int64_t c = bisect(tz, side == 0, prev, t);

                        check_instant(tz, zone, c - 1, st);
                        check_instant(tz, zone, c, st);
                }
                g0 = g, o0 = o, prev = t;
        }
}

static void set_tz(const char *value) {
        ASSERT_OK(setenv("TZ", value, 1));
        tzset();
}

static bool is_tzif(const char *path) {
        char magic[4] = {};
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        bool ok;

        if (fd < 0)
                return false;
        ok = read(fd, magic, 4) == 4 && memcmp(magic, "TZif", 4) == 0;
        (void) close(fd);
        return ok;
}

static void walk(const char *root, const char *rel, Stats *st) {
        struct dirent **names;
        char dir[PATH_MAX];
        int n;

        ASSERT_TRUE(snprintf(dir, sizeof(dir), "%s%s%s", root, *rel ? "/" : "", rel) <
                    (int) sizeof(dir));
        n = scandir(dir, &names, NULL, alphasort);
        ASSERT_TRUE(n >= 0);
        for (int i = 0; i < n; i++) {
                const char *name = names[i]->d_name;
                char sub[PATH_MAX], path[PATH_MAX];
                struct stat s;

                if (name[0] == '.' ||
                    (!*rel && (strcmp(name, "posix") == 0 || strcmp(name, "right") == 0))) {
                        free(names[i]);
                        continue;
                }
                ASSERT_TRUE(snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", name) <
                            (int) sizeof(sub));
                ASSERT_TRUE(snprintf(path, sizeof(path), "%s/%s", root, sub) < (int) sizeof(path));
                ASSERT_OK(lstat(path, &s));
                if (S_ISDIR(s.st_mode))
                        walk(root, sub, st);
                else if (S_ISLNK(s.st_mode))
                        st->aliases++;          /* same data under another name */
                else if (!S_ISREG(s.st_mode) || !is_tzif(path))
                        st->skipped++;          /* zone.tab, tzdata.zi, leapseconds, ... */
                else {
                        char tzenv[PATH_MAX + 1];
                        Tz *tz = load(sub);

                        ASSERT_TRUE(snprintf(tzenv, sizeof(tzenv), ":%s", sub) <
                                    (int) sizeof(tzenv));
                        set_tz(tzenv);
                        check_zone(tz, sub, at(1970, 1, 1, 0, 0, 0), at(2100, 1, 1, 0, 0, 0),
                                   3 * DAY + 4033, st);
                        tz_free(tz);
                        st->zones++;
                }
                free(names[i]);
        }
        free(names);
}

TEST(glibc_all_zones) {
        Stats st = {};

        ASSERT_OK(unsetenv("TZDIR"));
        walk(SYSTEM_TZDIR, "", &st);
        fprintf(stderr, "  %zu zones (%zu aliases, %zu other files skipped): %zu instants, "
                "%zu offset changes and %zu isdst/name-only changes, %zu gaps and %zu "
                "overlaps resolved, %zu mktime() calls; %zu mismatches\n", st.zones,
                st.aliases, st.skipped, st.instants, st.transitions, st.renames, st.gaps,
                st.overlaps, st.mktimes, st.mismatches);
        ASSERT_TRUE(st.zones > 300);
        ASSERT_EQ(st.mismatches, 0);
        set_tz("UTC");
}

/* POSIX strings (RFC 8536 forms included) against glibc's own parser, 1970-2100, and some
 * zones far into the future, where both use the footer rule. */
TEST(glibc_rules) {
        static const char *const strings[] = {
                "EST5EDT,M3.2.0,M11.1.0", "CET-1CEST,M3.5.0,M10.5.0/3", "<+0545>-5:45",
                "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", "<-04>4<-03>,M9.1.6/24,M4.1.6/24",
                "IST-1GMT0,M10.5.0,M3.5.0/1", "<-02>2<-01>,M3.5.0/-1,M10.5.0/0",
                "EET-2EEST,M3.4.4/50,M10.4.4/50", "<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45",
                "NZST-12NZDT,M9.5.0,M4.1.0/3", "XXX-2YYY,J60/-1,300/50",
                "CCC-1:02:03DDD-2:03:04,M4.1.0/-30,M9.5.6/150", "JST-9", "UTC0",
        };
        static const char *const zones[] = {
                "America/New_York", "Australia/Lord_Howe", "America/Santiago", "Europe/Dublin",
                "Asia/Gaza", "America/Nuuk", "Pacific/Auckland", "Europe/London",
        };
        Stats st = {};

        for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
                Tz *tz = load(strings[i]);

                set_tz(strings[i]);
                check_zone(tz, strings[i], at(1970, 1, 1, 0, 0, 0), at(2100, 1, 1, 0, 0, 0),
                           3 * DAY + 4033, &st);
                tz_free(tz);
        }
        for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
                char tzenv[64];
                Tz *tz = load(zones[i]);

                (void) snprintf(tzenv, sizeof(tzenv), ":%s", zones[i]);
                set_tz(tzenv);
                check_zone(tz, zones[i], at(2100, 1, 1, 0, 0, 0), at(3000, 1, 1, 0, 0, 0),
                           29 * DAY + 4033, &st);
                check_zone(tz, zones[i], at(99990, 1, 1, 0, 0, 0), at(100010, 1, 1, 0, 0, 0),
                           29 * DAY + 4033, &st);
                tz_free(tz);
        }
        fprintf(stderr, "  %zu rules and %zu far-future zones: %zu instants, %zu offset "
                "changes; %zu mismatches\n", sizeof(strings) / sizeof(strings[0]),
                sizeof(zones) / sizeof(zones[0]), st.instants, st.transitions, st.mismatches);
        ASSERT_EQ(st.mismatches, 0);
        set_tz("UTC");
}

TESTS_MAIN
