/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "log.h"
#include "macro.h"
#include "mainproc.h"
#include "reaper.h"
#include "spawner.h"
#include "strv.h"

static int mainproc_spawn(MainProc *m);

static void mainproc_on_restart(uv_timer_t *t) {
        MainProc *m = t->data;

        if (!m->stopping && mainproc_spawn(m) < 0)
                m->on_exit(m, 127, m->userdata);
}

static void mainproc_on_exit(ReaperChild *c, int64_t exit_status, int term_signal) {
        MainProc *m = container_of(c, MainProc, child);
        int status = term_signal ? 128 + term_signal : (int) exit_status;

        m->alive = false;
        m->last_status = status;
        guard_group(m->pid, false);
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
        _cleanup_free_ char **envp = NULL;
        int r;

        /* Our environment but the service manager's variables (NOTIFY_SOCKET is ours to
         * answer), our stdio (-1: inherit 0, 1 and 2), its own process group. */
        r = spawn_main_env(&envp);
        if (r >= 0)
                r = spawn_process(m->argv, envp, NULL, (int[3]) { -1, -1, -1 }, 0, &m->pid);
        if (r < 0) {
                log_event(LOG_ERR, "main_failed", NULL, NULL, NULL,
                          "cannot start the main process '%s': %s", m->argv[0], strerror(-r));
                m->last_status = 127;   /* as a shell reports "command not found" */
                m->pid = 0;
                return r;
        }
        m->child = (ReaperChild) { .pid = m->pid, .on_exit = mainproc_on_exit };
        reaper_watch(&m->child);
        guard_group(m->pid, true);
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
