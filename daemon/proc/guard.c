/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guard.h"
#include "log.h"
#include "macro.h"
#include "numfmt.h"
#include "parse.h"
#include "reterr.h"
#include "reaper.h"
#include "spawner.h"

static int guard_fd = -1;       /* the writing end of the guard's pipe; -1: no guard */
static bool guard_wanted;       /* guard_want(): start it with the first group */
static bool guard_tried;        /* started (or found not needed, or failed), or stopped */
static ReaperChild guard_child;

static void guard_on_exit(ReaperChild *c, int64_t exit_status, int term_signal) {
        if (guard_fd < 0)
                return;         /* after guard_stop() */
        log_event(LOG_WARNING, "guard_exited", NULL, NULL, NULL,
                  "the guard process %d %s %lld; jobs may now outlive a daemon that is killed",
                  (int) c->pid, term_signal ? "was killed by signal" : "exited with status",
                  (long long) (term_signal ? term_signal : exit_status));
        (void) close(guard_fd);
        guard_fd = -1;
}

int guard_start(char **reterr_message) {
        char *argv[] = { (char *) spawn_self(), (char *) "guard", NULL };
        int p[2], r;
        pid_t pid;

        guard_tried = true;
        if (getpid() == 1 || getenv("INVOCATION_ID"))
                return 0;
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        /* Its own session (signals to our group do not reach it), no parent-death signal
         * (it must outlive us), our stderr for its one message. */
        r = spawn_process(argv, NULL, "/", (int[3]) { p[0], SPAWN_DEVNULL, -1 },
                          SPAWN_OUTLIVE_DAEMON, &pid);
        (void) close(p[0]);
        if (r < 0) {
                (void) close(p[1]);
                return reterr_printf(reterr_message, r, "cannot start the guard process: %s",
                                     strerror(-r));
        }
        if (fcntl(p[1], F_SETFL, O_NONBLOCK) < 0) {
                r = -errno;
                (void) close(p[1]);
                return r;
        }
        guard_fd = p[1];
        guard_child = (ReaperChild) { .pid = pid, .on_exit = guard_on_exit };
        reaper_watch(&guard_child);
        return 1;
}

/* Lines to the guard wait here for the end of the loop iteration (guard_flush()): a burst
 * of 1000 jobs makes one write, not 2000 (bench/). */
static char guard_buf[4096];
static size_t guard_len;

void guard_flush(void) {
        /* At most 4 KiB, so each write is atomic; EAGAIN (a full pipe) drops it. */
        while (guard_fd >= 0 && guard_len > 0 && write(guard_fd, guard_buf, guard_len) < 0 &&
               errno == EINTR)
                ;
        guard_len = 0;
}

static void guard_send(const char *line) {
        size_t n = strlen(line);

        if (guard_len + n > sizeof(guard_buf))
                guard_flush();
        memcpy(guard_buf + guard_len, line, n);
        guard_len += n;
}

void guard_group(pid_t pgid, bool add) {
        char line[FMT_INT_MAX + 2];

        if (guard_wanted && !guard_tried && add && pgid > 0) {
                /* The first group: nothing needed guarding before (and a start-up without
                 * the guard's spawn is a millisecond shorter). */
                _cleanup_free_ char *err = NULL;
                int r = guard_start(&err);

                if (r < 0)
                        log_event(LOG_WARNING, "guard_failed", NULL, NULL, NULL,
                                  "%s, ignoring: jobs may outlive a daemon that is killed",
                                  err ? err : strerror(-r));
        }
        if (guard_fd < 0 || pgid <= 0)
                return;
        line[0] = add ? '+' : '-';
        memcpy(line + 1 + fmt_int(line + 1, pgid), "\n", 2);
        guard_send(line);
}

void guard_want(void) {
        guard_wanted = true;
}

void guard_stop(void) {
        guard_tried = true;
        guard_send("bye\n");
        guard_flush();
        if (guard_fd >= 0)
                (void) close(guard_fd);
        guard_fd = -1;
}

/* --- the guard process ----------------------------------------------------------- */

typedef struct Groups {
        pid_t *pgids;
        size_t n, allocated;
} Groups;

static void groups_add(Groups *g, pid_t pgid) {
        if (g->n == g->allocated) {
                size_t a = g->allocated ? g->allocated * 2 : 64;
                pid_t *p = realloc(g->pgids, a * sizeof(pid_t));

                if (!p)
                        return;         /* out of memory: this group is not guarded */
                g->pgids = p;
                g->allocated = a;
        }
        g->pgids[g->n++] = pgid;
}

static void groups_remove(Groups *g, pid_t pgid) {
        for (size_t i = g->n; i-- > 0;)
                if (g->pgids[i] == pgid) {
                        g->pgids[i] = g->pgids[--g->n];
                        return;
                }
}

/* One line: "+PGID", "-PGID" or "bye" (true: the daemon stops cleanly). */
static bool guard_line(Groups *g, const char *line) {
        uint64_t pgid;

        if (strcmp(line, "bye") == 0)
                return true;
        if ((line[0] == '+' || line[0] == '-') && parse_uint64(line + 1, INT32_MAX, &pgid) == 0 &&
            pgid > 1) {
                if (line[0] == '+')
                        groups_add(g, (pid_t) pgid);
                else
                        groups_remove(g, (pid_t) pgid);
        }
        return false;
}

int guard_main(int argc, char **argv) {
        Groups g = {};
        char buf[4096];
        size_t len = 0;
        bool bye = false;

        (void) argc;
        (void) argv;
        /* Only the end of the pipe ends the guard: a terminal's ^C or a stray SIGTERM must
         * not leave the jobs unguarded while the daemon lives. */
        (void) signal(SIGINT, SIG_IGN);
        (void) signal(SIGTERM, SIG_IGN);
        (void) signal(SIGHUP, SIG_IGN);
        for (;;) {
                ssize_t n = read(STDIN_FILENO, buf + len, sizeof(buf) - 1 - len);
                char *start = buf, *nl;

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t) n;
                buf[len] = 0;
                while ((nl = memchr(start, '\n', len - (size_t) (start - buf)))) {
                        *nl = 0;
                        bye = guard_line(&g, start) || bye;
                        start = nl + 1;
                }
                len -= (size_t) (start - buf);
                memmove(buf, start, len);
                if (len == sizeof(buf) - 1)
                        len = 0;        /* no line is this long: garbage */
        }
        if (!bye && g.n > 0) {
                fprintf(stderr, "solocron guard: the daemon is gone; killing %zu process group%s "
                        "it was running\n", g.n, g.n == 1 ? "" : "s");
                for (size_t i = 0; i < g.n; i++)
                        (void) kill(-g.pgids[i], SIGKILL);
        }
        free(g.pgids);
        return 0;
}
