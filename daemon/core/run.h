/* SPDX-License-Identifier: MIT */
#pragma once

/* One run of a job for one firing: its election, the jitter wait, attempts (spawn, relay
 * output, timeout → SIGTERM → SIGKILL to the process group), retries with backoff, and the
 * summary it logs at the end. A run reports to its owner (a Job) through RunOwner and never
 * names the Daemon; it borrows the CoreEnv. run.c: the run; run_attempt.c: one attempt. */

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "elect.h"
#include "env.h"
#include "firing.h"
#include "notifier.h"
#include "output.h"
#include "reaper.h"
#include "spawn_queue.h"
#include "spawner.h"
#include "table.h"

typedef struct Run Run;

typedef struct RunOwner {
        /* Elected (or not elected at all): the jitter wait and the first attempt follow. */
        void (*won)(Run *r, void *userdata);
        /* The run ran here and is over (its summary is logged): result is "succeeded",
         * "failed", "timed_out", "signal", "terminated" or "cancelled". */
        void (*finished)(Run *r, const char *result, void *userdata);
        /* The run is over, finished or dropped (it never ran here); it is freed after. */
        void (*ended)(Run *r, void *userdata);
} RunOwner;

/* Someone waiting on a run (the API, for a manual run); each called once, in this order. */
typedef struct RunWatch {
        /* Elected: here says whether it runs here (else r->election says who has it). */
        void (*decided)(Run *r, bool here, void *userdata);
        /* It ran here and is over (the owner's finished() follows). */
        void (*finished)(Run *r, const char *result, void *userdata);
        /* The run is freed after this. */
        void (*ended)(Run *r, void *userdata);
        void *userdata;
} RunWatch;

typedef struct RunRequest {     /* what a run is for */
        JobFiring firing;       /* a manual run: f.t is when it was asked for */
        bool catch_up;
        bool takeover;          /* re-running a firing whose holder died */
        const char *manual;     /* a manual run's key (copied); NULL: a firing */
        const RunWatch *watch;  /* borrowed until its ended(); NULL: none */
        bool ahead;             /* elected before it is due (lease.elect_ahead): once won,
                                 * the run waits for run_due() or the instant */
        unsigned stand_in;      /* standing in for a busy member that looks at the firing
                                 * (a turn handed on): its rank + 1; 0: not */
} RunRequest;

typedef enum RunPhase {
        RUN_ELECTING,           /* claiming the firing from the lease backend */
        RUN_WAITING,            /* won ahead, the instant not come yet; or the jitter delay
                                 * before the first attempt */
        RUN_STARTING,           /* resolving user:/group: off the loop, or waiting to retry;
                                 * the process being started (spawn_pending) */
        RUN_RUNNING,            /* a process is alive, or its output is draining */
        RUN_BACKOFF,            /* waiting to retry */
        RUN_CLOSING,            /* over; handles closing */
} RunPhase;

struct Run {
        /* Read by the owner: */
        const char *job;        /* borrowed from the owner, which outlives its runs */
        char id[17];            /* 16 hex digits, random */
        JobFiring firing;
        RunPhase phase;
        unsigned attempt;       /* 1-based */
        Run *prev, *next;       /* the owner's list */
        bool pause_outdated;    /* the owner's: its job's pause was learned after this run's
                                 * claim went out, so the election's word on it is older */

        /* The run's own: */
        CoreEnv *env;           /* borrowed */
        const RunOwner *owner;  /* borrowed: static, shared by the owner's runs */
        void *owner_userdata;   /* its callbacks' userdata (the Job) */
        Table *table;           /* reference: cfg stays valid for the run's life */
        const JobConfig *cfg;
        bool catch_up;
        bool takeover;          /* re-running a firing whose holder died */
        bool ahead;             /* elected ahead, and not yet due (run_due()) */
        char *manual;           /* a manual run's key, or NULL */
        const RunWatch *watch;  /* or NULL */
        Election election;
        uv_timer_t timer;       /* jitter, lookup retries, timeout → SIGTERM → SIGKILL, group
                                 * polls, drain, backoff: one at a time */
        uv_work_t lookup;       /* user:/group: lookup in a libuv worker */
        bool lookup_pending;    /* the worker has it: the run waits for its answer */
        bool has_creds;
        unsigned lookup_tries;
        int lookup_result;
        char *lookup_error;
        SpawnCreds creds;       /* this attempt's user:/group:, when has_creds */
        SpawnRequest spawn;     /* the attempt's start, off the loop (spawn_queue.h) */
        char *spawn_vars;       /* its SOLOCRON_* strings, which spawn.envp points into */
        bool spawn_pending;     /* a spawn thread has it: the run waits for its answer */
        int spawn_stop_sig;     /* stopped meanwhile with this signal (run_attempt_terminate) */
        usec_t spawn_stop_escalate; /* and this escalation */
        ReaperChild child;      /* the attempt's process, while proc_alive */
        pid_t pid;              /* also the id of its process group */
        bool proc_alive;        /* the leader has not exited yet */
        bool group_alive;       /* the leader has exited, its group is not empty yet */
        bool group_killed;      /* this attempt's group was sent SIGKILL */
        int64_t group_poll_msec; /* the next look at the group after the leader's exit */
        int64_t kill_deadline_usec; /* monotonic: SIGKILL to the group then; INT64_MAX: none */
        Output out, err;
        Capture capture;        /* the run's output tail, all attempts (cap 0: not kept) */
        int64_t attempt_start_usec; /* env->now_usec(), for durations */
        int64_t run_start_usec;
        bool timed_out;         /* this attempt was killed for its timeout */
        bool terminated;        /* killed by solocron: replace, shutdown, removed by reload */
        bool no_retry;          /* told to stop: no further attempt */
        bool start_failed;      /* this attempt could not start (not retried) */
        bool start_notified;    /* the notifier heard of the first attempt's start */
        int64_t exit_status;
        int term_signal;
        unsigned pending_closes;
};

/* A run of cfg (in table t, referenced) for job, as req says; nothing happens until
 * run_start(), so that the owner can link it first. */
int run_new(CoreEnv *env, const RunOwner *owner, void *owner_userdata, Table *t,
            const JobConfig *cfg, const char *job, const RunRequest *req, Run **ret);
/* Elect (the firing's identity is fixed), then the jitter delay and the attempts. The
 * owner's callbacks may run before this returns (a firing held elsewhere ends at once). */
void run_start(Run *r);
/* The firing of a run elected ahead is due: once won, it starts (at once if it is). */
void run_due(Run *r);
/* Tell the notifier (if the job has notifications) of an event of this run: kind with
 * result; recovered: a success after failures (the job knows). */
void run_notify(Run *r, NotifyKind kind, const char *result, bool recovered);
/* Send sig to the run's process group, and SIGKILL after escalate_after unless that is
 * USEC_INFINITY (the caller sends it); a run still electing, waiting for jitter or a retry
 * just ends. No further attempt is made. */
void run_terminate(Run *r, int sig, usec_t escalate_after);
