/* SPDX-License-Identifier: MIT */
#pragma once

/* The running daemon: the loaded table, one runtime Job per job name, the heap of next
 * firings, the wall-clock timer and the signals. See README "How it works" for the path of
 * one firing: wallclock → daemon_on_wake → plan_due → job_fire → run_start → spawn. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "config.h"
#include "heap.h"
#include "lease.h"
#include "mainproc.h"
#include "output.h"
#include "reaper.h"
#include "plan.h"
#include "spawner.h"
#include "wallclock.h"

typedef struct Daemon Daemon;
typedef struct Job Job;
typedef struct Run Run;
typedef struct State State;

/* A loaded Config shared by the daemon and by every run started under it: a reload makes a
 * new Table, and runs keep the old one alive until they finish. */
typedef struct Table {
        Config *config;         /* owned */
        unsigned n_ref;
} Table;

Table *table_new(Config *c);
Table *table_ref(Table *t);
Table *table_unref(Table *t);

typedef struct DaemonOptions {
        const char *config_path;
        const char *state_dir;
        const char *pid_file;   /* NULL: none */
        bool reload_kills_removed;
        char **main_argv;       /* `run -- COMMAND…`: the main process; NULL: none */
        bool reload_on_hup;     /* with a main process, SIGHUP reloads instead of being forwarded */
} DaemonOptions;

/* Signals solocron handles: the first three are its own, the rest are only forwarded to the
 * main process (and only watched when there is one). */
#define DAEMON_N_SIGNALS 9

struct Daemon {
        uv_loop_t *loop;
        DaemonOptions opts;
        Table *table;           /* current table (one reference) */
        Job **jobs;             /* runtime jobs of the current table, in table order */
        size_t n_jobs;
        Job *retired;           /* removed by a reload, kept until their runs end (list) */
        Heap heap;              /* jobs by next firing */
        WallClock wall;
        uv_signal_t signals[DAEMON_N_SIGNALS];
        size_t n_signals;
        MainProc main;
        bool has_main;
        uv_check_t flush;       /* writes out the log buffer after each loop iteration */
        uv_timer_t save_timer;  /* saves the state file shortly after a run ends */
        uv_timer_t grace_timer; /* shutdown: SIGKILL what is left after shutdown_grace */
        State *state;
        LeaseStore *lease;      /* the table's lease section */
        char **withheld_env;    /* what the lease consumes: not passed to jobs (env_keep) */
        bool lease_degraded;    /* the local lease cannot record claims (logged once) */
        bool state_failing;     /* the last state save failed (logged once) */
        struct FiringWatch *watches; /* takeover: held firings watched for a dead holder */
        size_t n_runs;          /* runs in progress, all jobs */
        bool stopping;
        bool ready;             /* start-up done: status updates go to the service manager */
        char status[160];       /* the last STATUS= sent ("next: refresh at 01:00 EST") */
        int exit_status;
};

struct Job {
        Daemon *daemon;
        const char *name;       /* own copy, after the struct: the runtime job outlives any one table */
        const JobConfig *cfg;   /* borrowed from daemon->table */
        HeapEntry entry;        /* key: next.firing.f.t */
        PlanNext next;
        int64_t last_fired;     /* scheduled instant of the newest firing handled */
        Run *runs;              /* in progress (jitter wait, running, backoff), newest first */
        size_t n_runs;
        bool queued;            /* overlap: queue — one firing waiting */
        bool retired;
        JobFiring queued_firing;
        Job *retired_next;
};

typedef enum RunLease {
        RUN_LEASE_NONE,         /* lease: none, or no lease store */
        RUN_LEASE_WON,          /* won: SOLOCRON_LEASE_KEY and SOLOCRON_FENCING_TOKEN are set */
        RUN_LEASE_UNAVAILABLE,  /* the store could not decide; run anyway (on_store_down: run,
                                 * or a local lease that cannot be written) */
} RunLease;

typedef enum RunPhase {
        RUN_ELECTING,           /* claiming the firing from the lease backend */
        RUN_WAITING,            /* jitter delay before the first attempt */
        RUN_STARTING,           /* resolving user:/group: off the loop, or waiting to retry */
        RUN_RUNNING,            /* a process is alive, or its output is draining */
        RUN_BACKOFF,            /* waiting to retry */
        RUN_CLOSING,            /* finished; handles closing */
} RunPhase;

struct Run {
        Job *job;
        Table *table;           /* reference: cfg stays valid for the run's life */
        const JobConfig *cfg;
        char id[17];            /* 16 hex digits, random */
        JobFiring firing;
        bool catch_up;
        bool takeover;          /* re-running a firing whose holder died */
        unsigned attempt;       /* 1-based */
        RunPhase phase;
        uv_timer_t timer;       /* jitter, timeout → SIGTERM → SIGKILL, drain, backoff */
        uv_work_t lookup;       /* user:/group: lookup in a libuv worker */
        bool lookup_pending;    /* the worker has it: the run waits for run_lookup_done() */
        bool has_creds;
        unsigned lookup_tries;
        int lookup_result;
        char *lookup_error;
        SpawnCreds creds;       /* this attempt's user:/group:, when has_creds */
        RunLease lease_state;   /* SOLOCRON_LEASE: how this firing was elected */
        ReaperChild child;      /* the attempt's process, while proc_alive */
        pid_t pid;              /* also the id of its process group */
        bool proc_alive;        /* the leader has not exited yet */
        bool group_alive;       /* the leader has exited, its group is not empty yet */
        bool group_killed;      /* this attempt's group was sent SIGKILL */
        int64_t group_poll_msec; /* the next look at the group after the leader's exit */
        int64_t kill_deadline_usec; /* monotonic: SIGKILL to the group then; INT64_MAX: none */
        Output out, err;
        int64_t attempt_start_usec; /* monotonic, for durations */
        int64_t run_start_usec;
        LeaseClaim *claim;      /* the won (or pending) lease of this firing, until the run ends */
        LeaseCallbacks lease_cb;
        char *lease_key;        /* SOLOCRON_LEASE_KEY (owned) */
        uint64_t fencing_token; /* SOLOCRON_FENCING_TOKEN */
        bool lease_lost;
        bool timed_out;         /* this attempt was killed for its timeout */
        bool terminated;        /* killed by solocron: replace, shutdown, removed by reload */
        bool start_failed;      /* this attempt could not start (not retried) */
        int64_t exit_status;
        int term_signal;
        unsigned pending_closes;
        Run *next;
};

int daemon_run(const DaemonOptions *opts);

/* job.c */
Job *job_new(Daemon *d, const JobConfig *cfg);
void job_free(Job *j);
/* A firing is due now: apply the overlap policy and start (or queue, or skip) a run. */
void job_fire(Job *j, const JobFiring *f, bool catch_up);
/* A run of j past its election (other than except), or NULL: what overlap weighs. */
const Run *job_active_run(const Job *j, const Run *except);
/* A run of j ended (called by run.c before the run is freed). */
void job_run_ended(Job *j, Run *r);

/* run.c */
/* A run for firing f: elect (lease), wait for jitter, run attempts. */
int run_start(Job *j, const JobFiring *f, bool catch_up, bool takeover);
/* After a successful election: the jitter wait, then the first attempt. */
void run_begin(Run *r);
/* End a run that never ran here (held elsewhere, skipped): no summary. */
void run_drop(Run *r);
/* Send sig to the run's process group, and SIGKILL after escalate_after unless that is
 * USEC_INFINITY; a run waiting for jitter or a retry just ends. */
void run_terminate(Run *r, int sig, usec_t escalate_after);

/* elect.c */
/* Claim r's firing. true: go on now (won, no lease, or on_store_down: run); false: the
 * answer comes later (then run_begin() or run_drop()), or the run was dropped already. */
bool elect_start(Run *r);
/* The run ends while its claim is pending, or for good: forget the claim. */
void elect_cancel(Run *r);
/* The run is over: write the proof of run and let the lease go. */
void elect_finish(Run *r, const char *result);
/* Stop every takeover watch (shutdown). */
void elect_unwatch_all(Daemon *d);

/* table.c */
/* Load the table at path, logging every diagnostic; NULL when it is invalid. */
Table *daemon_load_table(const char *path);
/* Make t the current table: runtime jobs of the same name are kept, new ones planned,
 * removed ones retired. On failure nothing has changed. */
int daemon_apply(Daemon *d, Table *t, bool initial);
/* SIGHUP: load the table again; keep the current one if the new one is invalid. */
void daemon_reload(Daemon *d);
Job *daemon_find_job(Daemon *d, const char *name);

/* daemon.c */
int64_t daemon_now_sec(void);
/* Arm the wall-clock timer for the earliest firing (and update STATUS=). */
void daemon_arm(Daemon *d);
/* Put j back in the heap at its next firing (or take it out when there is none). */
void daemon_requeue(Daemon *d, Job *j);
/* Place a new job in the schedule, with catch-up from the state file. */
void daemon_plan_job(Daemon *d, Job *j, int64_t now);
/* "next: refresh at 01:00 EST" */
void daemon_next_status(Daemon *d, char *buf, size_t size);
/* A run ended with result ("succeeded", "failed", …): log its summary, remember it. */
void daemon_run_finished(Daemon *d, Run *r, const char *result);
/* j has no run in progress any more (retired jobs are freed, shutdown may complete). */
void daemon_job_idle(Daemon *d, Job *j);
