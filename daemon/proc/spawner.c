/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "reterr.h"
#include "spawner.h"
#include "strv.h"

extern char **environ;

static char self_exe[PATH_MAX];

/* Ours, for the children's parent-death check: read once, by spawn_setup() (the daemon
 * never forks; the spawn threads read it). */
static pid_t self_pid;

static pid_t spawn_self_pid(void) {
        return self_pid ?: getpid();
}

/* The descriptor limit we were started with, for the children; ours is raised to the hard
 * limit (each running job holds two pipes: under systemd's default soft limit of 1024, a
 * few hundred jobs at once would fail to start). */
static struct rlimit nofile_started, nofile_raised;

int spawn_setup(void) {
        ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);

        if (n < 0)
                return -errno;
        self_exe[n] = 0;
        self_pid = getpid();
        if (getrlimit(RLIMIT_NOFILE, &nofile_started) == 0) {
                nofile_raised = (struct rlimit) { nofile_started.rlim_max, nofile_started.rlim_max };
                if (nofile_raised.rlim_cur == nofile_started.rlim_cur ||
                    setrlimit(RLIMIT_NOFILE, &nofile_raised) < 0)
                        nofile_raised = nofile_started;
        }
        return 0;
}

static bool needs_helper(const JobConfig *cfg, const SpawnCreds *creds) {
        return (creds && creds->switch_ids) || cfg->policy->umask >= 0 || cfg->policy->has_nice || cfg->policy->n_limits > 0;
}

void spawn_creds_done(SpawnCreds *c) {
        free(c->home);
        free(c->name);
        *c = (SpawnCreds) {};
}

bool spawn_lookup_transient(int r) {
        return r != -ESRCH && r != -EPERM;
}

/* getpwnam_r()/getgrnam_r() "not found": 0 with no entry, or one of the errors their
 * manual lists for it; anything else is the lookup failing (a file or a server). */
static bool nss_not_found(int r) {
        return r == 0 || r == ENOENT || r == ESRCH || r == EBADF || r == EPERM;
}

/* NSS entries: the buffer grows while ERANGE says so. */
#define NSS_BUFFER_MAX (1024 * 1024)

/* getpwnam_r() (pw) or getgrnam_r() (gr) of name. 0 with the entry, -ESRCH when there is
 * none, or another negative errno with *reterr set: the lookup itself failed. */
static int nss_lookup(const char *what, const char *name, struct passwd *pw, struct group *gr,
                      char **ret_buf, char **reterr) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 1024;
        void *res = NULL;
        int r;

        for (;;) {
                char *b = realloc(buf, size);

                if (!b)
                        return -ENOMEM;
                buf = b;
                r = pw ? getpwnam_r(name, pw, buf, size, (struct passwd **) &res)
                       : getgrnam_r(name, gr, buf, size, (struct group **) &res);
                if (r != ERANGE || size >= NSS_BUFFER_MAX)
                        break;
                size *= 2;
        }
        if (!res && nss_not_found(r))
                return reterr_printf(reterr, -ESRCH, "%s '%s' does not exist", what, name);
        if (!res)
                return reterr_printf(reterr, -r, "cannot look up %s '%s': %s", what, name, strerror(r));
        *ret_buf = TAKE_PTR(buf);
        return 0;
}

static int lookup_user(const char *name, SpawnCreds *c, char **reterr) {
        _cleanup_free_ char *buf = NULL;
        struct passwd pw;
        int r;

        r = nss_lookup("user", name, &pw, NULL, &buf, reterr);
        if (r < 0)
                return r;
        c->uid = pw.pw_uid;
        c->gid = pw.pw_gid;
        c->home = strdup(pw.pw_dir);
        c->name = strdup(pw.pw_name);
        return c->home && c->name ? 0 : -ENOMEM;
}

static int lookup_group(const char *name, gid_t *ret, char **reterr) {
        _cleanup_free_ char *buf = NULL;
        struct group gr;
        int r;

        r = nss_lookup("group", name, NULL, &gr, &buf, reterr);
        if (r < 0)
                return r;
        *ret = gr.gr_gid;
        return 0;
}

int spawn_lookup_creds(const JobConfig *cfg, SpawnCreds *ret, char **reterr_message) {
        SpawnCreds c = { .uid = geteuid(), .gid = getegid() };
        int r;

        if (cfg->policy->user) {
                r = lookup_user(cfg->policy->user, &c, reterr_message);
                if (r < 0) {
                        spawn_creds_done(&c);
                        return r;
                }
        }
        if (cfg->policy->group) {
                r = lookup_group(cfg->policy->group, &c.gid, reterr_message);
                if (r < 0) {
                        spawn_creds_done(&c);
                        return r;
                }
        }
        /* As root, a user: job always gets its user's groups (initgroups); otherwise only
         * ids other than ours need a switch, which only root can make. */
        c.switch_ids = (cfg->policy->user || cfg->policy->group) &&
                       (geteuid() == 0 || c.uid != geteuid() || c.gid != getegid());
        if (c.switch_ids && geteuid() != 0) {
                r = reterr_printf(reterr_message, -EPERM, "cannot switch to %s '%s': solocron runs as uid "
                         "%u, not root", cfg->policy->user ? "user" : "group",
                         cfg->policy->user ? cfg->policy->user : cfg->policy->group, (unsigned) geteuid());
                spawn_creds_done(&c);
                return r;
        }
        *ret = c;
        return 0;
}

/* argv for the exec-job helper: solocron exec-job [options] -- COMMAND… */
static int helper_argv(const JobConfig *cfg, const SpawnCreds *creds, char ***ret) {
        const char *buf[4], *const *argv = config_job_argv(cfg, buf);
        size_t n = strv_length((char **) argv), k = 0;
        char **a = calloc(n + 16 + 2 * cfg->policy->n_limits, sizeof(char *));
        int r = 0;

#define ADD(...) do { if (r >= 0 && asprintf(&a[k++], __VA_ARGS__) < 0) { a[--k] = NULL; r = -ENOMEM; } } while (0)
        if (!a)
                return -ENOMEM;
        ADD("%s", self_exe);
        ADD("exec-job");
        if (creds && creds->switch_ids) {
                ADD("--uid=%u", (unsigned) creds->uid);
                ADD("--gid=%u", (unsigned) creds->gid);
                if (creds->name)
                        ADD("--initgroups=%s", creds->name);
        }
        if (cfg->policy->umask >= 0)
                ADD("--umask=%o", (unsigned) cfg->policy->umask);
        if (cfg->policy->has_nice)
                ADD("--nice=%d", cfg->policy->nice);
        for (size_t i = 0; i < cfg->policy->n_limits; i++)
                ADD("--rlimit=%d:%llu:%llu", cfg->policy->limits[i].resource,
                    (unsigned long long) cfg->policy->limits[i].soft, (unsigned long long) cfg->policy->limits[i].hard);
        ADD("--");
        for (size_t i = 0; i < n; i++)
                ADD("%s", argv[i]);
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

/* What the child of vfork() needs, all prepared before it: between vfork() and exec the
 * child shares our memory and may only make system calls. */
typedef struct ChildSetup {
        const char *file;
        char *const *argv, *const *envp;
        size_t argc;
        const char *cwd;
        int stdio[3];
        pid_t parent;
        bool pdeathsig;
        volatile int err;       /* the child's errno when it could not exec (shared memory) */
} ChildSetup;

/* The child: it shares our memory and our thread's data (errno, pthread_self(): raise()
 * would signal our thread, not the child), so only plain system calls. Its own session;
 * every signal at its default action and none blocked (the daemon's handlers are not the
 * job's, and an ignored SIGPIPE would break its pipelines); killed with the daemon
 * (PR_SET_PDEATHSIG, which follows the thread that spawned it: the loop's, or a spawn
 * thread, which lives as long as the daemon; a SIGKILLed daemon must not leave a job running
 * that a takeover replica then runs again); exactly descriptors 0, 1 and 2 (libcurl's
 * sockets have no close-on-exec); the descriptor limit we were started with. */
static _Noreturn void spawn_child(ChildSetup *cs) {
        struct sigaction dfl = { .sa_handler = SIG_DFL };
        sigset_t none;

        for (int sig = 1; sig < _NSIG; sig++)
                (void) sigaction(sig, &dfl, NULL);      /* EINVAL for KILL, STOP, glibc's own */
        if (setsid() < 0)
                goto fail;
        if (cs->pdeathsig) {
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                        goto fail;
                if (getppid() != cs->parent)
                        _exit(127);                     /* the daemon died already */
        }
        /* A descriptor below 3 that belongs elsewhere (a daemon started with stdin closed
         * gets pipe ends there) moves out of the way first. */
        for (int i = 0; i < 3; i++)
                if (cs->stdio[i] >= 0 && cs->stdio[i] < 3 && cs->stdio[i] != i &&
                    (cs->stdio[i] = fcntl(cs->stdio[i], F_DUPFD, 3)) < 0)
                        goto fail;
        for (int i = 0; i < 3; i++) {
                int fd = cs->stdio[i];

                if (fd == SPAWN_DEVNULL) {
                        fd = open("/dev/null", i ? O_WRONLY : O_RDONLY);
                        if (fd < 0)
                                goto fail;
                }
                if (fd == i) {
                        if (fcntl(fd, F_SETFD, 0) < 0)  /* dup2() onto itself keeps CLOEXEC */
                                goto fail;
                } else if (fd >= 0 && dup2(fd, i) < 0)
                        goto fail;
        }
        /* Marked close-on-exec rather than closed: exec closes them after it has let the
         * daemon go on, and in a burst the daemon holds the pipes of hundreds of running
         * jobs. (Before Linux 5.11 the flag is unknown: close them here.) */
        if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0 && close_range(3, ~0U, 0) < 0)
                goto fail;
        if (cs->cwd && chdir(cs->cwd) < 0)
                goto fail;
        if (nofile_raised.rlim_cur != nofile_started.rlim_cur &&
            setrlimit(RLIMIT_NOFILE, &nofile_started) < 0)
                goto fail;
        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        execve(cs->file, cs->argv, cs->envp);
        if (errno == ENOEXEC) {
                /* A script without a #! line: run it with /bin/sh, as execvp() does. */
                char *sh[cs->argc + 2];

                sh[0] = (char *) "/bin/sh";
                sh[1] = (char *) cs->file;
                memcpy(sh + 2, cs->argv + 1, (cs->argc > 0 ? cs->argc - 1 : 0) * sizeof(char *));
                sh[cs->argc + 1] = NULL;
                execve("/bin/sh", sh, cs->envp);
        }
fail:
        cs->err = errno ? errno : EIO;
        _exit(127);
}

/* vfork() in a frame of its own: the child leaves it only through exec or _exit, and no
 * local of the caller lives across the vfork (-Wclobbered). */
static __attribute__((noinline)) pid_t spawn_vfork(ChildSetup *cs) {
        pid_t pid = vfork();

        if (pid == 0)
                spawn_child(cs);
        return pid;
}

const char *spawn_self(void) {
        return self_exe;
}

int spawn_process(char *const *argv, char *const *envp, const char *cwd, const int stdio[3],
                  SpawnFlags flags, pid_t *ret_pid) {
        _cleanup_free_ char *file = NULL;
        ChildSetup cs = { .argv = argv, .envp = envp ?: environ, .argc = strv_length((char **) argv),
                          .cwd = cwd, .stdio = { stdio[0], stdio[1], stdio[2] },
                          .parent = spawn_self_pid(),
                          .pdeathsig = !(flags & SPAWN_OUTLIVE_DAEMON) };
        sigset_t all, old;
        pid_t pid;
        int r;

        r = find_program(argv[0], cs.envp, cwd, &file);
        if (r < 0)
                return r;
        cs.file = file;
        /* vfork(): the child borrows our memory until it execs (no copy of our page tables
         * and no copy-on-write faults afterwards, unlike fork(); posix_spawn() does the same,
         * but cannot set PR_SET_PDEATHSIG). No signal handler may run in the child on our
         * stack: every signal is blocked until it has reset them all. */
        sigfillset(&all);
        (void) pthread_sigmask(SIG_SETMASK, &all, &old);
        pid = spawn_vfork(&cs);
        r = pid < 0 ? -errno : 0;
        (void) pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r < 0)
                return r;
        if (cs.err != 0) {
                /* It exited without exec: reap it here, before the reaper sees it. */
                while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                return -cs.err;
        }
        *ret_pid = pid;
        return 0;
}

int spawn_job(const JobConfig *cfg, const SpawnCreds *creds, char **envp, pid_t *ret_pid,
              int *ret_out, int *ret_err, char **reterr_message) {
        const char *buf[4], *const *job_argv = config_job_argv(cfg, buf);
        char **argv = (char **) job_argv, **helper = NULL;
        int out[2] = { -1, -1 }, err[2] = { -1, -1 };
        int r;

        if (cfg->policy->workdir) {
                struct stat st;

                if (stat(cfg->policy->workdir, &st) < 0)
                        return reterr_printf(reterr_message, -errno, "workdir '%s': %m", cfg->policy->workdir);
                if (!S_ISDIR(st.st_mode))
                        return reterr_printf(reterr_message, -ENOTDIR, "workdir '%s' is not a directory",
                                    cfg->policy->workdir);
        }
        if (needs_helper(cfg, creds)) {
                r = helper_argv(cfg, creds, &helper);
                if (r < 0)
                        return r;
                argv = helper;
        }
        if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
                r = reterr_printf(reterr_message, -errno, "cannot create pipes: %m");
                goto finish;
        }
        r = spawn_process(argv, envp, cfg->policy->workdir, (int[3]) { SPAWN_DEVNULL, out[1], err[1] }, 0,
                          ret_pid);
        if (r < 0) {
                r = reterr_printf(reterr_message, r, "cannot execute '%s': %s", job_argv[0], strerror(-r));
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

bool spawn_group_alive(pid_t pid) {
        /* EPERM: there are members, only not ours to signal. */
        return spawn_kill_group(pid, 0) != -ESRCH;
}
