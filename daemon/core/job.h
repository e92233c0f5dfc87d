/* SPDX-License-Identifier: MIT */
#pragma once

/* A job at run time: its place in the firing heap, its runs in progress, and the overlap
 * policy that decides what a firing does while a previous run is still going. A job owns
 * its runs and reports to its owner (the daemon) through JobOwner. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "env.h"
#include "heap.h"
#include "job_stats.h"
#include "plan.h"
#include "run.h"
#include "table.h"

typedef struct Job Job;

typedef struct JobOwner {
        CoreEnv *env;
        /* A run of j ran here and is over, with result (its summary is logged). */
        void (*run_finished)(Job *j, const Run *r, const char *result, void *userdata);
        /* j has no run in progress any more. */
        void (*idle)(Job *j, void *userdata);
        void *userdata;
} JobOwner;

struct Job {                    /* one per job of the table: kept small (bench/): 120 bytes,
                                 * a 128-byte malloc chunk */
        const JobOwner *owner;  /* borrowed; owner->env is the daemon's */
        Table *table;           /* reference: the table cfg is in (so cfg->name, the job's
                                 * name, lives as long as the job) */
        const JobConfig *cfg;
        HeapEntry entry;        /* key: next.firing.f.t */
        PlanNext next;
        int64_t last_fired;     /* scheduled instant of the newest firing handled */
        Run *runs;              /* in progress (election, jitter wait, running, backoff) */
        unsigned n_runs;
        bool retired;           /* removed by a reload: kept until its runs end */
        bool ahead;             /* the firing at env->ahead_key was elected ahead (lease.
                                 * elect_ahead): job_fire() of it starts that run */
        bool paused;            /* paused fleet-wide, as last seen: an election answered so,
                                 * or the store's list, or a pause asked here. Elections
                                 * decide for a job with a lease; `lease: none` obeys this */
        JobFiring *queued;      /* owned; overlap: queue or replace: the firing waiting, or NULL */
        JobStats *stats;        /* owned; NULL until there is something to count */
};

/* A job for cfg, in table t (referenced). NULL when out of memory. */
Job *job_new(const JobOwner *owner, Table *t, const JobConfig *cfg);
/* Frees a job that has no run in progress. */
Job *job_free(Job *j);
/* A reload: the job's definition is now cfg, in table t (referenced); running runs keep
 * their own. */
void job_set_config(Job *j, Table *t, const JobConfig *cfg);
/* The job is paused, or not, as the store says now (a pause asked here, the store's list):
 * this outranks what the elections of its runs in progress found, which is older. */
void job_set_paused(Job *j, bool paused);
/* A firing is due now: apply the overlap policy and start (or queue, or skip) a run;
 * takeover: run it again, its holder died. */
void job_fire(Job *j, const JobFiring *f, bool catch_up, bool takeover);
/* lease.elect_ahead: f is due in a moment; elect it now when nothing would stop it then
 * (its run waits for job_fire() of f to start). */
void job_fire_ahead(Job *j, const JobFiring *f);
/* How far from its firing (late, or ahead: clocks that differ) a turn handed on is still
 * taken (job_stand_in()). */
#define JOB_STAND_IN_LATE_MAX_SEC 60
/* Another member that looks at one of j's firings cannot run it and handed this replica its
 * turn (t): stand in, claiming it at that rank's turn, or, busy too (or suspended, or
 * disabled here), hand it on. false: not taken (not a firing of j's schedule, too far from
 * now, already elected here, a job without a lease): the caller drops the turn. */
bool job_stand_in(Job *j, const LeaseTurn *t);
/* A manual run of j under key (LeaseRequest.manual), asked for at now (Unix seconds):
 * elected like a firing; watch hears how it goes. -EBUSY: a run is in progress and the
 * overlap policy allows no other; -ESHUTDOWN: the daemon stops, or j was removed. */
int job_run_manual(Job *j, const char *key, int64_t now, const RunWatch *watch, Run **ret);
/* run_terminate() every run of j. */
void job_terminate(Job *j, int sig, usec_t escalate_after);
/* A removed job: no queued firing; its runs go on (or are terminated, with terminate). */
void job_retire(Job *j, bool terminate);
/* The fleet-wide missed-firing alarm for j's firing at scheduled (Unix seconds): its
 * webhooks with `missed`, its on_failure hook (SOLOCRON_RESULT=missed). No-op for a job
 * without notifications. */
void job_notify_missed(Job *j, int64_t scheduled);
/* Its stats, allocated on first use; NULL when out of memory. */
JobStats *job_stats(Job *j);
