/* SPDX-License-Identifier: MIT */
/* Jobs started off the loop (see spawn_queue.h): a FIFO of requests under one mutex, taken
 * by up to SPAWN_THREADS threads; the answers go back on a second FIFO, and one uv_async_t
 * wakes the loop for them (libuv folds the wakeups of a burst into few). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "reaper.h"
#include "spawn_queue.h"
#include "testhook.h"

/* Threads that spawn at once, each waiting for its child's exec; one more is started only
 * while the queued starts outnumber the idle threads, so a daemon whose jobs seldom meet has
 * one. Many jobs due at once on 2 cores: 1 thread costs more CPU than spawning from the loop,
 * 4 less, 16 less again (bench/profile-per-host-cost.md): the loop closes the pipes of the
 * jobs that ended meanwhile, so each vfork() copies a smaller descriptor table. */
#define SPAWN_THREADS           16
/* spawn_job() and the vfork() child (on the same stack) need little. */
#define SPAWN_STACK_SIZE        (256 * 1024)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
/* Under lock: */
static SpawnRequest *todo, *todo_last, *answered, *answered_last;
static unsigned n_threads, n_idle, n_todo;
/* Tests: the answer held back this long after the spawn, so that a job exits, or the daemon
 * is stopped, before the loop hears of its start (SOLOCRON_TEST_SPAWN_ANSWER_DELAY_MS). */
static long answer_delay_ms;

/* The loop's: */
static uv_async_t answer_async;
static bool ready;
static unsigned n_pending;              /* submitted, done not run yet */

static void queue_push(SpawnRequest **first, SpawnRequest **last, SpawnRequest *q) {
        q->next = NULL;
        if (*last)
                (*last)->next = q;
        else
                *first = q;
        *last = q;
}

static void *spawn_thread(void *arg) {
        (void) arg;
        (void) pthread_mutex_lock(&lock);
        for (;;) {
                SpawnRequest *q;

                n_idle++;
                while (!todo)
                        (void) pthread_cond_wait(&wake, &lock);
                n_idle--;
                n_todo--;
                q = todo;
                if (!(todo = q->next))
                        todo_last = NULL;
                (void) pthread_mutex_unlock(&lock);
                q->result = spawn_job(q->cfg, q->creds, q->envp, &q->pid, &q->out_fd,
                                      &q->err_fd, &q->error);
                if (answer_delay_ms > 0)
                        (void) nanosleep(&(struct timespec) { answer_delay_ms / 1000,
                                                              answer_delay_ms % 1000 * 1000000 },
                                         NULL);
                (void) pthread_mutex_lock(&lock);
                queue_push(&answered, &answered_last, q);
                (void) uv_async_send(&answer_async);
        }
        return NULL;
}

/* One more thread, with every signal blocked (the loop's thread takes them). Under lock. */
static int thread_start(void) {
        pthread_attr_t attr;
        pthread_t t;
        sigset_t all, old;
        int r;

        if (pthread_attr_init(&attr) != 0)
                return -ENOMEM;
        (void) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        (void) pthread_attr_setstacksize(&attr, SPAWN_STACK_SIZE);
        sigfillset(&all);
        (void) pthread_sigmask(SIG_SETMASK, &all, &old);
        r = pthread_create(&t, &attr, spawn_thread, NULL);
        (void) pthread_sigmask(SIG_SETMASK, &old, NULL);
        (void) pthread_attr_destroy(&attr);
        if (r != 0)
                return -r;
        n_threads++;
        return 0;
}

static void on_answers(uv_async_t *a) {
        SpawnRequest *q, *next;

        (void) a;
        (void) pthread_mutex_lock(&lock);
        q = answered;
        answered = answered_last = NULL;
        (void) pthread_mutex_unlock(&lock);
        for (; q; q = next) {
                uint64_t ticket = q->ticket;
                pid_t pid = q->result == 0 ? q->pid : 0;

                next = q->next;         /* done may free q */
                if (--n_pending == 0)
                        uv_unref((uv_handle_t *) &answer_async);
                q->done(q);
                /* Its child is watched now (or there is none): an exit kept meanwhile goes
                 * to its watcher. */
                reaper_release(ticket, pid);
        }
}

int spawn_queue_setup(uv_loop_t *loop) {
        const char *delay = test_hook_getenv("SOLOCRON_TEST_SPAWN_ANSWER_DELAY_MS");
        int r = uv_async_init(loop, &answer_async, on_answers);

        answer_delay_ms = delay ? strtol(delay, NULL, 10) : 0;
        if (r < 0)
                return r;
        uv_unref((uv_handle_t *) &answer_async);
        ready = true;
        return 0;
}

int spawn_queue_submit(SpawnRequest *q) {
        int r = 0;

        if (!ready)
                return -EINVAL;
        (void) pthread_mutex_lock(&lock);
        /* A thread more while no idle one is left for it (woken threads that have not taken
         * their request yet are still counted idle), up to SPAWN_THREADS. */
        if (n_todo >= n_idle && n_threads < SPAWN_THREADS)
                r = thread_start();
        if (r < 0 && n_threads > 0)
                r = 0;                  /* the threads there are take it in turn */
        if (r == 0) {
                /* The sweep that could reap its child runs on this thread, after this. */
                q->ticket = reaper_hold();
                queue_push(&todo, &todo_last, q);
                n_todo++;
                (void) pthread_cond_signal(&wake);
        }
        (void) pthread_mutex_unlock(&lock);
        if (r < 0)
                return r;
        if (n_pending++ == 0)
                uv_ref((uv_handle_t *) &answer_async);
        return 0;
}

void spawn_queue_close(void) {
        if (!ready)
                return;
        ready = false;
        /* The loop runs while a request is on its way (the handle is referenced), so none
         * is; the threads stay, waiting for work that will not come. */
        uv_close((uv_handle_t *) &answer_async, NULL);
}
