/* SPDX-License-Identifier: MIT */
/* `solocron next`: replay a table's schedule, marking what DST and exclude: did to it. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "firing.h"
#include "macro.h"
#include "parse.h"
#include "tz.h"

#define NEXT_DEFAULT_COUNT 5
#define NEXT_MAX_LINES 1000000  /* a bound on what one command can print */

typedef struct Line {
        const JobConfig *job;
        JobFiring jf;
} Line;

typedef struct Lines {
        Line *items;
        size_t n, allocated;
} Lines;

static int lines_add(Lines *l, const JobConfig *j, const JobFiring *jf) {
        if (l->n == l->allocated) {
                size_t a = l->allocated ? l->allocated * 2 : 64;
                Line *p = realloc(l->items, a * sizeof(Line));

                if (!p)
                        return -ENOMEM;
                l->items = p;
                l->allocated = a;
        }
        l->items[l->n++] = (Line) { .job = j, .jf = *jf };
        return 0;
}

static int line_compare(const void *a, const void *b) {
        const Line *x = a, *y = b;

        if (x->jf.f.t != y->jf.f.t)
                return x->jf.f.t < y->jf.f.t ? -1 : 1;
        return x->job < y->job ? -1 : x->job > y->job;
}

/* "02:30" or "02:30:15" of local civil seconds. */
static const char *format_hm(int64_t local, char buf[static 16]) {
        Civil c;

        civil_from_seconds(local, &c);
        if (c.second)
                (void) snprintf(buf, 16, "%02d:%02d:%02d", c.hour, c.minute, c.second);
        else
                (void) snprintf(buf, 16, "%02d:%02d", c.hour, c.minute);
        return buf;
}

static void print_line(const Line *l) {
        const JobConfig *j = l->job;
        const CronFiring *f = &l->jf.f;
        char local[CLI_LOCAL_TIME_MAX], utc[RFC3339_UTC_MAX], sched[16], actual[16];
        TzOffset off;

        tz_offset_at(j->tz, f->t, &off);
        printf("%s  %s  %s", j->name, cli_format_local(j->tz, f->t, local), format_rfc3339_utc(f->t, utc));
        if (f->flags & CRON_FIRE_DST_GAP)
                printf("  %s skipped by DST, fired at %s %s%s", format_hm(f->local, sched),
                       format_hm(f->t + off.utoff, actual), off.abbr,
                       f->flags & CRON_FIRE_DST_MERGED ? " (merged with the next skipped times)" : "");
        else if (f->flags & CRON_FIRE_DST_REPEAT)
                printf("  %s repeated by DST, second occurrence (%s)", format_hm(f->local, sched),
                       off.abbr);
        else if (!(f->flags & CRON_FIRE_DST_MERGED) && !(j->schedule.flags & CRON_EVERY)) {
                TzResolved res;

                tz_resolve(j->tz, f->local, &res);
                if (res.n == 2)
                        printf("  %s repeated by DST, fired once (first occurrence, %s)",
                               format_hm(f->local, sched), off.abbr);
        }
        if (l->jf.excluded)
                printf("  excluded by '%s', not run", l->jf.excluded->text);
        putchar('\n');
}

/* Firings of j in [from, until), at most `count` that run (excluded ones are listed too,
 * not counted). */
static int collect(const JobConfig *j, int64_t from, int64_t until, uint64_t count, Lines *out) {
        int64_t t = from - 1;
        uint64_t n = 0;

        while (n < count && out->n < NEXT_MAX_LINES) {
                JobFiring jf;
                int r;

                r = firing_next(j, t, &jf);
                if (r == -ERANGE)
                        break;
                if (r < 0)
                        return r;
                if (jf.f.t >= until)
                        break;
                r = lines_add(out, j, &jf);
                if (r < 0)
                        return r;
                if (!jf.excluded)
                        n++;
                t = jf.f.t;
        }
        return 0;
}

/* --from/--until: with an offset or 'Z' it is absolute; without, it is local time in the
 * zone of the first job shown (or the table's default zone). */
static int parse_time_arg(const char *opt, const char *s, const Tz *tz, int64_t *ret) {
        bool absolute;
        int64_t v;

        if (parse_timestamp(s, &v, &absolute) < 0) {
                fprintf(stderr, "solocron next: %s: invalid time '%s' (use e.g. 2026-03-08, "
                        "2026-03-08T01:30, 2026-03-08T06:30:00Z or @UNIXTIME)\n", opt, s);
                return -EINVAL;
        }
        if (!absolute) {
                TzResolved res;

                tz_resolve(tz, v, &res);
                v = res.n > 0 ? res.t[0] : res.transition;
        }
        *ret = v;
        return 0;
}

typedef struct NextArgs {
        const char *config, *from, *until;
        uint64_t count;         /* 0: the default */
} NextArgs;

/* Options into *ret; returns -1 to go on, else the exit status (help, a bad option). */
static int next_parse_args(int argc, char **argv, NextArgs *ret) {
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "count", required_argument, NULL, 'n' },
                { "from", required_argument, NULL, 'f' },
                { "until", required_argument, NULL, 'u' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        int o;

        while ((o = getopt_long(argc, argv, "c:n:h", options, NULL)) >= 0)
                switch (o) {
                case 'c':
                        ret->config = optarg;
                        break;
                case 'n':
                        if (parse_uint64(optarg, NEXT_MAX_LINES, &ret->count) < 0 || ret->count == 0) {
                                fprintf(stderr, "solocron next: -n: expected a count 1..%d, got '%s'\n",
                                        NEXT_MAX_LINES, optarg);
                                return EXIT_USAGE;
                        }
                        break;
                case 'f':
                        ret->from = optarg;
                        break;
                case 'u':
                        ret->until = optarg;
                        break;
                case 'h':
                        printf("Usage: solocron next [-c FILE] [JOB...] [-n N] [--from TIME] [--until TIME]\n"
                               "List the next N firings (default %d) of each job, or all in [from, until).\n",
                               NEXT_DEFAULT_COUNT);
                        return EXIT_OK;
                default:
                        return EXIT_USAGE;
                }
        return -1;
}

/* The jobs named in names[0..n) (each once), or every enabled job without names; NULL and a
 * message when a name is unknown (or out of memory). */
static const JobConfig **next_select(const Config *c, char **names, int n, size_t *ret_n) {
        _cleanup_free_ const JobConfig **selected = calloc(c->n_jobs + 1, sizeof(JobConfig *));
        size_t k = 0;

        if (!selected) {
                fprintf(stderr, "solocron next: out of memory\n");
                return NULL;
        }
        for (int i = 0; i < n; i++) {
                const JobConfig *j = config_find_job(c, names[i]);
                bool dup = false;

                if (!j) {
                        fprintf(stderr, "solocron next: no job named '%s'\n", names[i]);
                        return NULL;
                }
                for (size_t m = 0; m < k; m++)
                        dup = dup || selected[m] == j;
                if (!dup)       /* a name given twice is shown once */
                        selected[k++] = j;
        }
        if (n == 0)
                for (size_t i = 0; i < c->n_jobs; i++)
                        if (c->jobs[i].enabled)
                                selected[k++] = &c->jobs[i];
        *ret_n = k;
        return TAKE_PTR(selected);
}

/* The firings of the selected jobs in [from, until), merged in time order. */
static int next_print(const JobConfig **selected, size_t n, int64_t from, int64_t until,
                      uint64_t count) {
        Lines lines = {};
        int ret = EXIT_OK;

        for (size_t i = 0; i < n && ret == EXIT_OK; i++)
                if (collect(selected[i], from, until, count, &lines) < 0) {
                        fprintf(stderr, "solocron next: out of memory\n");
                        ret = EXIT_FAILURE_RUNTIME;
                }
        if (ret == EXIT_OK) {
                if (lines.n > 0)        /* qsort(NULL, 0, …) is undefined */
                        qsort(lines.items, lines.n, sizeof(Line), line_compare);
                for (size_t i = 0; i < lines.n; i++)
                        print_line(&lines.items[i]);
                if (lines.n >= NEXT_MAX_LINES)
                        fprintf(stderr, "solocron next: stopped after %d lines\n", NEXT_MAX_LINES);
        }
        free(lines.items);
        return ret;
}

int cli_next(int argc, char **argv) {
        NextArgs args = {};
        _cleanup_free_ const JobConfig **selected = NULL;
        _cleanup_(config_freep) Config *c = NULL;
        size_t n_selected = 0;
        int64_t from, until = INT64_MAX;
        const Tz *tz;
        int r;

        r = next_parse_args(argc, argv, &args);
        if (r >= 0)
                return r;
        if (cli_load_config(cli_config_path(args.config), &c) < 0)
                return EXIT_BAD_CONFIG;
        selected = next_select(c, argv + optind, argc - optind, &n_selected);
        if (!selected)
                return EXIT_FAILURE_RUNTIME;
        tz = n_selected > 0 ? selected[0]->tz : c->default_tz;
        from = cli_now_sec() + 1;
        if ((args.from && parse_time_arg("--from", args.from, tz, &from) < 0) ||
            (args.until && parse_time_arg("--until", args.until, tz, &until) < 0))
                return EXIT_USAGE;
        if (args.count == 0)
                args.count = args.until ? NEXT_MAX_LINES : NEXT_DEFAULT_COUNT;
        return next_print(selected, n_selected, from, until, args.count);
}
