/* SPDX-License-Identifier: MIT */
#pragma once

/* Starting a job's process: argv and environment, its own process group, stdin from
 * /dev/null, stdout/stderr into pipes. Credentials (user/group with initgroups), umask, nice
 * and rlimits cannot be set by uv_spawn(), so a job that needs them runs through the
 * `solocron exec-job` helper (exec_job.c), which applies them and then execs the command. */

#include <stdbool.h>
#include <sys/types.h>
#include <uv.h>

#include "config.h"
#include "strv.h"

/* Call once at start-up: where our own binary is, for the exec-job helper. */
int spawn_setup(void);

/* The job's environment: the daemon's own, then the job's env:, then `extra` (NULL-terminated
 * "KEY=VALUE" list, e.g. SOLOCRON_RUN_ID); later entries replace earlier ones with the same
 * key. For a job with user:, HOME, USER and LOGNAME are the target user's unless env: sets
 * them. Caller frees with strv_free(). */
int spawn_build_env(const JobConfig *cfg, char *const *extra, char ***ret);

/* Spawn cfg's command. On failure returns a negative errno and sets *reterr_message (caller
 * frees) to a sentence saying what is wrong ("user 'app' does not exist"). */
int spawn_job(uv_loop_t *loop, uv_process_t *proc, const JobConfig *cfg, char **envp,
              uv_pipe_t *out, uv_pipe_t *err, uv_exit_cb exit_cb, char **reterr_message);

/* The set of pids that libuv waits for (our own live children): the reaper leaves them
 * alone. spawn_job() adds; the exit callback removes with spawn_disown(). */
int spawn_own(pid_t pid);
void spawn_disown(pid_t pid);
bool spawn_owns_pid(pid_t pid);

/* Signal a job's process group (its pid is its pgid). */
int spawn_kill_group(pid_t pid, int sig);
