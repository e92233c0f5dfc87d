/* SPDX-License-Identifier: MIT */
#pragma once

/* `solocron run`: the daemon. See README "How it works" for the path of one firing:
 * wallclock → daemon_on_wake → plan_due → job_fire → run_start → elect → run_attempt. */

#include <stdbool.h>

typedef struct DaemonOptions {
        const char *config_path;
        const char *state_dir;
        const char *pid_file;   /* NULL: none */
        bool reload_kills_removed;
        char **main_argv;       /* `run -- COMMAND…`: the main process; NULL: none */
        bool reload_on_hup;     /* with a main process, SIGHUP reloads instead of being forwarded */
} DaemonOptions;

/* Run the daemon until it is told to stop (or its main process exits). Returns the exit
 * status: 0, 1 (could not start), 2 (bad table), or the main process's. */
int daemon_run(const DaemonOptions *opts);
