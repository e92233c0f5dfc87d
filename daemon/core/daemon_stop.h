/* SPDX-License-Identifier: MIT */
#pragma once

/* Stopping the daemon (daemon_stop.c). */

#include "daemon_internal.h"

/* Watch the signals solocron acts on (SIGHUP, SIGTERM, SIGINT, and those it forwards to a
 * main process). */
int daemon_watch_signals(Daemon *d);
/* Close the signal watchers, ignoring their signals from then on: the very last thing, once
 * the state is saved and the pid file removed (daemon_close_handles() only makes them deaf,
 * as closing them restores the default actions). Runs the loop for their close. */
void daemon_close_signals(Daemon *d);
/* SIGTERM/SIGINT: stop (again: kill what still runs). */
void daemon_stop(Daemon *d, int sig);
/* The main process exited (mainproc_exit_cb): stop with its status. */
void daemon_on_main_exit(MainProc *m, int status, void *userdata);
/* Once stopping and nothing runs any more: close the handles, so that the loop ends. */
void daemon_maybe_done(Daemon *d);
/* Close the loop's handles (once; any time, a failed start-up too). */
void daemon_close_handles(Daemon *d);
/* Free the takeover watches and close the lease store (asynchronously, on the loop): once
 * nothing runs, before the loop can end. */
void daemon_close_lease(Daemon *d);
