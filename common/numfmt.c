/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "numfmt.h"

/* v's digits and a NUL at p (room for 21 bytes); returns the number of digits. */
static size_t put_uint(char *p, unsigned long long v) {
        char digits[FMT_INT_MAX], *d = digits + sizeof(digits);
        size_t n;

        do
                *--d = (char) ('0' + v % 10);
        while (v /= 10);
        n = (size_t) (digits + sizeof(digits) - d);
        memcpy(p, d, n);
        p[n] = 0;
        return n;
}

size_t fmt_uint(char buf[static FMT_INT_MAX], unsigned long long v) {
        return put_uint(buf, v);
}

size_t fmt_int(char buf[static FMT_INT_MAX], long long v) {
        if (v >= 0)
                return put_uint(buf, (unsigned long long) v);
        buf[0] = '-';
        /* 0 - (unsigned) v: LLONG_MIN has no positive long long; at most 19 digits */
        return 1 + put_uint(buf + 1, 0ULL - (unsigned long long) v);
}

void fmt_digits(char *p, unsigned v, int n) {
        /* Two digits per division: a date and time is seven pairs. */
        static const char pairs[201] =
                "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                "8081828384858687888990919293949596979899";

        while (n >= 2) {
                const char *d = pairs + 2 * (v % 100);

                p[--n] = d[1];
                p[--n] = d[0];
                v /= 100;
        }
        if (n > 0)
                p[0] = (char) ('0' + v % 10);
}
