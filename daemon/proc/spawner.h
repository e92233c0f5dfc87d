/* SPDX-License-Identifier: MIT */
#pragma once

/* Starting a job's process: argv and environment, its own process group, stdin from
 * /dev/null, stdout/stderr into pipes. Processes are started with vfork() and exec, as glibc's
 * posix_spawn() does (clone with CLONE_VM|CLONE_VFORK), not uv_spawn(), whose fork() in libuv
 * 1.44 copies the daemon's page tables and then takes copy-on-write faults for every spawn:
 * measured in bench/, it made the daemon's CPU per firing several times larger and a burst
 * of 1000 firings slow; and not posix_spawn() itself, which cannot set PR_SET_PDEATHSIG.
 * reaper.c waits for every child. Credentials (user/group with initgroups), umask, nice and
 * rlimits are applied by the `solocron exec-job` helper (exec_job.c), which then execs the
 * command: NSS and setrlimit() are no calls for the vfork child. */

#include <stdbool.h>
#include <sys/types.h>
#include <uv.h>

#include "config.h"
#include "strv.h"

/* Call once at start-up: where our own binary is, for the exec-job helper. */
int spawn_setup(void);

/* user: and group: of a job, resolved to ids. */
typedef struct SpawnCreds {
        bool switch_ids;        /* exec-job switches to uid/gid (root, or ids not ours) */
        uid_t uid;
        gid_t gid;
        char *home, *name;      /* user:'s home and name, for HOME, USER, LOGNAME; else NULL */
} SpawnCreds;

/* Look up cfg's user: and group:. This may block (NSS: LDAP, sssd…): call it off the loop
 * (a libuv worker). -ESRCH: no such user or group; -EPERM: a switch this daemon cannot
 * make (not root); any other error is transient (the lookup failed: try again later). On
 * failure *reterr_message (caller frees) says what is wrong. */
int spawn_lookup_creds(const JobConfig *cfg, SpawnCreds *ret, char **reterr_message);
void spawn_creds_done(SpawnCreds *c);
/* Can a lookup that failed with r succeed later? */
bool spawn_lookup_transient(int r);

/* The job's environment: the daemon's own, then the job's env:, then `extra` (NULL-terminated
 * "KEY=VALUE" list, e.g. SOLOCRON_RUN_ID); later entries replace earlier ones with the same
 * key. The daemon's own never includes the service manager's variables (NOTIFY_SOCKET, …)
 * nor those named in `withheld` (what the lease: section consumes), except the ones the job
 * lists in env_keep:. For a job with user: (creds), HOME, USER and LOGNAME are the target
 * user's unless env: sets them. One allocation, which the caller frees; the strings are
 * borrowed from the daemon's environment, cfg and extra, which must outlive it (it is made
 * for one spawn: copying a whole environment per firing was a part of the firing's cost). */
int spawn_build_env(const JobConfig *cfg, const SpawnCreds *creds, char *const *withheld,
                    char *const *extra, char ***ret);
/* Write "KEY" "VALUE" and its NUL at *at (the room is the caller's), move *at past it, and
 * return the variable. */
char *env_put(char **at, const char *key, const char *value);
/* The daemon's environment without the service manager's variables, for the main process:
 * one allocation, the caller frees it. */
int spawn_main_env(char ***ret);

/* For spawn_process()'s stdio: open /dev/null there. */
#define SPAWN_DEVNULL (-2)

typedef enum SpawnFlags {
        SPAWN_OUTLIVE_DAEMON = 1 << 0,  /* no PR_SET_PDEATHSIG (the guard process) */
} SpawnFlags;

/* Start argv (vfork + exec): argv[0] looked up along envp's PATH (envp NULL: the daemon's
 * environment), in cwd (NULL: ours), in a new session and process group, with all signals at
 * their defaults and none blocked, and SIGKILLed when the daemon dies (unless flags say
 * otherwise). stdio[i] is the descriptor the child gets as i, -1 to inherit ours, or
 * SPAWN_DEVNULL. Returns a negative errno when it could not be started (no such file, not
 * executable, bad cwd); then there is no child. */
int spawn_process(char *const *argv, char *const *envp, const char *cwd, const int stdio[3],
                  SpawnFlags flags, pid_t *ret_pid);
/* Our own binary, for `solocron exec-job` and `solocron guard` (spawn_setup()). */
const char *spawn_self(void);

/* Spawn cfg's command with stdin from /dev/null and stdout/stderr into new pipes, whose
 * reading ends are returned. creds: from spawn_lookup_creds() when the job has user: or
 * group:, else NULL. On failure returns a negative errno and sets *reterr_message
 * (caller frees) to a sentence saying what is wrong ("user 'app' does not exist"). */
int spawn_job(const JobConfig *cfg, const SpawnCreds *creds, char **envp, pid_t *ret_pid,
              int *ret_out, int *ret_err, char **reterr_message);

/* Signal a job's process group (its pid is its pgid). */
int spawn_kill_group(pid_t pid, int sig);
/* Does the process group of the job whose pid was pid still have a process in it? (The
 * kernel keeps a group's id from being reused while the group has members.) */
bool spawn_group_alive(pid_t pid);
