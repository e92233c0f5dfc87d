/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "job.h"
#include "list.h"
#include "log.h"

static void job_on_run_won(Run *r, void *userdata);
static void job_on_run_finished(Run *r, const char *result, void *userdata);
static void job_on_run_ended(Run *r, void *userdata);

static const RunOwner job_run_owner = {         /* every job's runs report to their job */
        .won = job_on_run_won,
        .finished = job_on_run_finished,
        .ended = job_on_run_ended,
};

_Static_assert(sizeof(Job) <= 120, "a Job fits a 128-byte malloc chunk (job.h)");

Job *job_new(const JobOwner *owner, Table *t, const JobConfig *cfg) {
        Job *j = calloc(1, sizeof(Job));

        if (!j)
                return NULL;
        j->owner = owner;
        j->table = table_ref(t);
        j->cfg = cfg;
        heap_entry_init(&j->entry);
        j->last_fired = INT64_MIN;
        return j;
}

Job *job_free(Job *j) {
        if (!j)
                return NULL;
        table_unref(j->table);
        free(j->queued);
        free(j->stats);
        free(j);
        return NULL;
}

void job_set_config(Job *j, Table *t, const JobConfig *cfg) {
        Table *old = j->table;

        j->table = table_ref(t);
        j->cfg = cfg;
        table_unref(old);
}

void job_set_paused(Job *j, bool paused) {
        j->paused = paused;
        for (Run *r = j->runs; r; r = r->next)
                r->pause_outdated = true;
}

static void job_skip(Job *j, const JobFiring *f, const char *why) {
        char utc[RFC3339_UTC_MAX];

        log_event(LOG_WARNING, "firing_skipped", j->cfg->name, j->runs ? j->runs->id : NULL, NULL,
                  "firing %s SKIPPED (%s)", format_rfc3339_utc(f->f.t, utc), why);
}

static int job_start(Job *j, const RunRequest *req, Run **ret) {
        char utc[RFC3339_UTC_MAX];
        Run *r;
        int k;

        k = run_new(j->owner->env, &job_run_owner, j, j->table, j->cfg, j->cfg->name, req, &r);
        if (k < 0) {
                log_event(LOG_ERR, "run_failed", j->cfg->name, NULL, NULL, "cannot start run for %s: %s",
                          format_rfc3339_utc(req->firing.f.t, utc), strerror(-k));
                return k;
        }
        LIST_PREPEND(j->runs, r);
        j->n_runs++;
        if (ret)
                *ret = r;
        run_start(r);
        return 0;
}

static void job_start_firing(Job *j, const JobFiring *f, bool catch_up, bool takeover) {
        (void) job_start(j, &(RunRequest) { .firing = *f, .catch_up = catch_up,
                                            .takeover = takeover }, NULL);
}

/* A run past its election, other than except, or NULL: what the overlap policy weighs. A
 * run still electing has started nothing; if it counted, a firing that comes while the store
 * is slow to answer (an election outlasting the schedule's period) would be skipped here,
 * while the other replicas stood down on it: lost fleet-wide. So the two elections proceed,
 * and should both be won, the two runs overlap (logged when the second is won). */
static const Run *job_active_run(const Job *j, const Run *except) {
        for (const Run *r = j->runs; r; r = r->next)
                if (r != except && r->phase != RUN_ELECTING)
                        return r;
        return NULL;
}

/* Has j a run (electing or past it) for its firing at t already? */
static bool job_has_firing(const Job *j, int64_t t) {
        for (const Run *r = j->runs; r; r = r->next)
                if (!r->manual && r->firing.f.t == t)
                        return true;
        return false;
}

/* Keep f as the one firing waiting; false when out of memory. */
static bool job_queue(Job *j, const JobFiring *f) {
        if (!j->queued && !(j->queued = malloc(sizeof(JobFiring))))
                return false;
        *j->queued = *f;
        return true;
}

void job_fire_ahead(Job *j, const JobFiring *f) {
        const JobConfig *cfg = j->cfg;

        /* What job_fire() would not start now is decided when it is due, as without. */
        j->ahead = false;
        if (j->owner->env->stopping || j->retired || !cfg->enabled || cfg->suspend ||
            cfg->policy->no_lease || f->excluded || job_has_firing(j, f->f.t) ||
            (cfg->policy->overlap != OVERLAP_ALLOW && job_active_run(j, NULL)))
                return;
        if (job_start(j, &(RunRequest) { .firing = *f, .ahead = true }, NULL) == 0)
                j->ahead = true;
}

void job_fire(Job *j, const JobFiring *f, bool catch_up, bool takeover) {
        char utc[RFC3339_UTC_MAX];

        if (!takeover && j->ahead && f->f.t == j->owner->env->ahead_key) {
                /* Elected ahead: its run (if it won and is still there) starts now. */
                j->ahead = false;
                for (Run *r = j->runs; r; r = r->next)
                        if (r->ahead && !r->manual && r->firing.f.t == f->f.t) {
                                run_due(r);
                                break;
                        }
                return;
        }
        if (j->owner->env->stopping || j->retired)
                return;
        if (!takeover && job_has_firing(j, f->f.t))
                return;                 /* a stand-in for it came first (job_stand_in()) */
        if (j->cfg->suspend || (j->paused && j->cfg->policy->no_lease)) {
                log_event(LOG_INFO, "firing_paused", j->cfg->name, NULL, NULL, "firing %s not run: %s",
                          format_rfc3339_utc(f->f.t, utc),
                          j->cfg->suspend ? "the job is suspended (suspend: true)" :
                                            "the job is paused");
                return;
        }
        if (j->cfg->policy->overlap == OVERLAP_ALLOW || takeover || !job_active_run(j, NULL)) {
                job_start_firing(j, f, catch_up, takeover);
                return;
        }
        switch (j->cfg->policy->overlap) {
        case OVERLAP_SKIP:
                job_skip(j, f, "still running");
                if (!catch_up)
                        elect_hand_on(j->owner->env, j->cfg, j->cfg->name, f, NULL);
                return;
        case OVERLAP_QUEUE:
                if (j->queued) {
                        job_skip(j, f, "still running, and one firing is already queued");
                        if (!catch_up)
                                elect_hand_on(j->owner->env, j->cfg, j->cfg->name, f, NULL);
                        return;
                }
                if (!job_queue(j, f)) {
                        job_skip(j, f, "still running, and out of memory to queue it");
                        return;
                }
                log_event(LOG_INFO, "firing_queued", j->cfg->name, NULL, NULL,
                          "still running; this firing runs when the current run ends");
                return;
        case OVERLAP_REPLACE:
                /* Terminate what runs (as on timeout); the new run starts once they are gone. */
                if (!job_queue(j, f)) {
                        job_skip(j, f, "still running, and out of memory to queue it");
                        return;
                }
                log_event(LOG_NOTICE, "run_replaced", j->cfg->name, j->runs->id, NULL,
                          "still running; terminating it to start the new firing");
                job_terminate(j, SIGTERM, j->cfg->policy->kill_after);
                return;
        default:
                return;
        }
}

static int64_t wall_now_sec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec;
}

bool job_stand_in(Job *j, const LeaseTurn *t) {
        const JobConfig *cfg = j->cfg;
        int64_t now = wall_now_sec();
        char utc[RFC3339_UTC_MAX];
        JobFiring f;

        if (j->owner->env->stopping || j->retired || cfg->policy->no_lease ||
            (cfg->schedule.flags & CRON_REBOOT))
                return false;
        /* A firing of the schedule, neither long past nor ahead: a note that comes late (a
         * watch that lagged) is not a firing to start now. */
        if (t->scheduled < now - JOB_STAND_IN_LATE_MAX_SEC ||
            t->scheduled > now + JOB_STAND_IN_LATE_MAX_SEC ||
            firing_next(cfg, t->scheduled - 1, &f) < 0 || f.f.t != t->scheduled || f.excluded ||
            job_has_firing(j, t->scheduled))    /* it has its election here already */
                return false;
        log_event(LOG_INFO, "firing_stand_in", cfg->name, NULL, NULL,
                  "firing %s: %s handed on the turn of rank %u", format_rfc3339_utc(f.f.t, utc),
                  t->from, t->rank);
        if (!cfg->enabled || cfg->suspend) {
                /* Not to run here (a table that differs, mid-rollout): the turn goes on. */
                elect_hand_on(j->owner->env, cfg, cfg->name, &f, t);
                return true;
        }
        if ((cfg->policy->overlap == OVERLAP_SKIP || cfg->policy->overlap == OVERLAP_QUEUE) &&
            job_active_run(j, NULL)) {
                /* Busy too: the turn goes on, down this member's lane of spares. */
                job_skip(j, &f, "still running");
                elect_hand_on(j->owner->env, cfg, cfg->name, &f, t);
                return true;
        }
        return job_start(j, &(RunRequest) { .firing = f, .stand_in = t->rank + 1 }, NULL) == 0;
}

int job_run_manual(Job *j, const char *key, int64_t now, const RunWatch *watch, Run **ret) {
        if (j->owner->env->stopping || j->retired)
                return -ESHUTDOWN;
        if (j->cfg->policy->overlap != OVERLAP_ALLOW && job_active_run(j, NULL))
                return -EBUSY;
        return job_start(j, &(RunRequest) { .firing = { .f = { .t = now } }, .manual = key,
                                            .watch = watch }, ret);
}

void job_terminate(Job *j, int sig, usec_t escalate_after) {
        for (Run *r = j->runs, *next; r; r = next) {
                next = r->next;         /* r may end (and be unlinked) at once */
                run_terminate(r, sig, escalate_after);
        }
}

void job_retire(Job *j, bool terminate) {
        j->retired = true;
        j->queued = mfree(j->queued);
        if (terminate)
                for (Run *r = j->runs, *next; r; r = next) {
                        next = r->next;
                        run_terminate(r, SIGTERM, r->cfg->policy->kill_after);
                }
}

static void job_on_run_won(Run *r, void *userdata) {
        Job *j = userdata;
        const Run *o = r->cfg->policy->overlap != OVERLAP_ALLOW ? job_active_run(j, r) : NULL;
        char utc[RFC3339_UTC_MAX];

        if (!o)
                return;
        /* See job_active_run(): an election outlasted the period. */
        log_event(LOG_NOTICE, "run_overlap", j->cfg->name, r->id, NULL,
                  "firing %s won while run %s still runs: its election took longer than the "
                  "schedule's period; both run", format_rfc3339_utc(r->firing.f.t, utc), o->id);
}

JobStats *job_stats(Job *j) {
        if (!j->stats)
                j->stats = calloc(1, sizeof(JobStats));
        return j->stats;
}

static void job_on_hold_released(void *t) {
        table_unref(t);
}

void job_notify_missed(Job *j, int64_t scheduled) {
        if (!j->owner->env->notifier || !j->cfg->policy->notify)
                return;
        notifier_event(j->owner->env->notifier, j->cfg, &(NotifyEvent) {
                        .kind = NOTIFY_MISSED, .result = "missed", .exit_status = -1,
                        .scheduled = scheduled, .hold = table_ref(j->table),
                        .release = job_on_hold_released });
}

/* Did the job's last run that ended on its own (not cancelled, not stopped by solocron)
 * fail? What this replica has seen since it started: the first success after it is
 * "recovered". */
static bool job_failed_last(const JobStats *st) {
        const RecentRun *rr;

        for (unsigned i = 0; st && (rr = job_stats_recent(st, i)); i++)
                if (rr->result != RUN_CANCELLED && rr->result != RUN_TERMINATED)
                        return rr->result != RUN_SUCCEEDED;
        return false;
}

static void job_on_run_finished(Run *r, const char *result, void *userdata) {
        Job *j = userdata;
        JobStats *st = job_stats(j);
        bool recovered = strcmp(result, "succeeded") == 0 && job_failed_last(st);

        if (st) {
                RecentRun rr = { .scheduled = r->firing.f.t, .ended = wall_now_sec(),
                                 .duration_usec = j->owner->env->now_usec() - r->run_start_usec,
                                 .status = r->term_signal ? 128 + r->term_signal : r->exit_status,
                                 .attempts = r->attempt, .result = run_result_from_string(result),
                                 .manual = r->manual != NULL };

                memcpy(rr.id, r->id, sizeof(rr.id));
                job_stats_run(st, &rr);
        }
        if (strcmp(result, "succeeded") == 0)
                run_notify(r, NOTIFY_SUCCESS, result, recovered);
        else if (strcmp(result, "cancelled") != 0)
                run_notify(r, NOTIFY_FAILURE, result, false);
        j->owner->run_finished(j, r, result, j->owner->userdata);
}

static void job_on_run_ended(Run *r, void *userdata) {
        Job *j = userdata;
        JobStats *st = r->election.outcome != ELECT_PENDING ? job_stats(j) : NULL;

        if (st)
                st->elections[r->election.outcome]++;
        /* What the election says of a pause (a manual run's ignores it), unless the job has
         * been paused or resumed since its claim went out. */
        if (!r->manual && !r->pause_outdated) {
                bool was = j->paused;

                if (r->election.outcome == ELECT_PAUSED)
                        j->paused = true;
                else if (r->election.outcome == ELECT_WON || r->election.outcome == ELECT_HELD)
                        j->paused = false;
                if (j->paused != was)
                        j->owner->env->pause_epoch++;
        }
        LIST_UNLINK(j->runs, r);
        j->n_runs--;
        if (j->n_runs == 0 && j->queued && !j->retired && !j->owner->env->stopping) {
                JobFiring f = *j->queued;

                j->queued = mfree(j->queued);
                job_start_firing(j, &f, false, false);
        }
        if (j->n_runs == 0)
                j->owner->idle(j, j->owner->userdata);
}
