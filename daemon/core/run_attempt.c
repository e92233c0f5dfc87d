/* SPDX-License-Identifier: MIT */
/* One attempt of a run: user:/group: looked up off the loop, the process spawned with its
 * pipes, its timeout, its exit, and then its process group: what the job left there gets
 * SIGTERM, then SIGKILL, and the attempt is over only when the group is empty (or has been
 * sent SIGKILL) and the pipes are closed; then a retry after backoff, or the run's end.
 *
 * Handle lifetimes (libuv rule: a handle is freed only after its close callback): each
 * attempt owns three things, the process and the two output pipes; the attempt is over when
 * all three have ended. The run's timer serves one purpose at a time. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "log.h"
#include "macro.h"
#include "numfmt.h"
#include "run_internal.h"
#include "strv.h"

#define RUN_DRAIN_MSEC 1000     /* after the group is gone, how long escaped processes may hold the pipes */
#define RUN_GROUP_POLL_MIN_MSEC 10 /* after the leader's exit, how often to look at its group */
#define RUN_GROUP_POLL_MAX_MSEC 200

/* --- attempt end ----------------------------------------------------------------- */

static bool should_retry(const Run *r, const char *result) {
        RetryOn on = r->cfg->policy->retry_on;

        if (r->attempt >= r->cfg->policy->retry_attempts || r->no_retry || r->env->stopping ||
            r->terminated || r->start_failed)
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

        run_format_duration(r->env->now_usec() - r->attempt_start_usec, dur);
        run_format_status(r, status);

        if (should_retry(r, result)) {
                usec_t backoff = r->cfg->policy->retry_backoff;
                char wait[32];

                for (unsigned i = 1; i < r->attempt && backoff < r->cfg->policy->retry_max_backoff; i++)
                        backoff = backoff > USEC_INFINITY / 2 ? USEC_INFINITY : backoff * 2;
                if (backoff > r->cfg->policy->retry_max_backoff)
                        backoff = r->cfg->policy->retry_max_backoff;
                run_format_duration((int64_t) backoff, wait);
                log_event(LOG_WARNING, "attempt_failed", r->job, r->id, NULL,
                          "attempt %u %s (status %s) after %s, retrying in %s", r->attempt, result,
                          status, dur, wait);
                run_notify(r, NOTIFY_RETRY, result, false);
                r->phase = RUN_BACKOFF;
                run_timer_at_least(&r->timer, run_on_backoff, backoff);
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

        /* The group is gone, but a process that left it (setsid) still holds our pipes. */
        log_event(LOG_NOTICE, "output_abandoned", r->job, r->id, NULL,
                  "job exited; no longer relaying output of processes it left behind");
        output_close(&r->out);
        output_close(&r->err);
}

/* The attempt's process group is empty, or has been sent SIGKILL: the process part of the
 * attempt is over (the pipes may still drain). */
static void run_group_done(Run *r) {
        guard_group(r->pid, false);
        r->group_alive = false;
        (void) uv_timer_stop(&r->timer);
        if (r->out.open || r->err.open)
                (void) uv_timer_start(&r->timer, run_on_drain_timeout, RUN_DRAIN_MSEC, 0);
        run_on_attempt_handle_closed(r);        /* the process is one of the three */
}

static void run_kill_group_now(Run *r, const char *why) {
        log_event(LOG_WARNING, "run_killed", r->job, r->id, NULL,
                  "%s, sending SIGKILL to process group %d", why, (int) r->pid);
        (void) spawn_kill_group(r->pid, SIGKILL);
        r->group_killed = true;
}

/* After the leader's exit: wait for the rest of its group to go, polling (no event says
 * that a process group is empty), SIGKILL at the deadline. Short at first: most leftovers
 * end right after their SIGTERM. */
static void run_on_group_poll(uv_timer_t *t) {
        Run *r = t->data;
        int64_t now = r->env->now_usec(), wait;

        if (!spawn_group_alive(r->pid)) {
                run_group_done(r);
                return;
        }
        if (now >= r->kill_deadline_usec) {
                run_kill_group_now(r, "processes left in its group after SIGTERM");
                run_group_done(r);
                return;
        }
        r->group_poll_msec = r->group_poll_msec ? r->group_poll_msec * 2 : RUN_GROUP_POLL_MIN_MSEC;
        if (r->group_poll_msec > RUN_GROUP_POLL_MAX_MSEC)
                r->group_poll_msec = RUN_GROUP_POLL_MAX_MSEC;
        wait = (r->kill_deadline_usec - now) / 1000 + 1;
        (void) uv_timer_start(&r->timer, run_on_group_poll,
                              (uint64_t) (wait < r->group_poll_msec ? wait : r->group_poll_msec), 0);
}

static void run_on_exit(ReaperChild *c, int64_t exit_status, int term_signal) {
        Run *r = container_of(c, Run, child);

        r->proc_alive = false;
        r->exit_status = exit_status;
        r->term_signal = term_signal;
        (void) uv_timer_stop(&r->timer);
        /* The run is its process group, not only the leader: what the job started there
         * must not outlive it (a timed-out run whose leader obeyed SIGTERM while a child
         * ignores it; a successful leader that left a child behind), or overlap: skip would
         * start a second copy beside it. SIGKILL is final: the group is as good as gone. */
        if (r->group_killed || !spawn_group_alive(r->pid)) {
                run_group_done(r);
                return;
        }
        r->group_alive = true;
        r->group_poll_msec = 0;
        if (!r->timed_out && !r->terminated) {
                char grace[32];

                run_format_duration((int64_t) r->cfg->policy->kill_after, grace);
                log_event(LOG_NOTICE, "run_leftovers", r->job, r->id, NULL,
                          "the job's process exited but left processes in its group %d; sending "
                          "SIGTERM, SIGKILL after %s", (int) r->pid, grace);
                (void) spawn_kill_group(r->pid, SIGTERM);
                r->kill_deadline_usec = r->env->now_usec() + (int64_t) r->cfg->policy->kill_after;
        }
        run_on_group_poll(&r->timer);
}

/* --- timeout ---------------------------------------------------------------------- */

static void run_on_kill_timer(uv_timer_t *t) {
        Run *r = t->data;

        if (r->proc_alive)
                run_kill_group_now(r, "still running after SIGTERM");
}

void run_attempt_terminate(Run *r, int sig, usec_t escalate_after) {
        switch (r->phase) {
        case RUN_STARTING:
                if (r->spawn_pending) {
                        /* run_spawned() stops its process, as this would a running one's (or
                         * fails the run if it could not start) */
                        if (r->spawn_stop_sig != SIGKILL) {
                                r->spawn_stop_sig = sig;
                                r->spawn_stop_escalate = escalate_after;
                        }
                        return;
                }
                r->terminated = true;
                if (r->lookup_pending)
                        return;         /* run_lookup_done() ends it */
                (void) uv_timer_stop(&r->timer);
                run_finish(r, "terminated");
                return;
        case RUN_RUNNING:
                if (!r->proc_alive && !r->group_alive)
                        return;         /* draining output, or not started */
                if (r->proc_alive && !r->timed_out)
                        r->terminated = true;   /* a leader that already exited keeps its result */
                if (sig == SIGKILL) {
                        run_kill_group_now(r, r->proc_alive ? "still running"
                                                            : "processes left in its group");
                        if (r->group_alive)
                                run_group_done(r);
                        return;
                }
                (void) spawn_kill_group(r->pid, sig);
                if (escalate_after == USEC_INFINITY)
                        return;         /* SIGKILL comes from the caller (shutdown grace) */
                if (r->env->now_usec() + (int64_t) escalate_after < r->kill_deadline_usec)
                        r->kill_deadline_usec = r->env->now_usec() + (int64_t) escalate_after;
                if (r->proc_alive)
                        run_timer_at_least(&r->timer, run_on_kill_timer, escalate_after);
                return;
        default:
                return;
        }
}

static void run_on_timeout(uv_timer_t *t) {
        Run *r = t->data;
        char dur[32];

        run_format_duration((int64_t) r->cfg->policy->timeout, dur);
        log_event(LOG_WARNING, "run_timeout", r->job, r->id, NULL,
                  "timed out after %s, sending SIGTERM to process group %d", dur, (int) r->pid);
        r->timed_out = true;
        run_terminate(r, SIGTERM, r->cfg->policy->kill_after);
}

/* --- attempt start ---------------------------------------------------------------- */

/* The attempt's SOLOCRON_* variables: a NULL-terminated list in vars and the strings in the
 * returned block, which the caller frees after the spawn (NULL when out of memory). */
static char *run_env_vars(Run *r, char *vars[9]) {
        char utc[RFC3339_UTC_MAX], attempt[FMT_INT_MAX], token[FMT_INT_MAX];
        const char *kv[8][2];
        size_t n = 0, size = 0;
        char *block, *at;

        kv[n][0] = "SOLOCRON_JOB=", kv[n++][1] = r->job;
        kv[n][0] = "SOLOCRON_RUN_ID=", kv[n++][1] = r->id;
        kv[n][0] = "SOLOCRON_SCHEDULED_TIME=", kv[n++][1] = format_rfc3339_utc(r->firing.f.t, utc);
        (void) fmt_uint(attempt, r->attempt);
        kv[n][0] = "SOLOCRON_ATTEMPT=", kv[n++][1] = attempt;
        kv[n][0] = "SOLOCRON_LEASE=", kv[n++][1] = run_lease_to_string(r->election.state);
        /* With a won lease, what a job needs to make its writes idempotent and to reject a
         * stale holder. */
        if (r->election.claim) {
                (void) fmt_uint(token, r->election.fencing_token);
                kv[n][0] = "SOLOCRON_LEASE_KEY=", kv[n++][1] = r->election.lease_key;
                kv[n][0] = "SOLOCRON_FENCING_TOKEN=", kv[n++][1] = token;
        }
        if (r->manual)
                kv[n][0] = "SOLOCRON_MANUAL_KEY=", kv[n++][1] = r->manual;
        for (size_t i = 0; i < n; i++)
                size += strlen(kv[i][0]) + strlen(kv[i][1]) + 1;
        at = block = malloc(size);
        if (!block)
                return NULL;
        for (size_t i = 0; i < n; i++)
                vars[i] = env_put(&at, kv[i][0], kv[i][1]);
        vars[n] = NULL;
        return block;
}

/* The attempt could not start: it fails with the reason. A permanent reason (a missing
 * program, a user that does not exist) is not retried: the table has to change. */
static void run_start_failed(Run *r, int k, const char *error, bool permanent) {
        log_event(LOG_ERR, "run_failed", r->job, r->id, NULL, "cannot start: %s",
                  error ? error : strerror(-k));
        r->phase = RUN_RUNNING;
        r->exit_status = permanent ? 127 : 125;
        r->start_failed = permanent;
        r->pid = 0;
        r->pending_closes = 0;
        run_attempt_done(r);
}

/* The attempt's process has started (pid, its pipes' read ends): watch it. */
static void run_started(Run *r, pid_t pid, int out_fd, int err_fd) {
        uv_loop_t *loop = r->env->loop;

        r->phase = RUN_RUNNING;
        r->pid = pid;
        /* Three things end an attempt, in any order: the process and its two pipes. */
        r->pending_closes = 3;
        (void) output_init(loop, &r->out, r->job, r->id, LOG_STREAM_STDOUT, run_on_output_closed);
        (void) output_init(loop, &r->err, r->job, r->id, LOG_STREAM_STDERR, run_on_output_closed);
        r->out.capture = r->err.capture = &r->capture;
        r->child = (ReaperChild) { .pid = r->pid, .on_exit = run_on_exit };
        reaper_watch(&r->child);
        guard_group(r->pid, true);
        r->proc_alive = true;
        (void) output_start(&r->out, out_fd);
        (void) output_start(&r->err, err_fd);
        log_event(LOG_INFO, "run_started", r->job, r->id, NULL, "started pid=%d attempt=%u%s",
                  (int) r->pid, r->attempt, r->catch_up && r->attempt == 1 ? " (catch-up)" : "");
        if (!r->start_notified) {
                r->start_notified = true;
                run_notify(r, NOTIFY_START, "started", false);
        }
        if (r->cfg->policy->timeout != USEC_INFINITY)
                run_timer_at_least(&r->timer, run_on_timeout, r->cfg->policy->timeout);
}

/* spawn_job()'s answer, from a spawn thread or from run_spawn() itself. */
static void run_spawned(SpawnRequest *q) {
        Run *r = container_of(q, Run, spawn);
        _cleanup_free_ char *error = TAKE_PTR(q->error);

        r->spawn_pending = false;
        free(q->envp);
        q->envp = NULL;
        r->spawn_vars = mfree(r->spawn_vars);
        if (q->result < 0) {
                run_start_failed(r, q->result, error, true);
                return;
        }
        run_started(r, q->pid, q->out_fd, q->err_fd);
        /* Stopped while it was being started: stopped now, as it would have been running. */
        if (r->spawn_stop_sig)
                run_attempt_terminate(r, r->spawn_stop_sig, r->spawn_stop_escalate);
}

/* Start the attempt's process: on a spawn thread (spawn_queue.h), so that the loop goes on
 * with the next firings while the child execs; here when no thread can be had. */
static void run_spawn(Run *r) {
        SpawnRequest *q = &r->spawn;
        char **envp = NULL, *vars[9];
        int k;

        r->spawn_vars = run_env_vars(r, vars);
        k = r->spawn_vars ? spawn_build_env(r->cfg, r->has_creds ? &r->creds : NULL,
                                            r->env->withheld_env, vars, &envp) : -ENOMEM;
        if (k < 0) {
                r->spawn_vars = mfree(r->spawn_vars);
                run_start_failed(r, k, NULL, false);
                return;
        }
        *q = (SpawnRequest) { .cfg = r->cfg, .creds = r->has_creds ? &r->creds : NULL,
                              .envp = envp, .done = run_spawned };
        r->phase = RUN_STARTING;
        r->pid = 0;
        r->spawn_stop_sig = 0;
        r->spawn_pending = true;
        if (spawn_queue_submit(q) == 0)
                return;                 /* run_spawned() follows */
        q->result = spawn_job(q->cfg, q->creds, q->envp, &q->pid, &q->out_fd, &q->err_fd,
                              &q->error);
        run_spawned(q);
}

/* --- user:/group: lookups, off the loop ------------------------------------------- */

/* A transient lookup failure (an LDAP server down, too many open files) is tried again, for
 * about a minute in all, before the attempt fails. */
#define RUN_LOOKUP_TRIES 7
#define RUN_LOOKUP_FIRST_WAIT_MSEC 1000
#define RUN_LOOKUP_MAX_WAIT_MSEC 30000

static void run_lookup(Run *r);

static void run_on_lookup_retry(uv_timer_t *t) {
        run_lookup(t->data);
}

static void run_lookup_work(uv_work_t *w) {
        Run *r = container_of(w, Run, lookup);

        r->lookup_result = spawn_lookup_creds(r->cfg, &r->creds, &r->lookup_error);
}

static void run_lookup_done(uv_work_t *w, int status) {
        Run *r = container_of(w, Run, lookup);
        _cleanup_free_ char *error = TAKE_PTR(r->lookup_error);
        int k = status < 0 ? status : r->lookup_result;
        uint64_t wait;

        r->lookup_pending = false;
        if (k >= 0)
                r->has_creds = true;
        if (r->terminated) {            /* stopped meanwhile (shutdown, replace, reload) */
                run_finish(r, "terminated");
                return;
        }
        if (k >= 0) {
                run_spawn(r);
                return;
        }
        if (!spawn_lookup_transient(k) || ++r->lookup_tries >= RUN_LOOKUP_TRIES) {
                run_start_failed(r, k, error, !spawn_lookup_transient(k));
                return;
        }
        wait = (uint64_t) RUN_LOOKUP_FIRST_WAIT_MSEC << (r->lookup_tries - 1);
        if (wait > RUN_LOOKUP_MAX_WAIT_MSEC)
                wait = RUN_LOOKUP_MAX_WAIT_MSEC;
        log_event(LOG_WARNING, "lookup_failed", r->job, r->id, NULL,
                  "%s; trying again in %llus", error ? error : strerror(-k),
                  (unsigned long long) (wait / 1000));
        (void) uv_timer_start(&r->timer, run_on_lookup_retry, wait, 0);
}

static void run_lookup(Run *r) {
        int k;

        r->lookup_pending = true;
        k = uv_queue_work(r->env->loop, &r->lookup, run_lookup_work, run_lookup_done);
        if (k < 0) {
                r->lookup_pending = false;
                run_start_failed(r, k, NULL, false);
        }
}

void run_attempt(Run *r) {
        r->timed_out = false;
        r->start_failed = false;
        r->group_alive = r->group_killed = false;
        r->kill_deadline_usec = INT64_MAX;
        r->exit_status = 0;
        r->term_signal = 0;
        r->attempt_start_usec = r->env->now_usec();
        if (r->attempt > 1)
                capture_mark_attempt(&r->capture, r->attempt);
        if (r->has_creds) {
                spawn_creds_done(&r->creds);
                r->has_creds = false;
        }
        if (!r->cfg->policy->user && !r->cfg->policy->group) {
                run_spawn(r);
                return;
        }
        /* user:/group: go through NSS, which may block (LDAP, sssd): resolved by a worker,
         * again for each attempt (a user may be added between retries). */
        r->phase = RUN_STARTING;
        r->lookup_tries = 0;
        run_lookup(r);
}
