/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "parse.h"

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

/* Digits at *p into *ret, advancing *p; at least one digit. */
static int parse_digits(const char **p, uint64_t max, uint64_t *ret) {
        const char *s = *p;
        uint64_t v = 0;

        if (!is_digit(*s))
                return -EINVAL;
        for (; is_digit(*s); s++) {
                uint64_t d = (uint64_t) (*s - '0');

                if (v > (max - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *p = s;
        *ret = v;
        return 0;
}

int parse_uint64(const char *s, uint64_t max, uint64_t *ret) {
        uint64_t v;
        int r;

        r = parse_digits(&s, max, &v);
        if (r < 0)
                return r;
        if (*s)
                return -EINVAL;
        *ret = v;
        return 0;
}

int parse_int(const char *s, int min, int max, int *ret) {
        bool neg = s[0] == '-';
        uint64_t v;
        int r;

        r = parse_uint64(s + neg, (uint64_t) INT32_MAX + 1, &v);
        if (r < 0)
                return r;
        int64_t x = neg ? -(int64_t) v : (int64_t) v;
        if (x < min || x > max)
                return -ERANGE;
        *ret = (int) x;
        return 0;
}

int parse_duration(const char *s, usec_t *ret) {
        static const struct {
                const char *name;
                usec_t usec;
        } units[] = {   /* longest first where one is a prefix of another */
                { "ms", USEC_PER_MSEC },
                { "us", 1 },
                { "w", 7 * 86400 * USEC_PER_SEC },
                { "d", 86400 * USEC_PER_SEC },
                { "h", 3600 * USEC_PER_SEC },
                { "m", 60 * USEC_PER_SEC },
                { "s", USEC_PER_SEC },
        };
        usec_t total = 0;

        if (strcmp(s, "0") == 0) {
                *ret = 0;
                return 0;
        }
        if (!*s)
                return -EINVAL;
        while (*s) {
                uint64_t n;
                size_t i;
                int r;

                r = parse_digits(&s, UINT64_MAX, &n);
                if (r < 0)
                        return r;
                for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
                        if (strncmp(s, units[i].name, strlen(units[i].name)) == 0)
                                break;
                if (i == sizeof(units) / sizeof(units[0]))
                        return -EINVAL;
                s += strlen(units[i].name);
                if (n > (UINT64_MAX - 1 - total) / units[i].usec)
                        return -ERANGE;
                total += n * units[i].usec;
        }
        *ret = total;
        return 0;
}

/* Exactly `width` digits. */
static int parse_fixed(const char **p, int width, int *ret) {
        int v = 0;

        for (int i = 0; i < width; i++) {
                if (!is_digit((*p)[i]))
                        return -EINVAL;
                v = v * 10 + ((*p)[i] - '0');
        }
        *p += width;
        *ret = v;
        return 0;
}

static int parse_date_prefix(const char **p, int32_t *ret_y, int *ret_m, int *ret_d) {
        int y, m, d;

        if (parse_fixed(p, 4, &y) < 0 || *(*p)++ != '-' || parse_fixed(p, 2, &m) < 0 ||
            *(*p)++ != '-' || parse_fixed(p, 2, &d) < 0)
                return -EINVAL;
        if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
                return -EINVAL;
        *ret_y = y;
        *ret_m = m;
        *ret_d = d;
        return 0;
}

int parse_date(const char *s, int32_t *ret_year, int *ret_month, int *ret_day) {
        int32_t y;
        int m, d;

        if (parse_date_prefix(&s, &y, &m, &d) < 0 || *s)
                return -EINVAL;
        *ret_year = y;
        *ret_month = m;
        *ret_day = d;
        return 0;
}

int parse_timestamp(const char *s, int64_t *ret, bool *ret_absolute) {
        int hh = 0, mm = 0, ss = 0, m, d;
        int32_t y;
        int64_t t;

        if (s[0] == '@') {
                bool neg = s[1] == '-';
                uint64_t v;

                if (parse_uint64(s + 1 + neg, INT64_MAX, &v) < 0)
                        return -EINVAL;
                *ret = neg ? -(int64_t) v : (int64_t) v;
                *ret_absolute = true;
                return 0;
        }
        if (parse_date_prefix(&s, &y, &m, &d) < 0)
                return -EINVAL;
        if (*s == 'T' || *s == 't' || *s == ' ') {
                s++;
                if (parse_fixed(&s, 2, &hh) < 0 || *s++ != ':' || parse_fixed(&s, 2, &mm) < 0)
                        return -EINVAL;
                if (*s == ':') {
                        s++;
                        if (parse_fixed(&s, 2, &ss) < 0)
                                return -EINVAL;
                }
                if (hh > 23 || mm > 59 || ss > 59)
                        return -EINVAL;
        }
        t = days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss;
        if (!*s) {
                *ret = t;
                *ret_absolute = false;
                return 0;
        }
        if (*s == 'Z' || *s == 'z') {
                if (s[1])
                        return -EINVAL;
                *ret = t;
                *ret_absolute = true;
                return 0;
        }
        if (*s == '+' || *s == '-') {
                int sign = *s == '-' ? -1 : 1, oh, om;

                s++;
                if (parse_fixed(&s, 2, &oh) < 0 || *s++ != ':' || parse_fixed(&s, 2, &om) < 0 || *s ||
                    oh > 23 || om > 59)
                        return -EINVAL;
                *ret = t - sign * (oh * 3600 + om * 60);
                *ret_absolute = true;
                return 0;
        }
        return -EINVAL;
}

bool parse_name_ok(const char *s, const char *extra, size_t max) {
        size_t n = s ? strlen(s) : 0;

        if (n == 0 || n > max)
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                      (*s >= '0' && *s <= '9') || strchr(extra, *s)))
                        return false;
        return true;
}
