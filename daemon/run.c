/* SPDX-License-Identifier: MIT */
/* One run of a job for one firing: jitter wait, attempts (spawn, relay output, timeout →
 * SIGTERM → SIGKILL), retries with exponential backoff, and the summary.
 *
 * Handle lifetimes (libuv rule: a handle is freed only after its close callback): each
 * attempt owns three handles, the process and the two output pipes; the attempt is over
 * when all three close callbacks have run. The run's timer lives as long as the run; the
 * run is freed from the timer's close callback. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "daemon.h"
#include "log.h"
#include "macro.h"
#include "reaper.h"
#include "spawner.h"

#define RUN_DRAIN_MSEC 1000     /* after exit, how long grandchildren may hold the pipes */

static void run_attempt(Run *r);

static void run_on_jitter(uv_timer_t *t) {
        run_attempt(t->data);
}
static void run_finish(Run *r, const char *result);

static uint64_t usec_to_msec_ceil(usec_t u) {
        return u / 1000 + (u % 1000 != 0);
}

static int64_t mono_usec(void) {
        return (int64_t) (uv_hrtime() / 1000);
}

static void format_duration(int64_t usec, char buf[static 32]) {
        (void) snprintf(buf, 32, "%lld.%03llds", (long long) (usec / 1000000),
                        (long long) (usec % 1000000 / 1000));
}

static void run_new_id(char id[static 17]) {
        uint8_t b[8];

        if (getrandom(b, sizeof(b), GRND_NONBLOCK) != (ssize_t) sizeof(b)) {
                uint64_t x = uv_hrtime() ^ ((uint64_t) getpid() << 32);

                memcpy(b, &x, sizeof(b));
        }
        for (size_t i = 0; i < sizeof(b); i++)
                (void) snprintf(id + 2 * i, 3, "%02x", b[i]);
}

static uint64_t random_below(uint64_t n) {
        uint64_t x;

        if (n == 0)
                return 0;
        if (getrandom(&x, sizeof(x), GRND_NONBLOCK) != (ssize_t) sizeof(x))
                x = uv_hrtime() * UINT64_C(0x9e3779b97f4a7c15);
        return x % n;
}

/* --- attempt end ----------------------------------------------------------------- */

static bool should_retry(const Run *r, const char *result) {
        RetryOn on = r->cfg->retry_on;

        if (r->attempt >= r->cfg->retry_attempts || r->job->daemon->stopping || r->terminated ||
            r->start_failed)
                return false;
        if (strcmp(result, "failed") == 0)
                return on & RETRY_ON_NONZERO;
        if (strcmp(result, "timed_out") == 0)
                return on & RETRY_ON_TIMEOUT;
        if (strcmp(result, "signal") == 0)
                return on & RETRY_ON_SIGNAL;
        return false;
}

static void run_on_backoff(uv_timer_t *t) {
        Run *r = t->data;

        r->attempt++;
        run_attempt(r);
}

static void run_attempt_done(Run *r) {
        char dur[32], status[32];
        const char *result;

        if (r->start_failed)
                result = "failed";
        else if (r->timed_out)
                result = "timed_out";
        else if (r->terminated)
                result = "terminated";
        else if (r->term_signal)
                result = "signal";
        else
                result = r->exit_status == 0 ? "succeeded" : "failed";

        format_duration(mono_usec() - r->attempt_start_usec, dur);
        if (r->term_signal)
                (void) snprintf(status, sizeof(status), "SIG%s", sigabbrev_np(r->term_signal) ?: "?");
        else
                (void) snprintf(status, sizeof(status), "%lld", (long long) r->exit_status);

        if (should_retry(r, result)) {
                usec_t backoff = r->cfg->retry_backoff;
                char wait[32];

                for (unsigned i = 1; i < r->attempt && backoff < r->cfg->retry_max_backoff; i++)
                        backoff = backoff > USEC_INFINITY / 2 ? USEC_INFINITY : backoff * 2;
                if (backoff > r->cfg->retry_max_backoff)
                        backoff = r->cfg->retry_max_backoff;
                format_duration((int64_t) backoff, wait);
                log_event(LOG_WARNING, "attempt_failed", r->job->name, r->id, NULL,
                          "attempt %u %s (status %s) after %s, retrying in %s", r->attempt, result,
                          status, dur, wait);
                r->phase = RUN_BACKOFF;
                (void) uv_timer_start(&r->timer, run_on_backoff, usec_to_msec_ceil(backoff), 0);
                return;
        }
        run_finish(r, result);
}

static void run_on_attempt_handle_closed(Run *r) {
        if (--r->pending_closes == 0)
                run_attempt_done(r);
}

static void run_on_output_closed(Output *o) {
        Run *r = o->stream == LOG_STREAM_STDOUT ? container_of(o, Run, out) : container_of(o, Run, err);

        run_on_attempt_handle_closed(r);
}

static void run_on_drain_timeout(uv_timer_t *t) {
        Run *r = t->data;

        /* The job exited but something it started still holds its stdout/stderr. */
        log_event(LOG_NOTICE, "output_abandoned", r->job->name, r->id, NULL,
                  "job exited; no longer relaying output of processes it left behind");
        output_close(&r->out);
        output_close(&r->err);
}

static void run_on_exit(ReaperChild *c, int64_t exit_status, int term_signal) {
        Run *r = container_of(c, Run, child);

        r->proc_alive = false;
        r->exit_status = exit_status;
        r->term_signal = term_signal;
        (void) uv_timer_stop(&r->timer);
        if (r->out.open || r->err.open)
                (void) uv_timer_start(&r->timer, run_on_drain_timeout, RUN_DRAIN_MSEC, 0);
        run_on_attempt_handle_closed(r);        /* the process is one of the three */
}

/* --- timeout ---------------------------------------------------------------------- */

static void run_on_kill_timer(uv_timer_t *t) {
        Run *r = t->data;

        if (!r->proc_alive)
                return;
        log_event(LOG_WARNING, "run_killed", r->job->name, r->id, NULL,
                  "still running after SIGTERM, sending SIGKILL to process group %d", (int) r->pid);
        (void) spawn_kill_group(r->pid, SIGKILL);
}

void run_terminate(Run *r, int sig, usec_t escalate_after) {
        switch (r->phase) {
        case RUN_ELECTING:
                elect_cancel(r);
                r->terminated = true;
                run_drop(r);
                return;
        case RUN_WAITING:
        case RUN_BACKOFF:
                /* No process: the run ends here. */
                r->terminated = true;
                (void) uv_timer_stop(&r->timer);
                run_finish(r, r->phase == RUN_WAITING ? "cancelled" : "terminated");
                return;
        case RUN_RUNNING:
                if (!r->proc_alive)
                        return;
                if (!r->timed_out)
                        r->terminated = true;
                (void) spawn_kill_group(r->pid, sig);
                if (sig != SIGKILL && escalate_after != USEC_INFINITY)
                        (void) uv_timer_start(&r->timer, run_on_kill_timer,
                                              usec_to_msec_ceil(escalate_after), 0);
                return;
        case RUN_CLOSING:
                return;
        }
}

static void run_on_timeout(uv_timer_t *t) {
        Run *r = t->data;
        char dur[32];

        format_duration((int64_t) r->cfg->timeout, dur);
        log_event(LOG_WARNING, "run_timeout", r->job->name, r->id, NULL,
                  "timed out after %s, sending SIGTERM to process group %d", dur, (int) r->pid);
        r->timed_out = true;
        run_terminate(r, SIGTERM, r->cfg->kill_after);
}

/* --- attempt start ---------------------------------------------------------------- */

static int run_env(Run *r, char ***ret) {
        char utc[RFC3339_UTC_MAX];
        _cleanup_free_ char *job = NULL, *id = NULL, *sched = NULL, *attempt = NULL, *key = NULL,
                *token = NULL;

        if (asprintf(&job, "SOLOCRON_JOB=%s", r->job->name) < 0 ||
            asprintf(&id, "SOLOCRON_RUN_ID=%s", r->id) < 0 ||
            asprintf(&sched, "SOLOCRON_SCHEDULED_TIME=%s", format_rfc3339_utc(r->firing.f.t, utc)) < 0 ||
            asprintf(&attempt, "SOLOCRON_ATTEMPT=%u", r->attempt) < 0)
                return -ENOMEM;
        /* With a won lease, what a job needs to make its writes idempotent and to reject a
         * stale holder. */
        if (r->claim && (asprintf(&key, "SOLOCRON_LEASE_KEY=%s", r->lease_key) < 0 ||
                         asprintf(&token, "SOLOCRON_FENCING_TOKEN=%llu",
                                  (unsigned long long) r->fencing_token) < 0))
                return -ENOMEM;
        return spawn_build_env(r->cfg, (char *[]) { job, id, sched, attempt, key, token, NULL }, ret);
}

static void run_attempt(Run *r) {
        uv_loop_t *loop = r->job->daemon->loop;
        _cleanup_free_ char *error = NULL;
        char **envp = NULL;
        int k, out_fd = -1, err_fd = -1;

        r->phase = RUN_RUNNING;
        r->timed_out = false;
        r->start_failed = false;
        r->exit_status = 0;
        r->term_signal = 0;
        r->attempt_start_usec = mono_usec();

        k = run_env(r, &envp);
        if (k < 0) {
                log_event(LOG_ERR, "run_failed", r->job->name, r->id, NULL,
                          "cannot start: %s", strerror(-k));
                run_finish(r, "failed");
                return;
        }
        /* Three things end an attempt, in any order: the process and its two pipes. */
        r->pending_closes = 3;
        (void) output_init(loop, &r->out, r->job->name, r->id, LOG_STREAM_STDOUT, run_on_output_closed);
        (void) output_init(loop, &r->err, r->job->name, r->id, LOG_STREAM_STDERR, run_on_output_closed);
        k = spawn_job(r->cfg, envp, &r->pid, &out_fd, &err_fd, &error);
        free(envp);
        if (k < 0) {
                /* The run fails with the reason; no retry, the table has to change. */
                log_event(LOG_ERR, "run_failed", r->job->name, r->id, NULL, "cannot start: %s",
                          error ? error : strerror(-k));
                r->exit_status = 127;
                r->start_failed = true;
                r->pid = 0;
                r->pending_closes--;            /* no process */
                output_close(&r->out);
                output_close(&r->err);
                return;
        }
        r->child = (ReaperChild) { .pid = r->pid, .on_exit = run_on_exit };
        reaper_watch(&r->child);
        r->proc_alive = true;
        (void) output_start(&r->out, out_fd);
        (void) output_start(&r->err, err_fd);
        log_event(LOG_INFO, "run_started", r->job->name, r->id, NULL, "started pid=%d attempt=%u%s",
                  (int) r->pid, r->attempt, r->catch_up && r->attempt == 1 ? " (catch-up)" : "");
        if (r->cfg->timeout != USEC_INFINITY)
                (void) uv_timer_start(&r->timer, run_on_timeout, usec_to_msec_ceil(r->cfg->timeout), 0);
}

/* --- run ---------------------------------------------------------------------------- */

static void run_on_timer_closed(uv_handle_t *h) {
        Run *r = h->data;

        free(r->lease_key);
        table_unref(r->table);
        free(r);
}

/* End the run without a summary (it never ran here: the firing is held elsewhere). */
void run_drop(Run *r) {
        r->phase = RUN_CLOSING;
        job_run_ended(r->job, r);
        uv_close((uv_handle_t *) &r->timer, run_on_timer_closed);
}

static void run_finish(Run *r, const char *result) {
        Daemon *d = r->job->daemon;

        elect_finish(r, result);
        daemon_run_finished(d, r, result);
        run_drop(r);
}


void run_begin(Run *r) {
        const Run *o = r->cfg->overlap != OVERLAP_ALLOW ? job_active_run(r->job, r) : NULL;

        if (o) {
                char utc[RFC3339_UTC_MAX];

                /* See job_active_run(): an election outlasted the period. */
                log_event(LOG_NOTICE, "run_overlap", r->job->name, r->id, NULL,
                          "firing %s won while run %s still runs: its election took longer "
                          "than the schedule's period; both run",
                          format_rfc3339_utc(r->firing.f.t, utc), o->id);
        }
        r->phase = RUN_WAITING;
        if (r->cfg->jitter > 0) {
                uint64_t delay = random_below(r->cfg->jitter);
                char dur[32];

                format_duration((int64_t) delay, dur);
                log_event(LOG_INFO, "run_jitter", r->job->name, r->id, NULL, "starting in %s (jitter)",
                          dur);
                (void) uv_timer_start(&r->timer, run_on_jitter, delay / 1000, 0);
        } else
                run_attempt(r);
}

int run_start(Job *j, const JobFiring *f, bool catch_up, bool takeover) {
        Daemon *d = j->daemon;
        Run *r = calloc(1, sizeof(Run));
        int k;

        if (!r)
                return -ENOMEM;
        *r = (Run) { .job = j, .table = table_ref(d->table), .cfg = j->cfg, .firing = *f,
                     .catch_up = catch_up, .takeover = takeover, .attempt = takeover ? 2 : 1,
                     .phase = RUN_ELECTING, .run_start_usec = mono_usec() };
        run_new_id(r->id);
        k = uv_timer_init(d->loop, &r->timer);
        if (k < 0) {
                table_unref(r->table);
                free(r);
                return k;
        }
        r->timer.data = r;
        r->next = j->runs;
        j->runs = r;
        j->n_runs++;
        d->n_runs++;
        /* Elect first (the firing's identity is fixed), then the jitter delay. */
        if (elect_start(r))
                run_begin(r);
        return 0;
}
