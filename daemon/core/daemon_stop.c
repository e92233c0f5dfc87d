/* SPDX-License-Identifier: MIT */
/* Stopping: on SIGTERM/SIGINT, or when the main process exits. One sequence: stop firing,
 * stop watching held firings, start the shutdown grace; the main process first (when there
 * is one), then the jobs (SIGTERM to every run); SIGKILL to what is left when the grace is
 * over; the handles close once nothing runs. */
#include <signal.h>
#include <string.h>

#include "daemon_internal.h"
#include "daemon_stop.h"
#include "log.h"
#include "notifier.h"
#include "notify.h"
#include "reaper.h"
#include "spawn_queue.h"
#include "missed.h"
#include "takeover.h"
#include "upload.h"

static size_t daemon_count_runs(const Daemon *d) {
        size_t n = 0;

        for (size_t i = 0; i < d->n_jobs; i++)
                n += d->jobs[i]->n_runs;
        for (size_t i = 0; i < d->n_retired; i++)
                n += d->retired[i]->n_runs;
        return n;
}

/* Every job, retired ones too; fn may end a retired job's last run, which frees it. */
static void daemon_terminate_runs(Daemon *d, int sig) {
        for (size_t i = 0; i < d->n_jobs; i++)
                job_terminate(d->jobs[i], sig, USEC_INFINITY);
        /* From the end: a job freed at i is replaced by the last one, already done. */
        for (size_t i = d->n_retired; i-- > 0;)
                if (i < d->n_retired)
                        job_terminate(d->retired[i], sig, USEC_INFINITY);
}

void daemon_close_handles(Daemon *d) {
        if (!d->handles_open)
                return;
        d->handles_open = false;
        wallclock_close(&d->wall, NULL);
        /* The signal watchers stay open, deaf (daemon_on_signal()) and not keeping the loop
         * alive, until the state is saved and the pid file removed: closing them restores
         * the default actions, and a late SIGTERM would kill us before that. */
        for (size_t i = 0; i < d->n_signals; i++)
                uv_unref((uv_handle_t *) &d->signals[i]);
        if (d->has_main)
                mainproc_close(&d->main);
        api_server_close(d->api);
        d->api = NULL;
        notifier_close(d->env.notifier);        /* idle by now, unless start-up failed */
        d->env.notifier = NULL;
        spawn_queue_close();
        reaper_close();
        notify_close();
        /* Output uploads in flight get a short grace (the loop runs on for them). */
        uploads_close(d->env.uploads, d->table ? d->table->config->shutdown_grace : 0);
        d->env.uploads = NULL;
        uv_close((uv_handle_t *) &d->save_timer, NULL);
        uv_close((uv_handle_t *) &d->grace_timer, NULL);
        uv_close((uv_handle_t *) &d->flush, NULL);
}

void daemon_maybe_done(Daemon *d) {
        if (!d->env.stopping || daemon_count_runs(d) > 0 || (d->has_main && d->main.alive) ||
            notifier_busy(d->env.notifier) || !d->handles_open)
                return;
        log_event(LOG_INFO, "stopped", NULL, NULL, NULL, "stopped");
        daemon_close_handles(d);
        daemon_close_lease(d);
}

static void daemon_on_grace_timer(uv_timer_t *t) {
        Daemon *d = t->data;

        if (d->has_main && d->main.alive) {
                log_event(LOG_WARNING, "main_killed", NULL, NULL, NULL, "main process still "
                          "running at the end of the shutdown grace, sending SIGKILL");
                mainproc_stop(&d->main, SIGKILL);
        }
        daemon_terminate_runs(d, SIGKILL);
}

/* Stop the jobs: SIGTERM to every run now, SIGKILL when the grace timer fires. */
static void daemon_stop_jobs(Daemon *d) {
        daemon_terminate_runs(d, SIGTERM);
        daemon_maybe_done(d);
}

/* Stopping, the last notification has gone (the hooks killed, the pings sent or given up). */
static void daemon_on_notifier_idle(void *userdata) {
        daemon_maybe_done(userdata);
}

/* Nothing runs any more: close the lease store now, not after the loop, since a fleet store
 * keeps the loop busy for as long as it is open (etcd: its session's keep-alives and its
 * watch). Its final writes and its goodbye (revoking the session) complete on the loop. */
void daemon_close_lease(Daemon *d) {
        LeaseStore *s = d->env.lease;

        d->env.takeover = takeover_free(d->env.takeover);
        if (!s)
                return;
        d->env.lease = NULL;
        s->ops->close(s, NULL, NULL);
}

/* The one stop sequence's beginning: no more firings, no more takeovers, the grace. */
static void daemon_begin_stop(Daemon *d, const char *why) {
        usec_t grace = d->table->config->shutdown_grace;
        size_t n = daemon_count_runs(d);

        d->env.stopping = true;
        daemon_arm(d);
        takeover_stop_all(d->env.takeover);
        notifier_stop(d->env.notifier, daemon_on_notifier_idle, d);
        missed_stop(d->env.missed);
        notify_stopping(why);
        log_event(LOG_INFO, "stopping", NULL, NULL, NULL,
                  "%s; %s%zu run%s in progress, shutdown grace %llus", why,
                  d->has_main && d->main.alive ? "main process first, then " : "", n,
                  n == 1 ? "" : "s", (unsigned long long) (grace / 1000000));
        (void) uv_timer_start(&d->grace_timer, daemon_on_grace_timer, grace / 1000, 0);
        uv_unref((uv_handle_t *) &d->grace_timer);
}

/* SIGTERM, SIGINT. With a main process, it is stopped first and the jobs once it has exited
 * (daemon_on_main_exit); both within the one grace period. */
void daemon_stop(Daemon *d, int sig) {
        char why[64];

        if (d->env.stopping && d->has_main && d->main.alive) {
                mainproc_signal(&d->main, sig);         /* still its to handle */
                return;
        }
        if (d->env.stopping) {
                log_event(LOG_WARNING, "stopping", NULL, NULL, NULL,
                          "SIG%s again: killing what still runs", sigabbrev_np(sig));
                daemon_on_grace_timer(&d->grace_timer);
                return;
        }
        (void) snprintf(why, sizeof(why), "SIG%s: stopping", sigabbrev_np(sig));
        daemon_begin_stop(d, why);
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

void daemon_on_main_exit(MainProc *m, int status, void *userdata) {
        Daemon *d = userdata;

        (void) m;
        d->exit_status = status;
        if (!d->env.stopping) {
                char why[96];

                (void) snprintf(why, sizeof(why), "the main process has exited; stopping with "
                                "its status %d", status);
                daemon_begin_stop(d, why);
        }
        daemon_stop_jobs(d);
}

static void daemon_on_signal(uv_signal_t *s, int signum) {
        Daemon *d = s->data;

        if (!d->handles_open)
                return;                 /* stopped: see daemon_close_handles() */
        switch (signum) {
        case SIGHUP:
                if (d->has_main && !d->opts.reload_on_hup)
                        mainproc_signal(&d->main, SIGHUP);
                else if (!d->env.stopping)
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

void daemon_close_signals(Daemon *d) {
        sigset_t watched, old;

        /* Each is blocked from before its watcher closes (which restores its default action)
         * until it is ignored: one that comes in between stays pending, then goes. Only
         * this thread blocks them: one that libuv's thread pool takes in that instant still
         * acts, but all is saved by now. */
        sigemptyset(&watched);
        for (size_t i = 0; i < d->n_signals; i++)
                sigaddset(&watched, d->signals[i].signum);
        (void) pthread_sigmask(SIG_BLOCK, &watched, &old);
        for (size_t i = 0; i < d->n_signals; i++) {
                int signum = d->signals[i].signum;

                uv_close((uv_handle_t *) &d->signals[i], NULL);
                if (signum > 0)
                        (void) signal(signum, SIG_IGN);
        }
        d->n_signals = 0;
        (void) pthread_sigmask(SIG_SETMASK, &old, NULL);
        (void) uv_run(d->loop, UV_RUN_DEFAULT);         /* their close callbacks */
}

int daemon_watch_signals(Daemon *d) {
        /* PID 1 gets no default signal actions: every signal we act on has a handler. */
        static const int sigs[DAEMON_N_SIGNALS] = {
                SIGHUP, SIGTERM, SIGINT,
                SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGTTIN, SIGTTOU,
        };
        size_t want = d->has_main ? DAEMON_N_SIGNALS : 3;
        int r;

        for (size_t i = 0; i < want; i++) {
                (void) uv_signal_init(d->loop, &d->signals[i]);
                d->signals[i].data = d;
                d->n_signals = i + 1;           /* to close, whatever follows */
                r = uv_signal_start(&d->signals[i], daemon_on_signal, sigs[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}
