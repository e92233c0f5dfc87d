/* SPDX-License-Identifier: MIT */
/* GET /metrics: the Prometheus text exposition format 0.0.4. Per job: runs by result, the
 * duration histogram, the last run, the last success, the next firing, running now,
 * missed firings, elections by outcome; the lease store's claim durations; reloads; the
 * build. Counters live with their job, so they survive reloads for jobs that survive them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build-config.h"
#include "daemon_internal.h"

/* A label value: backslash, double quote and newline escaped, as the format wants. (Job
 * names cannot hold them; a backend's name or a version string might, one day.) */
static void put_label(FILE *f, const char *s) {
        for (; *s; s++) {
                if (*s == '\\' || *s == '"')
                        fputc('\\', f);
                if (*s == '\n') {
                        fputs("\\n", f);
                        continue;
                }
                fputc(*s, f);
        }
}

static void help(FILE *f, const char *name, const char *type, const char *text) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

/* A label pair job="NAME" plus a second one when key is not NULL. */
static void series(FILE *f, const char *metric, const char *job, const char *key,
                   const char *value) {
        fprintf(f, "%s{job=\"", metric);
        put_label(f, job);
        if (key) {
                fprintf(f, "\",%s=\"", key);
                put_label(f, value);
        }
        fputs("\"} ", f);
}

/* Every job of the table: the current ones (retired ones are left out: they go away). */
#define FOR_EACH_JOB(d, j) \
        for (size_t _i = 0; _i < (d)->n_jobs && ((j) = (d)->jobs[_i], true); _i++)

static void render_runs(FILE *f, Daemon *d) {
        Job *j;

        help(f, "solocron_job_runs_total", "counter", "Runs that ran here, by result.");
        FOR_EACH_JOB(d, j)
                for (int r = 0; r < _RUN_RESULT_MAX; r++) {
                        series(f, "solocron_job_runs_total", j->name, "result",
                               run_result_to_string((RunResult) r));
                        fprintf(f, "%llu\n",
                                (unsigned long long) (j->stats ? j->stats->runs[r] : 0));
                }
        help(f, "solocron_job_duration_seconds", "histogram",
             "How long runs took, all attempts included.");
        FOR_EACH_JOB(d, j) {
                const JobStats *st = j->stats;

                for (size_t b = 0; b < JOB_STATS_BUCKETS; b++) {
                        char le[32];

                        (void) snprintf(le, sizeof(le), "%g", job_stats_buckets[b]);
                        series(f, "solocron_job_duration_seconds_bucket", j->name, "le", le);
                        fprintf(f, "%llu\n",
                                (unsigned long long) (st ? st->duration_bucket[b] : 0));
                }
                series(f, "solocron_job_duration_seconds_bucket", j->name, "le", "+Inf");
                fprintf(f, "%llu\n", (unsigned long long) (st ? st->duration_count : 0));
                series(f, "solocron_job_duration_seconds_sum", j->name, NULL, NULL);
                fprintf(f, "%.6f\n", st ? st->duration_sum : 0.0);
                series(f, "solocron_job_duration_seconds_count", j->name, NULL, NULL);
                fprintf(f, "%llu\n", (unsigned long long) (st ? st->duration_count : 0));
        }
}

static void render_times(FILE *f, Daemon *d) {
        Job *j;

        help(f, "solocron_job_last_run_timestamp_seconds", "gauge",
             "When the last run that ran here ended (0: none since the daemon started).");
        FOR_EACH_JOB(d, j) {
                series(f, "solocron_job_last_run_timestamp_seconds", j->name, NULL, NULL);
                fprintf(f, "%lld\n", (long long) (j->stats ? j->stats->last_run : 0));
        }
        help(f, "solocron_job_last_success_timestamp_seconds", "gauge",
             "When the last successful run that ran here ended (0: none).");
        FOR_EACH_JOB(d, j) {
                series(f, "solocron_job_last_success_timestamp_seconds", j->name, NULL, NULL);
                fprintf(f, "%lld\n", (long long) (j->stats ? j->stats->last_success : 0));
        }
        help(f, "solocron_job_next_run_timestamp_seconds", "gauge",
             "The job's next firing (0: none scheduled).");
        FOR_EACH_JOB(d, j) {
                series(f, "solocron_job_next_run_timestamp_seconds", j->name, NULL, NULL);
                fprintf(f, "%lld\n", (long long) (j->cfg->enabled && j->next.has ?
                                                  j->next.firing.f.t : 0));
        }
}

static void render_state(FILE *f, Daemon *d) {
        Job *j;

        help(f, "solocron_job_running", "gauge", "Runs of the job in progress here.");
        FOR_EACH_JOB(d, j) {
                series(f, "solocron_job_running", j->name, NULL, NULL);
                fprintf(f, "%zu\n", j->n_runs);
        }
        help(f, "solocron_job_paused", "gauge",
             "1 when the job's firings are not run: paused (the API) or suspend: true.");
        FOR_EACH_JOB(d, j) {
                series(f, "solocron_job_paused", j->name, NULL, NULL);
                fprintf(f, "%d\n", j->paused || j->cfg->suspend);
        }
        help(f, "solocron_job_missed_total", "counter",
             "Firings missed (the daemon was down, the clock jumped) and not caught up.");
        FOR_EACH_JOB(d, j) {
                series(f, "solocron_job_missed_total", j->name, NULL, NULL);
                fprintf(f, "%llu\n", (unsigned long long) (j->stats ? j->stats->missed : 0));
        }
        help(f, "solocron_lease_elections_total", "counter", "Elections of firings, by outcome.");
        FOR_EACH_JOB(d, j)
                for (int o = ELECT_NONE; o < _ELECT_OUTCOME_MAX; o++) {
                        series(f, "solocron_lease_elections_total", j->name, "outcome",
                               elect_outcome_to_string((ElectOutcome) o));
                        fprintf(f, "%llu\n",
                                (unsigned long long) (j->stats ? j->stats->elections[o] : 0));
                }
}

static void render_daemon(FILE *f, Daemon *d) {
        const LeaseClaimStats *st = &d->env.claim_stats;
        const char *backend = d->env.lease ? d->env.lease->ops->name : "none";

        help(f, "solocron_lease_request_duration_seconds", "histogram",
             "How long the lease store took to decide a claim.");
        for (size_t b = 0; b < LEASE_CLAIM_BUCKETS; b++) {
                fputs("solocron_lease_request_duration_seconds_bucket{backend=\"", f);
                put_label(f, backend);
                fprintf(f, "\",operation=\"claim\",le=\"%g\"} %llu\n", lease_claim_buckets[b],
                        (unsigned long long) st->bucket[b]);
        }
        fputs("solocron_lease_request_duration_seconds_bucket{backend=\"", f);
        put_label(f, backend);
        fprintf(f, "\",operation=\"claim\",le=\"+Inf\"} %llu\n", (unsigned long long) st->count);
        fputs("solocron_lease_request_duration_seconds_sum{backend=\"", f);
        put_label(f, backend);
        fprintf(f, "\",operation=\"claim\"} %.6f\n", st->sum);
        fputs("solocron_lease_request_duration_seconds_count{backend=\"", f);
        put_label(f, backend);
        fprintf(f, "\",operation=\"claim\"} %llu\n", (unsigned long long) st->count);

        help(f, "solocron_config_reloads_total", "counter", "Reloads of the table, by result.");
        fprintf(f, "solocron_config_reloads_total{result=\"success\"} %llu\n",
                (unsigned long long) d->reloads_ok);
        fprintf(f, "solocron_config_reloads_total{result=\"failure\"} %llu\n",
                (unsigned long long) d->reloads_failed);
        help(f, "solocron_config_last_reload_success_timestamp_seconds", "gauge",
             "When the table was last loaded (start-up, or a good reload).");
        fprintf(f, "solocron_config_last_reload_success_timestamp_seconds %lld\n",
                (long long) d->last_reload_ok);
        help(f, "solocron_build_info", "gauge", "The running solocron's version.");
        fputs("solocron_build_info{version=\"", f);
        put_label(f, PACKAGE_VERSION);
        fputs("\"} 1\n", f);
}

int metrics_render(Daemon *d, char **ret, size_t *ret_size) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        if (!f)
                return -ENOMEM;
        render_runs(f, d);
        render_times(f, d);
        render_state(f, d);
        render_daemon(f, d);
        if (fclose(f) != 0) {
                free(buf);
                return -ENOMEM;
        }
        *ret = buf;
        *ret_size = size;
        return 0;
}
