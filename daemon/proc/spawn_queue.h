/* SPDX-License-Identifier: MIT */
#pragma once

/* Jobs started off the loop. A vfork() parent waits until its child has exec'd (spawner.c):
 * started from the loop, 1000 jobs due at once would exec one after the other while the loop
 * waits. Here a few threads of our own spawn them (spawn_job()), each waiting for its child
 * while the loop goes on with the next firings, and the loop hears of each start in the
 * order they finished. The threads are started on first use (a daemon whose jobs never run
 * has none) and then wait on a condition variable: no wakeups while nothing is due. They
 * are ours alone, not libuv's pool, where a slow user: lookup (NSS) could hold a start up.
 *
 * While a start is on its way, the reaper keeps the exits of children it does not watch yet
 * (reaper_hold()): a job that exits at once is reaped before its start is heard of. */

#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "spawner.h"

typedef struct SpawnRequest SpawnRequest;
typedef void (*spawn_done_cb)(SpawnRequest *q);

struct SpawnRequest {                   /* embedded in its owner (a run) */
        /* Set by the caller, valid until done runs: */
        const JobConfig *cfg;
        const SpawnCreds *creds;        /* or NULL */
        char **envp;
        spawn_done_cb done;             /* on the loop; the owner may free q there */
        /* spawn_job()'s answer, for done: */
        int result;                     /* 0, or a negative errno with error (the caller's) */
        pid_t pid;
        int out_fd, err_fd;
        char *error;
        /* Private: */
        uint64_t ticket;                /* reaper_hold()'s */
        SpawnRequest *next;
};

/* Ready the queue on loop (nothing is started yet). */
int spawn_queue_setup(uv_loop_t *loop);
/* Start q's job off the loop: 0, and q->done follows (a started request keeps the loop
 * alive); or a negative errno (not set up, or no thread could be started): the caller
 * spawns it itself. */
int spawn_queue_submit(SpawnRequest *q);
/* Close the queue's handle once no request is on its way (the daemon's end). */
void spawn_queue_close(void);
