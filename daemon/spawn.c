/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "spawn.h"
#include "strv.h"

extern char **environ;

static char self_exe[PATH_MAX];

int spawn_setup(void) {
        ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);

        if (n < 0)
                return -errno;
        self_exe[n] = 0;
        return 0;
}

/* Index of the entry in l[0..n) with the same "KEY=" as kv, or n. */
static size_t env_find(char **l, size_t n, const char *kv) {
        size_t klen = strcspn(kv, "=");

        for (size_t i = 0; i < n; i++)
                if (strncmp(l[i], kv, klen) == 0 && l[i][klen] == '=')
                        return i;
        return n;
}

static int env_set(char **l, size_t *n, const char *kv) {
        size_t i = env_find(l, *n, kv);
        char *c = strdup(kv);

        if (!c)
                return -ENOMEM;
        if (i < *n)
                free(l[i]);
        else
                (*n)++;
        l[i] = c;
        return 0;
}

static int env_set_pair(char **l, size_t *n, const char *key, const char *value) {
        _cleanup_free_ char *kv = NULL;

        if (asprintf(&kv, "%s=%s", key, value) < 0)
                return -ENOMEM;
        return env_set(l, n, kv);
}

/* The service manager's variables are ours, not the jobs': a job must not ping our watchdog
 * or tell systemd we are ready. (JOURNAL_STREAM stays: its inode check keeps it honest.) */
static bool env_is_private(const char *kv) {
        static const char *const private[] = { "NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID=" };

        for (size_t i = 0; i < sizeof(private) / sizeof(private[0]); i++)
                if (strncmp(kv, private[i], strlen(private[i])) == 0)
                        return true;
        return false;
}

int spawn_build_env(const JobConfig *cfg, char *const *extra, char ***ret) {
        size_t cap = strv_length(environ) + strv_length(cfg->env) + strv_length(extra) + 4, n = 0;
        char **l = calloc(cap + 1, sizeof(char *));
        int r = 0;

        if (!l)
                return -ENOMEM;
        for (char **p = environ; p && *p && r >= 0; p++)
                if (!env_is_private(*p))
                        r = env_set(l, &n, *p);
        if (cfg->user && r >= 0) {
                struct passwd *pw = getpwnam(cfg->user);

                if (pw) {
                        r = env_set_pair(l, &n, "HOME", pw->pw_dir);
                        if (r >= 0)
                                r = env_set_pair(l, &n, "USER", pw->pw_name);
                        if (r >= 0)
                                r = env_set_pair(l, &n, "LOGNAME", pw->pw_name);
                }
        }
        for (char **p = cfg->env; p && *p && r >= 0; p++)
                r = env_set(l, &n, *p);
        for (char *const *p = extra; p && *p && r >= 0; p++)
                r = env_set(l, &n, *p);
        if (r < 0) {
                strv_free(l);
                return r;
        }
        *ret = l;
        return 0;
}

/* Set *reterr to the formatted sentence and return r. */
static int fail(char **reterr, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char **reterr, int r, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(reterr, fmt, ap) < 0)
                *reterr = NULL;
        va_end(ap);
        return r;
}

static bool needs_helper(const JobConfig *cfg) {
        return cfg->user || cfg->group || cfg->umask >= 0 || cfg->has_nice || cfg->n_limits > 0;
}

/* Resolve user:/group: to ids, and refuse what cannot work before forking, so the message is
 * clear: unknown names, or a switch while not root. */
static int resolve_creds(const JobConfig *cfg, uid_t *ret_uid, gid_t *ret_gid, char **reterr) {
        uid_t uid = geteuid();
        gid_t gid = getegid();

        if (cfg->user) {
                struct passwd *pw = getpwnam(cfg->user);

                if (!pw)
                        return fail(reterr, -ESRCH, "user '%s' does not exist", cfg->user);
                uid = pw->pw_uid;
                gid = pw->pw_gid;
        }
        if (cfg->group) {
                struct group *gr = getgrnam(cfg->group);

                if (!gr)
                        return fail(reterr, -ESRCH, "group '%s' does not exist", cfg->group);
                gid = gr->gr_gid;
        }
        if (geteuid() != 0 && (uid != geteuid() || gid != getegid()))
                return fail(reterr, -EPERM, "cannot switch to %s '%s': solocron runs as uid %u, not root",
                            cfg->user ? "user" : "group", cfg->user ? cfg->user : cfg->group,
                            (unsigned) geteuid());
        *ret_uid = uid;
        *ret_gid = gid;
        return 0;
}

/* argv for the exec-job helper: solocron exec-job [options] -- COMMAND… */
static int helper_argv(const JobConfig *cfg, uid_t uid, gid_t gid, char ***ret) {
        size_t n = strv_length(cfg->argv), k = 0;
        char **a = calloc(n + 16 + 2 * cfg->n_limits, sizeof(char *));
        int r = 0;

#define ADD(...) do { if (r >= 0 && asprintf(&a[k++], __VA_ARGS__) < 0) { a[--k] = NULL; r = -ENOMEM; } } while (0)
        if (!a)
                return -ENOMEM;
        ADD("%s", self_exe);
        ADD("exec-job");
        if (cfg->user || cfg->group) {
                ADD("--uid=%u", (unsigned) uid);
                ADD("--gid=%u", (unsigned) gid);
                if (cfg->user)
                        ADD("--initgroups=%s", cfg->user);
        }
        if (cfg->umask >= 0)
                ADD("--umask=%o", (unsigned) cfg->umask);
        if (cfg->has_nice)
                ADD("--nice=%d", cfg->nice);
        for (size_t i = 0; i < cfg->n_limits; i++)
                ADD("--rlimit=%d:%llu:%llu", cfg->limits[i].resource,
                    (unsigned long long) cfg->limits[i].soft, (unsigned long long) cfg->limits[i].hard);
        ADD("--");
        for (size_t i = 0; i < n; i++)
                ADD("%s", cfg->argv[i]);
#undef ADD
        if (r < 0) {
                strv_free(a);
                return r;
        }
        *ret = a;
        return 0;
}

int spawn_job(uv_loop_t *loop, uv_process_t *proc, const JobConfig *cfg, char **envp,
              uv_pipe_t *out, uv_pipe_t *err, uv_exit_cb exit_cb, char **reterr_message) {
        uv_stdio_container_t stdio[3] = {
                { .flags = UV_IGNORE },         /* libuv opens /dev/null for it */
                { .flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *) out },
                { .flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *) err },
        };
        char **argv = cfg->argv, **helper = NULL;
        uid_t uid = 0;
        gid_t gid = 0;
        int r;

        if (cfg->workdir) {
                struct stat st;

                if (stat(cfg->workdir, &st) < 0)
                        return fail(reterr_message, -errno, "workdir '%s': %m", cfg->workdir);
                if (!S_ISDIR(st.st_mode))
                        return fail(reterr_message, -ENOTDIR, "workdir '%s' is not a directory",
                                    cfg->workdir);
        }
        if (needs_helper(cfg)) {
                r = resolve_creds(cfg, &uid, &gid, reterr_message);
                if (r < 0)
                        return r;
                r = helper_argv(cfg, uid, gid, &helper);
                if (r < 0)
                        return r;
                argv = helper;
        }
        r = uv_spawn(loop, proc, &(uv_process_options_t) {
                .exit_cb = exit_cb,
                .file = argv[0],
                .args = argv,
                .env = envp,
                .cwd = cfg->workdir,
                .flags = UV_PROCESS_DETACHED,   /* setsid(): own session and process group */
                .stdio_count = 3,
                .stdio = stdio,
        });
        strv_free(helper);
        /* libuv may fail after the child exists, and still reaps it: own it whenever there
         * is a pid (STYLE.md B8). */
        if (uv_process_get_pid(proc) > 0)
                (void) spawn_own(uv_process_get_pid(proc));
        if (r < 0)
                return fail(reterr_message, r, "cannot execute '%s': %s", cfg->argv[0], uv_strerror(r));
        return 0;
}

/* Owned pids: a plain array. There are as many entries as children alive at once, and the
 * reaper looks one up per dead child, so a scan is cheap enough. */
static pid_t *owned;
static size_t n_owned, allocated_owned;

int spawn_own(pid_t pid) {
        if (pid <= 0 || spawn_owns_pid(pid))
                return 0;
        if (n_owned == allocated_owned) {
                size_t a = allocated_owned ? allocated_owned * 2 : 64;
                pid_t *p = realloc(owned, a * sizeof(pid_t));

                if (!p)
                        return -ENOMEM;
                owned = p;
                allocated_owned = a;
        }
        owned[n_owned++] = pid;
        return 0;
}

void spawn_disown(pid_t pid) {
        for (size_t i = 0; i < n_owned; i++)
                if (owned[i] == pid) {
                        owned[i] = owned[--n_owned];
                        return;
                }
}

bool spawn_owns_pid(pid_t pid) {
        for (size_t i = 0; i < n_owned; i++)
                if (owned[i] == pid)
                        return true;
        return false;
}

int spawn_kill_group(pid_t pid, int sig) {
        if (pid <= 0)
                return -ESRCH;
        return kill(-pid, sig) < 0 ? -errno : 0;
}
