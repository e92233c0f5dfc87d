/* SPDX-License-Identifier: MIT */

/* Cron expression parser. The calendar search and the DST rules are in cronexpr_next.c.
 *
 * Grammar (EBNF; letters are case-insensitive; fields are separated by blanks, ' ' or '\t'):
 *
 *   expr      = macro | fields ;
 *   macro     = "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@midnight"
 *             | "@hourly" | "@every" blank+ duration | "@reboot" ;
 *   fields    = min hour dom month dow                      (* 5 fields *)
 *             | sec min hour dom month dow                  (* 6: seconds first, as Quartz *)
 *             | sec min hour dom month dow year ;           (* 7: seconds and year *)
 *   field     = "?" | item { "," item } ;                   (* "?" only in dom and dow *)
 *   item      = base [ "/" step ] | dom-extra | dow-extra ;
 *   base      = "*" | value [ "-" value ] | "H" [ "(" value "-" value ")" ] ;
 *   value     = number | month-name | weekday-name ;        (* names only in their field *)
 *   dom-extra = "L" [ "-" number ] | "LW" | number "W" ;    (* only in dom *)
 *   dow-extra = value "#" number | value "L" ;              (* only in dow *)
 *
 * Meaning:
 *   - Ranges: second 0-59, minute 0-59, hour 0-23, dom 1-31, month 1-12 or JAN-DEC,
 *     dow 0-7 or SUN-SAT (0 and 7 are both Sunday), year 1970-2199.
 *   - "a-b" with a > b wraps around the field ("22-2" hours = 22,23,0,1,2; "FRI-MON"),
 *     except in the year field, where it is refused.
 *   - "a/n" runs from a to the end of the field; "*" in dow is 0-6 (Sunday once), so
 *     "*" + "/2" in dow is SUN,TUE,THU,SAT (spelled apart here: together they would end this
 *     comment). A step must be 1..(number of values in the field): "*" + "/90" in minutes
 *     is refused rather than silently meaning "0"; "@every 90m" is what was meant.
 *   - "L" = last day of the month, "L-n" = n days before it (n 0-30), "nW" = the weekday
 *     (Mon-Fri) nearest to day n without leaving the month (a day n the month does not have
 *     never fires), "LW" = last weekday of the month, "d#k" = k-th weekday d (k 1-5),
 *     "dL" = last weekday d of the month. A bare "L" in dow (Quartz: Saturday) is refused
 *     as ambiguous.
 *   - "H" picks one value from a stable hash of the job's name (hash_key), so that jobs
 *     written alike spread out: "H" = one value in the field (dom: 1-28, so it fires every
 *     month; dow: 0-6), "H(a-b)" = one value in a..b, "H/n" and "H(a-b)/n" = every n-th
 *     value starting at offset hash % n. The hash never changes across versions and
 *     machines: v = fmix64(fnv1a64(hash_key bytes, then one byte = field index)), where
 *     the field index is 0 second, 1 minute, 2 hour, 3 dom, 4 month, 5 dow, 6 year
 *     (the same whether or not the expression has a seconds field); fnv1a64 starts at
 *     0xcbf29ce484222325 with prime 0x100000001b3; fmix64 is MurmurHash3's finalizer.
 *     A single value is lo + v % count; a step starts at lo + v % n (positions in the range).
 *   - Vixie's dom/dow rule, as cronie and OpenBSD implement it: a field whose first
 *     character is '*' or '?' counts as unrestricted ("*" + "/2" too). If both dom and dow are
 *     restricted, a day fires when EITHER matches, otherwise when both do.
 *   - The hour field starting with '*' selects the real-time rhythm across DST (see
 *     cronexpr_next.c); "@hourly" is "0 * * * *".
 *   - "@every D": D is a parse_duration() string, whole seconds, > 0; fires at every Unix
 *     time t with t % D == 0, in every zone.
 *   - "@reboot": no calendar firing at all (CRON_REBOOT); the daemon runs such a job once
 *     when it starts (daemon/core/daemon.c), as cron does when it starts at boot.
 */

#include <errno.h>
#include <string.h>

#include "cronexpr.h"
#include "hash.h"
#include "macro.h"
#include "parse.h"

#define CRON_EXPR_LEN_MAX 1024  /* longer input is refused before looking at it */
#define CRON_FIELDS_MAX 7
#define CRON_DURATION_LEN_MAX 63

typedef enum Field {            /* also the byte hashed for 'H': never renumber */
        FIELD_SECOND,
        FIELD_MINUTE,
        FIELD_HOUR,
        FIELD_DOM,
        FIELD_MONTH,
        FIELD_DOW,
        FIELD_YEAR,
        _FIELD_MAX,
} Field;

typedef struct FieldInfo {
        int min, max;           /* values accepted as numbers (dow: 0..7) */
        int star_max;           /* '*' covers min..star_max; the wrap-around cycle ends here */
        int hash_max;           /* a bare 'H' picks in min..hash_max */
        const char *out_of_range;
} FieldInfo;

static const FieldInfo field_info[_FIELD_MAX] = {
        [FIELD_SECOND] = { 0, 59, 59, 59, "second out of range 0-59" },
        [FIELD_MINUTE] = { 0, 59, 59, 59, "minute out of range 0-59" },
        [FIELD_HOUR]   = { 0, 23, 23, 23, "hour out of range 0-23" },
        [FIELD_DOM]    = { 1, 31, 31, 28, "day-of-month out of range 1-31" },
        [FIELD_MONTH]  = { 1, 12, 12, 12, "month out of range 1-12" },
        [FIELD_DOW]    = { 0, 7, 6, 6, "day-of-week out of range 0-7" },
        [FIELD_YEAR]   = { CRON_YEAR_MIN, CRON_YEAR_MAX, CRON_YEAR_MAX, CRON_YEAR_MAX,
                           "year out of range 1970-2199" },
};

static const char msg_l_field[] = "'L' is only allowed in day-of-month or day-of-week";
static const char msg_q_field[] = "'?' is only allowed in day-of-month or day-of-week";
static const char msg_w_field[] = "'W' is only allowed in day-of-month";
static const char msg_l_alone[] =
        "'L' alone is ambiguous in day-of-week, write e.g. '5L' or 'FRIL'";
static const char msg_hash_field[] = "'#' is only allowed in day-of-week, after a weekday";

static const char month_names[12][4] = {
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
};
static const char dow_names[7][4] = { "SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT" };

typedef struct Bits {           /* one field while parsing: bit (value - base) */
        uint64_t w[4];
} Bits;

typedef struct Parser {
        const char *p;          /* cursor */
        const char *key;        /* hash_key, never NULL */
        const char *err_at;
        const char *err_msg;
} Parser;

static int parser_fail(Parser *P, const char *at, const char *msg) {
        P->err_at = at;
        P->err_msg = msg;
        return -EINVAL;
}

static bool is_blank(char c) {
        return c == ' ' || c == '\t';
}

static bool is_end(char c) {    /* end of a field */
        return c == '\0' || is_blank(c);
}

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

static char to_upper(char c) {
        return c >= 'a' && c <= 'z' ? (char) (c - 'a' + 'A') : c;
}

static bool is_alpha(char c) {
        c = to_upper(c);
        return c >= 'A' && c <= 'Z';
}

static bool upper_eq(const char *a, const char *b, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (to_upper(a[i]) != b[i])
                        return false;
        return true;
}

static uint64_t cron_hash(const char *key, Field f) {
        unsigned char field = (unsigned char) f;

        /* FNV's low bits mix poorly, and we take small moduli: finish with fmix64. */
        return fmix64(fnv1a64(fnv1a64(FNV1A64_OFFSET, key, strlen(key)), &field, 1));
}

/* Decimal digits; saturates so that absurd input still ends up "out of range". */
static bool scan_number(Parser *P, int *ret) {
        int v = 0;

        if (!is_digit(*P->p))
                return false;
        for (; is_digit(*P->p); P->p++)
                if (v < 100000)
                        v = v * 10 + (*P->p - '0');
        *ret = v;
        return true;
}

/* A number or, in month and dow, a three-letter name. */
static int scan_value(Parser *P, Field f, int *ret) {
        const FieldInfo *fi = &field_info[f];
        const char *start = P->p;
        size_t n = 0;
        int v;

        if (scan_number(P, &v)) {
                if (v < fi->min || v > fi->max)
                        return parser_fail(P, start, fi->out_of_range);
                *ret = v;
                return 0;
        }
        if (f != FIELD_MONTH && f != FIELD_DOW)
                return parser_fail(P, start, "expected a number");
        if (!is_alpha(*start))
                return parser_fail(P, start, "expected a number or a name");

        while (n < 5 && is_alpha(start[n]))
                n++;
        /* "FRIL" is FRI followed by the 'L' suffix. */
        if (n == 3 || (f == FIELD_DOW && n == 4 && to_upper(start[3]) == 'L')) {
                if (f == FIELD_MONTH)
                        for (int i = 0; i < 12; i++)
                                if (upper_eq(start, month_names[i], 3)) {
                                        P->p += 3;
                                        *ret = i + 1;
                                        return 0;
                                }
                if (f == FIELD_DOW)
                        for (int i = 0; i < 7; i++)
                                if (upper_eq(start, dow_names[i], 3)) {
                                        P->p += 3;
                                        *ret = i;
                                        return 0;
                                }
        }
        return parser_fail(P, start,
                           f == FIELD_MONTH ? "unknown month name" : "unknown weekday name");
}

/* "L", "L-n", "LW" in dom. */
static int parse_dom_last(Parser *P, CronExpr *e) {
        const char *at;
        int n;

        P->p++;
        if (to_upper(*P->p) == 'W') {
                P->p++;
                e->dom_last_weekday = true;
                return 0;
        }
        if (*P->p != '-') {
                e->dom_last |= 1;
                return 0;
        }
        at = ++P->p;
        if (!scan_number(P, &n))
                return parser_fail(P, at, "expected a number after 'L-'");
        if (n > 30)
                return parser_fail(P, at, "'L-n' offset out of range 0-30");
        e->dom_last |= UINT32_C(1) << n;
        return 0;
}

/* Set every step-th value of the range lo..hi (wrapping around the field if lo > hi),
 * starting at position `first`. */
static void bits_set_range(Bits *b, Field f, int lo, int hi, int step, int first) {
        const FieldInfo *fi = &field_info[f];
        int cycle = fi->star_max - fi->min + 1;
        int count = hi - lo + 1 + (lo > hi ? cycle : 0);
        int base = f == FIELD_YEAR ? CRON_YEAR_MIN : 0;

        if (step == 1 && first == 0 && lo <= hi && hi <= fi->star_max) {
                /* A plain span (every '*', and the year field of most expressions): word
                 * by word rather than bit by bit. */
                for (int v = lo - base, end = hi - base; v <= end; v = (v | 63) + 1) {
                        int top = end < (v | 63) ? end % 64 : 63;
                        uint64_t upto = top == 63 ? UINT64_MAX : (UINT64_C(1) << (top + 1)) - 1;

                        b->w[v / 64] |= upto & ~((UINT64_C(1) << (v % 64)) - 1);
                }
                return;
        }
        for (int i = first; i < count; i += step) {
                int v = lo + i;

                if (v > fi->star_max)   /* wrapped, or dow 7 = Sunday */
                        v -= cycle;
                v -= base;
                b->w[v / 64] |= UINT64_C(1) << (v % 64);
        }
}

/* "H(a-b)" after the 'H'. */
static int parse_hash_range(Parser *P, Field f, int *lo, int *hi) {
        int r;

        P->p++;
        r = scan_value(P, f, lo);
        if (r < 0)
                return r;
        if (*P->p != '-')
                return parser_fail(P, P->p, "expected '-' in 'H(a-b)'");
        P->p++;
        r = scan_value(P, f, hi);
        if (r < 0)
                return r;
        if (*P->p != ')')
                return parser_fail(P, P->p, "expected ')' after 'H(a-b'");
        P->p++;
        return 0;
}

/* The Quartz suffixes after a value: "nW" in dom, "d#k" and "dL" in dow. Returns 1 when
 * one was consumed (the item ends there), 0 when there is none. */
static int parse_suffix(Parser *P, Field f, CronExpr *e, int v) {
        char c = to_upper(*P->p);
        const char *at;
        int k;

        if (c == 'W' && f == FIELD_DOM) {
                P->p++;
                e->dom_weekday |= UINT32_C(1) << v;
                return 1;
        }
        if (c == '#' && f == FIELD_DOW) {
                at = ++P->p;
                if (!scan_number(P, &k))
                        return parser_fail(P, at, "expected a number after '#'");
                if (k < 1 || k > 5)
                        return parser_fail(P, at, "'#' occurrence out of range 1-5");
                e->dow_nth[v % 7] |= (uint8_t) (1u << k);
                return 1;
        }
        if (c == 'L' && f == FIELD_DOW) {
                P->p++;
                e->dow_last |= (uint8_t) (1u << (v % 7));
                return 1;
        }
        if (c == 'W')
                return parser_fail(P, P->p, msg_w_field);
        if (c == '#')
                return parser_fail(P, P->p, msg_hash_field);
        if (c == 'L' && f == FIELD_DOM)
                return parser_fail(P, P->p, "'L' stands alone in day-of-month: 'L', 'L-n' or 'LW'");
        if (c == 'L')
                return parser_fail(P, P->p, msg_l_field);
        return 0;
}

/* Letters that cannot start an item of field f get a message naming where they belong. */
static int check_item_start(Parser *P, Field f) {
        char c = to_upper(*P->p);

        if (c == 'L' && f == FIELD_DOW && !is_alpha(P->p[1]))
                return parser_fail(P, P->p, msg_l_alone);
        if (c == 'L' && f != FIELD_DOW)         /* (dom's 'L' is handled before) */
                return parser_fail(P, P->p, msg_l_field);
        if (c == 'W' && f != FIELD_DOM && f != FIELD_MONTH && f != FIELD_DOW)
                return parser_fail(P, P->p, msg_w_field);
        if (c == '#')
                return parser_fail(P, P->p, msg_hash_field);
        if (c == '?' && f != FIELD_DOM && f != FIELD_DOW)
                return parser_fail(P, P->p, msg_q_field);
        if (c == '?')
                return parser_fail(P, P->p, "'?' must be the whole field");
        return 0;
}

static int parse_item(Parser *P, Field f, CronExpr *e, Bits *b) {
        const FieldInfo *fi = &field_info[f];
        const char *start = P->p, *at = P->p;
        char c = to_upper(*P->p);
        bool range = false, hash = false, stepped = false;
        int lo, hi, step = 1, first = 0, count, r;

        if (c == '*') {
                P->p++;
                lo = fi->min;
                hi = fi->star_max;
                range = true;
        } else if (c == 'H' && !is_alpha(P->p[1])) {
                P->p++;
                hash = true;
                lo = fi->min;
                hi = fi->hash_max;
                if (*P->p == '(') {
                        r = parse_hash_range(P, f, &lo, &hi);
                        if (r < 0)
                                return r;
                }
        } else if (c == 'L' && f == FIELD_DOM) {
                return parse_dom_last(P, e);
        } else {
                r = check_item_start(P, f);
                if (r < 0)
                        return r;
                r = scan_value(P, f, &lo);
                if (r < 0)
                        return r;
                r = parse_suffix(P, f, e, lo);
                if (r != 0)
                        return r < 0 ? r : 0;
                hi = lo;
                if (*P->p == '-') {
                        P->p++;
                        r = scan_value(P, f, &hi);
                        if (r < 0)
                                return r;
                        range = true;
                }
        }

        if (*P->p == '/') {
                int cycle = fi->star_max - fi->min + 1;

                at = ++P->p;
                if (!scan_number(P, &step))
                        return parser_fail(P, at, "expected a number after '/'");
                if (step == 0)
                        return parser_fail(P, at, "step must be > 0");
                if (step > cycle)
                        return parser_fail(P, at, "step larger than the field's range");
                stepped = true;
                if (!range && !hash)
                        hi = fi->star_max;      /* "a/n": from a to the end of the field */
        }

        if (f == FIELD_DOW && lo == 7) {        /* Sunday: "7", "7-7", "7-3", "7/2" */
                lo = 0;
                if (hi == 7)
                        hi = 0;
        }
        if (lo > hi && f == FIELD_YEAR)
                return parser_fail(P, start, "year range must be ascending");

        count = hi - lo + 1 + (lo > hi ? fi->star_max - fi->min + 1 : 0);
        if (hash) {
                uint64_t h = cron_hash(P->key, f);

                if (step > count)
                        return parser_fail(P, at, "step larger than the 'H' range");
                first = (int) (h % (uint64_t) (stepped ? step : count));
                if (!stepped)
                        step = count;   /* a single value */
        }
        bits_set_range(b, f, lo, hi, step, first);
        return 0;
}

static int parse_field(Parser *P, Field f, CronExpr *e, Bits *b) {
        if (*P->p == '?' && is_end(P->p[1])) {
                if (f != FIELD_DOM && f != FIELD_DOW)
                        return parser_fail(P, P->p, msg_q_field);
                P->p++;
                bits_set_range(b, f, field_info[f].min, field_info[f].star_max, 1, 0);
                return 0;
        }
        for (;;) {
                int r;

                if (*P->p == ',' || is_end(*P->p))
                        return parser_fail(P, P->p, "empty list item");
                r = parse_item(P, f, e, b);
                if (r < 0)
                        return r;
                if (is_end(*P->p))
                        return 0;
                if (*P->p != ',')
                        return parser_fail(P, P->p, "unexpected character");
                P->p++;
        }
}

/* The year field's bits (230, from CRON_YEAR_MIN) as CronExpr keeps them: a window of 64
 * years from the first one set, and the shortest period with which the years after the window
 * repeat the ones before them. -ERANGE: there is no such period of 64 years or less. */
static int year_window(const Bits *b, CronExpr *e) {
        int n = CRON_YEAR_MAX - CRON_YEAR_MIN + 1, lo = 0;
        bool after = false;

#define YEAR_SET(i) ((b->w[(i) / 64] >> ((i) % 64) & 1) != 0)
        while (lo < n && !YEAR_SET(lo))
                lo++;
        if (lo == n)
                return -ERANGE;         /* not reached: a field sets at least one year */
        e->year_base = (uint16_t) (CRON_YEAR_MIN + lo);
        e->year = 0;
        for (int i = lo; i < n; i++)
                if (i < lo + 64)
                        e->year |= (uint64_t) YEAR_SET(i) << (i - lo);
                else
                        after = after || YEAR_SET(i);
        e->year_period = 0;
        if (!after)
                return 0;
        for (int p = 1; p <= 64; p++) {
                int i = lo + 64;

                while (i < n && YEAR_SET(i) == YEAR_SET(i - p))
                        i++;
                if (i == n) {
                        e->year_period = (uint8_t) p;
                        return 0;
                }
        }
#undef YEAR_SET
        return -ERANGE;
}

/* `starts` are the n (5..7) field positions. */
static int parse_fields(Parser *P, const char *const *starts, int n, CronExpr *ret) {
        static const Field five[] = { FIELD_MINUTE, FIELD_HOUR, FIELD_DOM, FIELD_MONTH, FIELD_DOW };
        CronExpr e = {};
        Bits b[_FIELD_MAX] = {};

        for (int i = 0; i < n; i++) {
                Field f = i == 6 ? FIELD_YEAR : n == 5 ? five[i] : (Field) i;
                int r;

                P->p = starts[i];
                r = parse_field(P, f, &e, &b[f]);
                if (r < 0)
                        return r;
                if (*starts[i] == '*' || *starts[i] == '?')
                        e.flags |= f == FIELD_DOM ? CRON_DOM_STAR : f == FIELD_DOW ? CRON_DOW_STAR :
                                   f == FIELD_HOUR ? CRON_HOUR_STAR : 0;
        }

        if (n == 5)
                e.second = 1;
        else
                e.flags |= CRON_HAS_SECONDS;
        if (n < 7) {                    /* every year */
                e.year_base = CRON_YEAR_MIN;
                e.year = UINT64_MAX;
                e.year_period = 1;
        } else {
                e.flags |= CRON_HAS_YEAR;
                if (year_window(&b[FIELD_YEAR], &e) < 0)
                        return parser_fail(P, starts[6], "a year field must fit in 64 consecutive "
                                           "years, or repeat every 64 years or less (split the "
                                           "job in two)");
        }
        if (n > 5)
                e.second = b[FIELD_SECOND].w[0];
        e.minute = b[FIELD_MINUTE].w[0];
        e.hour = (uint32_t) b[FIELD_HOUR].w[0];
        e.dom = (uint32_t) b[FIELD_DOM].w[0];
        e.month = (uint16_t) b[FIELD_MONTH].w[0];
        e.dow = (uint8_t) b[FIELD_DOW].w[0];
        *ret = e;
        return 0;
}

static int parse_every(Parser *P, const char *d, CronExpr *ret) {
        char buf[CRON_DURATION_LEN_MAX + 1];
        size_t n = 0;
        usec_t u;

        while (!is_end(d[n]))
                n++;
        if (n == 0)
                return parser_fail(P, d, "'@every' needs a duration, e.g. '@every 90s'");
        if (n > CRON_DURATION_LEN_MAX)
                return parser_fail(P, d, "invalid duration");
        memcpy(buf, d, n);
        buf[n] = '\0';
        for (const char *q = d + n; *q; q++)
                if (!is_blank(*q))
                        return parser_fail(P, q, "unexpected text after the duration");
        if (parse_duration(buf, &u) < 0)
                return parser_fail(P, d, "invalid duration");
        if (u == 0)
                return parser_fail(P, d, "'@every' interval must be > 0");
        if (u % USEC_PER_SEC != 0)
                return parser_fail(P, d, "'@every' interval must be whole seconds");

        *ret = (CronExpr) { .every = (int64_t) (u / USEC_PER_SEC), .flags = CRON_EVERY };
        return 0;
}

static int parse_macro(Parser *P, const char *at, CronExpr *ret) {
        static const struct {
                const char *name;
                const char *expansion;
        } macros[] = {
                { "YEARLY", "0 0 1 1 *" },
                { "ANNUALLY", "0 0 1 1 *" },
                { "MONTHLY", "0 0 1 * *" },
                { "WEEKLY", "0 0 * * 0" },
                { "DAILY", "0 0 * * *" },
                { "MIDNIGHT", "0 0 * * *" },
                { "HOURLY", "0 * * * *" },
        };
        const char *q = at + 1;
        size_t n = 0;

        while (n < 16 && is_alpha(q[n]))
                n++;
        if (n == 5 && upper_eq(q, "EVERY", 5) && is_end(q[5])) {
                q += 5;
                while (is_blank(*q))
                        q++;
                return parse_every(P, q, ret);
        }
        if (n == 6 && upper_eq(q, "REBOOT", 6) && is_end(q[6])) {
                for (const char *t = q + n; *t; t++)
                        if (!is_blank(*t))
                                return parser_fail(P, t, "unexpected text after the macro");
                *ret = (CronExpr) { .flags = CRON_REBOOT };
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(macros); i++) {
                const char *x = macros[i].expansion;
                const char *starts[5] = { x, x + 2, x + 4, x + 6, x + 8 };
                Parser sub = { .key = "" };

                if (n != strlen(macros[i].name) || !upper_eq(q, macros[i].name, n) || !is_end(q[n]))
                        continue;
                for (const char *t = q + n; *t; t++)
                        if (!is_blank(*t))
                                return parser_fail(P, t, "unexpected text after the macro");
                return parse_fields(&sub, starts, 5, ret);
        }
        return parser_fail(P, at, "unknown macro");
}

int cronexpr_parse(const char *s, const char *hash_key, CronExpr *ret,
                   unsigned *reterr_column, const char **reterr_message) {
        static const char *const count_msg[] = {
                "expression is empty",
                "expected 5, 6 or 7 fields, got 1",
                "expected 5, 6 or 7 fields, got 2",
                "expected 5, 6 or 7 fields, got 3",
                "expected 5, 6 or 7 fields, got 4",
        };
        Parser P = { .key = hash_key ? hash_key : "" };
        const char *starts[CRON_FIELDS_MAX];
        const char *q = s;
        int n = 0, r;

        if (strnlen(s, CRON_EXPR_LEN_MAX + 1) > CRON_EXPR_LEN_MAX) {
                r = parser_fail(&P, s + CRON_EXPR_LEN_MAX, "expression too long");
                goto finish;
        }

        while (is_blank(*q))
                q++;
        if (*q == '@') {
                r = parse_macro(&P, q, ret);
                goto finish;
        }
        for (;;) {
                while (is_blank(*q))
                        q++;
                if (!*q)
                        break;
                if (n == CRON_FIELDS_MAX) {
                        r = parser_fail(&P, q, "expected 5, 6 or 7 fields, got more than 7");
                        goto finish;
                }
                starts[n++] = q;
                while (!is_end(*q))
                        q++;
        }
        if (n < 5) {
                r = parser_fail(&P, n == 0 ? q : s, count_msg[n]);
                goto finish;
        }
        r = parse_fields(&P, starts, n, ret);

finish:
        if (r < 0) {
                if (reterr_column)
                        *reterr_column = (unsigned) (P.err_at - s) + 1;
                if (reterr_message)
                        *reterr_message = P.err_msg;
        }
        return r;
}
