/* SPDX-License-Identifier: MIT */
/* Building a Tz: reading TZif files (RFC 8536) and expanding their POSIX TZ footer.
 *
 * Format. A TZif file is a 44-byte header ("TZif", a version byte, 15 unused bytes, six
 * big-endian counts) and a data block: transition times, the local time type index of each,
 * the types (utoff, isdst, abbreviation index), the abbreviation characters, leap-second
 * records and two indicator arrays. Version 1 has 32-bit times only. Versions 2 to 4 repeat
 * header and block with 64-bit times and end with a footer "\n<POSIX TZ string>\n" that
 * describes all instants after the last transition. We read the 64-bit block when there is
 * one, and bound-check every count, index and offset against the file before using it.
 *
 * Tables. Transitions go through tz_build_push(), which drops changes to the type already
 * in effect (zic's "big bang" entry, a footer change the table already made) and empty
 * intervals. The footer rule is expanded into explicit transitions for TZ_RULE_YEARS years
 * after the table's last transition; then tz_build_finish() lays out the arrays of struct Tz
 * (tz_internal.h) and finds the point from which the zone repeats every 400 years. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "timeutil.h"
#include "tz_internal.h"

#define TZ_HEADER_SIZE 44
#define TZ_TYPES_MAX (256 + 2)                  /* a file's types, plus the footer's two */
#define TZ_UTOFF_MIN (-89999)                   /* RFC 8536: more than -25 h, ... */
#define TZ_UTOFF_MAX 93599                      /* ... and less than 26 h */
#define TZ_TIME_LIMIT (INT64_C(1) << 59)        /* RFC 8536: |transition| <= 2^59 */
#define TZ_RULE_YEAR_MIN 1900                   /* rule expansion never starts earlier */
#define TZ_RULE_T_MIN INT64_C(-2208988800)      /* 1900-01-01T00:00:00Z */
#define TZ_RULE_T_MAX INT64_C(253402300800)     /* 10000-01-01: a table ending later... */
#define TZ_RULE_YEARS (4 + 400 + 3)             /* warm-up, one cycle, lookahead */

typedef struct TzTrans {
        int64_t at;
        uint16_t type;
} TzTrans;

typedef struct TzBuild {
        TzType types[TZ_TYPES_MAX];             /* no two equal: equal types, equal index */
        size_t n_types;
        uint16_t type0;
        TzTrans *trans;                         /* owned; ascending, no no-op entries */
        size_t n_trans, cap;
        int64_t cycle_from;                     /* the rule expansion is periodic after this */
} TzBuild;

static void tz_build_done(TzBuild *b) {
        free(b->trans);
}

static uint16_t tz_build_type(TzBuild *b, int32_t utoff, bool isdst, const char *abbr,
                              size_t len) {
        TzType *t;

        for (size_t i = 0; i < b->n_types; i++) {
                t = &b->types[i];
                if (t->utoff == utoff && t->isdst == isdst && strlen(t->abbr) == len &&
                    memcmp(t->abbr, abbr, len) == 0)
                        return (uint16_t) i;
        }
        /* At most 256 file types and 2 footer types reach here. */
        t = &b->types[b->n_types];
        *t = (TzType) { .utoff = utoff, .isdst = isdst };
        memcpy(t->abbr, abbr, len);
        return (uint16_t) b->n_types++;
}

static int tz_build_reserve(TzBuild *b, size_t n) {
        TzTrans *p;

        if (n > SIZE_MAX / sizeof(TzTrans) - b->cap)
                return -ENOMEM;
        p = realloc(b->trans, (b->cap + n) * sizeof(TzTrans));
        if (!p)
                return -ENOMEM;
        b->trans = p;
        b->cap += n;
        return 0;
}

/* Appends a change at `at` (>= the last one) to `type`; capacity must be reserved. */
static void tz_build_push(TzBuild *b, int64_t at, uint16_t type) {
        if (b->n_trans > 0 && b->trans[b->n_trans - 1].at == at)
                b->n_trans--;           /* the interval it began is empty */
        if (type == (b->n_trans > 0 ? b->trans[b->n_trans - 1].type : b->type0))
                return;
        b->trans[b->n_trans++] = (TzTrans) { .at = at, .type = type };
}

typedef struct TzEvent {
        int64_t at;
        uint32_t seq;                   /* order of equal instants: the rule's own order */
        uint16_t type;
} TzEvent;

static int tz_event_compare(const void *a, const void *b) {
        const TzEvent *x = a, *y = b;

        if (x->at != y->at)
                return x->at < y->at ? -1 : 1;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int32_t tz_utc_year(int64_t t) {
        int32_t y;
        int m, d;

        civil_from_days(t / 86400 - (t % 86400 < 0), &y, &m, &d);
        return y;
}

/* Appends the changes of rule z after t_last (all of them if !have_table): years from that
 * of t_last (at least TZ_RULE_YEAR_MIN) on, TZ_RULE_YEARS of them. In each year the change
 * that comes first in time is applied first; a zero-length interval vanishes in push(). */
static int tz_build_rule(TzBuild *b, const TzPosix *z, bool have_table, int64_t t_last) {
        uint16_t std, dst;
        TzEvent ev[2 * TZ_RULE_YEARS];
        int32_t y0;
        size_t n = 0;

        std = tz_build_type(b, z->std_utoff, false, z->std_abbr, strlen(z->std_abbr));
        if (!have_table)
                b->type0 = std;
        if (!z->has_dst || (have_table && t_last >= TZ_RULE_T_MAX))
                return 0;       /* ...ignores its footer */
        dst = tz_build_type(b, z->dst_utoff, true, z->dst_abbr, strlen(z->dst_abbr));

        y0 = have_table && t_last > TZ_RULE_T_MIN ? tz_utc_year(t_last) - 1 : TZ_RULE_YEAR_MIN;
        if (y0 < TZ_RULE_YEAR_MIN)
                y0 = TZ_RULE_YEAR_MIN;
        for (int32_t y = y0; y < y0 + TZ_RULE_YEARS; y++) {
                TzEvent s = { tz_posix_rule_at(&z->start, y, z->std_utoff), 0, dst };
                TzEvent e = { tz_posix_rule_at(&z->end, y, z->dst_utoff), 0, std };

                ev[n] = s.at <= e.at ? s : e;
                ev[n].seq = (uint32_t) n;
                n++;
                ev[n] = s.at <= e.at ? e : s;
                ev[n].seq = (uint32_t) n;
                n++;
        }
        qsort(ev, n, sizeof(TzEvent), tz_event_compare);

        if (!have_table)
                b->type0 = ev[0].type == dst ? std : dst;
        for (size_t i = 0; i < n; i++)
                if (!have_table || ev[i].at > t_last)
                        tz_build_push(b, ev[i].at, ev[i].type);
        b->cycle_from = days_from_civil(y0 + 4, 1, 1) * 86400;
        return 0;
}

/* The first transition at or after b->cycle_from, if the table holds a whole cycle (plus
 * the widest resolve window) from there. */
static int64_t tz_find_cycle(const Tz *tz, int64_t cycle_from) {
        size_t j;

        if (cycle_from == INT64_MAX || tz->n_trans == 0)
                return INT64_MAX;
        j = tz_count_le(tz->trans_at, tz->n_trans, cycle_from - 1);
        if (j >= tz->n_trans ||
            tz->trans_at[tz->n_trans - 1] <=
            tz->trans_at[j] + TZ_CYCLE + (tz->utoff_max - tz->utoff_min))
                return INT64_MAX;
        return tz->trans_at[j];
}

static int tz_build_finish(const TzBuild *b, const char *name, Tz **ret) {
        size_t n = b->n_trans, n_runs = 1, len = strlen(name), r = 0;
        int32_t utoff = b->types[b->type0].utoff;
        int64_t *trans_at, *run_start;
        int32_t *run_utoff;
        uint32_t *trans_run;
        uint16_t *trans_type;
        TzType *types;
        char *p;
        Tz *tz;

        for (size_t i = 0; i < n; i++)
                if (b->types[b->trans[i].type].utoff != utoff) {
                        utoff = b->types[b->trans[i].type].utoff;
                        n_runs++;
                }

        /* Ordered by alignment; sizeof(Tz) is a multiple of 8. */
        tz = malloc(sizeof(Tz) + n * (8 + 4 + 2) + n_runs * (8 + 4) +
                    b->n_types * sizeof(TzType) + len + 1);
        if (!tz)
                return -ENOMEM;
        p = (char *) (tz + 1);
        trans_at = (int64_t *) p;
        p += n * 8;
        run_start = (int64_t *) p;
        p += n_runs * 8;
        types = (TzType *) p;
        p += b->n_types * sizeof(TzType);
        run_utoff = (int32_t *) p;
        p += n_runs * 4;
        trans_run = (uint32_t *) p;
        p += n * 4;
        trans_type = (uint16_t *) p;
        p += n * 2;
        memcpy(p, name, len + 1);
        memcpy(types, b->types, b->n_types * sizeof(TzType));

        run_start[0] = INT64_MIN;
        run_utoff[0] = types[b->type0].utoff;
        for (size_t i = 0; i < n; i++) {
                utoff = types[b->trans[i].type].utoff;
                if (utoff != run_utoff[r]) {
                        r++;
                        run_start[r] = b->trans[i].at;
                        run_utoff[r] = utoff;
                }
                trans_at[i] = b->trans[i].at;
                trans_type[i] = b->trans[i].type;
                trans_run[i] = (uint32_t) r;
        }

        *tz = (Tz) {
                .name = p, .trans_at = trans_at, .trans_type = trans_type,
                .trans_run = trans_run, .n_trans = n, .run_start = run_start,
                .run_utoff = run_utoff, .n_runs = n_runs, .types = types, .type0 = b->type0,
                .utoff_min = run_utoff[0], .utoff_max = run_utoff[0],
        };
        for (size_t i = 1; i < n_runs; i++) {
                if (run_utoff[i] < tz->utoff_min)
                        tz->utoff_min = run_utoff[i];
                if (run_utoff[i] > tz->utoff_max)
                        tz->utoff_max = run_utoff[i];
        }
        tz->cycle = tz_find_cycle(tz, b->cycle_from);
        *ret = tz;
        return 0;
}

typedef struct TzifHeader {
        uint8_t version;
        uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
        size_t body;                    /* bytes of the data block after the header */
} TzifHeader;

static uint32_t be32(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p) {
        return (int64_t) ((uint64_t) be32(p) << 32 | be32(p + 4));
}

/* The header at buf + *pos, whose data block must fit in the file; advances *pos past it. */
static int tzif_header(const uint8_t *buf, size_t size, size_t *pos, unsigned timesize,
                       TzifHeader *ret) {
        const uint8_t *p = buf + *pos;
        TzifHeader h;
        uint64_t body;

        if (size - *pos < TZ_HEADER_SIZE || memcmp(p, "TZif", 4) != 0)
                return -EBADMSG;
        h = (TzifHeader) {
                .version = p[4], .isutcnt = be32(p + 20), .isstdcnt = be32(p + 24),
                .leapcnt = be32(p + 28), .timecnt = be32(p + 32), .typecnt = be32(p + 36),
                .charcnt = be32(p + 40),
        };
        /* Each count < 2^32, each factor <= 12: no overflow in 64 bits. */
        body = (uint64_t) h.timecnt * (timesize + 1) + (uint64_t) h.typecnt * 6 + h.charcnt +
               (uint64_t) h.leapcnt * (timesize + 4) + h.isstdcnt + h.isutcnt;
        if (body > size - *pos - TZ_HEADER_SIZE || (h.version != 0 && h.version < '2') ||
            h.typecnt == 0 || h.typecnt > 256 || h.charcnt == 0 ||
            (h.isutcnt != 0 && h.isutcnt != h.typecnt) ||
            (h.isstdcnt != 0 && h.isstdcnt != h.typecnt))
                return -EBADMSG;
        h.body = (size_t) body;
        *pos += TZ_HEADER_SIZE;
        *ret = h;
        return 0;
}

/* The types at p, abbreviations in chars; map[i] is file type i's index in b. */
static int tzif_types(const TzifHeader *h, const uint8_t *p, const uint8_t *chars,
                      TzBuild *b, uint16_t map[static 256]) {
        for (uint32_t i = 0; i < h->typecnt; i++, p += 6) {
                int32_t utoff = (int32_t) be32(p);
                const char *abbr = (const char *) chars + p[5], *nul;

                if (utoff < TZ_UTOFF_MIN || utoff > TZ_UTOFF_MAX || p[4] > 1 || p[5] >= h->charcnt)
                        return -EBADMSG;
                nul = memchr(abbr, 0, h->charcnt - p[5]);
                if (!nul || nul - abbr > TZ_ABBR_MAX)
                        return -EBADMSG;
                map[i] = tz_build_type(b, utoff, p[4], abbr, (size_t) (nul - abbr));
        }
        return 0;
}

static int tzif_transitions(const TzifHeader *h, const uint8_t *times, unsigned timesize,
                            const uint8_t *idx, const uint16_t map[static 256], TzBuild *b) {
        int64_t prev = INT64_MIN;

        for (uint32_t i = 0; i < h->timecnt; i++) {
                int64_t at = timesize == 8 ? be64(times + 8 * i) : (int32_t) be32(times + 4 * i);

                if (at < -TZ_TIME_LIMIT || at > TZ_TIME_LIMIT || at <= prev || idx[i] >= h->typecnt)
                        return -EBADMSG;
                tz_build_push(b, at, map[idx[i]]);
                prev = at;
        }
        return 0;
}

/* "\n" TZ-string "\n" at p[0..n): *ret_has is false for an empty string. */
static int tzif_footer(const uint8_t *p, size_t n, TzPosix *ret, bool *ret_has) {
        char s[TZ_POSIX_MAX + 1];
        const uint8_t *nl;
        size_t len;

        if (n < 2 || p[0] != '\n')
                return -EBADMSG;
        nl = memchr(p + 1, '\n', n - 1);
        if (!nl)
                return -EBADMSG;
        len = (size_t) (nl - p - 1);
        if (len > TZ_POSIX_MAX || memchr(p + 1, 0, len))
                return -EBADMSG;
        memcpy(s, p + 1, len);
        s[len] = 0;
        if (len > 0 && tz_posix_parse(s, ret) < 0)
                return -EBADMSG;
        *ret_has = len > 0;
        return 0;
}

static int tzif_parse(const uint8_t *buf, size_t size, TzBuild *b) {
        const uint8_t *times, *idx, *types, *chars, *ind, *end;
        unsigned timesize = 4;
        uint16_t map[256] = {};        /* typecnt >= 1: map[0] is always set */
        bool has_footer = false;
        TzPosix footer;
        TzifHeader h;
        size_t pos = 0;
        int r;

        r = tzif_header(buf, size, &pos, 4, &h);
        if (r >= 0 && h.version != 0) {
                pos += h.body;          /* skip the 32-bit data */
                timesize = 8;
                r = tzif_header(buf, size, &pos, 8, &h);
        }
        if (r < 0)
                return r;
        if (h.leapcnt > 0)
                return -EOPNOTSUPP;     /* "right/" zones count leap seconds: not POSIX time */

        times = buf + pos;
        idx = times + (size_t) h.timecnt * timesize;
        types = idx + h.timecnt;
        chars = types + (size_t) h.typecnt * 6;
        ind = chars + h.charcnt;        /* isstd then isut, each 0 or 1; unused */
        end = ind + h.isstdcnt + h.isutcnt;
        for (const uint8_t *q = ind; q < end; q++)
                if (*q > 1)
                        return -EBADMSG;

        r = tzif_types(&h, types, chars, b, map);
        if (r < 0)
                return r;
        b->type0 = map[0];
        r = tz_build_reserve(b, h.timecnt + 2 * TZ_RULE_YEARS);
        if (r < 0)
                return r;
        r = tzif_transitions(&h, times, timesize, idx, map, b);
        if (r < 0)
                return r;
        if (timesize == 8) {
                r = tzif_footer(end, size - (size_t) (end - buf), &footer, &has_footer);
                if (r < 0)
                        return r;
        }
        if (has_footer)
                return tz_build_rule(b, &footer, h.timecnt > 0,
                                     h.timecnt > 0 ? be64(times + 8 * (h.timecnt - 1)) : 0);
        return 0;
}

int tz_build_tzif(const uint8_t *buf, size_t size, const char *name, Tz **ret) {
        _cleanup_(tz_build_done) TzBuild b = { .cycle_from = INT64_MAX };
        int r;

        r = tzif_parse(buf, size, &b);
        if (r < 0)
                return r;
        return tz_build_finish(&b, name, ret);
}

int tz_build_posix(const TzPosix *z, const char *name, Tz **ret) {
        _cleanup_(tz_build_done) TzBuild b = { .cycle_from = INT64_MAX };
        int r;

        r = tz_build_reserve(&b, 2 * TZ_RULE_YEARS);
        if (r < 0)
                return r;
        r = tz_build_rule(&b, z, false, 0);
        if (r < 0)
                return r;
        return tz_build_finish(&b, name, ret);
}
