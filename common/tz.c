/* SPDX-License-Identifier: MIT */
/* IANA time zones: loading by name, and the lookups cron needs.
 *
 * Design. At load time (tz_build.c) a zone becomes two sorted arrays:
 *  - transitions: every change of (utoff, isdst, abbreviation), for tz_offset_at();
 *  - runs: only the changes of utoff, for TzOffset's interval and for tz_resolve(). A change
 *    that only renames the zone or flips isdst (New York's EWT → EPT in 1945) is therefore
 *    never a gap or an overlap.
 * The TZif footer rule is expanded into explicit transitions for ~400 years after the
 * table (so at least to year 2400). POSIX rules repeat every 400 Gregorian years (146097
 * days, a whole number of weeks), so an instant beyond the first full cycle of the expansion
 * is moved back by whole cycles (tz_fold()), looked up, and the answer moved forward again.
 * Every lookup is thus exact for any instant, one binary search, with no allocation and no
 * rule arithmetic.
 *
 * tz_resolve(L): an instant with local time L lies in a run r with t = L - utoff(r), so all
 * answers lie in [L - utoff_max, L - utoff_min] and only the runs meeting that window (one
 * to three in practice) are tried. If none matches, L is in the gap opened by the change into
 * some run r, [start(r) + utoff(r - 1), start(r) + utoff(r)). Runs and gaps tile the local
 * time line, and that run r starts inside the window too, so the same loop finds it. */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdio.h"
#include "macro.h"
#include "tz_internal.h"

#define TZ_DIR_DEFAULT "/usr/share/zoneinfo"
#define TZ_FILE_MAX (1024 * 1024)
#define TZ_LOCAL_LIMIT (INT64_MAX - (INT64_C(1) << 20))  /* |local| clamp: sums stay in range */

static const TzType utc_types[] = { { .utoff = 0, .abbr = "UTC" } };
static const int64_t utc_run_start[] = { INT64_MIN };
static const int32_t utc_run_utoff[] = { 0 };
static const Tz utc_zone = {
        .name = "UTC", .types = utc_types, .run_start = utc_run_start,
        .run_utoff = utc_run_utoff, .n_runs = 1, .cycle = INT64_MAX,
};

/* Reads a whole regular file of at most TZ_FILE_MAX bytes. -ENOENT: no such file. */
static int tz_read_file(const char *path, uint8_t **ret, size_t *ret_size) {
        _cleanup_(closep) int fd = -EBADF;
        _cleanup_free_ uint8_t *buf = NULL;
        struct stat st;
        size_t n, max;
        ssize_t k;

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
        k = read_full(fd, buf, max + 1);        /* one byte more than expected: detects growth */
        if (k < 0)
                return (int) k;
        n = (size_t) k;
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
        TzPosix z = {};

        if (name[0] == '/')
                return -ENOENT;
        for (size_t i = 0; i < ELEMENTSOF(utc_names); i++)
                if (strcmp(name, utc_names[i]) == 0)
                        memcpy(z.std_abbr, i < 2 ? "UTC" : "GMT", 4);
        if (!z.std_abbr[0] && tz_posix_parse(name, &z) < 0)
                return -ENOENT;

        return tz_build_posix(&z, name, ret);
}

int tz_load(const char *name, const char *tzdir, Tz **ret) {
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
        return tz_build_tzif(buf, size, name, ret);
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
