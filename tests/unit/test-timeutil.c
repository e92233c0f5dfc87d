/* SPDX-License-Identifier: MIT */
#include <time.h>

#include "tests.h"
#include "timeutil.h"

TEST(days_roundtrip_against_glibc) {
        /* Every day from 1900 to 2300 against timegm/gmtime_r. */
        for (int64_t d = days_from_civil(1900, 1, 1); d <= days_from_civil(2300, 12, 31); d++) {
                time_t t = (time_t) (d * 86400);
                struct tm tm;
                int32_t y;
                int m, dd;

                ASSERT_TRUE(gmtime_r(&t, &tm));
                civil_from_days(d, &y, &m, &dd);
                ASSERT_EQ(y, tm.tm_year + 1900);
                ASSERT_EQ(m, tm.tm_mon + 1);
                ASSERT_EQ(dd, tm.tm_mday);
                ASSERT_EQ(weekday_from_days(d), tm.tm_wday);
                ASSERT_EQ(days_from_civil(y, m, dd), d);
        }
}

TEST(leap_years) {
        ASSERT_TRUE(is_leap_year(2000));
        ASSERT_TRUE(!is_leap_year(2100));
        ASSERT_TRUE(is_leap_year(2028));
        ASSERT_TRUE(!is_leap_year(2027));
        ASSERT_EQ(days_in_month(2028, 2), 29);
        ASSERT_EQ(days_in_month(2100, 2), 28);
        ASSERT_EQ(days_in_month(2026, 4), 30);
        ASSERT_EQ(days_in_month(2026, 12), 31);
}

TEST(civil_seconds) {
        Civil c;

        civil_from_seconds(-1, &c);
        ASSERT_EQ(c.year, 1969);
        ASSERT_EQ(c.month, 12);
        ASSERT_EQ(c.day, 31);
        ASSERT_EQ(c.hour, 23);
        ASSERT_EQ(c.minute, 59);
        ASSERT_EQ(c.second, 59);
        ASSERT_EQ(c.wday, 3);
        ASSERT_EQ(civil_to_seconds(&c), -1);

        civil_from_seconds(1795392000, &c); /* 2026-11-23T00:00:00Z, a Monday */
        ASSERT_EQ(c.year, 2026);
        ASSERT_EQ(c.month, 11);
        ASSERT_EQ(c.day, 23);
        ASSERT_EQ(c.wday, 1);
}

TEST(rfc3339) {
        char u[RFC3339_UTC_MAX], l[RFC3339_LOCAL_MAX];

        ASSERT_STREQ(format_rfc3339_utc(1795410000, u), "2026-11-23T05:00:00Z");
        ASSERT_STREQ(format_rfc3339_utc(0, u), "1970-01-01T00:00:00Z");
        ASSERT_STREQ(format_rfc3339_utc(-1, u), "1969-12-31T23:59:59Z");
        ASSERT_STREQ(format_rfc3339_utc(-62135596800, u), "0001-01-01T00:00:00Z");
        ASSERT_STREQ(format_rfc3339_utc(253402300799, u), "9999-12-31T23:59:59Z");
        ASSERT_STREQ(format_rfc3339_utc(253402300800, u), "10000-01-01T00:00:00Z");
        ASSERT_STREQ(format_rfc3339_offset(1795410000, -5 * 3600, l), "2026-11-23T00:00:00-05:00");
        ASSERT_STREQ(format_rfc3339_offset(1795410000, 5 * 3600 + 45 * 60, l),
                     "2026-11-23T10:45:00+05:45");
        ASSERT_STREQ(format_rfc3339_offset(0, -(17 * 60 + 32), l), "1969-12-31T23:42:28-00:17:32");
}

TESTS_MAIN
