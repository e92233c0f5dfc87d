/* SPDX-License-Identifier: MIT */
/* GET /metrics: the Prometheus text exposition format 0.0.4. Per job: runs by result, the
 * duration histogram, the last run, the last success, the next firing, running now, paused,
 * missed firings, elections by outcome; the lease store's claim durations; output uploads;
 * reloads; the build. Counters live with their job, so they survive reloads for jobs that survive them.
 *
 * The exposition is made a few hundred cells at a time (a cell: one family's series of one
 * job), so that with 1000 jobs (1.8 MB, some 20 ms of formatting in one go) the loop never
 * stops for long: daemon_api.c streams it, a step per loop iteration. */
#include <errno.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>

#include "build-config.h"
#include "daemon_internal.h"
#include "notifier.h"
#include "upload.h"

/* A label value: backslash, double quote and newline escaped, as the format wants. (Job
 * names cannot hold them: they are written as they are; a backend's name or a version
 * string might, one day.) */
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

/* metric{job="NAME"[,key="value"]} value: the job's name and the second label's value are
 * the daemon's own ([A-Za-z0-9_.-], constants): nothing to escape. */
static void series(FILE *f, const char *metric, const Job *j, const char *key,
                   const char *value, unsigned long long n) {
        char num[24];
        int k = snprintf(num, sizeof(num), "%llu", n);

        fputs(metric, f);
        fputs("{job=\"", f);
        fputs(j->cfg->name, f);
        if (key) {
                fputs("\",", f);
                fputs(key, f);
                fputs("=\"", f);
                fputs(value, f);
        }
        fputs("\"} ", f);
        fwrite(num, 1, (size_t) k, f);
        fputc('\n', f);
}

/* ---- the families of one series (or a few) per job ---- */

static void cell_runs(FILE *f, const Job *j) {
        for (int r = 0; r < _RUN_RESULT_MAX; r++)
                series(f, "solocron_job_runs_total", j, "result",
                       run_result_to_string((RunResult) r), j->stats ? j->stats->runs[r] : 0);
}

static void cell_duration(FILE *f, const Job *j) {
        const JobStats *st = j->stats;

        for (size_t b = 0; b < JOB_STATS_BUCKETS; b++) {
                char le[32];

                (void) snprintf(le, sizeof(le), "%g", job_stats_buckets[b]);
                series(f, "solocron_job_duration_seconds_bucket", j, "le", le,
                       st ? st->duration_bucket[b] : 0);
        }
        series(f, "solocron_job_duration_seconds_bucket", j, "le", "+Inf",
               st ? st->duration_count : 0);
        fprintf(f, "solocron_job_duration_seconds_sum{job=\"%s\"} %.6f\n", j->cfg->name,
                st ? st->duration_sum : 0.0);
        series(f, "solocron_job_duration_seconds_count", j, NULL, NULL,
               st ? st->duration_count : 0);
}

static void cell_last_run(FILE *f, const Job *j) {
        series(f, "solocron_job_last_run_timestamp_seconds", j, NULL, NULL,
               j->stats ? (unsigned long long) j->stats->last_run : 0);
}

static void cell_last_success(FILE *f, const Job *j) {
        series(f, "solocron_job_last_success_timestamp_seconds", j, NULL, NULL,
               j->stats ? (unsigned long long) j->stats->last_success : 0);
}

static void cell_next_run(FILE *f, const Job *j) {
        series(f, "solocron_job_next_run_timestamp_seconds", j, NULL, NULL,
               j->cfg->enabled && j->next.has ? (unsigned long long) j->next.firing.f.t : 0);
}

static void cell_running(FILE *f, const Job *j) {
        series(f, "solocron_job_running", j, NULL, NULL, j->n_runs);
}

static void cell_paused(FILE *f, const Job *j) {
        series(f, "solocron_job_paused", j, NULL, NULL, j->paused || j->cfg->suspend);
}

static void cell_missed(FILE *f, const Job *j) {
        series(f, "solocron_job_missed_total", j, NULL, NULL, j->stats ? j->stats->missed : 0);
}

static void cell_missed_fleet(FILE *f, const Job *j) {
        series(f, "solocron_job_missed_fleet_total", j, NULL, NULL,
               j->stats ? j->stats->missed_fleet : 0);
}

static void cell_elections(FILE *f, const Job *j) {
        for (int o = ELECT_NONE; o < _ELECT_OUTCOME_MAX; o++)
                series(f, "solocron_lease_elections_total", j, "outcome",
                       elect_outcome_to_string((ElectOutcome) o),
                       j->stats ? j->stats->elections[o] : 0);
}

static const struct {
        const char *name, *type, *help;
        void (*cell)(FILE *f, const Job *j);
} families[] = {
        { "solocron_job_runs_total", "counter", "Runs that ran here, by result.", cell_runs },
        { "solocron_job_duration_seconds", "histogram",
          "How long runs took, all attempts included.", cell_duration },
        { "solocron_job_last_run_timestamp_seconds", "gauge",
          "When the last run that ran here ended (0: none since the daemon started).",
          cell_last_run },
        { "solocron_job_last_success_timestamp_seconds", "gauge",
          "When the last successful run that ran here ended (0: none).", cell_last_success },
        { "solocron_job_next_run_timestamp_seconds", "gauge",
          "The job's next firing (0: none scheduled).", cell_next_run },
        { "solocron_job_running", "gauge", "Runs of the job in progress here.", cell_running },
        { "solocron_job_paused", "gauge",
          "1 when the job's firings are not run: paused (the API) or suspend: true.",
          cell_paused },
        { "solocron_job_missed_total", "counter",
          "Firings missed (the daemon was down, the clock jumped) and not caught up.",
          cell_missed },
        { "solocron_job_missed_fleet_total", "counter",
          "Firings that ran nowhere in the fleet (nobody claimed them, or their holder died "
          "without a final record and no takeover followed), raised by this replica; each "
          "firing is counted by one replica of the fleet.", cell_missed_fleet },
        { "solocron_lease_elections_total", "counter", "Elections of firings, by outcome.",
          cell_elections },
};

/* ---- the daemon's own ---- */

static void render_daemon(FILE *f, const Daemon *d) {
        const LeaseClaimStats *st = &d->env.claim_stats;
        const char *backend = d->env.lease ? d->env.lease->ops->name : "none";
        const UploadStats *up = uploads_stats(d->env.uploads);

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

        help(f, "solocron_notifications_total", "counter",
             "Notifications by channel (ping, webhook, hook) and result: delivered, or failed "
             "(given up after retries and logged; a hook that did not exit 0).");
        for (int c = 0; c < _NOTIFY_CHANNEL_MAX; c++) {
                const NotifierStats *ns = d->env.notifier ? notifier_stats(d->env.notifier) : NULL;

                fprintf(f, "solocron_notifications_total{channel=\"%s\",result=\"delivered\"} "
                        "%llu\n", notify_channel_to_string((NotifyChannel) c),
                        (unsigned long long) (ns ? ns->delivered[c] : 0));
                fprintf(f, "solocron_notifications_total{channel=\"%s\",result=\"failed\"} "
                        "%llu\n", notify_channel_to_string((NotifyChannel) c),
                        (unsigned long long) (ns ? ns->failed[c] : 0));
        }
        help(f, "solocron_output_uploads_total", "counter",
             "Runs' output uploads to S3 (output: {s3: …}), by how they ended.");
        fprintf(f, "solocron_output_uploads_total{result=\"uploaded\"} %llu\n"
                "solocron_output_uploads_total{result=\"failed\"} %llu\n"
                "solocron_output_uploads_total{result=\"abandoned\"} %llu\n",
                (unsigned long long) up->uploaded, (unsigned long long) up->failed,
                (unsigned long long) up->abandoned);
        help(f, "solocron_output_upload_retries_total", "counter",
             "Output uploads tried again after a failure that may pass.");
        fprintf(f, "solocron_output_upload_retries_total %llu\n",
                (unsigned long long) up->retries);
        help(f, "solocron_output_upload_bytes_total", "counter",
             "Bytes of the output objects uploaded (after gzip).");
        fprintf(f, "solocron_output_upload_bytes_total %llu\n", (unsigned long long) up->bytes);

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

bool metrics_render_step(Daemon *d, MetricsCursor *c, FILE *f, size_t max_cells) {
        __fsetlocking(f, FSETLOCKING_BYCALLER);
        for (; c->family < ELEMENTSOF(families) && max_cells > 0; c->family++, c->job = 0) {
                if (c->job == 0)
                        help(f, families[c->family].name, families[c->family].type,
                             families[c->family].help);
                for (; c->job < d->n_jobs && max_cells > 0; c->job++, max_cells--)
                        families[c->family].cell(f, d->jobs[c->job]);
                if (c->job < d->n_jobs)
                        return false;   /* this family goes on at the next step */
        }
        if (c->family < ELEMENTSOF(families))
                return false;
        render_daemon(f, d);
        return true;
}
