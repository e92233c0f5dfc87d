/* SPDX-License-Identifier: MIT */
/* `solocron run`: the event loop. One wall-clock timer armed for the earliest firing in the
 * heap, signals for reload and shutdown, and the ordered teardown. Nothing here polls: with
 * no firing due and no run in progress the process sleeps in epoll_wait. */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "guard.h"
#include "log.h"
#include "macro.h"
#include "notify.h"
#include "pidfile.h"
#include "reaper.h"
#include "spawner.h"
#include "state.h"
#include "strv.h"
#include "tz.h"

#define STATE_SAVE_DELAY_MSEC 1000

static const char *daemon_hostname(void) {
        static char name[256];

        if (!name[0] && gethostname(name, sizeof(name) - 1) < 0)
                (void) snprintf(name, sizeof(name), "localhost");
        return name;
}

/* The AWS credential chain's secrets (s3_creds.c reads them): the S3 lease's, not the jobs'.
 * The variables that only say where credentials are (AWS_PROFILE, the container credentials
 * URIs, token files) stay: a file is guarded by its permissions, not by its name's absence. */
static const char *const s3_secret_env[] = {
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN", NULL,
};

/* What jobs do not get of our environment: the variables the lease: section expanded, and
 * the credentials its backend reads; logged once when any of them is set. */
static int daemon_withhold_env(Daemon *d, const LeaseConfig *lc) {
        size_t n = strv_length(lc->env_used), k = 0;
        _cleanup_free_ char *names = NULL;
        char **l = calloc(n + ELEMENTSOF(s3_secret_env) + 1, sizeof(char *));

        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                l[k++] = lc->env_used[i];
        if (lc->backend == LEASE_BACKEND_S3)
                for (size_t i = 0; s3_secret_env[i]; i++)
                        if (!strv_contains(l, s3_secret_env[i]))
                                l[k++] = (char *) s3_secret_env[i];
        if (k == 0) {
                free(l);
                return 0;
        }
        d->withheld_env = strv_pack(l);
        free(l);
        if (!d->withheld_env)
                return -ENOMEM;
        for (char **e = d->withheld_env; *e; e++) {
                char *m;

                if (!getenv(*e))
                        continue;
                if (asprintf(&m, "%s%s%s", names ? names : "", names ? ", " : "", *e) < 0)
                        return -ENOMEM;
                free(names);
                names = m;
        }
        if (names)
                log_event(LOG_INFO, "env_withheld", NULL, NULL, NULL,
                          "jobs do not get %s (the lease: section uses them; a job's env_keep: "
                          "passes them on)", names);
        return 0;
}

static int daemon_lease_new(Daemon *d, const LeaseConfig *lc, char **reterr_message) {
        switch (lc->backend) {
        case LEASE_BACKEND_LOCAL:
                return lease_local_new(d->loop, d->opts.state_dir, lc->election_timeout, &d->lease,
                                       reterr_message);
        case LEASE_BACKEND_S3:
                return lease_s3_new(d->loop, lc, daemon_hostname(), &d->lease, reterr_message);
        case LEASE_BACKEND_ETCD:
                return lease_etcd_new(d->loop, lc, daemon_hostname(), &d->lease, reterr_message);
        default:
                return -EINVAL;
        }
}

/* --- the schedule ------------------------------------------------------------------ */

int64_t daemon_now_sec(void) {
        return wallclock_now_usec() / 1000000;
}

/* "next: refresh at 01:00 EST" (with the date when it is not within a day), for the log's
 * ready line and the service manager's STATUS=. */
void daemon_next_status(Daemon *d, char *buf, size_t size) {
        HeapEntry *top = heap_peek(&d->heap);
        TzOffset off;
        Civil c;
        Job *j;

        if (!top || d->stopping) {
                (void) snprintf(buf, size, d->stopping ? "stopping" : "idle: nothing scheduled");
                return;
        }
        j = container_of(top, Job, entry);
        tz_offset_at(j->cfg->tz, top->key, &off);
        civil_from_seconds(top->key + off.utoff, &c);
        if (top->key - daemon_now_sec() < 86400 && c.second)
                (void) snprintf(buf, size, "next: %s at %02d:%02d:%02d %s", j->name, c.hour, c.minute,
                                c.second, off.abbr);
        else if (top->key - daemon_now_sec() < 86400)
                (void) snprintf(buf, size, "next: %s at %02d:%02d %s", j->name, c.hour, c.minute,
                                off.abbr);
        else
                (void) snprintf(buf, size, "next: %s at %04d-%02d-%02d %02d:%02d %s", j->name,
                                (int) c.year, c.month, c.day, c.hour, c.minute, off.abbr);
}

/* Tell the service manager what comes next, when that changed. */
static void daemon_update_status(Daemon *d) {
        char status[sizeof(d->status)];

        daemon_next_status(d, status, sizeof(status));
        if (strcmp(status, d->status) == 0)
                return;
        memcpy(d->status, status, sizeof(status));
        notify_status(status);
}

void daemon_arm(Daemon *d) {
        HeapEntry *top = heap_peek(&d->heap);
        int r;

        r = wallclock_arm(&d->wall, top && !d->stopping ? top->key : INT64_MAX);
        if (r < 0)
                log_event(LOG_ERR, "timer_failed", NULL, NULL, NULL, "cannot arm the timer: %s",
                          strerror(-r));
        if (d->ready)
                daemon_update_status(d);
}

static void daemon_on_plan(void *userdata, const PlanStep *s) {
        Job *j = userdata;
        char utc[RFC3339_UTC_MAX];

        format_rfc3339_utc(s->firing.f.t, utc);
        switch (s->kind) {
        case PLAN_RUN:
                j->last_fired = s->firing.f.t;
                if (s->catch_up)
                        log_event(LOG_NOTICE, "firing_catch_up", j->name, NULL, NULL,
                                  "firing %s was missed; running it now (catch_up)", utc);
                job_fire(j, &s->firing, s->catch_up);
                return;
        case PLAN_MISSED: {
                char oldest[RFC3339_UTC_MAX + 16] = "";

                j->last_fired = s->firing.f.t;
                if (s->n_missed > 1)
                        (void) snprintf(oldest, sizeof(oldest), "oldest %s, ",
                                        format_rfc3339_utc(s->oldest, (char[RFC3339_UTC_MAX]) {}));
                log_event(LOG_WARNING, "firing_missed", j->name, NULL, NULL,
                          "missed %llu firing%s (%snewest %s): the daemon was not running or the "
                          "clock jumped%s", (unsigned long long) s->n_missed,
                          s->n_missed == 1 ? "" : "s", oldest, utc,
                          j->cfg->catch_up > 0 ? "; outside the catch_up window" : "; no catch_up set");
                return;
        }
        case PLAN_EXCLUDED:
                j->last_fired = s->firing.f.t;
                log_event(LOG_INFO, "firing_excluded", j->name, NULL, NULL,
                          "firing %s excluded by '%s'", utc, s->firing.excluded->text);
                return;
        }
}

void daemon_requeue(Daemon *d, Job *j) {
        if (j->next.has)
                (void) heap_set_key(&d->heap, &j->entry, j->next.firing.f.t);
        else {
                heap_remove(&d->heap, &j->entry);
                log_event(LOG_NOTICE, "schedule_ended", j->name, NULL, NULL, "no further firings");
        }
}

static void daemon_on_wake(WallClock *w, bool clock_changed) {
        Daemon *d = w->userdata;
        int64_t now = daemon_now_sec();
        HeapEntry *top;

        if (clock_changed)
                log_event(LOG_NOTICE, "clock_changed", NULL, NULL, NULL,
                          "the wall clock was set; re-planning the schedule");
        while ((top = heap_peek(&d->heap)) && top->key <= now && !d->stopping) {
                Job *j = container_of(top, Job, entry);

                plan_due(j->cfg, now, &j->next, daemon_on_plan, j);
                daemon_requeue(d, j);
        }
        daemon_arm(d);
}

/* Place a job in the schedule at start-up, or when a reload adds it. */
void daemon_plan_job(Daemon *d, Job *j, int64_t now) {
        int64_t last;
        bool have = d->state && state_get_last(d->state, j->name, &last);

        if (!j->cfg->enabled) {
                heap_remove(&d->heap, &j->entry);
                return;
        }
        plan_start(j->cfg, now, have ? &last : NULL, &j->next, daemon_on_plan, j);
        daemon_requeue(d, j);
}

/* --- runs -------------------------------------------------------------------------- */

/* Save the state file; a failure (a full disk) is logged when it starts, not at every save,
 * and so is the first save that works again. */
static void daemon_save_state(Daemon *d) {
        int r = state_save(d->state);

        if (r < 0 && !d->state_failing)
                log_event(LOG_WARNING, "state_save_failed", NULL, NULL, NULL,
                          "cannot write '%s', ignoring: %s (catch-up after a restart may repeat "
                          "or miss firings until it can be written)", state_path(d->state),
                          strerror(-r));
        else if (r >= 0 && d->state_failing)
                log_event(LOG_NOTICE, "state_saved", NULL, NULL, NULL, "wrote '%s' again",
                          state_path(d->state));
        d->state_failing = r < 0;
}

static void daemon_on_save_timer(uv_timer_t *t) {
        daemon_save_state(t->data);
}

void daemon_run_finished(Daemon *d, Run *r, const char *result) {
        int64_t dur = (int64_t) (uv_hrtime() / 1000) - r->run_start_usec;
        char sched[RFC3339_UTC_MAX], status[24], duration[32], attempts[12], usec[24];

        format_rfc3339_utc(r->firing.f.t, sched);
        if (r->term_signal)
                (void) snprintf(status, sizeof(status), "SIG%s", sigabbrev_np(r->term_signal) ?: "?");
        else
                (void) snprintf(status, sizeof(status), "%lld", (long long) r->exit_status);
        (void) snprintf(duration, sizeof(duration), "%lld.%03llds", (long long) (dur / 1000000),
                        (long long) (dur % 1000000 / 1000));
        (void) snprintf(usec, sizeof(usec), "%lld", (long long) dur);
        (void) snprintf(attempts, sizeof(attempts), "%u", r->attempt);
        log_event(strcmp(result, "succeeded") == 0 ? LOG_INFO : LOG_ERR, "run_finished", r->job->name,
                  r->id,
                  (LogKV[]) { { "result", result }, { "status", status }, { "duration", duration },
                              { "duration_usec", usec }, { "attempts", attempts },
                              { "scheduled", sched }, {} },
                  "finished");

        if (!d->state || state_set_last(d->state, r->job->name, r->firing.f.t) < 0)
                return;
        /* Only catch_up: reads the state back, so only a catch_up job's run is worth an fsync
         * now; the others are written with the next save or at exit (an every-second job
         * would otherwise fsync every second, right when the next firing runs). */
        if (r->cfg->catch_up > 0 && !uv_is_active((uv_handle_t *) &d->save_timer))
                (void) uv_timer_start(&d->save_timer, daemon_on_save_timer, STATE_SAVE_DELAY_MSEC, 0);
}

/* --- shutdown ---------------------------------------------------------------------- */

static void daemon_for_each_run(Daemon *d, void (*fn)(Run *r, void *userdata), void *userdata) {
        for (size_t i = 0; i < d->n_jobs; i++)
                for (Run *r = d->jobs[i]->runs, *next; r; r = next) {
                        next = r->next;
                        fn(r, userdata);
                }
        for (Job *j = d->retired, *jn; j; j = jn) {
                jn = j->retired_next;   /* fn may end the last run and free j */
                for (Run *r = j->runs, *next; r; r = next) {
                        next = r->next;
                        fn(r, userdata);
                }
        }
}

static void daemon_close_handles(Daemon *d) {
        wallclock_close(&d->wall, NULL);
        for (size_t i = 0; i < d->n_signals; i++)
                uv_close((uv_handle_t *) &d->signals[i], NULL);
        /* Closing the watchers restored the default actions; a late SIGTERM must not kill us
         * before the state is saved and the pid file removed. */
        (void) signal(SIGTERM, SIG_IGN);
        (void) signal(SIGINT, SIG_IGN);
        (void) signal(SIGHUP, SIG_IGN);
        if (d->has_main)
                mainproc_close(&d->main);
        reaper_close();
        notify_close();
        uv_close((uv_handle_t *) &d->save_timer, NULL);
        uv_close((uv_handle_t *) &d->grace_timer, NULL);
        uv_close((uv_handle_t *) &d->flush, NULL);
}

static void daemon_maybe_done(Daemon *d) {
        if (!d->stopping || d->n_runs > 0 || (d->has_main && d->main.alive) ||
            uv_is_closing((uv_handle_t *) &d->flush))
                return;
        log_event(LOG_INFO, "stopped", NULL, NULL, NULL, "stopped");
        daemon_close_handles(d);
}

static void run_kill_now(Run *r, void *userdata) {
        (void) userdata;
        if (r->phase == RUN_RUNNING && (r->proc_alive || r->group_alive))
                log_event(LOG_WARNING, "run_killed", r->job->name, r->id, NULL,
                          "still running at the end of the shutdown grace, sending SIGKILL");
        run_terminate(r, SIGKILL, USEC_INFINITY);
}

static void daemon_on_grace_timer(uv_timer_t *t) {
        Daemon *d = t->data;

        if (d->has_main && d->main.alive) {
                log_event(LOG_WARNING, "main_killed", NULL, NULL, NULL,
                          "main process still running at the end of the shutdown grace, sending SIGKILL");
                mainproc_stop(&d->main, SIGKILL);
        }
        daemon_for_each_run(d, run_kill_now, NULL);
}

static void run_stop(Run *r, void *userdata) {
        (void) userdata;
        run_terminate(r, SIGTERM, USEC_INFINITY);
}

/* Stop the jobs: SIGTERM to every run now, SIGKILL when the grace timer fires. */
static void daemon_stop_jobs(Daemon *d) {
        daemon_for_each_run(d, run_stop, NULL);
        daemon_maybe_done(d);
}

/* Stop firing and start the shutdown grace. With a main process, it is stopped first and
 * the jobs once it has exited (daemon_on_main_exit); both within the one grace period. */
static void daemon_stop(Daemon *d, int sig) {
        usec_t grace = d->table->config->shutdown_grace;

        if (d->stopping && d->has_main && d->main.alive) {
                mainproc_signal(&d->main, sig);         /* still its to handle */
                return;
        }
        if (d->stopping) {
                log_event(LOG_WARNING, "stopping", NULL, NULL, NULL,
                          "SIG%s again: killing what still runs", sigabbrev_np(sig));
                daemon_on_grace_timer(&d->grace_timer);
                return;
        }
        d->stopping = true;
        daemon_arm(d);
        elect_unwatch_all(d);
        notify_stopping("stopping");
        log_event(LOG_INFO, "stopping", NULL, NULL, NULL,
                  "SIG%s: stopping; %s%zu run%s in progress, shutdown grace %llus", sigabbrev_np(sig),
                  d->has_main && d->main.alive ? "main process first, then " : "",
                  d->n_runs, d->n_runs == 1 ? "" : "s", (unsigned long long) (grace / 1000000));
        (void) uv_timer_start(&d->grace_timer, daemon_on_grace_timer, grace / 1000, 0);
        uv_unref((uv_handle_t *) &d->grace_timer);
        if (d->has_main && d->main.alive) {
                mainproc_stop(&d->main, sig);
                return;
        }
        if (d->has_main) {
                mainproc_stop(&d->main, sig);   /* waiting to restart: not any more */
                d->exit_status = d->main.last_status;
        }
        daemon_stop_jobs(d);
}

static void daemon_on_main_exit(MainProc *m, int status, void *userdata) {
        Daemon *d = userdata;

        d->exit_status = status;
        if (!d->stopping) {
                usec_t grace = d->table->config->shutdown_grace;

                log_event(LOG_INFO, "stopping", NULL, NULL, NULL,
                          "the main process has exited; stopping with its status %d, %zu run%s "
                          "in progress, shutdown grace %llus", status, d->n_runs,
                          d->n_runs == 1 ? "" : "s", (unsigned long long) (grace / 1000000));
                d->stopping = true;
                daemon_arm(d);
                elect_unwatch_all(d);
                notify_stopping("stopping: the main process has exited");
                (void) uv_timer_start(&d->grace_timer, daemon_on_grace_timer, grace / 1000, 0);
                uv_unref((uv_handle_t *) &d->grace_timer);
        }
        (void) m;
        daemon_stop_jobs(d);
}

void daemon_job_idle(Daemon *d, Job *j) {
        if (j->retired) {
                for (Job **p = &d->retired; *p; p = &(*p)->retired_next)
                        if (*p == j) {
                                *p = j->retired_next;
                                break;
                        }
                job_free(j);
        }
        daemon_maybe_done(d);
}

/* --- signals and the loop ---------------------------------------------------------- */

static void daemon_on_signal(uv_signal_t *s, int signum) {
        Daemon *d = s->data;

        switch (signum) {
        case SIGHUP:
                if (d->has_main && !d->opts.reload_on_hup)
                        mainproc_signal(&d->main, SIGHUP);
                else if (!d->stopping)
                        daemon_reload(d);
                return;
        case SIGTERM:
        case SIGINT:
                daemon_stop(d, signum);
                return;
        default:
                mainproc_signal(&d->main, signum);
                return;
        }
}

static void daemon_on_check(uv_check_t *c) {
        (void) c;
        log_flush();
}

static int daemon_setup_handles(Daemon *d) {
        int r;

        /* PID 1 gets no default signal actions: every signal we act on has a handler. */
        static const int sigs[DAEMON_N_SIGNALS] = {
                SIGHUP, SIGTERM, SIGINT,
                SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGTTIN, SIGTTOU,
        };

        r = wallclock_init(d->loop, &d->wall, daemon_on_wake, d);
        if (r < 0)
                return r;
        d->n_signals = d->has_main ? DAEMON_N_SIGNALS : 3;
        for (size_t i = 0; i < d->n_signals; i++) {
                uv_signal_init(d->loop, &d->signals[i]);
                d->signals[i].data = d;
                r = uv_signal_start(&d->signals[i], daemon_on_signal, sigs[i]);
                if (r < 0)
                        return r;
        }
        uv_timer_init(d->loop, &d->save_timer);
        uv_timer_init(d->loop, &d->grace_timer);
        d->save_timer.data = d->grace_timer.data = d;
        uv_unref((uv_handle_t *) &d->save_timer);
        uv_check_init(d->loop, &d->flush);
        r = uv_check_start(&d->flush, daemon_on_check);
        if (r < 0)
                return r;
        r = notify_setup(d->loop);
        if (r < 0)
                log_event(LOG_WARNING, "watchdog", NULL, NULL, NULL,
                          "cannot set up the watchdog (WATCHDOG_USEC), ignoring: %s", strerror(-r));
        return 0;
}

int daemon_run(const DaemonOptions *opts) {
        Daemon d = { .loop = uv_default_loop(), .opts = *opts };
        _cleanup_free_ char *state_error = NULL;
        char **main_argv;
        Table *t;
        int r;

        /* A closed log pipe (`solocron run | head`) must not kill the daemon: writes fail
         * with EPIPE and the log drops them. Children get every signal at its default
         * (spawner.c), so a job's own pipelines still end on SIGPIPE. */
        (void) signal(SIGPIPE, SIG_IGN);
        r = spawn_setup();
        if (r < 0) {
                log_event(LOG_ERR, "start_failed", NULL, NULL, NULL, "cannot find our own binary: %s",
                          strerror(-r));
                return 1;
        }
        t = daemon_load_table(opts->config_path);
        if (!t) {
                log_flush();
                return 2;
        }
        r = state_open(opts->state_dir, &d.state, &state_error);
        if (state_error)
                log_event(r < 0 ? LOG_ERR : LOG_WARNING, "state", NULL, NULL, NULL, "%s%s", state_error,
                          r < 0 ? " (set --state-dir to a writable directory)" : "");
        if (r < 0) {
                table_unref(t);
                log_flush();
                return 1;
        }
        {
                _cleanup_free_ char *err = NULL;

                r = daemon_withhold_env(&d, &t->config->lease);
                if (r >= 0)
                        r = daemon_lease_new(&d, &t->config->lease, &err);
                if (r < 0) {
                        log_event(LOG_ERR, "start_failed", NULL, NULL, NULL, "lease: %s",
                                  err ? err : strerror(-r));
                        table_unref(t);
                        state_free(d.state);
                        log_flush();
                        return 1;
                }
        }
        if (opts->pid_file) {
                _cleanup_free_ char *err = NULL;

                r = pidfile_write(opts->pid_file, &err);
                if (r < 0) {
                        log_event(LOG_ERR, "start_failed", NULL, NULL, NULL, "%s", err ? err : strerror(-r));
                        table_unref(t);
                        state_free(d.state);
                        d.lease->ops->close(d.lease, NULL, NULL);
                        log_flush();
                        return 1;
                }
        }
        main_argv = opts->main_argv ? opts->main_argv : t->config->main.argv;
        d.has_main = main_argv != NULL;
        r = daemon_setup_handles(&d);
        if (r >= 0)
                r = reaper_setup(d.loop);
        if (r >= 0) {
                _cleanup_free_ char *err = NULL;
                int k = guard_start(&err);

                if (k < 0)
                        log_event(LOG_WARNING, "guard_failed", NULL, NULL, NULL,
                                  "%s, ignoring: jobs may outlive a daemon that is killed",
                                  err ? err : strerror(-k));
        }
        if (r >= 0)
                r = daemon_apply(&d, t, true);
        if (r < 0) {
                log_event(LOG_ERR, "start_failed", NULL, NULL, NULL, "cannot start: %s", strerror(-r));
                table_unref(t);
                return 1;
        }
        /* Always a subreaper: the orphans of jobs come to us and are reaped at once (as
         * zombies they would keep a finished job's process group alive until whoever is
         * PID 1 gets to them, see run.c). */
        r = reaper_become_subreaper();
        if (r < 0)
                log_event(LOG_WARNING, "reaper", NULL, NULL, NULL,
                          "cannot become a subreaper, ignoring: %s", strerror(-r));
        if (d.has_main) {
                const MainConfig *mc = &d.table->config->main;
                bool from_table = !opts->main_argv;

                if (opts->main_argv && mc->argv)
                        log_event(LOG_NOTICE, "main_process", NULL, NULL, NULL,
                                  "the main process comes from the command line; the table's "
                                  "main: section is ignored");
                r = mainproc_start(&d.main, d.loop, main_argv, from_table && mc->restart_on_failure,
                                   mc->restart_backoff, mc->restart_max_backoff,
                                   daemon_on_main_exit, &d);
                if (r < 0 && !d.main.alive)
                        daemon_stop(&d, SIGTERM);       /* exits 127 */
        }
        /* Loading freed the YAML trees and zone files: give that memory back (idle RSS). */
        (void) malloc_trim(0);
        d.ready = true;
        daemon_next_status(&d, d.status, sizeof(d.status));
        log_event(LOG_INFO, "ready", NULL, NULL, NULL, "ready: %zu job%s, %s", d.n_jobs,
                  d.n_jobs == 1 ? "" : "s", d.status);
        log_flush();
        notify_ready(d.status);

        r = uv_run(d.loop, UV_RUN_DEFAULT);

        /* Teardown: every run has ended and every handle is closed. */
        guard_stop();
        d.state_failing = false;        /* the last word on it, whatever came before */
        daemon_save_state(&d);
        for (size_t i = 0; i < d.n_jobs; i++)
                job_free(d.jobs[i]);
        free(d.jobs);
        heap_done(&d.heap);
        table_unref(d.table);
        state_free(d.state);
        /* A fleet store closes asynchronously (requests in flight, the HTTP client). */
        d.lease->ops->close(d.lease, NULL, NULL);
        (void) uv_run(d.loop, UV_RUN_DEFAULT);
        if (opts->pid_file)
                pidfile_remove(opts->pid_file);
        free(d.withheld_env);
        (void) uv_loop_close(d.loop);
        log_flush();
        return d.exit_status;
}
