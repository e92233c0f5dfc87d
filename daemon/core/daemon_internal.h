/* SPDX-License-Identifier: MIT */
#pragma once

/* The running daemon, shared by daemon.c (the loop, the schedule, runs' results, shutdown)
 * and daemon_reload.c (applying a table: at start-up and on SIGHUP). */

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "api_server.h"
#include "daemon.h"
#include "env.h"
#include "heap.h"
#include "job.h"
#include "mainproc.h"
#include "state.h"
#include "table.h"
#include "wallclock.h"

/* Signals solocron handles: the first three are its own, the rest are only forwarded to the
 * main process (and only watched when there is one). */
#define DAEMON_N_SIGNALS 9

typedef struct Daemon {
        uv_loop_t *loop;
        DaemonOptions opts;
        CoreEnv env;            /* lent to jobs, runs and elections */
        JobOwner job_owner;     /* what jobs report to */
        Table *table;           /* current table (one reference) */
        Job **jobs;             /* runtime jobs of the current table, in table order */
        size_t n_jobs;
        Job **retired;          /* removed by a reload, kept until their runs end */
        size_t n_retired, allocated_retired;
        Heap heap;              /* jobs by next firing */
        WallClock wall;
        uv_signal_t signals[DAEMON_N_SIGNALS];
        size_t n_signals;
        MainProc main;
        bool has_main;
        bool handles_open;      /* the handles below are initialised (close them) */
        uv_prepare_t flush;     /* writes out the log buffer before the loop waits: what a
                                 * timer's callback logged is out before an idle wait */
        uv_timer_t save_timer;  /* saves the state file shortly after a run ends */
        uv_timer_t grace_timer; /* shutdown: SIGKILL what is left after shutdown_grace */
        State *state;
        bool state_failing;     /* the last state save failed (logged once) */
        bool ready;             /* start-up done: status updates go to the service manager */
        ApiServer *api;         /* the api: section's server; NULL: none */
        uint64_t reloads_ok, reloads_failed;
        int64_t last_reload_ok; /* wall clock, Unix seconds: start-up, then each good reload */
        int64_t started;        /* wall clock, Unix seconds */
        char status[160];       /* the last STATUS= sent ("next: refresh at 01:00 EST") */
        int exit_status;
} Daemon;

/* daemon.c */
int64_t daemon_now_sec(void);
/* This machine's name, as the lease records and the API name this replica. */
const char *daemon_hostname(void);
/* Arm the wall-clock timer for the earliest firing (and update STATUS=). */
void daemon_arm(Daemon *d);
/* Put j back in the heap at its next firing (or take it out when there is none). */
void daemon_requeue(Daemon *d, Job *j);
/* Place a new job in the schedule, with catch-up from the state file. */
void daemon_plan_job(Daemon *d, Job *j, int64_t now);
/* "next: refresh at 01:00 EST" */
void daemon_next_status(Daemon *d, char *buf, size_t size);
Job *daemon_find_job(Daemon *d, const char *name);

/* daemon_reload.c */
/* Make t the current table: runtime jobs of the same name are kept, new ones planned,
 * removed ones retired. On failure nothing has changed. */
int daemon_apply(Daemon *d, Table *t, bool initial);
/* SIGHUP: load the table again; keep the current one if the new one is invalid (false). */
bool daemon_reload(Daemon *d);

/* daemon_api.c */
/* Start the API server of the table's api: section, if any. Logs what goes wrong. */
int daemon_api_start(Daemon *d);

/* metrics.c */
typedef struct MetricsCursor {  /* how far the exposition has come; zeroed: the start */
        size_t family, job;
} MetricsCursor;

/* The next part of the Prometheus text exposition (format 0.0.4) of d's jobs and itself:
 * at most max_cells job cells (each a family's series of one job) into f. true: it is
 * complete. The table must not change between the steps of one exposition. */
bool metrics_render_step(Daemon *d, MetricsCursor *c, FILE *f, size_t max_cells);
