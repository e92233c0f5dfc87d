/* SPDX-License-Identifier: MIT */
#pragma once

/* Every child of solocron is waited for here. solocron starts its processes itself
 * (spawner.c, posix_spawn) rather than with uv_spawn(), so it owns every child it has: one
 * SIGCHLD watcher reaps whatever has died with waitpid(-1) in a loop, as tini does, and hands
 * the status of a watched pid (a job, the main process) to its callback. Anything else is an
 * orphan re-parented to us (as PID 1 or with --subreaper) and is only logged. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

typedef struct ReaperChild ReaperChild;
/* exit_status is the exit code (0 when killed), term_signal the killing signal (0 if none). */
typedef void (*reaper_exit_cb)(ReaperChild *c, int64_t exit_status, int term_signal);

struct ReaperChild {                    /* embedded in its owner (a run, the main process) */
        pid_t pid;
        reaper_exit_cb on_exit;
        ReaperChild *prev, *next;       /* the watched list: linking needs no allocation */
};

/* Arm the SIGCHLD watcher; call before the first child is started. */
int reaper_setup(uv_loop_t *loop);
/* Become a child subreaper (prctl), so orphans of our jobs come to us even when not PID 1. */
int reaper_become_subreaper(void);
/* Watch c->pid (set by the caller) until it exits: c->on_exit runs once, from the loop. A
 * watched child keeps the loop alive. Cannot fail: c is linked in, nothing is allocated. */
void reaper_watch(ReaperChild *c);
/* A child is being started off the loop (spawn_queue.c): until the matching release, the
 * exits of children not watched are kept, not logged as orphans, for the watcher the child
 * will have. reaper_hold() returns the start's ticket; reaper_release(ticket, pid), once
 * pid (0: none started) is watched, hands it an exit kept since that start began (from the
 * loop: a job that exited before its start was heard of), and once no start is on its way
 * logs the rest as orphans. An exit kept before a start began is never that start's child's,
 * even if the pid was reused. */
uint64_t reaper_hold(void);
void reaper_release(uint64_t ticket, pid_t pid);
/* Reap whatever has died now (also called from the SIGCHLD watcher). */
void reaper_sweep(void);
void reaper_close(void);
