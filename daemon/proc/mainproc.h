/* SPDX-License-Identifier: MIT */
#pragma once

/* The main process of a container (gunicorn beside the jobs): started with the daemon's
 * environment and stdio in its own process group, sent the signals solocron forwards, and
 * watched: when it exits, solocron stops and exits with its status (unless restart:
 * on-failure keeps it alive). */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "config.h"
#include "reaper.h"

typedef struct MainProc MainProc;
/* Called when the main process has exited for good (not restarted): status is its exit
 * status, or 128 + N when it died of signal N. */
typedef void (*mainproc_exit_cb)(MainProc *m, int status, void *userdata);

struct MainProc {
        uv_loop_t *loop;
        char **argv;            /* owned copy */
        bool restart_on_failure;
        usec_t backoff, max_backoff, next_backoff;
        ReaperChild child;
        uv_timer_t restart_timer;
        pid_t pid;
        bool alive, stopping;
        int last_status;        /* of the last exit, for a stop while waiting to restart */
        mainproc_exit_cb on_exit;
        void *userdata;
};

/* Start argv (NULL-terminated). Returns a negative errno if it cannot be started at all. */
int mainproc_start(MainProc *m, uv_loop_t *loop, char *const *argv, bool restart_on_failure,
                   usec_t backoff, usec_t max_backoff, mainproc_exit_cb on_exit, void *userdata);
/* Forward a signal (no-op when not running). */
void mainproc_signal(MainProc *m, int sig);
/* Stop for good: no more restarts; sig is sent when it is running. */
void mainproc_stop(MainProc *m, int sig);
void mainproc_close(MainProc *m);
