/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "list.h"
#include "log.h"
#include "reaper.h"

static uv_signal_t reaper_sigchld;
static bool reaper_armed;

/* Watched children, oldest first: as many as are alive at once, looked up once per exit.
 * Children mostly die in the order they were started (1000 jobs due at once), so the scan
 * from the oldest ends early; newest first, it crossed most of the list every time (perf). */
static ReaperChild *watched, *watched_newest;

void reaper_watch(ReaperChild *c) {
        /* A child alive keeps the loop running (as a uv_process_t would), e.g. through a
         * shutdown that waits for its jobs. */
        if (!watched)
                uv_ref((uv_handle_t *) &reaper_sigchld);
        c->next = NULL;
        c->prev = watched_newest;
        if (watched_newest)
                watched_newest->next = c;
        else
                watched = c;
        watched_newest = c;
}

/* Exits kept while starts are on their way (reaper_hold()), newest first. */
typedef struct KeptExit {
        struct KeptExit *next;
        pid_t pid;
        int code, status;
        uint64_t seen;          /* tickets up to this one had begun when it was reaped */
} KeptExit;
static KeptExit *kept;
static unsigned holds;
static uint64_t last_ticket;

static ReaperChild *reaper_take(pid_t pid) {
        for (ReaperChild *c = watched; c; c = c->next)
                if (c->pid == pid) {
                        if (c == watched_newest)
                                watched_newest = c->prev;
                        LIST_UNLINK(watched, c);
                        if (!watched)
                                uv_unref((uv_handle_t *) &reaper_sigchld);
                        return c;
                }
        return NULL;
}

static void reaper_deliver(ReaperChild *c, int code, int status) {
        /* The callback may free c's owner, or start a new child: c is off the list. */
        if (code == CLD_EXITED)
                c->on_exit(c, status, 0);
        else
                c->on_exit(c, 0, status);
}

static void log_orphan(pid_t pid, int status) {
        log_event(LOG_DEBUG, "orphan_reaped", NULL, NULL, NULL, "reaped orphan pid %d (status %d)",
                  (int) pid, status);
}

uint64_t reaper_hold(void) {
        holds++;
        return ++last_ticket;
}

void reaper_release(uint64_t ticket, pid_t pid) {
        KeptExit **p = &kept, *e;

        holds--;
        while (pid > 0 && (e = *p)) {
                if (e->pid != pid || e->seen < ticket) {
                        p = &e->next;
                        continue;
                }
                *p = e->next;
                ReaperChild *c = reaper_take(pid);

                if (c)
                        reaper_deliver(c, e->code, e->status);
                else
                        log_orphan(e->pid, e->status);
                free(e);
                break;                  /* a pid exits once */
        }
        while (holds == 0 && kept) {    /* no start on its way: nobody's */
                e = kept;
                kept = e->next;
                log_orphan(e->pid, e->status);
                free(e);
        }
}

void reaper_sweep(void) {
        for (;;) {
                siginfo_t si = {};
                ReaperChild *c;

                if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG) < 0) {
                        if (errno == EINTR)
                                continue;
                        return;                 /* ECHILD: no children at all */
                }
                if (si.si_pid == 0)
                        return;                 /* nobody else has exited */
                c = reaper_take(si.si_pid);
                if (c) {
                        reaper_deliver(c, si.si_code, si.si_status);
                        continue;
                }
                if (holds > 0) {        /* perhaps a job whose start is on its way */
                        KeptExit *e = malloc(sizeof(KeptExit));

                        if (e) {
                                *e = (KeptExit) { kept, si.si_pid, si.si_code, si.si_status,
                                                  last_ticket };
                                kept = e;
                                continue;
                        }
                }
                log_orphan(si.si_pid, si.si_status);
        }
}

static void reaper_on_sigchld(uv_signal_t *s, int signum) {
        (void) s;
        (void) signum;
        reaper_sweep();
}

int reaper_setup(uv_loop_t *loop) {
        int r = uv_signal_init(loop, &reaper_sigchld);

        if (r < 0)
                return r;
        r = uv_signal_start(&reaper_sigchld, reaper_on_sigchld, SIGCHLD);
        if (r < 0)
                return r;
        uv_unref((uv_handle_t *) &reaper_sigchld);
        reaper_armed = true;
        reaper_sweep();         /* orphans from before we started watching (PID 1) */
        return 0;
}

int reaper_become_subreaper(void) {
        if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
                return -errno;
        return 0;
}

void reaper_close(void) {
        if (!reaper_armed)
                return;
        /* A last sweep: the loop is done, and orphans must not outlive us as zombies. */
        reaper_sweep();
        while (kept) {                  /* none, as no start is on its way by now */
                KeptExit *e = kept;

                kept = e->next;
                log_orphan(e->pid, e->status);
                free(e);
        }
        reaper_armed = false;
        uv_close((uv_handle_t *) &reaper_sigchld, NULL);
        watched = watched_newest = NULL;
}
