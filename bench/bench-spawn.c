/* SPDX-License-Identifier: MIT */

/* The floor of figure 6 (daemon CPU for 1000 firings): what the kernel charges a process
 * that starts N jobs at once and reaps them, with nothing else to do. Two modes:
 *   bare     posix_spawn() each job (output to /dev/null), reap it: what busybox crond does;
 *   capture  the same with two pipes per job (stdout, stderr) read to end of file through
 *            epoll, as a daemon that relays its jobs' output must.
 * Prints this process's own CPU time (not its children's) for each mode.
 *
 * The floor of figure 4 (1000 jobs due at once: the last start), with `burst INSTANT`: spin
 * until the wall-clock INSTANT, then start the N jobs as fast as any launcher can: at
 * real-time priority (SCHED_FIFO, reset on fork: the jobs run as usual), with clone(CLONE_VM)
 * and without waiting for each child's exec as vfork() and posix_spawn() do. run-bench reads
 * the jobs' exec times from the kernel.
 *
 * Usage: bench-spawn [N] [COMMAND]   (default 1000 and "date +%s.%N >/dev/null")
 *        bench-spawn burst INSTANT [N] [COMMAND] */

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double cpu_ms(void) {
        struct rusage ru;

        getrusage(RUSAGE_SELF, &ru);
        return (double) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
               (double) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static int spawn(char **argv, int out, int err, pid_t *pid) {
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        int r;

        posix_spawn_file_actions_init(&fa);
        posix_spawnattr_init(&attr);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        if (out >= 0) {
                posix_spawn_file_actions_adddup2(&fa, out, 1);
                posix_spawn_file_actions_adddup2(&fa, err, 2);
        } else {
                posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
                posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
        }
        posix_spawn_file_actions_addclosefrom_np(&fa, 3);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
        r = posix_spawn(pid, argv[0], &fa, &attr, argv, environ);
        posix_spawnattr_destroy(&attr);
        posix_spawn_file_actions_destroy(&fa);
        return r;
}

/* Starts n jobs, then waits for every exit (and, capturing, every end of file). */
static double run(int n, char **argv, int capture) {
        int ep = epoll_create1(EPOLL_CLOEXEC), sfd, open_pipes = 0, alive = 0;
        double t0 = cpu_ms();
        sigset_t chld;
        char buf[65536];

        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        sigprocmask(SIG_BLOCK, &chld, NULL);
        sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
        epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &(struct epoll_event) { .events = EPOLLIN, .data.fd = sfd });
        for (int i = 0; i < n; i++) {
                int out[2] = { -1, -1 }, err[2] = { -1, -1 };
                pid_t pid;

                if (capture && (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)) {
                        perror("pipe2");
                        exit(1);
                }
                if (spawn(argv, out[1], err[1], &pid) != 0) {
                        perror("posix_spawn");
                        exit(1);
                }
                alive++;
                if (capture) {
                        close(out[1]);
                        close(err[1]);
                        for (int k = 0; k < 2; k++) {
                                int fd = k ? err[0] : out[0];

                                epoll_ctl(ep, EPOLL_CTL_ADD, fd,
                                          &(struct epoll_event) { .events = EPOLLIN, .data.fd = fd });
                                open_pipes++;
                        }
                }
        }
        while (alive > 0 || open_pipes > 0) {
                struct epoll_event ev[64];
                int m = epoll_wait(ep, ev, 64, -1);

                for (int i = 0; i < m; i++) {
                        int fd = ev[i].data.fd;

                        if (fd == sfd) {
                                siginfo_t si;
                                struct signalfd_siginfo ssi;

                                while (read(sfd, &ssi, sizeof(ssi)) > 0)
                                        ;
                                for (;;) {
                                        si.si_pid = 0;
                                        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
                                                break;
                                        alive--;
                                }
                        } else if (read(fd, buf, sizeof(buf)) <= 0) {
                                close(fd);      /* also leaves the epoll set */
                                open_pipes--;
                        }
                }
        }
        close(sfd);
        close(ep);
        sigprocmask(SIG_UNBLOCK, &chld, NULL);
        return cpu_ms() - t0;
}

static int child_exec(void *argv) {
        execve(((char **) argv)[0], argv, environ);
        _exit(127);
}

static double now_s(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int burst(double instant, int n, char **argv) {
        const size_t stack_size = 64 * 1024;
        struct sched_param sp = { .sched_priority = 1 };
        char *stacks = mmap(NULL, (size_t) n * stack_size, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        double t0;
        bool rt;

        if (stacks == MAP_FAILED) {
                perror("mmap");
                return 1;
        }
        while (now_s() < instant)
                ;       /* spinning at normal priority: real time only from the instant on */
        t0 = now_s();
        rt = sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &sp) == 0;
        for (int i = 0; i < n; i++) {
                char *top = stacks + (size_t) (i + 1) * stack_size;     /* stacks grow down */

                if (clone(child_exec, top, CLONE_VM | SIGCHLD, argv) < 0) {
                        perror("clone");
                        return 1;
                }
        }
        printf("burst: %d jobs started by a %s launcher in %.1f ms\n", n,
               rt ? "SCHED_FIFO" : "normal-priority", (now_s() - t0) * 1e3);
        while (wait(NULL) > 0)
                ;
        return 0;
}

int main(int argc, char **argv) {
        bool burst_mode = argc > 2 && strcmp(argv[1], "burst") == 0;
        int skip = burst_mode ? 2 : 0;
        int n = argc > 1 + skip ? atoi(argv[1 + skip]) : 1000;
        char *cmd[] = { "/bin/sh", "-c", argc > 2 + skip ? argv[2 + skip] : "date +%s.%N >/dev/null",
                        NULL };
        struct rlimit rl;

        if (n <= 0) {
                fprintf(stderr, "usage: bench-spawn [N] [COMMAND]\n"
                                "       bench-spawn burst INSTANT [N] [COMMAND]\n");
                return 2;
        }
        if (burst_mode)
                return burst(atof(argv[2]), n, cmd);
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
                rl.rlim_cur = rl.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }
        printf("%d jobs at once, this process's CPU: bare %.1f ms, capture %.1f ms\n", n,
               run(n, cmd, 0), run(n, cmd, 1));
        return 0;
}
