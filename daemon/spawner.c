/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "spawner.h"
#include "strv.h"

extern char **environ;

static char self_exe[PATH_MAX];

/* The descriptor limit we were started with, for the children; ours is raised to the hard
 * limit (each running job holds two pipes: under systemd's default soft limit of 1024, a
 * few hundred jobs at once would fail to start). */
static struct rlimit nofile_started, nofile_raised;

int spawn_setup(void) {
        ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);

        if (n < 0)
                return -errno;
        self_exe[n] = 0;
        if (getrlimit(RLIMIT_NOFILE, &nofile_started) == 0) {
                nofile_raised = (struct rlimit) { nofile_started.rlim_max, nofile_started.rlim_max };
                if (nofile_raised.rlim_cur == nofile_started.rlim_cur ||
                    setrlimit(RLIMIT_NOFILE, &nofile_raised) < 0)
                        nofile_raised = nofile_started;
        }
        return 0;
}

/* Around a spawn: the child gets the soft limit we were started with (a program that uses
 * select() breaks on descriptors past 1024); clone() copies it. The loop's thread opens
 * nothing until posix_spawn() returns. Another thread (libcurl's resolver) that opens a
 * socket in that window fails with EMFILE only while the daemon holds more descriptors than
 * that limit; the lease backends retry a failed request. */
static void nofile_for_child(bool child) {
        if (nofile_raised.rlim_cur != nofile_started.rlim_cur)
                (void) setrlimit(RLIMIT_NOFILE, child ? &nofile_started : &nofile_raised);
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

/* FNV-1a of the "KEY" of "KEY=VALUE" (len bytes). */
static uint32_t env_key_hash(const char *kv, size_t len) {
        uint32_t h = 2166136261u;

        for (size_t i = 0; i < len; i++)
                h = (h ^ (unsigned char) kv[i]) * 16777619u;
        return h;
}

/* Keeps the last entry of each key in l[0..n) (later entries replace earlier ones), in
 * order, and returns how many: one pass from the end with a hash set of the keys seen, so a
 * large environment costs no quadratic string compares on every spawn. */
static int env_dedup(const char **l, size_t n, size_t *ret_n) {
        size_t slots = 16, k = 0;
        _cleanup_free_ const char **seen = NULL;

        while (slots < 2 * n)
                slots *= 2;
        seen = calloc(slots, sizeof(char *));
        if (!seen)
                return -ENOMEM;
        for (size_t i = n; i-- > 0;) {
                size_t len = strcspn(l[i], "="), s;

                for (s = env_key_hash(l[i], len) & (slots - 1); seen[s]; s = (s + 1) & (slots - 1))
                        if (strncmp(seen[s], l[i], len) == 0 && seen[s][len] == l[i][len])
                                break;
                if (seen[s])
                        l[i] = NULL;    /* replaced by a later entry */
                else
                        seen[s] = l[i];
        }
        for (size_t i = 0; i < n; i++)
                if (l[i])
                        l[k++] = l[i];
        *ret_n = k;
        return 0;
}

int spawn_build_env(const JobConfig *cfg, char *const *extra, char ***ret) {
        size_t cap = strv_length(environ) + strv_length(cfg->env) + strv_length(extra) + 3, n = 0;
        _cleanup_free_ char *home = NULL, *user = NULL, *logname = NULL;
        _cleanup_free_ const char **all = calloc(cap + 1, sizeof(char *));
        int r;

        if (!all)
                return -ENOMEM;
        for (char **e = environ; e && *e; e++)
                if (!env_is_private(*e))
                        all[n++] = *e;
        if (cfg->user) {
                struct passwd *pw = getpwnam(cfg->user);

                if (pw) {
                        if (asprintf(&home, "HOME=%s", pw->pw_dir) < 0 ||
                            asprintf(&user, "USER=%s", pw->pw_name) < 0 ||
                            asprintf(&logname, "LOGNAME=%s", pw->pw_name) < 0)
                                return -ENOMEM;
                        all[n++] = home;
                        all[n++] = user;
                        all[n++] = logname;
                }
        }
        for (char **e = cfg->env; e && *e; e++)
                all[n++] = *e;
        for (char *const *e = extra; e && *e; e++)
                all[n++] = *e;
        r = env_dedup(all, n, &n);
        if (r < 0)
                return r;
        all[n] = NULL;
        *ret = strv_pack((char *const *) all);
        return *ret ? 0 : -ENOMEM;
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

/* The program file for argv[0]: a name with a slash as it is (a relative one is opened in
 * the child, after its chdir), otherwise the first executable match along the job's PATH
 * (its environment's, as execvp() in the child would search it; a default when PATH is
 * unset). Relative PATH entries are relative to cwd, where the job runs. */
static int find_program(const char *name, char *const *envp, const char *cwd, char **ret) {
        const char *path = NULL;

        if (strchr(name, '/'))
                return (*ret = strdup(name)) ? 0 : -ENOMEM;
        for (char *const *e = envp; e && *e; e++)
                if (strncmp(*e, "PATH=", 5) == 0)
                        path = *e + 5;
        if (!path)
                path = "/usr/local/bin:/usr/bin:/bin";
        for (const char *p = path;; p += strcspn(p, ":") + 1) {
                size_t len = strcspn(p, ":");
                char *f = NULL;
                /* An empty or relative entry is in the working directory, as in execvp(). */
                const char *dir = len > 0 && p[0] == '/' ? "" : cwd ?: "";
                struct stat st;

                if (asprintf(&f, "%s%s%.*s%s%s", dir, *dir ? "/" : "", (int) len, p,
                             len ? "/" : "", name) < 0)
                        return -ENOMEM;
                if (stat(f, &st) == 0 && S_ISREG(st.st_mode) && access(f, X_OK) == 0) {
                        *ret = f;
                        return 0;
                }
                free(f);
                if (p[len] == 0)
                        return -ENOENT;
        }
}

int spawn_process(char *const *argv, char *const *envp, const char *cwd, const int stdio[3],
                  pid_t *ret_pid) {
        _cleanup_free_ char *file = NULL;
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t all, none;
        int r;

        r = find_program(argv[0], envp ?: environ, cwd, &file);
        if (r < 0)
                return r;
        r = posix_spawn_file_actions_init(&fa);
        if (r != 0)
                return -r;
        r = posix_spawnattr_init(&attr);
        if (r != 0) {
                posix_spawn_file_actions_destroy(&fa);
                return -r;
        }
        /* The child gets exactly 0, 1 and 2: dup2() there clears close-on-exec, and closefrom
         * takes whatever else is open, such as the sockets libcurl opens without
         * close-on-exec (a job must not keep our etcd or S3 connections alive). */
        for (int i = 0; i < 3 && r == 0; i++)
                if (stdio[i] == SPAWN_DEVNULL)
                        r = posix_spawn_file_actions_addopen(&fa, i, "/dev/null", i ? O_WRONLY : O_RDONLY, 0);
                else if (stdio[i] >= 0)
                        r = posix_spawn_file_actions_adddup2(&fa, stdio[i], i);
        if (r == 0)
                r = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
        if (r == 0 && cwd)
                r = posix_spawn_file_actions_addchdir_np(&fa, cwd);
        /* Its own session and process group; no blocked signals; every signal at its default
         * action, ignored ones included (the daemon's handlers are not the job's), except
         * the two that glibc reserves for itself (32 and 33, below SIGRTMIN): its posix_spawn
         * leaves those ignored. */
        sigfillset(&all);
        sigemptyset(&none);
        if (r == 0)
                r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                                    POSIX_SPAWN_SETSIGDEF);
        if (r == 0)
                r = posix_spawnattr_setsigmask(&attr, &none);
        if (r == 0)
                r = posix_spawnattr_setsigdefault(&attr, &all);
        /* glibc's posix_spawn() is clone(CLONE_VM|CLONE_VFORK): no copy of our page tables
         * and no copy-on-write faults afterwards, unlike fork(); it returns once the child
         * has exec'd, with the child's errno if it could not. */
        nofile_for_child(true);
        if (r == 0)
                r = posix_spawn(ret_pid, file, &fa, &attr, argv, envp ?: environ);
        if (r == ENOEXEC) {
                /* A script without a #! line: run it with /bin/sh, as execvp() does. */
                size_t n = strv_length((char **) argv);
                _cleanup_free_ char **sh = calloc(n + 2, sizeof(char *));

                if (sh) {
                        sh[0] = (char *) "/bin/sh";
                        sh[1] = file;
                        memcpy(sh + 2, argv + 1, (n > 0 ? n - 1 : 0) * sizeof(char *));
                        r = posix_spawn(ret_pid, "/bin/sh", &fa, &attr, sh, envp ?: environ);
                }
        }
        nofile_for_child(false);
        posix_spawnattr_destroy(&attr);
        posix_spawn_file_actions_destroy(&fa);
        return -r;
}

int spawn_job(const JobConfig *cfg, char **envp, pid_t *ret_pid, int *ret_out, int *ret_err,
              char **reterr_message) {
        char **argv = cfg->argv, **helper = NULL;
        int out[2] = { -1, -1 }, err[2] = { -1, -1 };
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
        if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
                r = fail(reterr_message, -errno, "cannot create pipes: %m");
                goto finish;
        }
        r = spawn_process(argv, envp, cfg->workdir, (int[3]) { SPAWN_DEVNULL, out[1], err[1] }, ret_pid);
        if (r < 0) {
                r = fail(reterr_message, r, "cannot execute '%s': %s", cfg->argv[0], strerror(-r));
                goto finish;
        }
        *ret_out = out[0];
        *ret_err = err[0];
        out[0] = err[0] = -1;
finish:
        strv_free(helper);
        for (int i = 0; i < 2; i++) {
                if (out[i] >= 0)
                        close(out[i]);
                if (err[i] >= 0)
                        close(err[i]);
        }
        return r;
}

int spawn_kill_group(pid_t pid, int sig) {
        if (pid <= 0)
                return -ESRCH;
        return kill(-pid, sig) < 0 ? -errno : 0;
}
