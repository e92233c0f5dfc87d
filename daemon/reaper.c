/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "reaper.h"
#include "spawn.h"

/* When a sweep stops at a child libuv still has to reap, an orphan may be queued behind it;
 * look again this soon (once, not periodically: idle means no wakeups). */
#define REAPER_RESWEEP_MSEC 100

static uv_signal_t reaper_sigchld;
static uv_timer_t reaper_timer;
static bool reaper_armed;

bool reaper_active(void) {
        return reaper_armed;
}

static void reaper_on_timer(uv_timer_t *t) {
        (void) t;
        reaper_sweep();
}

void reaper_sweep(void) {
        if (!reaper_armed)
                return;
        for (;;) {
                siginfo_t si = {};

                if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
                        if (errno == EINTR)
                                continue;
                        return;                 /* ECHILD: no children at all */
                }
                if (si.si_pid == 0)
                        return;                 /* nobody has exited */
                if (spawn_owns_pid(si.si_pid)) {
                        /* libuv will waitpid() it; its exit callback sweeps again, and so
                         * does this timer in case the callback comes first. */
                        (void) uv_timer_start(&reaper_timer, reaper_on_timer, REAPER_RESWEEP_MSEC, 0);
                        return;
                }
                if (waitid(P_PID, (id_t) si.si_pid, &si, WEXITED) >= 0)
                        log_event(LOG_DEBUG, "orphan_reaped", NULL, NULL, NULL,
                                  "reaped orphan pid %d (status %d)", (int) si.si_pid, si.si_status);
        }
}

static void reaper_on_sigchld(uv_signal_t *s, int signum) {
        (void) s;
        (void) signum;
        reaper_sweep();
}

int reaper_setup(uv_loop_t *loop, bool subreaper) {
        int r;

        if (subreaper && getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
                return -errno;
        if (!subreaper && getpid() != 1)
                return 0;
        r = uv_signal_init(loop, &reaper_sigchld);
        if (r < 0)
                return r;
        r = uv_signal_start(&reaper_sigchld, reaper_on_sigchld, SIGCHLD);
        if (r < 0)
                return r;
        uv_unref((uv_handle_t *) &reaper_sigchld);
        uv_timer_init(loop, &reaper_timer);
        uv_unref((uv_handle_t *) &reaper_timer);
        reaper_armed = true;
        reaper_sweep();         /* orphans from before we started watching */
        return 0;
}

void reaper_close(void) {
        if (!reaper_armed)
                return;
        /* A last sweep: the loop is done, nothing of libuv's is left to wait for. */
        reaper_sweep();
        reaper_armed = false;
        uv_close((uv_handle_t *) &reaper_sigchld, NULL);
        uv_close((uv_handle_t *) &reaper_timer, NULL);
}
