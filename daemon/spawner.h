/* SPDX-License-Identifier: MIT */
#pragma once

/* Starting a job's process: argv and environment, its own process group, stdin from
 * /dev/null, stdout/stderr into pipes. Processes are started with posix_spawn() (glibc:
 * clone with CLONE_VM|CLONE_VFORK), not uv_spawn(), whose fork() in libuv 1.44 copies the
 * daemon's page tables and then takes copy-on-write faults for every spawn: measured in
 * bench/, it made the daemon's CPU per firing several times larger and a burst of 1000
 * firings slow. reaper.c waits for every child. Credentials (user/group with initgroups),
 * umask, nice and rlimits are not posix_spawn attributes, so a job that needs them runs
 * through the `solocron exec-job` helper (exec_job.c), which applies them and then execs
 * the command. */

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
 * them. One allocation (strv_pack()): the caller frees it with free(). */
int spawn_build_env(const JobConfig *cfg, char *const *extra, char ***ret);

/* For spawn_process()'s stdio: open /dev/null there. */
#define SPAWN_DEVNULL (-2)

/* Start argv with posix_spawn(): argv[0] looked up along envp's PATH (envp NULL: the
 * daemon's environment), in cwd (NULL: ours), in a new session and process group, with all
 * signals at their defaults and none blocked. stdio[i] is the descriptor the child gets as
 * i, -1 to inherit ours, or SPAWN_DEVNULL. Returns a negative errno when it could not be
 * started (no such file, not executable, bad cwd); then there is no child. */
int spawn_process(char *const *argv, char *const *envp, const char *cwd, const int stdio[3],
                  pid_t *ret_pid);

/* Spawn cfg's command with stdin from /dev/null and stdout/stderr into new pipes, whose
 * reading ends are returned. On failure returns a negative errno and sets *reterr_message
 * (caller frees) to a sentence saying what is wrong ("user 'app' does not exist"). */
int spawn_job(const JobConfig *cfg, char **envp, pid_t *ret_pid, int *ret_out, int *ret_err,
              char **reterr_message);

/* Signal a job's process group (its pid is its pgid). */
int spawn_kill_group(pid_t pid, int sig);
