/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "mainproc.h"
#include "reaper.h"
#include "spawn.h"
#include "strv.h"

static int mainproc_spawn(MainProc *m);

static void mainproc_on_closed(uv_handle_t *h) {
        MainProc *m = container_of((uv_process_t *) h, MainProc, proc);

        m->proc_open = false;
}

static void mainproc_on_restart(uv_timer_t *t) {
        MainProc *m = t->data;

        /* If the spawn fails after the child exists, its exit callback reports it. */
        if (!m->stopping && mainproc_spawn(m) < 0 && !m->alive)
                m->on_exit(m, 127, m->userdata);
}

static void mainproc_on_exit(uv_process_t *p, int64_t exit_status, int term_signal) {
        MainProc *m = container_of(p, MainProc, proc);
        int status = term_signal ? 128 + term_signal : (int) exit_status;

        m->alive = false;
        m->last_status = status;
        spawn_disown(m->pid);
        uv_close((uv_handle_t *) p, mainproc_on_closed);
        reaper_sweep();
        if (term_signal)
                log_event(status == 128 + SIGTERM || status == 128 + SIGINT ? LOG_INFO : LOG_WARNING,
                          "main_exited", NULL, NULL, NULL, "main process %d killed by SIG%s",
                          (int) m->pid, sigabbrev_np(term_signal) ?: "?");
        else
                log_event(exit_status == 0 ? LOG_INFO : LOG_WARNING, "main_exited", NULL, NULL, NULL,
                          "main process %d exited with status %lld", (int) m->pid,
                          (long long) exit_status);

        if (m->restart_on_failure && status != 0 && !m->stopping) {
                usec_t wait = m->next_backoff;

                m->next_backoff = wait > m->max_backoff / 2 ? m->max_backoff : wait * 2;
                log_event(LOG_WARNING, "main_restart", NULL, NULL, NULL,
                          "restarting the main process in %llu ms (restart: on-failure)",
                          (unsigned long long) (wait / 1000));
                (void) uv_timer_start(&m->restart_timer, mainproc_on_restart, wait / 1000, 0);
                return;
        }
        m->on_exit(m, status, m->userdata);
}

static int mainproc_spawn(MainProc *m) {
        uv_stdio_container_t stdio[3] = {
                { .flags = UV_INHERIT_FD, .data.fd = 0 },
                { .flags = UV_INHERIT_FD, .data.fd = 1 },
                { .flags = UV_INHERIT_FD, .data.fd = 2 },
        };
        int r;

        r = uv_spawn(m->loop, &m->proc, &(uv_process_options_t) {
                .exit_cb = mainproc_on_exit,
                .file = m->argv[0],
                .args = m->argv,
                .flags = UV_PROCESS_DETACHED,   /* its own process group */
                .stdio_count = 3,
                .stdio = stdio,
        });
        m->proc_open = true;
        m->pid = uv_process_get_pid(&m->proc);
        if (m->pid > 0)
                (void) spawn_own(m->pid);
        if (r < 0) {
                log_event(LOG_ERR, "main_failed", NULL, NULL, NULL,
                          "cannot start the main process '%s': %s", m->argv[0], uv_strerror(r));
                if (m->pid <= 0) {
                        m->last_status = 127;   /* as a shell reports "command not found" */
                        uv_close((uv_handle_t *) &m->proc, mainproc_on_closed);
                }
                else
                        m->alive = true;        /* libuv still reaps it; exit_cb follows */
                return r;
        }
        m->alive = true;
        log_event(LOG_INFO, "main_started", NULL, NULL, NULL, "main process %d started: %s",
                  (int) m->pid, m->argv[0]);
        return 0;
}

int mainproc_start(MainProc *m, uv_loop_t *loop, char *const *argv, bool restart_on_failure,
                   usec_t backoff, usec_t max_backoff, mainproc_exit_cb on_exit, void *userdata) {
        *m = (MainProc) { .loop = loop, .restart_on_failure = restart_on_failure,
                          .backoff = backoff, .max_backoff = max_backoff, .next_backoff = backoff,
                          .on_exit = on_exit, .userdata = userdata };
        m->argv = strv_copy(argv);
        if (!m->argv)
                return -ENOMEM;
        uv_timer_init(loop, &m->restart_timer);
        m->restart_timer.data = m;
        return mainproc_spawn(m);
}

void mainproc_signal(MainProc *m, int sig) {
        if (m->alive && kill(m->pid, sig) < 0 && errno != ESRCH)
                log_event(LOG_WARNING, "signal_failed", NULL, NULL, NULL,
                          "cannot forward SIG%s to the main process: %s", sigabbrev_np(sig), strerror(errno));
}

void mainproc_stop(MainProc *m, int sig) {
        m->stopping = true;
        (void) uv_timer_stop(&m->restart_timer);
        mainproc_signal(m, sig);
}

void mainproc_close(MainProc *m) {
        if (m->restart_timer.loop)
                uv_close((uv_handle_t *) &m->restart_timer, NULL);
        m->argv = strv_free(m->argv);
}
