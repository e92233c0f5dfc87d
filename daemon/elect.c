/* SPDX-License-Identifier: MIT */
/* The election of a run's firing through the lease backend: claim it (synchronously or
 * not), act on the answer (run, stand down, or apply on_store_down), react to a lease lost
 * while the run goes on (on_lease_lost), and, with takeover:, watch a held firing so that
 * one replica runs it again if its holder dies. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"

typedef struct FiringWatch {
        Daemon *daemon;
        char *job;              /* looked up again when it fires: a reload may have removed it */
        JobFiring firing;
        LeaseWatch *watch;
        struct FiringWatch *next;
} FiringWatch;

static void watch_remove(FiringWatch *w) {
        for (FiringWatch **p = &w->daemon->watches; *p; p = &(*p)->next)
                if (*p == w) {
                        *p = w->next;
                        break;
                }
        free(w->job);
        free(w);
}

/* The watch is over: the holder died (take the firing over), or the firing ended (forget
 * the watch, or one would pile up per held firing). */
static void elect_on_watch_ended(void *userdata, bool holder_died) {
        FiringWatch *w = userdata;
        Daemon *d = w->daemon;
        char utc[RFC3339_UTC_MAX];
        Job *j = daemon_find_job(d, w->job);

        format_rfc3339_utc(w->firing.f.t, utc);
        if (holder_died && j && !d->stopping) {
                log_event(LOG_WARNING, "firing_takeover", j->name, NULL, NULL,
                          "the holder of firing %s died while running it; trying to take it over", utc);
                (void) run_start(j, &w->firing, false, true);
        }
        d->lease->ops->unwatch(w->watch);
        watch_remove(w);
}

static void elect_watch(Run *r) {
        Daemon *d = r->job->daemon;
        FiringWatch *w;
        int k;

        if (!d->lease->ops->watch)
                return;
        w = calloc(1, sizeof(FiringWatch));
        if (!w || !(w->job = strdup(r->job->name))) {
                free(w);
                return;
        }
        w->daemon = d;
        w->firing = r->firing;
        k = d->lease->ops->watch(d->lease,
                                 &(LeaseRequest) { .job = r->job->name, .scheduled = r->firing.f.t,
                                                   .run_id = r->id, .attempt = r->attempt },
                                 elect_on_watch_ended, w, &w->watch);
        if (k < 0) {
                log_event(LOG_WARNING, "lease_watch_failed", r->job->name, NULL, NULL,
                          "cannot watch the firing for takeover, ignoring: %s", strerror(-k));
                free(w->job);
                free(w);
                return;
        }
        w->next = d->watches;
        d->watches = w;
}

void elect_unwatch_all(Daemon *d) {
        while (d->watches) {
                FiringWatch *w = d->watches;

                d->lease->ops->unwatch(w->watch);
                watch_remove(w);
        }
}

/* Act on the election's answer. true: run it now. */
static bool elect_decide(Run *r, LeaseResult res, const LeaseInfo *info) {
        Daemon *d = r->job->daemon;
        char utc[RFC3339_UTC_MAX];

        format_rfc3339_utc(r->firing.f.t, utc);
        switch (res) {
        case LEASE_WON:
                free(r->lease_key);
                r->lease_key = strdup(info->key ? info->key : "");
                r->fencing_token = info->fencing_token;
                r->lease_state = RUN_LEASE_WON;
                if (d->lease_degraded) {
                        d->lease_degraded = false;
                        log_event(LOG_NOTICE, "lease_recovered", r->job->name, r->id, NULL,
                                  "the %s lease records claims again", d->lease->ops->name);
                }
                log_event(d->lease->ops->watch ? LOG_INFO : LOG_DEBUG, "firing_won", r->job->name, r->id,
                          NULL, "firing %s won (%s lease, fencing token %llu)", utc, d->lease->ops->name,
                          (unsigned long long) info->fencing_token);
                return true;
        case LEASE_HELD:
                r->claim = NULL;
                log_event(LOG_INFO, "firing_held", r->job->name, NULL, NULL, "firing %s@%s held by %s",
                          r->job->name, utc, info->detail ? info->detail : "another holder");
                if (r->cfg->takeover && info->detail && !strstr(info->detail, "already run"))
                        elect_watch(r);
                return false;
        default:
                r->claim = NULL;
                if (d->lease->ops->local) {
                        /* A local lease that cannot write its record (a full or read-only
                         * state directory) is no outage of a shared store: skipping would
                         * lose every firing on the one host there is, so the firing runs,
                         * unrecorded. Said once, not per firing. */
                        r->lease_state = RUN_LEASE_UNAVAILABLE;
                        if (!d->lease_degraded)
                                log_event(LOG_ERR, "lease_unavailable", r->job->name, r->id, NULL,
                                          "cannot record local claims (%s); firings run without "
                                          "a lease record until this is fixed",
                                          info->detail ? info->detail : "unknown error");
                        d->lease_degraded = true;
                        return true;
                }
                if (r->cfg->on_store_down == STORE_DOWN_RUN) {
                        r->lease_state = RUN_LEASE_UNAVAILABLE;
                        log_event(LOG_WARNING, "lease_unavailable", r->job->name, r->id, NULL,
                                  "cannot claim firing %s: %s; running it anyway (on_store_down: run)",
                                  utc, info->detail ? info->detail : "store unavailable");
                        return true;
                }
                log_event(LOG_WARNING, "lease_unavailable", r->job->name, NULL, NULL,
                          "cannot claim firing %s: %s; skipping it (on_store_down: skip)", utc,
                          info->detail ? info->detail : "store unavailable");
                return false;
        }
}

static void elect_on_claimed(LeaseClaim *c, LeaseResult res, const LeaseInfo *info, void *userdata) {
        Run *r = userdata;

        r->claim = res == LEASE_WON ? c : NULL;
        if (elect_decide(r, res, info))
                run_begin(r);
        else
                run_drop(r);
}

static void elect_on_lost(LeaseClaim *c, const char *why, void *userdata) {
        Run *r = userdata;

        (void) c;
        r->lease_lost = true;
        if (r->cfg->on_lease_lost == LEASE_LOST_CONTINUE) {
                log_event(LOG_ERR, "lease_lost", r->job->name, r->id, NULL,
                          "LEASE LOST (%s); the run goes on (on_lease_lost: continue): another replica "
                          "may run this firing too", why);
                return;
        }
        log_event(LOG_ERR, "lease_lost", r->job->name, r->id, NULL,
                  "LEASE LOST (%s); terminating the run (on_lease_lost: kill)", why);
        run_terminate(r, SIGTERM, r->cfg->kill_after);
}

bool elect_start(Run *r) {
        Daemon *d = r->job->daemon;
        LeaseInfo info = {};
        LeaseResult res;

        if (r->cfg->no_lease || !d->lease)
                return true;
        r->lease_cb = (LeaseCallbacks) { .claimed = elect_on_claimed, .lost = elect_on_lost,
                                         .userdata = r };
        res = d->lease->ops->claim(d->lease,
                                   &(LeaseRequest) { .job = r->job->name, .scheduled = r->firing.f.t,
                                                     .run_id = r->id, .attempt = r->attempt,
                                                     .takeover = r->takeover },
                                   &r->lease_cb, &r->claim, &info);
        if (res == LEASE_PENDING)
                return false;           /* elect_on_claimed() follows */
        if (res != LEASE_WON)
                r->claim = NULL;
        if (elect_decide(r, res, &info))
                return true;
        run_drop(r);
        return false;
}

void elect_cancel(Run *r) {
        if (r->claim)
                r->job->daemon->lease->ops->cancel(r->claim);
        r->claim = NULL;
}

void elect_finish(Run *r, const char *result) {
        if (!r->claim)
                return;
        /* The proof of run: how it ended; then the lease is let go. */
        r->job->daemon->lease->ops->finish(r->claim, result,
                                           r->term_signal ? 128 + r->term_signal : r->exit_status);
        r->claim = NULL;
}
