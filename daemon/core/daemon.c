/* SPDX-License-Identifier: MIT */
/* `solocron run`: the event loop. One wall-clock timer armed for the earliest firing in the
 * heap, the jobs' results (the state file), start-up and the ordered teardown; stopping is
 * in daemon_stop.c, applying a table in daemon_reload.c. Nothing here polls: with no firing
 * due and no run in progress the process sleeps in epoll_wait. */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon_internal.h"
#include "daemon_stop.h"
#include "guard.h"
#include "lease_store.h"
#include "list.h"
#include "log.h"
#include "macro.h"
#include "missed.h"
#include "notify.h"
#include "pidfile.h"
#include "reaper.h"
#include "spawn_queue.h"
#include "spawner.h"
#include "strv.h"
#include "takeover.h"
#include "tz.h"
#include "upload.h"

#define STATE_SAVE_DELAY_MSEC 1000
#define MALLOC_TOP_PAD (512 * 1024)
#define MALLOC_TRIM_THRESHOLD (2 * 1024 * 1024)

const char *daemon_hostname(void) {
        static char name[256];

        if (!name[0] && gethostname(name, sizeof(name) - 1) < 0)
                (void) snprintf(name, sizeof(name), "localhost");
        return name;
}

int64_t core_now_usec(void) {
        return (int64_t) (uv_hrtime() / 1000);
}

/* What jobs do not get of our environment: the variables the lease: section expanded, and
 * the credentials its backend reads; logged once when any of them is set. */
static int daemon_withhold_env(Daemon *d, const LeaseConfig *lc) {
        const char *const *secret = lease_store_secret_env(lc);
        size_t n = strv_length(lc->env_used), k = 0;
        _cleanup_free_ char *names = NULL;
        char **l = calloc(n + strv_length((char *const *) secret) + 1, sizeof(char *));

        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                l[k++] = lc->env_used[i];
        for (const char *const *e = secret; *e; e++)
                if (!strv_contains(l, *e))
                        l[k++] = (char *) *e;
        if (k == 0) {
                free(l);
                return 0;
        }
        d->env.withheld_env = strv_pack(l);
        free(l);
        if (!d->env.withheld_env)
                return -ENOMEM;
        for (char **e = d->env.withheld_env; *e; e++) {
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

        if (!top || d->env.stopping) {
                (void) snprintf(buf, size, d->env.stopping ? "stopping" : "idle: nothing scheduled");
                return;
        }
        j = container_of(top, Job, entry);
        tz_offset_at(j->cfg->tz, top->key, &off);
        civil_from_seconds(top->key + off.utoff, &c);
        if (top->key - daemon_now_sec() < 86400 && c.second)
                (void) snprintf(buf, size, "next: %s at %02d:%02d:%02d %s", j->cfg->name, c.hour, c.minute,
                                c.second, off.abbr);
        else if (top->key - daemon_now_sec() < 86400)
                (void) snprintf(buf, size, "next: %s at %02d:%02d %s", j->cfg->name, c.hour, c.minute,
                                off.abbr);
        else
                (void) snprintf(buf, size, "next: %s at %04d-%02d-%02d %02d:%02d %s", j->cfg->name,
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

/* When the wall clock is to wake for the earliest firing: at its instant, or, with
 * lease.elect_ahead, that much before it the first time (daemon_on_wake() elects then). */
static int64_t daemon_wake_usec(const Daemon *d, const HeapEntry *top) {
        int64_t at;

        if (!top || d->env.stopping)
                return INT64_MAX;
        if (top->key <= 0)
                return 0;
        if (top->key >= INT64_MAX / (int64_t) USEC_PER_SEC)
                return INT64_MAX - 1;
        at = top->key * (int64_t) USEC_PER_SEC;
        if (d->env.lease_elect_ahead > 0 && top->key != d->env.ahead_key)
                at -= (int64_t) d->env.lease_elect_ahead;
        return at;
}

void daemon_arm(Daemon *d) {
        HeapEntry *top = heap_peek(&d->heap);
        int r;

        r = wallclock_arm_usec(&d->wall, daemon_wake_usec(d, top));
        if (r < 0)
                log_event(LOG_ERR, "timer_failed", NULL, NULL, NULL, "cannot arm the timer: %s",
                          strerror(-r));
        if (d->ready)
                daemon_update_status(d);
}

static void daemon_on_plan(const PlanStep *s, void *userdata) {
        Job *j = userdata;
        char utc[RFC3339_UTC_MAX];

        format_rfc3339_utc(s->firing.f.t, utc);
        switch (s->kind) {
        case PLAN_RUN:
                j->last_fired = s->firing.f.t;
                if (s->catch_up)
                        log_event(LOG_NOTICE, "firing_catch_up", j->cfg->name, NULL, NULL,
                                  "firing %s was missed; running it now (catch_up)", utc);
                job_fire(j, &s->firing, s->catch_up, false);
                return;
        case PLAN_MISSED: {
                char oldest[RFC3339_UTC_MAX + 16] = "";

                j->last_fired = s->firing.f.t;
                if (job_stats(j))
                        j->stats->missed += s->n_missed;
                if (s->n_missed > 1)
                        (void) snprintf(oldest, sizeof(oldest), "oldest %s, ",
                                        format_rfc3339_utc(s->oldest, (char[RFC3339_UTC_MAX]) {}));
                log_event(LOG_WARNING, "firing_missed", j->cfg->name, NULL, NULL,
                          "missed %llu firing%s (%snewest %s): the daemon was not running or the "
                          "clock jumped%s", (unsigned long long) s->n_missed,
                          s->n_missed == 1 ? "" : "s", oldest, utc,
                          j->cfg->policy->catch_up > 0 ? "; outside the catch_up window" : "; no catch_up set");
                return;
        }
        case PLAN_EXCLUDED:
                j->last_fired = s->firing.f.t;
                log_event(LOG_INFO, "firing_excluded", j->cfg->name, NULL, NULL,
                          "firing %s excluded by '%s'", utc, s->firing.excluded->text);
                return;
        }
}

void daemon_requeue(Daemon *d, Job *j) {
        if (j->next.has)
                (void) heap_set_key(&d->heap, &j->entry, j->next.firing.f.t);
        else {
                heap_remove(&d->heap, &j->entry);
                if (!(j->cfg->schedule.flags & CRON_REBOOT))     /* it never had any */
                        log_event(LOG_NOTICE, "schedule_ended", j->cfg->name, NULL, NULL,
                                  "no further firings");
        }
}

/* lease.elect_ahead: the jobs whose next firing is the heap's earliest, elected now.
 * Collected first: nothing moves in the heap meanwhile, but a run decided at once may call
 * back into the daemon. */
static void daemon_elect_ahead(Daemon *d) {
        _cleanup_free_ HeapEntry **due = malloc(d->heap.n * sizeof(HeapEntry *));
        size_t n = due ? heap_peek_all(&d->heap, due) : 0;

        for (size_t i = 0; i < n; i++) {
                Job *j = container_of(due[i], Job, entry);

                if (j->next.has && j->next.firing.f.t == due[i]->key)
                        job_fire_ahead(j, &j->next.firing);
        }
}

static void daemon_on_wake(WallClock *w, bool clock_changed) {
        Daemon *d = w->userdata;
        int64_t now = daemon_now_sec();
        HeapEntry *top;

        if (clock_changed)
                log_event(LOG_NOTICE, "clock_changed", NULL, NULL, NULL,
                          "the wall clock was set; re-planning the schedule");
        while ((top = heap_peek(&d->heap)) && top->key <= now && !d->env.stopping) {
                Job *j = container_of(top, Job, entry);

                plan_due(j->cfg, now, &j->next, daemon_on_plan, j);
                daemon_requeue(d, j);
        }
        top = heap_peek(&d->heap);
        if (top && !d->env.stopping && d->env.lease_elect_ahead > 0 &&
            top->key != d->env.ahead_key && wallclock_now_usec() >= daemon_wake_usec(d, top)) {
                d->env.ahead_key = top->key;
                daemon_elect_ahead(d);
        }
        daemon_arm(d);
}

/* Place a job in the schedule at start-up, or when a reload adds it. */
void daemon_plan_job(Daemon *d, Job *j, int64_t now) {
        int64_t last;
        bool have = d->state && state_get_last(d->state, j->cfg->name, &last);

        if (!j->cfg->enabled) {
                heap_remove(&d->heap, &j->entry);
                return;
        }
        plan_start(j->cfg, now, have ? &last : NULL, &j->next, daemon_on_plan, j);
        daemon_requeue(d, j);
}

/* The @reboot jobs run once, now that the daemon has started: their firing is this start
 * (a reload never fires them; a job that becomes @reboot in a reload waits for the next start). */
static void daemon_fire_reboot(Daemon *d) {
        for (size_t i = 0; i < d->n_jobs; i++) {
                Job *j = d->jobs[i];
                JobFiring f = { .f = { .t = d->started } };
                TzOffset off;

                if (!j->cfg->enabled || !(j->cfg->schedule.flags & CRON_REBOOT))
                        continue;
                tz_offset_at(j->cfg->tz, f.f.t, &off);
                f.f.local = f.f.t + off.utoff;
                j->last_fired = f.f.t;
                job_fire(j, &f, false, false);
        }
}

Job *daemon_find_job(Daemon *d, const char *name) {
        for (size_t i = 0; i < d->n_jobs; i++)
                if (strcmp(d->jobs[i]->cfg->name, name) == 0)
                        return d->jobs[i];
        return NULL;
}

/* --- what jobs report -------------------------------------------------------------- */

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

static void daemon_on_run_finished(Job *j, const Run *r, const char *result, void *userdata) {
        Daemon *d = userdata;

        (void) result;
        if (!d->state || state_set_last(d->state, j->cfg->name, r->firing.f.t) < 0)
                return;
        /* Only catch_up: reads the state back, so only a catch_up job's run is worth an fsync
         * now; the others are written with the next save or at exit (an every-second job
         * would otherwise fsync every second, right when the next firing runs). */
        if (r->cfg->policy->catch_up > 0 && !uv_is_active((uv_handle_t *) &d->save_timer))
                (void) uv_timer_start(&d->save_timer, daemon_on_save_timer, STATE_SAVE_DELAY_MSEC, 0);
}

static bool daemon_busy(const Daemon *d) {
        for (size_t i = 0; i < d->n_jobs; i++)
                if (d->jobs[i]->n_runs > 0)
                        return true;
        return d->n_retired > 0;
}

static void daemon_on_job_idle(Job *j, void *userdata) {
        Daemon *d = userdata;

        if (j->retired) {
                for (size_t i = 0; i < d->n_retired; i++)
                        if (d->retired[i] == j) {
                                d->retired[i] = d->retired[--d->n_retired];
                                break;
                        }
                job_free(j);
        }
        /* The last run is over: give back what the runs' buffers held (malloc keeps up to
         * MALLOC_TRIM_THRESHOLD at the top of the heap while jobs run). */
        if (!daemon_busy(d))
                (void) malloc_trim(0);
        daemon_maybe_done(d);
}

/* The holder of a firing this replica stood down on died while running it. */
static void daemon_on_holder_died(const char *job, const JobFiring *f, void *userdata) {
        Daemon *d = userdata;
        Job *j = daemon_find_job(d, job);
        char utc[RFC3339_UTC_MAX];

        if (!j || d->env.stopping)
                return;
        /* The watch began under the job's settings then: a reload since may have disabled
         * the job, or its takeover, or its lease. */
        if (!j->cfg->enabled || !j->cfg->policy->takeover || j->cfg->policy->no_lease) {
                log_event(LOG_INFO, "firing_takeover_off", j->cfg->name, NULL, NULL,
                          "the holder of firing %s died while running it; not taken over: "
                          "the job is %s now", format_rfc3339_utc(f->f.t, utc),
                          !j->cfg->enabled ? "disabled" :
                          j->cfg->policy->no_lease ? "without a lease" : "without takeover");
                return;
        }
        log_event(LOG_WARNING, "firing_takeover", j->cfg->name, NULL, NULL,
                  "the holder of firing %s died while running it; trying to take it over",
                  format_rfc3339_utc(f->f.t, utc));
        job_fire(j, f, false, true);
}

/* A turn dropped (a hand-on of nothing): a failure leaves its note until its sender's
 * session goes; not worth a word. */
static void daemon_on_turn_dropped(const char *error, void *userdata) {
        (void) error;
        (void) userdata;
}

/* A member that looks at a firing cannot run it, and hands this replica its turn. */
static void daemon_on_turn(const LeaseTurn *t, void *userdata) {
        Daemon *d = userdata;
        Job *j = daemon_find_job(d, t->job);

        if ((d->env.stopping || !j || !job_stand_in(j, t)) && d->env.lease->ops->pass_turn)
                d->env.lease->ops->pass_turn(d->env.lease, NULL, t, true,
                                             daemon_on_turn_dropped, NULL);
}

/* The fleet-wide missed-firing alarm: job's firing f ran nowhere, and this replica is the one
 * of the fleet that says so (it created the alarm marker in the store). */
static void daemon_on_missed_fleet(const char *job, const JobFiring *f, LeaseFiringState state,
                                   void *userdata) {
        Daemon *d = userdata;
        Job *j = daemon_find_job(d, job);
        char utc[RFC3339_UTC_MAX];

        format_rfc3339_utc(f->f.t, utc);
        if (j && job_stats(j))
                j->stats->missed_fleet++;
        log_event(LOG_ERR, "firing_missed_fleet", job, NULL, NULL,
                  "firing %s ran nowhere in the fleet: %s (raised once, by this replica)", utc,
                  state == LEASE_FIRING_ABANDONED ?
                  "its holder's lease expired without a final record and no takeover followed" :
                  "no replica claimed it");
        /* Told once, by this replica: webhooks whose on: lists missed, and on_failure with
         * SOLOCRON_RESULT=missed. A job removed by a reload meanwhile has nobody to tell. */
        if (j)
                job_notify_missed(j, f->f.t);
}

/* --- start-up and teardown --------------------------------------------------------- */

static void daemon_on_prepare(uv_prepare_t *c) {
        (void) c;
        log_flush();
        guard_flush();
}

static int daemon_setup_handles(Daemon *d) {
        int r;

        r = wallclock_init(d->loop, &d->wall, daemon_on_wake, d);
        if (r < 0)
                return r;
        d->handles_open = true;
        (void) uv_timer_init(d->loop, &d->save_timer);
        (void) uv_timer_init(d->loop, &d->grace_timer);
        (void) uv_prepare_init(d->loop, &d->flush);
        d->save_timer.data = d->grace_timer.data = d;
        uv_unref((uv_handle_t *) &d->save_timer);
        r = daemon_watch_signals(d);
        if (r < 0)
                return r;
        r = uv_prepare_start(&d->flush, daemon_on_prepare);
        if (r < 0)
                return r;
        r = notify_setup(d->loop);
        if (r < 0)
                log_event(LOG_WARNING, "watchdog", NULL, NULL, NULL,
                          "cannot set up the watchdog (WATCHDOG_USEC), ignoring: %s", strerror(-r));
        /* Without it, jobs are started from the loop (spawn_queue_submit()). */
        (void) spawn_queue_setup(d->loop);
        return reaper_setup(d->loop);
}

static void daemon_on_start_probe(const char *error, void *userdata) {
        Daemon *d = userdata;

        if (!error || !d->env.lease || !d->handles_open)
                return;                 /* answered, or the daemon is stopping */
        log_event(LOG_WARNING, "store_unavailable", NULL, NULL, NULL,
                  "lease: the %s store does not answer: %s; until it does, each firing follows "
                  "its job's on_store_down", d->env.lease->ops->name, error);
}

/* The state, the lease store and the pid file. Returns an exit status (1: cannot start). */
static int daemon_setup_files(Daemon *d, Table *t) {
        _cleanup_free_ char *err = NULL;
        int r;

        r = state_open(d->opts.state_dir, &d->state, &err);
        if (err)
                log_event(r < 0 ? LOG_ERR : LOG_WARNING, "state", NULL, NULL, NULL, "%s%s", err,
                          r < 0 && r != -ELIBACC ? " (set --state-dir to a writable directory)" :
                          "");
        if (r < 0)
                return 1;
        err = mfree(err);
        r = daemon_withhold_env(d, &t->config->lease);
        if (r >= 0)
                r = lease_store_new(d->loop, &t->config->lease, d->opts.state_dir,
                                    daemon_hostname(), &d->env.lease, &err);
        if (r >= 0 && d->env.lease->ops->join)
                d->env.lease->ops->join(d->env.lease, &(LeaseFleetCallbacks) {
                                                .turn = daemon_on_turn, .userdata = d });
        d->env.lease_stagger = t->config->lease.stagger;
        d->env.lease_elect_ahead = t->config->lease.elect_ahead;
        d->env.lease_candidates = t->config->lease.candidates;
        if (r >= 0 && !(d->env.takeover = takeover_new(d->env.lease, daemon_on_holder_died, d)))
                r = -ENOMEM;
        if (r >= 0 && !(d->env.uploads = uploads_new(d->loop)))
                r = -ENOMEM;
        if (r >= 0 && !(d->env.missed = missed_new(d->loop, d->env.lease, &t->config->lease,
                                                   daemon_on_missed_fleet, d)))
                r = -ENOMEM;
        if (r < 0) {
                log_event(LOG_ERR, "start_failed", NULL, NULL, NULL, "lease: %s",
                          err ? err : strerror(-r));
                return 1;
        }
        /* A fleet store is asked once at start, so that a wrong password or an unreachable
         * server is said now and not only at the first firing. */
        if (!d->env.lease->ops->local && d->env.lease->ops->probe)
                d->env.lease->ops->probe(d->env.lease, daemon_on_start_probe, d);
        if (d->opts.pid_file) {
                err = mfree(err);
                r = pidfile_write(d->opts.pid_file, &err);
                if (r < 0) {
                        d->opts.pid_file = NULL;        /* not ours to remove */
                        log_event(LOG_ERR, "start_failed", NULL, NULL, NULL, "%s",
                                  err ? err : strerror(-r));
                        return 1;
                }
        }
        return 0;
}

/* Start the main process, if there is one (a failure stops the daemon: exit 127). */
static void daemon_start_main(Daemon *d, char **main_argv) {
        const MainConfig *mc = &d->table->config->main;
        bool from_table = !d->opts.main_argv;
        int r;

        if (d->opts.main_argv && mc->argv)
                log_event(LOG_NOTICE, "main_process", NULL, NULL, NULL,
                          "the main process comes from the command line; the table's main: "
                          "section is ignored");
        r = mainproc_start(&d->main, d->loop, main_argv, from_table && mc->restart_on_failure,
                           mc->restart_backoff, mc->restart_max_backoff, daemon_on_main_exit, d);
        if (r < 0 && !d->main.alive)
                daemon_stop(d, SIGTERM);
}

/* Whatever daemon_run() got: freed in reverse, each part only if it is there. */
static void daemon_teardown(Daemon *d) {
        daemon_close_handles(d);
        uploads_close(d->env.uploads, 0);       /* start-up failed: nothing in flight */
        d->env.uploads = NULL;
        missed_stop(d->env.missed);
        daemon_close_lease(d);
        (void) uv_run(d->loop, UV_RUN_DEFAULT);         /* close callbacks, the store's */
        guard_stop();
        if (d->state) {
                d->state_failing = false;       /* the last word on it, whatever came before */
                daemon_save_state(d);
        }
        heap_done(&d->heap);            /* it points into the jobs */
        for (size_t i = 0; i < d->n_jobs; i++)
                job_free(d->jobs[i]);
        free(d->jobs);
        free(d->retired);
        table_unref(d->table);
        state_free(d->state);
        d->env.takeover = takeover_free(d->env.takeover);
        if (d->env.lease) {
                /* A fleet store closes asynchronously (requests in flight, the HTTP client). */
                d->env.lease->ops->close(d->env.lease, NULL, NULL);
                (void) uv_run(d->loop, UV_RUN_DEFAULT);
        }
        /* After the store: its close answered the checks still in flight. */
        d->env.missed = missed_free(d->env.missed);
        if (d->opts.pid_file)
                pidfile_remove(d->opts.pid_file);
        daemon_close_signals(d);        /* the last: a late SIGTERM finds nothing left undone */
        free(d->env.withheld_env);
        (void) uv_loop_close(d->loop);
        log_flush();
}

static int daemon_start(Daemon *d) {
        char **main_argv;
        Table *t;
        int r;

        r = spawn_setup();
        if (r < 0) {
                log_event(LOG_ERR, "start_failed", NULL, NULL, NULL,
                          "cannot find our own binary: %s", strerror(-r));
                return 1;
        }
        t = table_load(d->opts.config_path, d->opts.state_dir);
        if (!t)
                return 2;
        r = daemon_setup_files(d, t);
        if (r != 0) {
                table_unref(t);
                return r;
        }
        main_argv = d->opts.main_argv ?: t->config->main.argv;
        d->has_main = main_argv != NULL;
        r = daemon_setup_handles(d);
        if (r >= 0 && !(d->env.notifier = notifier_new(d->loop, daemon_hostname(),
                                                       d->env.withheld_env)))
                r = -ENOMEM;
        if (r >= 0) {
                guard_want();           /* it starts with the first job */
                r = daemon_apply(d, t, true);
        }
        if (r < 0) {
                log_event(LOG_ERR, "start_failed", NULL, NULL, NULL, "cannot start: %s", strerror(-r));
                table_unref(t);
                return 1;
        }
        d->last_reload_ok = d->started = daemon_now_sec();
        /* The fleet may have been down at firings just before this start: check them. */
        for (size_t i = 0; i < d->n_jobs; i++)
                missed_expect_started(d->env.missed, d->jobs[i]->cfg, d->started);
        if (daemon_api_start(d) < 0)
                return 1;
        /* Always a subreaper: the orphans of jobs come to us and are reaped at once (as
         * zombies they would keep a finished job's process group alive until whoever is
         * PID 1 gets to them, see run_attempt.c). */
        r = reaper_become_subreaper();
        if (r < 0)
                log_event(LOG_WARNING, "reaper", NULL, NULL, NULL,
                          "cannot become a subreaper, ignoring: %s", strerror(-r));
        daemon_fire_reboot(d);
        if (d->has_main)
                daemon_start_main(d, main_argv);
        return 0;
}

int daemon_run(const DaemonOptions *opts) {
        /* Whatever start-up got, the teardown undoes, on every way out. */
        _cleanup_(daemon_teardown) Daemon d = { .loop = uv_default_loop(), .opts = *opts,
                                              .env.ahead_key = INT64_MIN };
        int r;

        d.env = (CoreEnv) { .loop = d.loop, .now_usec = core_now_usec,
                            .hostname = daemon_hostname() };
        d.job_owner = (JobOwner) { .env = &d.env, .run_finished = daemon_on_run_finished,
                                   .idle = daemon_on_job_idle, .userdata = &d };
        /* A closed log pipe (`solocron run | head`) must not kill the daemon: writes fail
         * with EPIPE and the log drops them. Children get every signal at its default
         * (spawner.c), so a job's own pipelines still end on SIGPIPE. */
        (void) signal(SIGPIPE, SIG_IGN);
        /* The heap grows and shrinks with the load and then with the runs: move its top in
         * steps of MALLOC_TOP_PAD and keep up to MALLOC_TRIM_THRESHOLD free there, instead of
         * a brk() per few runs (a tenth of a 1000-job burst's CPU: bench/) or per 128 KiB of a
         * large table's load; daemon_on_job_idle() trims once the last run is over. */
        (void) mallopt(M_TOP_PAD, MALLOC_TOP_PAD);
        (void) mallopt(M_TRIM_THRESHOLD, MALLOC_TRIM_THRESHOLD);
        /* The spawn threads (spawn_queue.c) allocate a few bytes per job: an arena each
         * would keep its own free memory (and top pad) for them. One arena for all. */
        (void) mallopt(M_ARENA_MAX, 1);
        r = daemon_start(&d);
        if (r != 0)
                return r;
        /* Loading freed the YAML trees and zone files: give that memory back (idle RSS). */
        (void) malloc_trim(0);
        d.ready = true;
        daemon_next_status(&d, d.status, sizeof(d.status));
        log_event(LOG_INFO, "ready", NULL, NULL, NULL, "ready: %zu job%s, %s", d.n_jobs,
                  d.n_jobs == 1 ? "" : "s", d.status);
        log_flush();
        notify_ready(d.status);

        (void) uv_run(d.loop, UV_RUN_DEFAULT);
        return d.exit_status;
}
