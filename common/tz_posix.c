/* SPDX-License-Identifier: MIT */
/* POSIX TZ strings (POSIX.1-2017 XBD 8.3) with the RFC 8536 section 3.3.1 extension:
 *
 *   tz     = std offset [ dst [ offset ] [ "," rule "," rule ] ]
 *   std    = name
 *   dst    = name
 *   name   = 3*ALPHA | "<" 3*( ALPHA | DIGIT | "+" | "-" ) ">"      ; at most TZ_ABBR_MAX
 *   offset = [ "+" | "-" ] hh [ ":" mm [ ":" ss ] ]                  ; hh 0..24, counts WEST
 *   rule   = date [ "/" time ]                                       ; time defaults to 02:00
 *   date   = "J" 1*3DIGIT                                            ; 1..365, no Feb 29
 *          | 1*3DIGIT                                                ; 0..365, with Feb 29
 *          | "M" month "." week "." weekday                          ; 1..12, 1..5, 0..6
 *   time   = [ "+" | "-" ] hhh [ ":" mm [ ":" ss ] ]                 ; hhh 0..167 (RFC 8536)
 *
 * mm and ss are 0..59. A dst without its own offset is one hour ahead of std; a dst without
 * rules uses the US rules "M3.2.0,M11.1.0", as glibc and tzcode do. */

#include <errno.h>
#include <string.h>

#include "timeutil.h"
#include "tz_posix.h"

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

static bool is_alpha(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool eat(const char **p, char c) {
        if (**p != c)
                return false;
        (*p)++;
        return true;
}

/* 1..max_digits decimal digits, value <= max. */
static int parse_num(const char **p, int max_digits, int max, int *ret) {
        const char *s = *p;
        int v = 0, n;

        for (n = 0; n < max_digits && is_digit(*s); n++, s++)
                v = v * 10 + (*s - '0');
        if (n == 0 || v > max)
                return -EINVAL;
        *p = s;
        *ret = v;
        return 0;
}

static int parse_name(const char **p, char ret[static TZ_ABBR_MAX + 1]) {
        const char *s = *p, *b;
        size_t n;

        if (eat(&s, '<')) {
                for (b = s; is_alpha(*s) || is_digit(*s) || *s == '+' || *s == '-'; s++)
                        ;
                n = (size_t) (s - b);
                if (!eat(&s, '>'))
                        return -EINVAL;
        } else {
                for (b = s; is_alpha(*s); s++)
                        ;
                n = (size_t) (s - b);
        }
        if (n < 3 || n > TZ_ABBR_MAX)
                return -EINVAL;
        memcpy(ret, b, n);
        ret[n] = 0;
        *p = s;
        return 0;
}

/* [+-]h[:mm[:ss]] in seconds, the hours having at most max_digits digits and value max_hours. */
static int parse_hms(const char **p, int max_digits, int max_hours, int32_t *ret) {
        const char *s = *p;
        int h, m = 0, sec = 0, sign = 1;
        int r;

        if (eat(&s, '-'))
                sign = -1;
        else
                (void) eat(&s, '+');
        r = parse_num(&s, max_digits, max_hours, &h);
        if (r < 0)
                return r;
        if (eat(&s, ':')) {
                r = parse_num(&s, 2, 59, &m);
                if (r < 0)
                        return r;
                if (eat(&s, ':')) {
                        r = parse_num(&s, 2, 59, &sec);
                        if (r < 0)
                                return r;
                }
        }
        *p = s;
        *ret = sign * (h * 3600 + m * 60 + sec);
        return 0;
}

static int parse_date(const char **p, TzRule *rule) {
        int a, b, c, r;

        if (eat(p, 'J')) {
                r = parse_num(p, 3, 365, &a);
                if (r < 0 || a < 1)
                        return -EINVAL;
                *rule = (TzRule) { .kind = TZ_RULE_JULIAN, .day = (int16_t) a };
        } else if (eat(p, 'M')) {
                if (parse_num(p, 2, 12, &a) < 0 || a < 1 || !eat(p, '.') ||
                    parse_num(p, 1, 5, &b) < 0 || b < 1 || !eat(p, '.') ||
                    parse_num(p, 1, 6, &c) < 0)
                        return -EINVAL;
                *rule = (TzRule) { .kind = TZ_RULE_MONTH, .month = (int8_t) a,
                                   .week = (int8_t) b, .day = (int16_t) c };
        } else {
                r = parse_num(p, 3, 365, &a);
                if (r < 0)
                        return r;
                *rule = (TzRule) { .kind = TZ_RULE_DAY, .day = (int16_t) a };
        }
        return 0;
}

static int parse_rule(const char **p, TzRule *ret) {
        int r;

        r = parse_date(p, ret);
        if (r < 0)
                return r;
        ret->time = 2 * 3600;
        if (eat(p, '/'))
                return parse_hms(p, 3, 167, &ret->time);
        return 0;
}

int tz_posix_parse(const char *s, TzPosix *ret) {
        static const TzRule us_start = { TZ_RULE_MONTH, .month = 3, .week = 2, .time = 7200 };
        static const TzRule us_end = { TZ_RULE_MONTH, .month = 11, .week = 1, .time = 7200 };
        TzPosix z = {};
        int32_t off;
        int r;

        if (strnlen(s, TZ_POSIX_MAX + 1) > TZ_POSIX_MAX)
                return -EINVAL;
        r = parse_name(&s, z.std_abbr);
        if (r < 0)
                return r;
        r = parse_hms(&s, 2, 24, &off);
        if (r < 0)
                return r;
        z.std_utoff = -off;
        if (*s) {
                r = parse_name(&s, z.dst_abbr);
                if (r < 0)
                        return r;
                z.has_dst = true;
                z.dst_utoff = z.std_utoff + 3600;
                if (*s && *s != ',') {
                        r = parse_hms(&s, 2, 24, &off);
                        if (r < 0)
                                return r;
                        z.dst_utoff = -off;
                }
                if (!*s) {
                        z.start = us_start;
                        z.end = us_end;
                } else if (!eat(&s, ',') || parse_rule(&s, &z.start) < 0 ||
                           !eat(&s, ',') || parse_rule(&s, &z.end) < 0)
                        return -EINVAL;
        }
        if (*s)
                return -EINVAL;
        *ret = z;
        return 0;
}

int64_t tz_posix_rule_at(const TzRule *r, int32_t y, int32_t utoff_before) {
        int64_t day, first;

        switch (r->kind) {
        case TZ_RULE_JULIAN:
                day = days_from_civil(y, 1, 1) + r->day - 1 + (r->day >= 60 && is_leap_year(y));
                break;
        case TZ_RULE_DAY:
                day = days_from_civil(y, 1, 1) + r->day;
                break;
        default:
                first = days_from_civil(y, r->month, 1);
                day = first + (r->day - weekday_from_days(first) + 7) % 7 + (r->week - 1) * 7;
                if (day - first >= days_in_month(y, r->month))
                        day -= 7;       /* week 5 means "last" */
                break;
        }
        return day * 86400 + r->time - utoff_before;
}
