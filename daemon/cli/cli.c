/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "build-config.h"
#include "cli.h"
#include "firing.h"
#include "macro.h"
#include "tz.h"

int64_t cli_now_sec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec;
}

const char *cli_config_path(const char *arg) {
        const char *e;

        if (arg)
                return arg;
        e = getenv("SOLOCRON_CONFIG");
        return e && *e ? e : DEFAULT_CONFIG;
}

/* CRON_TZ (cronie's per-table variable) is more specific than TZ, so it wins. A leading ':'
 * is the POSIX "implementation-defined" marker glibc accepts; strip it. */
static const char *default_zone(void) {
        const char *v = getenv("CRON_TZ");

        if (!v || !*v)
                v = getenv("TZ");
        if (!v || !*v)
                return NULL;
        return v[0] == ':' ? v + 1 : v;
}

int cli_load_config(const char *path, Config **ret) {
        ConfigLoadOptions opts = { .default_tz = default_zone() };
        ConfigDiags diags = {};
        Config *c = NULL;
        int r;

        r = config_load(path, &opts, &c, &diags);
        for (size_t i = 0; i < diags.n; i++) {
                _cleanup_free_ char *line = config_diag_format(&diags.items[i]);

                /* A warning says so itself, after its place: "FILE:L:C: warning: …". */
                fprintf(stderr, "%s\n", line ? line : "(out of memory)");
        }
        if (r < 0 && diags.n == 0)
                fprintf(stderr, "%s: cannot load: %s\n", path, strerror(-r));
        if (r < 0 && diags.n_errors > 0)
                fprintf(stderr, "%s: %zu error%s, table not loaded\n", path, diags.n_errors,
                        diags.n_errors == 1 ? "" : "s");
        config_diags_done(&diags);
        if (r < 0)
                return r;
        *ret = c;
        return 0;
}

const char *cli_format_local(const Tz *tz, int64_t t, char buf[static CLI_LOCAL_TIME_MAX]) {
        char local[RFC3339_LOCAL_MAX];
        TzOffset off;

        tz_offset_at(tz, t, &off);
        (void) snprintf(buf, CLI_LOCAL_TIME_MAX, "%s %s", format_rfc3339_offset(t, off.utoff, local),
                        off.abbr);
        return buf;
}

int cli_check(int argc, char **argv) {
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "quiet", no_argument, NULL, 'q' },
                { "store", no_argument, NULL, 's' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        const char *arg_config = NULL;
        bool arg_quiet = false, arg_store = false;
        Config *c = NULL;
        int64_t now = cli_now_sec();
        int o;

        while ((o = getopt_long(argc, argv, "c:qsh", options, NULL)) >= 0)
                switch (o) {
                case 'c':
                        arg_config = optarg;
                        break;
                case 'q':
                        arg_quiet = true;
                        break;
                case 's':
                        arg_store = true;
                        break;
                case 'h':
                        printf("Usage: solocron check [-c FILE] [-q] [--store]\n"
                               "Validate the job table; print each job with its next firing.\n"
                               "--store: also ask the table's lease store whether it answers.\n");
                        return EXIT_OK;
                default:
                        return EXIT_USAGE;
                }
        if (optind < argc) {
                fprintf(stderr, "solocron check: unexpected argument '%s'\n", argv[optind]);
                return EXIT_USAGE;
        }
        if (cli_load_config(cli_config_path(arg_config), &c) < 0)
                return EXIT_BAD_CONFIG;

        for (size_t i = 0; i < c->n_jobs && !arg_quiet; i++) {
                const JobConfig *j = &c->jobs[i];
                char local[CLI_LOCAL_TIME_MAX], utc[RFC3339_UTC_MAX];
                JobFiring jf;

                printf("%s\t%s\t%s\t", j->name, j->schedule_text, tz_name(j->tz));
                if (!j->enabled)
                        printf("disabled\n");
                else if (j->schedule.flags & CRON_REBOOT)
                        printf("when the daemon starts%s\n", j->suspend ? ", suspended" : "");
                else if (firing_next_runnable(j, now, &jf) < 0)
                        printf("no further firing\n");
                else
                        printf("next %s (%s)%s\n", cli_format_local(j->tz, jf.f.t, local),
                               format_rfc3339_utc(jf.f.t, utc), j->suspend ? ", suspended" : "");
        }
        if (!arg_quiet)
                fprintf(stderr, "%s: OK, %zu job%s\n", cli_config_path(arg_config), c->n_jobs,
                        c->n_jobs == 1 ? "" : "s");
        o = arg_store ? cli_check_store(c, arg_quiet) : EXIT_OK;
        config_free(c);
        return o;
}
