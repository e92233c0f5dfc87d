/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "job_stats.h"

const double job_stats_buckets[JOB_STATS_BUCKETS] = {
        0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 21600,
};

static const char *const result_names[_RUN_RESULT_MAX] = {
        [RUN_SUCCEEDED] = "succeeded",
        [RUN_FAILED] = "failed",
        [RUN_TIMED_OUT] = "timed_out",
        [RUN_SIGNAL] = "signal",
        [RUN_TERMINATED] = "terminated",
        [RUN_CANCELLED] = "cancelled",
};

RunResult run_result_from_string(const char *s) {
        for (int i = 0; i < _RUN_RESULT_MAX; i++)
                if (strcmp(s, result_names[i]) == 0)
                        return (RunResult) i;
        return RUN_FAILED;
}

const char *run_result_to_string(RunResult r) {
        return r >= 0 && r < _RUN_RESULT_MAX ? result_names[r] : "failed";
}

void job_stats_run(JobStats *s, const RecentRun *run) {
        double sec = (double) run->duration_usec / 1e6;

        s->runs[run->result]++;
        for (size_t i = 0; i < JOB_STATS_BUCKETS; i++)
                if (sec <= job_stats_buckets[i])
                        s->duration_bucket[i]++;
        s->duration_count++;
        s->duration_sum += sec;
        s->last_run = run->ended;
        if (run->result == RUN_SUCCEEDED)
                s->last_success = run->ended;
        s->recent[s->next_recent] = *run;
        s->next_recent = (s->next_recent + 1) % JOB_STATS_RECENT;
        if (s->n_recent < JOB_STATS_RECENT)
                s->n_recent++;
}

const RecentRun *job_stats_recent(const JobStats *s, unsigned i) {
        if (!s || i >= s->n_recent)
                return NULL;
        return &s->recent[(s->next_recent + JOB_STATS_RECENT - 1 - i) % JOB_STATS_RECENT];
}
