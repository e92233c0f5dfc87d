/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "parse.h"
#include "tests.h"
#include "utf8.h"

TEST(durations) {
        static const struct {
                const char *s;
                int r;
                usec_t v;
        } cases[] = {
                { "0", 0, 0 },
                { "90s", 0, 90 * USEC_PER_SEC },
                { "1h30m", 0, 5400 * USEC_PER_SEC },
                { "2d", 0, 2 * 86400 * USEC_PER_SEC },
                { "1w", 0, 7 * 86400 * USEC_PER_SEC },
                { "500ms", 0, 500 * USEC_PER_MSEC },
                { "1m30s250ms", 0, 90 * USEC_PER_SEC + 250 * USEC_PER_MSEC },
                { "7us", 0, 7 },
                { "", -EINVAL, 0 },
                { "10", -EINVAL, 0 },
                { "s", -EINVAL, 0 },
                { "1x", -EINVAL, 0 },
                { "-1s", -EINVAL, 0 },
                { "1 s", -EINVAL, 0 },
                { "99999999999999999999s", -ERANGE, 0 },
                { "18446744073709551615w", -ERANGE, 0 },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                usec_t v = 0;
                int r = parse_duration(cases[i].s, &v);

                if (r != cases[i].r)
                        TEST_FAIL("parse_duration(\"%s\") = %d, expected %d", cases[i].s, r, cases[i].r);
                if (r == 0)
                        ASSERT_EQ(v, cases[i].v);
        }
}

TEST(integers) {
        uint64_t u;
        int i;

        ASSERT_EQ(parse_uint64("42", 100, &u), 0);
        ASSERT_EQ(u, 42);
        ASSERT_EQ(parse_uint64("101", 100, &u), -ERANGE);
        ASSERT_EQ(parse_uint64("4x", 100, &u), -EINVAL);
        ASSERT_EQ(parse_uint64("", 100, &u), -EINVAL);
        ASSERT_EQ(parse_uint64("18446744073709551616", UINT64_MAX, &u), -ERANGE);
        ASSERT_EQ(parse_int("-20", -20, 19, &i), 0);
        ASSERT_EQ(i, -20);
        ASSERT_EQ(parse_int("-21", -20, 19, &i), -ERANGE);
        ASSERT_EQ(parse_int("19", -20, 19, &i), 0);
        ASSERT_EQ(parse_int("+1", -20, 19, &i), -EINVAL);
        ASSERT_EQ(parse_int("-", -20, 19, &i), -EINVAL);
        ASSERT_EQ(parse_int("-2147483648", INT32_MIN, 0, &i), 0);
        ASSERT_EQ(i, INT32_MIN);
}

TEST(dates) {
        int32_t y;
        int m, d;

        ASSERT_EQ(parse_date("2026-12-25", &y, &m, &d), 0);
        ASSERT_EQ(y, 2026);
        ASSERT_EQ(m, 12);
        ASSERT_EQ(d, 25);
        ASSERT_EQ(parse_date("2028-02-29", &y, &m, &d), 0);
        ASSERT_EQ(parse_date("2026-02-29", &y, &m, &d), -EINVAL);
        ASSERT_EQ(parse_date("2026-13-01", &y, &m, &d), -EINVAL);
        ASSERT_EQ(parse_date("2026-1-01", &y, &m, &d), -EINVAL);
        ASSERT_EQ(parse_date("2026-12-25x", &y, &m, &d), -EINVAL);
}

TEST(timestamps) {
        int64_t t;
        bool abs;

        ASSERT_EQ(parse_timestamp("2026-11-23T06:00:00Z", &t, &abs), 0);
        ASSERT_EQ(t, 1795413600);
        ASSERT_TRUE(abs);
        ASSERT_EQ(parse_timestamp("2026-11-23T01:00:00-05:00", &t, &abs), 0);
        ASSERT_EQ(t, 1795413600);
        ASSERT_TRUE(abs);
        ASSERT_EQ(parse_timestamp("2026-11-23T06:00", &t, &abs), 0);
        ASSERT_EQ(t, 1795413600);
        ASSERT_TRUE(!abs);
        ASSERT_EQ(parse_timestamp("2026-11-23 06:00:00", &t, &abs), 0);
        ASSERT_EQ(t, 1795413600);
        ASSERT_EQ(parse_timestamp("2026-11-23", &t, &abs), 0);
        ASSERT_EQ(t, 1795392000);
        ASSERT_TRUE(!abs);
        ASSERT_EQ(parse_timestamp("@1795413600", &t, &abs), 0);
        ASSERT_EQ(t, 1795413600);
        ASSERT_TRUE(abs);
        ASSERT_EQ(parse_timestamp("2026-11-23T25:00", &t, &abs), -EINVAL);
        ASSERT_EQ(parse_timestamp("2026-11-23T06:00+5", &t, &abs), -EINVAL);
        ASSERT_EQ(parse_timestamp("yesterday", &t, &abs), -EINVAL);
}

TEST(names) {
        ASSERT_TRUE(parse_name_ok("my-bucket.logs", ".-_", 255));
        ASSERT_TRUE(parse_name_ok("eu-west-1", "-_", 64));
        ASSERT_TRUE(!parse_name_ok("", "-_", 64));
        ASSERT_TRUE(!parse_name_ok(NULL, "-_", 64));
        ASSERT_TRUE(!parse_name_ok("eu west", "-_", 64));
        ASSERT_TRUE(!parse_name_ok("a/b", ".-_", 255));
        ASSERT_TRUE(!parse_name_ok("abcd", "", 3));
}

TEST(utf8) {
        ASSERT_EQ(utf8_valid_len((const unsigned char *) "a", 1), 1);
        ASSERT_EQ(utf8_valid_len((const unsigned char *) "", 1), 1);           /* NUL */
        ASSERT_EQ(utf8_valid_len((const unsigned char *) "\xc3\xa9", 2), 2);     /* é */
        ASSERT_EQ(utf8_valid_len((const unsigned char *) "\xe2\x82\xac", 3), 3); /* € */
        ASSERT_EQ(utf8_valid_len((const unsigned char *) "\xf0\x9f\x98\x80", 4), 4);
        ASSERT_EQ(utf8_valid_len((const unsigned char *) "\xe2\x82\xac", 2), 0); /* cut short */
        ASSERT_EQ(utf8_valid_len((const unsigned char *) "\x80", 1), 0);         /* continuation */
        ASSERT_EQ(utf8_valid_len((const unsigned char *) "\xc0\xaf", 2), 0);     /* overlong */
        ASSERT_EQ(utf8_valid_len((const unsigned char *) "\xed\xa0\x80", 3), 0); /* surrogate */
        ASSERT_EQ(utf8_valid_len((const unsigned char *) "\xf4\x90\x80\x80", 4), 0); /* > U+10FFFF */
}

TESTS_MAIN
