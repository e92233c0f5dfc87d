/* SPDX-License-Identifier: MIT */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "numfmt.h"
#include "tests.h"

static void check_int(long long v) {
        char want[32], got[FMT_INT_MAX];
        size_t n = fmt_int(got, v);

        (void) snprintf(want, sizeof(want), "%lld", v);
        ASSERT_STREQ(got, want);
        ASSERT_EQ(n, strlen(want));
}

static void check_uint(unsigned long long v) {
        char want[32], got[FMT_INT_MAX];
        size_t n = fmt_uint(got, v);

        (void) snprintf(want, sizeof(want), "%llu", v);
        ASSERT_STREQ(got, want);
        ASSERT_EQ(n, strlen(want));
}

TEST(integers_as_printf_writes_them) {
        static const long long edges[] = { 0, 1, -1, 9, 10, -10, 99, 100, 4294967295LL,
                                           -4294967296LL, LLONG_MAX, LLONG_MIN, LLONG_MIN + 1 };

        for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
                check_int(edges[i]);
                check_uint((unsigned long long) edges[i]);
        }
        check_uint(ULLONG_MAX);
        /* every power of ten and its neighbours */
        for (unsigned long long p = 1; p <= ULLONG_MAX / 10; p *= 10) {
                check_uint(p - 1);
                check_uint(p);
                check_uint(p + 1);
                check_int(-(long long) p);
                check_int((long long) p - 1);
        }
        for (long long v = -100000; v <= 100000; v += 7)
                check_int(v);
}

TEST(fixed_width_digits) {
        char buf[8];

        memset(buf, 'x', sizeof(buf));
        fmt_digits(buf, 7, 3);
        ASSERT_TRUE(memcmp(buf, "007x", 4) == 0);
        fmt_digits(buf, 2026, 4);
        ASSERT_TRUE(memcmp(buf, "2026x", 5) == 0);
        fmt_digits(buf, 12345, 2);      /* the lowest digits only */
        ASSERT_TRUE(memcmp(buf, "4526x", 5) == 0);
        fmt_digits(buf, 0, 0);          /* nothing written */
        ASSERT_TRUE(memcmp(buf, "4526x", 5) == 0);
        for (unsigned long long v = 0; v < 2000000; v += 3) {   /* odd and even widths */
                char want[16];

                for (int n = 5; n <= 7; n++) {
                        (void) snprintf(want, sizeof(want), "%0*llu", n, v % (n == 5 ? 100000ULL :
                                                                              n == 6 ? 1000000ULL : 10000000ULL));
                        fmt_digits(buf, (unsigned) v, n);
                        ASSERT_TRUE(memcmp(buf, want, (size_t) n) == 0);
                }
        }
}

TESTS_MAIN
