/* SPDX-License-Identifier: MIT */
#pragma once

/* What a job has done since the daemon started, for the metrics and the API: runs by
 * result, their durations (a histogram), the last run and success, missed firings, the
 * elections by outcome, and its last few runs. Allocated when the job first has something
 * to count (a job that never fires costs nothing); kept across reloads with its job. */

#include <stdbool.h>
#include <stdint.h>

#include "elect.h"

typedef enum RunResult {
        RUN_SUCCEEDED,
        RUN_FAILED,
        RUN_TIMED_OUT,
        RUN_SIGNAL,
        RUN_TERMINATED,
        RUN_CANCELLED,
        _RUN_RESULT_MAX,
} RunResult;

RunResult run_result_from_string(const char *s);
const char *run_result_to_string(RunResult r);

#define JOB_STATS_BUCKETS 12    /* seconds: see job_stats_buckets */
#define JOB_STATS_RECENT 5
extern const double job_stats_buckets[JOB_STATS_BUCKETS];

typedef struct RecentRun {
        char id[17];
        int64_t scheduled;      /* Unix seconds */
        int64_t ended;          /* wall clock, Unix seconds */
        int64_t duration_usec;
        int64_t status;         /* exit status, or 128 + the signal */
        unsigned attempts;
        RunResult result;
        bool manual;            /* asked for (the API), not a firing of the schedule */
} RecentRun;

typedef struct JobStats {
        uint64_t runs[_RUN_RESULT_MAX];
        uint64_t duration_bucket[JOB_STATS_BUCKETS]; /* runs that took at most that long */
        uint64_t duration_count;
        double duration_sum;    /* seconds */
        int64_t last_run, last_success; /* wall clock, Unix seconds; 0: never */
        uint64_t missed;
        uint64_t missed_fleet;  /* firings raised as missed fleet-wide by this replica */
        uint64_t elections[_ELECT_OUTCOME_MAX];
        RecentRun recent[JOB_STATS_RECENT];     /* a ring, newest at next_recent - 1 */
        unsigned n_recent, next_recent;
} JobStats;

/* A run ended: count it. */
void job_stats_run(JobStats *s, const RecentRun *run);
/* The i-th most recent run (0: the newest), or NULL. */
const RecentRun *job_stats_recent(const JobStats *s, unsigned i);
