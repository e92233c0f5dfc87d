/* SPDX-License-Identifier: MIT */
#pragma once

/* The guard: a small process that outlives a SIGKILLed daemon just long enough to SIGKILL
 * the process groups of the jobs (and the main process) it was running. The kernel's
 * parent-death signal (spawner.c) reaches only each group's first process; what a job's
 * shell started would run on, and a takeover replica would run the same firing beside it.
 *
 * The daemon tells the guard each group it starts and each it is done with, one line per
 * change ("+PGID", "-PGID") on a pipe; when the pipe reaches end of file without a "bye"
 * first, the daemon is gone, and the guard kills the groups still listed. Not started where
 * something else cleans up: as PID 1 (the kernel kills the whole PID namespace) and under
 * systemd ($INVOCATION_ID: KillMode=control-group stops the unit's cgroup). */

#include <stdbool.h>
#include <sys/types.h>

/* Start the guard when it is needed (after reaper_setup(): the reaper watches it); 1 when
 * started, 0 when not needed. Negative errno on failure, with *reterr_message (caller
 * frees). */
int guard_start(char **reterr_message);
/* The daemon wants a guard: guard_group() starts it (guard_start()) with the first group, so
 * a daemon that has not started a job yet has none. */
void guard_want(void);
/* Tell the guard that process group pgid is one of ours (add) or not any more, starting the
 * guard with the first after guard_want() (a failure is logged once: guard_failed).
 * Buffered until guard_flush(); non-blocking: a guard that does not read loses the update. */
void guard_group(pid_t pgid, bool add);
/* Write what guard_group() said since the last flush: once per loop iteration (a daemon
 * killed before it leaves the new groups to their parent-death signal alone). */
void guard_flush(void);
/* The daemon is stopping cleanly: the guard exits without killing anything. */
void guard_stop(void);

/* `solocron guard`: the guard process itself, reading its standard input. */
int guard_main(int argc, char **argv);
