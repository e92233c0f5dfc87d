/* SPDX-License-Identifier: MIT */
#pragma once

/* Reaping orphans when solocron is PID 1 (in a container) or a subreaper (--subreaper):
 * processes that jobs leave behind are re-parented to us and must be waited for, or they
 * pile up as zombies. libuv waits for its own children by pid, so a blind waitpid(-1) would
 * steal their exit statuses; instead each sweep peeks at the first dead child with
 * waitid(WNOWAIT) and reaps it only if libuv does not own it (see STYLE.md, B8). */

#include <stdbool.h>
#include <uv.h>

/* Arm the reaper: a SIGCHLD watcher (unref'd: it keeps nothing alive). With subreaper,
 * first become a child subreaper (prctl). Does nothing unless pid 1 or subreaper. */
int reaper_setup(uv_loop_t *loop, bool subreaper);
/* Reap every dead orphan now; call at the end of every exit callback of our own children. */
void reaper_sweep(void);
void reaper_close(void);
bool reaper_active(void);
