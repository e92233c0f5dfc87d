/* SPDX-License-Identifier: MIT */
/* IANA time zones from TZif files (RFC 8536).
 *
 * Format. A TZif file is a 44-byte header ("TZif", a version byte, six big-endian counts)
 * and a data block: transition times, the local time type of each, the types (utoff, isdst,
 * abbreviation index), the abbreviation characters, leap-second records and two indicator
 * arrays. Version 1 has 32-bit times only. Version 2 and later repeat header and block with
 * 64-bit times and end with a footer "\n<POSIX TZ string>\n" (tz_posix.c) that describes
 * all instants after the last transition. We read the 64-bit block when there is one.
 *
 * Design. At load time everything becomes two sorted arrays:
 *  - transitions: every change of (utoff, isdst, abbreviation), for tz_offset_at();
 *  - runs: only the changes of utoff, for TzOffset's interval and for tz_resolve(). A change
 *    that only renames the zone or flips isdst (New York's EWT → EPT in 1945) is therefore
 *    never a gap or an overlap.
 * The footer rule is expanded into explicit transitions, from the last table transition for
 * TZ_RULE_YEARS (~400) years. POSIX rules repeat every 400 Gregorian years (146097 days, a
 * whole number of weeks), so an instant beyond the first full cycle of the expansion is
 * moved back by whole cycles, looked up, and the answer moved forward again. Every lookup is
 * thus exact for any instant, one binary search, with no allocation and no rule arithmetic.
 *
 * tz_resolve(L): an instant with local time L lies in a run r with t = L - utoff(r), so all
 * answers lie in [L - utoff_max, L - utoff_min] and only the runs meeting that window (one
 * to three in practice) are tried. If none matches, L is in the gap opened by the change into
 * some run r, [start(r) + utoff(r - 1), start(r) + utoff(r)). Runs and gaps tile the local
 * time line, and that run r starts inside the window too, so it is found by the same loop. */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "timeutil.h"
#include "tz.h"
#include "tz_posix.h"

#define TZ_DIR_DEFAULT "/usr/share/zoneinfo"
#define TZ_FILE_MAX (1024 * 1024)
#define TZ_HEADER_SIZE 44
#define TZ_TYPES_MAX (256 + 2)                  /* a file's types, plus the footer's two */
#define TZ_UTOFF_MIN (-89999)                   /* RFC 8536: more than -25 h, ... */
#define TZ_UTOFF_MAX 93599                      /* ... less than 26 h */
#define TZ_TIME_LIMIT (INT64_C(1) << 59)        /* RFC 8536: |transition| <= 2^59 */
#define TZ_LOCAL_LIMIT (INT64_MAX - (INT64_C(1) << 20))  /* |local| clamp: sums stay in range */
#define TZ_CYCLE (INT64_C(146097) * 86400)      /* 400 Gregorian years */
#define TZ_RULE_YEAR_MIN 1900                   /* rule expansion never starts earlier */
#define TZ_RULE_T_MIN INT64_C(-2208988800)      /* 1900-01-01T00:00:00Z */
#define TZ_RULE_T_MAX INT64_C(253402300800)     /* 10000-01-01: a table ending later... */
#define TZ_RULE_YEARS (4 + 400 + 3)             /* warm-up, one cycle, lookahead */

typedef struct TzType {
        int32_t utoff;
        bool isdst;
        char abbr[TZ_ABBR_MAX + 1];
} TzType;

struct Tz {                                     /* one allocation: this, the arrays, the name */
        const char *name;
        const int64_t *trans_at;                /* n_trans instants, strictly ascending */
        const uint16_t *trans_type;             /* types[] index in effect from trans_at[i] */
        const uint32_t *trans_run;              /* run in effect from trans_at[i] */
        size_t n_trans;
        const int64_t *run_start;               /* n_runs >= 1, ascending, [0] = INT64_MIN */
        const int32_t *run_utoff;
        size_t n_runs;
        const TzType *types;
        uint16_t type0;                         /* in effect before trans_at[0] */
        int32_t utoff_min, utoff_max;           /* over all runs */
        int64_t cycle;                          /* a transition from which on the zone repeats
                                                 * every TZ_CYCLE; INT64_MAX: it does not */
};

static const TzType utc_types[] = { { .utoff = 0, .abbr = "UTC" } };
static const int64_t utc_run_start[] = { INT64_MIN };
static const int32_t utc_run_utoff[] = { 0 };
static const Tz utc_zone = {
        .name = "UTC", .types = utc_types, .run_start = utc_run_start,
        .run_utoff = utc_run_utoff, .n_runs = 1, .cycle = INT64_MAX,
};

/* ---- building ------------------------------------------------------------------------ */

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

/* Number of entries of the ascending a[0..n) that are <= x. */
static size_t tz_count_le(const int64_t *a, size_t n, int64_t x) {
        size_t lo = 0, hi = n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (a[mid] <= x)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
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

/* ---- reading TZif -------------------------------------------------------------------- */

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
        uint16_t map[256];
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

/* ---- loading ------------------------------------------------------------------------- */

static void tz_closep(int *fd) {
        if (*fd >= 0)
                (void) close(*fd);
}

/* Reads a whole regular file of at most TZ_FILE_MAX bytes. -ENOENT: no such file. */
static int tz_read_file(const char *path, uint8_t **ret, size_t *ret_size) {
        _cleanup_(tz_closep) int fd = -EBADF;
        _cleanup_free_ uint8_t *buf = NULL;
        struct stat st;
        size_t n = 0, max;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return errno == ENOENT || errno == ENOTDIR ? -ENOENT : -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -ENOENT;         /* "America" is a directory, not a zone */
        if (!S_ISREG(st.st_mode) || st.st_size > TZ_FILE_MAX)
                return -EBADMSG;
        max = (size_t) st.st_size;
        buf = malloc(max + 1);
        if (!buf)
                return -ENOMEM;
        while (n <= max) {              /* one byte more than expected: detects growth */
                ssize_t k = read(fd, buf + n, max + 1 - n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        if (n > max)
                return -EBADMSG;
        *ret = TAKE_PTR(buf);
        *ret_size = n;
        return 0;
}

static int tz_read_zone(const char *name, const char *tzdir, uint8_t **ret, size_t *ret_size) {
        char path[PATH_MAX];
        int k;

        if (name[0] == '/')
                return tz_read_file(name, ret, ret_size);
        if (!tzdir || !*tzdir)
                tzdir = getenv("TZDIR");
        if (!tzdir || !*tzdir)
                tzdir = TZ_DIR_DEFAULT;
        k = snprintf(path, sizeof(path), "%s/%s", tzdir, name);
        if (k < 0 || (size_t) k >= sizeof(path))
                return -EINVAL;
        return tz_read_file(path, ret, ret_size);
}

static bool tz_name_valid(const char *name) {
        size_t len = strnlen(name, PATH_MAX);

        if (len == 0 || len >= PATH_MAX)
                return false;
        for (const char *p = name;;) {
                const char *e = strchrnul(p, '/');

                if (e - p == 2 && p[0] == '.' && p[1] == '.')
                        return false;
                if (!*e)
                        return true;
                p = e + 1;
        }
}

/* No file of that name: the names of UTC, else a POSIX TZ string, else -ENOENT. */
static int tz_load_fallback(const char *name, Tz **ret) {
        static const char *const utc_names[] = { "UTC", "Etc/UTC", "GMT", "Etc/GMT" };
        _cleanup_(tz_build_done) TzBuild b = { .cycle_from = INT64_MAX };
        TzPosix z = {};
        int r;

        if (name[0] == '/')
                return -ENOENT;
        for (size_t i = 0; i < ELEMENTSOF(utc_names); i++)
                if (strcmp(name, utc_names[i]) == 0)
                        memcpy(z.std_abbr, i < 2 ? "UTC" : "GMT", 4);
        if (!z.std_abbr[0] && tz_posix_parse(name, &z) < 0)
                return -ENOENT;

        r = tz_build_reserve(&b, 2 * TZ_RULE_YEARS);
        if (r < 0)
                return r;
        r = tz_build_rule(&b, &z, false, 0);
        if (r < 0)
                return r;
        return tz_build_finish(&b, name, ret);
}

int tz_load(const char *name, const char *tzdir, Tz **ret) {
        _cleanup_(tz_build_done) TzBuild b = { .cycle_from = INT64_MAX };
        _cleanup_free_ uint8_t *buf = NULL;
        size_t size = 0;
        int r;

        if (!name)
                return -EINVAL;
        if (name[0] == ':')
                name++;                 /* TZ=":America/New_York": a file name */
        if (!tz_name_valid(name))
                return -EINVAL;
        r = tz_read_zone(name, tzdir, &buf, &size);
        if (r == -ENOENT)
                return tz_load_fallback(name, ret);
        if (r < 0)
                return r;
        r = tzif_parse(buf, size, &b);
        if (r < 0)
                return r;
        return tz_build_finish(&b, name, ret);
}

const Tz *tz_utc(void) {
        return &utc_zone;
}

Tz *tz_free(Tz *tz) {
        if (tz != &utc_zone)
                free(tz);
        return NULL;
}

const char *tz_name(const Tz *tz) {
        return tz->name;
}

/* ---- lookups ------------------------------------------------------------------------- */

/* Moves t >= cycle + TZ_CYCLE back by whole cycles into the table; returns the amount. */
static int64_t tz_fold(const Tz *tz, int64_t *t) {
        int64_t k;

        if (*t < tz->cycle || *t - tz->cycle < TZ_CYCLE)
                return 0;
        k = (*t - tz->cycle) / TZ_CYCLE * TZ_CYCLE;
        *t -= k;
        return k;
}

/* Index + 1 of the transition in effect at the (folded) t; 0 before the first. */
static size_t tz_find(const Tz *tz, int64_t t) {
        return tz_count_le(tz->trans_at, tz->n_trans, t);
}

void tz_offset_at(const Tz *tz, int64_t t, TzOffset *ret) {
        int64_t u = t, shift = tz_fold(tz, &u), start, end;
        size_t i = tz_find(tz, u);
        const TzType *type = &tz->types[i > 0 ? tz->trans_type[i - 1] : tz->type0];
        size_t run = i > 0 ? tz->trans_run[i - 1] : 0;

        start = tz->run_start[run];
        end = run + 1 < tz->n_runs ? tz->run_start[run + 1] : INT64_MAX;
        /* A run that began before the cycle never ends (see tz_find_cycle()); an end past
         * INT64_MAX is "never" too. */
        if (start >= tz->cycle)
                start += shift;
        if (end != INT64_MAX)
                end = end > INT64_MAX - shift ? INT64_MAX : end + shift;
        *ret = (TzOffset) {
                .utoff = type->utoff, .isdst = type->isdst, .abbr = type->abbr,
                .start = start, .end = end,
        };
}

int64_t tz_local_seconds(const Tz *tz, int64_t t) {
        int64_t u = t;
        size_t i;
        int32_t utoff;

        (void) tz_fold(tz, &u);
        i = tz_find(tz, u);
        utoff = tz->types[i > 0 ? tz->trans_type[i - 1] : tz->type0].utoff;
        if (utoff > 0 && t > INT64_MAX - utoff)
                return INT64_MAX;
        if (utoff < 0 && t < INT64_MIN - utoff)
                return INT64_MIN;
        return t + utoff;
}

void tz_resolve(const Tz *tz, int64_t local, TzResolved *ret) {
        TzResolved res = {};
        int64_t lo, hi, shift;
        size_t i, last = 0, gap = 0;

        if (local > TZ_LOCAL_LIMIT)
                local = TZ_LOCAL_LIMIT;
        if (local < -TZ_LOCAL_LIMIT)
                local = -TZ_LOCAL_LIMIT;
        lo = local - tz->utoff_max;
        shift = tz_fold(tz, &lo);
        local -= shift;
        hi = local - tz->utoff_min;

        for (i = tz_count_le(tz->run_start, tz->n_runs, lo) - 1;
             i < tz->n_runs && tz->run_start[i] <= hi; i++) {
                int64_t t = local - tz->run_utoff[i];
                int64_t end = i + 1 < tz->n_runs ? tz->run_start[i + 1] : INT64_MAX;

                if (t >= tz->run_start[i] && t < end) {
                        /* More than two only with contrived data: keep the first and last. */
                        if (res.n < 2)
                                res.n++;
                        res.t[res.n - 1] = t + shift;
                        last = i;
                } else if (gap == 0 && i > 0 &&
                           local >= tz->run_start[i] + tz->run_utoff[i - 1] &&
                           local < tz->run_start[i] + tz->run_utoff[i])
                        gap = i;
        }

        if (res.n == 1)
                res.off_before = res.off_after = tz->run_utoff[last];
        else if (res.n == 0)
                last = gap;     /* gap > 0 whenever n == 0: see the top of the file */
        if (res.n != 1 && last > 0) {
                res.transition = tz->run_start[last] + shift;
                res.off_before = tz->run_utoff[last - 1];
                res.off_after = tz->run_utoff[last];
        }
        *ret = res;
}
