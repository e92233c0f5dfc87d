/* SPDX-License-Identifier: MIT */
/* The five time fields of a crontab entry, as cron reads them, written as solocron reads
 * the same (rules in crontab.c). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cronexpr.h"
#include "crontab_internal.h"
#include "macro.h"

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

static char lower(char c) {
        return c >= 'A' && c <= 'Z' ? (char) (c - 'A' + 'a') : c;
}

typedef struct FieldRange {
        int min, max;
        const char *const *names;       /* 3-letter names of min, min+1, …; NULL: none */
} FieldRange;

static const char *const month_names[] = { "jan", "feb", "mar", "apr", "may", "jun", "jul",
                                           "aug", "sep", "oct", "nov", "dec", NULL };
static const char *const dow_names[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL };
static const FieldRange fields[5] = {
        { 0, 59, NULL }, { 0, 23, NULL }, { 1, 31, NULL }, { 1, 12, month_names },
        { 0, 7, dow_names },
};
static const char *const field_names[5] = { "minute", "hour", "day-of-month", "month",
                                            "day-of-week" };

static int parse_value(const char **p, const char *end, const FieldRange *f, int *ret) {
        const char *q = *p;
        int v = 0;

        if (q < end && is_digit(*q)) {
                for (; q < end && is_digit(*q); q++) {
                        v = v * 10 + (*q - '0');
                        if (v > 1000)
                                return -ERANGE;
                }
        } else {
                size_t n = 0;

                while (q + n < end && lower(q[n]) >= 'a' && lower(q[n]) <= 'z')
                        n++;
                if (n != 3 || !f->names)
                        return -EINVAL;
                for (v = 0; f->names[v]; v++)
                        if (lower(q[0]) == f->names[v][0] && lower(q[1]) == f->names[v][1] &&
                            lower(q[2]) == f->names[v][2])
                                break;
                if (!f->names[v])
                        return -EINVAL;
                v += f->min;
                q += 3;
        }
        if (v < f->min || v > f->max)
                return -ERANGE;
        *p = q;
        *ret = v;
        return 0;
}

/* One field as cron reads it → bit n for value n (dow 7 folded onto 0). */
static const char *parse_field(const char *s, size_t n, int i, uint64_t *ret) {
        const FieldRange *f = &fields[i];
        const char *p = s, *end = s + n;
        uint64_t bits = 0;

        for (;;) {
                int lo, hi, step = 1;

                if (p < end && *p == '*') {
                        lo = f->min;
                        hi = f->max;
                        p++;
                } else {
                        int r = parse_value(&p, end, f, &lo);

                        if (r < 0)
                                return r == -ERANGE ? "value out of range" :
                                                      "expected a number or a name";
                        hi = lo;
                        if (p < end && *p == '-') {
                                p++;
                                r = parse_value(&p, end, f, &hi);
                                if (r < 0)
                                        return r == -ERANGE ? "value out of range" :
                                                              "expected a number or a name";
                                if (hi < lo)
                                        return "descending range (cron matches nothing or "
                                               "refuses it)";
                        } else if (p < end && *p == '/')
                                hi = f->max;    /* "N/S": N to the end (cronie) */
                }
                if (p < end && *p == '/') {
                        p++;
                        if (p == end || !is_digit(*p))
                                return "expected a step after '/'";
                        for (step = 0; p < end && is_digit(*p); p++)
                                if ((step = step * 10 + (*p - '0')) > 1000)
                                        return "step out of range";
                        if (step == 0)
                                return "step 0";
                }
                for (int v = lo; v <= hi; v += step)
                        bits |= UINT64_C(1) << (i == 4 && v == 7 ? 0 : v);
                if (p == end)
                        break;
                if (*p != ',')
                        return "unexpected character";
                p++;
        }
        *ret = bits;
        return NULL;
}

static uint64_t cronexpr_field(const CronExpr *e, int i) {
        switch (i) {
        case 0: return e->minute;
        case 1: return e->hour;
        case 2: return e->dom;
        case 3: return e->month;
        default: return e->dow;
        }
}

/* Does solocron read field i written as s[0..n) as `bits`? (1 yes, 0 no, -ENOMEM) */
static int same_in_solocron(const char *s, size_t n, int i, uint64_t bits) {
        /* the field in its place, every other one '*' */
        static const char *const before[5] = { "", "* ", "* * ", "* * * ", "* * * * " };
        static const char *const after[5] = { " * * * *", " * * *", " * *", " *", "" };
        _cleanup_free_ char *expr = NULL;
        const char *msg;
        unsigned col;
        CronExpr e;

        if (asprintf(&expr, "%s%.*s%s", before[i], (int) n, s, after[i]) < 0)
                return -ENOMEM;
        return cronexpr_parse(expr, "", &e, &col, &msg) == 0 && cronexpr_field(&e, i) == bits;
}

/* "1-5,7" */
static void put_bits(FILE *out, int i, uint64_t bits) {
        bool first = true;

        for (int v = fields[i].min; v <= (i == 4 ? 6 : fields[i].max); v++) {
                int w = v;

                if (!(bits >> v & 1))
                        continue;
                while (w < 63 && bits >> (w + 1) & 1)
                        w++;
                fprintf(out, w > v ? "%s%d-%d" : "%s%d", first ? "" : ",", v, w);
                first = false;
                v = w;
        }
}

/* "0 0 31 2 *": cron takes it and never runs it, solocron refuses it. True if schedule
 * can fire, else false with the reason in why[]. */
static bool can_fire(const char *schedule, char why[static 128]) {
        const char *msg;
        unsigned col;
        CronExpr e;

        if (cronexpr_parse(schedule, "", &e, &col, &msg) == 0 &&
            cronexpr_check_satisfiable(&e) < 0) {
                (void) snprintf(why, 128, "'%s' never fires (cron never runs it)", schedule);
                return false;
        }
        return true;
}

/* The five fields at f[] → a solocron schedule (*ret, owned). Returns 0; -EINVAL with the
 * reason in why[]; -ENOMEM. */
int crontab_convert_fields(const char *const f[5], const size_t len[5], char **ret,
                          char why[static 128]) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        FILE *out = open_memstream(&text, &size);
        int r = 0;

        if (!out)
                return -ENOMEM;
        for (int i = 0; i < 5 && r == 0; i++) {
                const char *msg;
                uint64_t bits;

                msg = parse_field(f[i], len[i], i, &bits);
                if (!msg && (i == 2 || i == 4) && f[i][0] == '*' &&
                    bits != (i == 2 ? UINT64_C(0xfffffffe) : UINT64_C(0x7f)) &&
                    same_in_solocron(f[i], len[i], i, bits) == 0)
                        /* the '*' must stay: it decides the dom/dow rule */
                        msg = "a step that solocron refuses after '*'";
                if (msg) {
                        (void) snprintf(why, 128, "invalid %s field '%.*s': %s", field_names[i],
                                        (int) (len[i] > 32 ? 32 : len[i]), f[i], msg);
                        r = -EINVAL;
                        break;
                }
                if (i > 0)
                        fputc(' ', out);
                r = same_in_solocron(f[i], len[i], i, bits);
                if (r > 0)
                        fwrite(f[i], 1, len[i], out);
                else if (r == 0)
                        put_bits(out, i, bits);
                r = r < 0 ? r : 0;
        }
        if (fclose(out) != 0 && r == 0)
                r = -ENOMEM;
        if (r < 0)
                return r;
        if (!can_fire(text, why))
                return -EINVAL;
        *ret = TAKE_PTR(text);
        return 0;
}

