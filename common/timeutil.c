/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "numfmt.h"
#include "timeutil.h"

/* Howard Hinnant's days_from_civil / civil_from_days: exact for the proleptic Gregorian
 * calendar over the whole int32 year range, no tables, no libc. */
int64_t days_from_civil(int32_t y, int m, int d) {
        int64_t yy = (int64_t) y - (m <= 2);
        int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
        int64_t yoe = yy - era * 400;                                  /* [0, 399] */
        int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;  /* [0, 365] */
        int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */

        return era * 146097 + doe - 719468;
}

void civil_from_days(int64_t z, int32_t *ret_y, int *ret_m, int *ret_d) {
        z += 719468;
        int64_t era = (z >= 0 ? z : z - 146096) / 146097;
        int64_t doe = z - era * 146097;                                          /* [0, 146096] */
        int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;     /* [0, 399] */
        int64_t y = yoe + era * 400;
        int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                   /* [0, 365] */
        int64_t mp = (5 * doy + 2) / 153;                                        /* [0, 11] */
        int d = (int) (doy - (153 * mp + 2) / 5 + 1);
        int m = (int) (mp < 10 ? mp + 3 : mp - 9);

        *ret_y = (int32_t) (y + (m <= 2));
        *ret_m = m;
        *ret_d = d;
}

int weekday_from_days(int64_t z) {
        /* 1970-01-01 was a Thursday (4). */
        return (int) (z >= -4 ? (z + 4) % 7 : (z + 5) % 7 + 6);
}

bool is_leap_year(int32_t y) {
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int days_in_month(int32_t y, int m) {
        static const int8_t dim[13] = { 0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

        return m == 2 && is_leap_year(y) ? 29 : dim[m];
}

static int64_t floor_div(int64_t a, int64_t b) {
        return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

int64_t civil_to_seconds(const Civil *c) {
        return days_from_civil(c->year, c->month, c->day) * 86400 +
               c->hour * 3600 + c->minute * 60 + c->second;
}

void civil_from_seconds(int64_t s, Civil *ret) {
        int64_t days = floor_div(s, 86400);
        int64_t sod = s - days * 86400;
        int32_t y;
        int m, d;

        civil_from_days(days, &y, &m, &d);
        *ret = (Civil) {
                .year = y, .month = (int8_t) m, .day = (int8_t) d,
                .hour = (int8_t) (sod / 3600), .minute = (int8_t) (sod / 60 % 60),
                .second = (int8_t) (sod % 60), .wday = (int8_t) weekday_from_days(days),
        };
}

char *format_rfc3339_utc(int64_t t, char buf[static RFC3339_UTC_MAX]) {
        Civil c;

        civil_from_seconds(t, &c);
        if (c.year < 0 || c.year > 9999) {
                (void) snprintf(buf, RFC3339_UTC_MAX, "%04d-%02d-%02dT%02d:%02d:%02dZ",
                                (int) c.year, c.month, c.day, c.hour, c.minute, c.second);
                return buf;
        }
        /* Digit by digit: the log, the records and the jobs' environment format a few of
         * these per firing, and snprintf() was most of their cost. */
        memcpy(buf, "0000-00-00T00:00:00Z", sizeof("0000-00-00T00:00:00Z"));
        fmt_digits(buf, (unsigned) c.year, 4);
        fmt_digits(buf + 5, (unsigned) c.month, 2);
        fmt_digits(buf + 8, (unsigned) c.day, 2);
        fmt_digits(buf + 11, (unsigned) c.hour, 2);
        fmt_digits(buf + 14, (unsigned) c.minute, 2);
        fmt_digits(buf + 17, (unsigned) c.second, 2);
        return buf;
}

char *format_rfc3339_offset(int64_t t, int32_t utoff, char buf[static RFC3339_LOCAL_MAX]) {
        int32_t a = utoff < 0 ? -utoff : utoff;
        Civil c;

        civil_from_seconds(t + utoff, &c);
        if (a % 60 != 0)        /* LMT offsets with seconds: RFC 3339 cannot say them */
                (void) snprintf(buf, RFC3339_LOCAL_MAX, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d:%02d",
                                (int) c.year, c.month, c.day, c.hour, c.minute, c.second,
                                utoff < 0 ? '-' : '+', (int) (a / 3600), (int) (a / 60 % 60),
                                (int) (a % 60));
        else
                (void) snprintf(buf, RFC3339_LOCAL_MAX, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d",
                                (int) c.year, c.month, c.day, c.hour, c.minute, c.second,
                                utoff < 0 ? '-' : '+', (int) (a / 3600), (int) (a / 60 % 60));
        return buf;
}
