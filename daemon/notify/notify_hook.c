/* SPDX-License-Identifier: MIT */
/* Hooks: on_failure, on_success, on_retry. A hook runs like its job (the spawner, the job's
 * user, group, workdir, limits and environment, its own process group, reaped by the
 * reaper), with the event in SOLOCRON_* variables and the run's output tail in a private
 * file (SOLOCRON_OUTPUT_FILE, mode 0600, removed when the hook ends). Its output is relayed to
 * the log under the job's name, with "RUN_ID/on_failure" (the hook) as the run. At its
 * timeout its process group gets SIGTERM, then SIGKILL after the job's kill_after; what it
 * leaves in its group when it exits gets SIGKILL. Nothing here blocks the loop: user: and
 * group: are looked up in a worker. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdio.h"
#include "guard.h"
#include "log.h"
#include "macro.h"
#include "notifier_internal.h"
#include "strv.h"
#include "timeutil.h"

#define HOOK_DRAIN_MSEC 1000    /* after the hook exits, how long leftovers may hold its pipes */
#define HOOK_EXTRA_ENV 12

static const char *const hook_names[_HOOK_KIND_MAX] = { "on_failure", "on_success", "on_retry" };

struct Hook {
        Notifier *n;            /* the owner */
        Hook *prev, *next;      /* n->hooks */
        HookKind kind;
        char *job;              /* copies: the Outputs borrow them */
        char *label;            /* "RUN_ID/on_failure", or "on_failure" without a run */
        const JobConfig *cfg;   /* borrowed under hold until the hook has started */
        const HookConfig *hcfg; /* the same */
        void *hold;
        void (*release)(void *hold);
        usec_t timeout, kill_after;
        char *extra[HOOK_EXTRA_ENV + 1]; /* SOLOCRON_* for the environment */
        char *output_path;      /* the tail's file, or NULL */
        int output_fd;          /* open until the hook starts (chown to the job's user) */
        uv_work_t lookup;
        SpawnCreds creds;
        bool has_creds;
        int lookup_result;
        char *lookup_error;
        ReaperChild child;
        pid_t pid;
        bool alive;             /* the leader has not exited */
        bool timed_out, killed;
        Output out, err;
        uv_timer_t timer;       /* timeout → SIGTERM → SIGKILL; the drain after the exit */
        unsigned pending;       /* process + two pipes still to end */
        int64_t exit_status;
        int term_signal;
        uint64_t start_msec;
};

static void hook_release(Hook *h) {
        if (h->release)
                h->release(h->hold);
        h->release = NULL;
        h->cfg = NULL;
        h->hcfg = NULL;
}

static void hook_on_timer_closed(uv_handle_t *t) {
        Hook *h = t->data;
        Notifier *n = h->n;

        hook_release(h);
        if (h->has_creds)
                spawn_creds_done(&h->creds);
        free(h->lookup_error);
        if (h->output_fd >= 0)
                close(h->output_fd);
        free(h->output_path);   /* unlinked by hook_end() */
        for (size_t i = 0; h->extra[i]; i++)
                free(h->extra[i]);
        free(h->job);
        free(h->label);
        free(h);
        n->pending_closes--;
        notifier_check_idle(n);
}

/* The hook is over (or never started: error says why). */
static void hook_end(Hook *h, const char *error) {
        Notifier *n = h->n;
        bool ok = !error && !h->timed_out && !h->term_signal && h->exit_status == 0;
        char status[32];

        /* Gone before hook_finished is logged: whoever reads the log may rely on it. */
        if (h->output_path)
                (void) unlink(h->output_path);
        if (error)
                log_event(LOG_ERR, "hook_failed", h->job, h->label,
                          (LogKV[]) { { "hook", hook_names[h->kind] }, {} },
                          "%s hook cannot start: %s", hook_names[h->kind], error);
        else {
                if (h->term_signal)
                        (void) snprintf(status, sizeof(status), "SIG%s",
                                        sigabbrev_np(h->term_signal) ?: "?");
                else
                        (void) snprintf(status, sizeof(status), "%lld", (long long) h->exit_status);
                log_event(ok ? LOG_INFO : LOG_WARNING, "hook_finished", h->job, h->label,
                          (LogKV[]) { { "hook", hook_names[h->kind] },
                                      { "result", ok ? "succeeded" : h->timed_out ? "timed_out"
                                                     : h->term_signal ? "signal" : "failed" },
                                      { "status", status }, {} },
                          "%s hook finished (status %s)%s", hook_names[h->kind], status,
                          h->timed_out ? ", killed at its timeout" : "");
        }
        notifier_count(n, NOTIFY_CHANNEL_HOOK, ok);
        LIST_UNLINK(n->hooks, h);
        n->n_pending--;
        n->pending_closes++;
        uv_close((uv_handle_t *) &h->timer, hook_on_timer_closed);
}

static void hook_part_done(Hook *h) {
        if (--h->pending == 0)
                hook_end(h, NULL);
}

static void hook_on_output_closed(Output *o) {
        Hook *h = o->stream == LOG_STREAM_STDOUT ? container_of(o, Hook, out)
                                                 : container_of(o, Hook, err);

        hook_part_done(h);
}

static void hook_on_drain(uv_timer_t *t) {
        Hook *h = t->data;

        output_close(&h->out);
        output_close(&h->err);
}

static void hook_on_exit(ReaperChild *c, int64_t exit_status, int term_signal) {
        Hook *h = container_of(c, Hook, child);

        h->alive = false;
        h->exit_status = exit_status;
        h->term_signal = term_signal;
        (void) uv_timer_stop(&h->timer);
        /* Nothing of a hook outlives it. */
        if (spawn_group_alive(h->pid))
                (void) spawn_kill_group(h->pid, SIGKILL);
        guard_group(h->pid, false);
        if (h->out.open || h->err.open)
                (void) uv_timer_start(&h->timer, hook_on_drain, HOOK_DRAIN_MSEC, 0);
        hook_part_done(h);
}

static void hook_on_kill(uv_timer_t *t) {
        Hook *h = t->data;

        if (!h->alive)
                return;
        log_event(LOG_WARNING, "hook_killed", h->job, h->label,
                  (LogKV[]) { { "hook", hook_names[h->kind] }, {} },
                  "%s hook still running after SIGTERM, sending SIGKILL to process group %d",
                  hook_names[h->kind], (int) h->pid);
        h->killed = true;
        (void) spawn_kill_group(h->pid, SIGKILL);
}

/* SIGTERM now, SIGKILL after kill_after. */
static void hook_terminate(Hook *h, uint64_t kill_after_msec) {
        if (!h->alive)
                return;
        (void) spawn_kill_group(h->pid, SIGTERM);
        (void) uv_timer_start(&h->timer, hook_on_kill, kill_after_msec, 0);
}

static void hook_on_timeout(uv_timer_t *t) {
        Hook *h = t->data;
        char dur[32];

        notify_format_seconds((int64_t) h->timeout, dur);
        log_event(LOG_WARNING, "hook_timeout", h->job, h->label,
                  (LogKV[]) { { "hook", hook_names[h->kind] }, {} },
                  "%s hook timed out after %ss, sending SIGTERM to process group %d",
                  hook_names[h->kind], dur, (int) h->pid);
        h->timed_out = true;
        hook_terminate(h, h->kill_after / 1000 + 1);
}

static void hook_spawn(Hook *h) {
        JobConfig hc = *h->cfg;
        _cleanup_free_ char *error = NULL;
        char **envp = NULL;
        int r, out_fd, err_fd;

        if (h->n->stopping) {
                hook_end(h, "the daemon is stopping");
                return;
        }
        if (h->output_fd >= 0) {
                if (h->has_creds && h->creds.switch_ids &&
                    fchown(h->output_fd, h->creds.uid, h->creds.gid) < 0)
                        log_event(LOG_WARNING, "hook_output_file", h->job, h->label, NULL,
                                  "cannot give '%s' to the job's user, ignoring: %m",
                                  h->output_path);
                (void) close(h->output_fd);
                h->output_fd = -1;
        }
        r = spawn_build_env(h->cfg, h->has_creds ? &h->creds : NULL, h->n->withheld, h->extra,
                            &envp);
        if (r < 0) {
                hook_end(h, strerror(-r));
                return;
        }
        /* The job as it is, with the hook's command. */
        hc.argv = h->hcfg->argv;
        hc.shell = false;       /* a hook's argv is whole: a string command is /bin/sh -c CMD */
        r = spawn_job(&hc, h->has_creds ? &h->creds : NULL, envp, &h->pid, &out_fd, &err_fd,
                      &error);
        free(envp);
        hook_release(h);
        if (r < 0) {
                hook_end(h, error ?: strerror(-r));
                return;
        }
        h->pending = 3;
        (void) output_init(h->n->loop, &h->out, h->job, h->label, LOG_STREAM_STDOUT,
                           hook_on_output_closed);
        (void) output_init(h->n->loop, &h->err, h->job, h->label, LOG_STREAM_STDERR,
                           hook_on_output_closed);
        h->child = (ReaperChild) { .pid = h->pid, .on_exit = hook_on_exit };
        reaper_watch(&h->child);
        guard_group(h->pid, true);
        h->alive = true;
        (void) output_start(&h->out, out_fd);
        (void) output_start(&h->err, err_fd);
        log_event(LOG_INFO, "hook_started", h->job, h->label,
                  (LogKV[]) { { "hook", hook_names[h->kind] }, {} },
                  "%s hook started pid=%d", hook_names[h->kind], (int) h->pid);
        uv_update_time(h->n->loop);
        (void) uv_timer_start(&h->timer, hook_on_timeout, h->timeout / 1000 + 1, 0);
}

static void hook_lookup_work(uv_work_t *w) {
        Hook *h = container_of(w, Hook, lookup);

        h->lookup_result = spawn_lookup_creds(h->cfg, &h->creds, &h->lookup_error);
}

static void hook_lookup_done(uv_work_t *w, int status) {
        Hook *h = container_of(w, Hook, lookup);
        int r = status < 0 ? status : h->lookup_result;

        if (r < 0) {
                hook_end(h, h->lookup_error ?: strerror(-r));
                return;
        }
        h->has_creds = true;
        hook_spawn(h);
}

/* The tail in a new private file; its path goes to SOLOCRON_OUTPUT_FILE. */
static int hook_output_file(Hook *h, const NotifyFacts *f) {
        const char *dir = getenv("TMPDIR");
        int fd;

        if (asprintf(&h->output_path, "%s/solocron-output-XXXXXX",
                     dir && dir[0] == '/' ? dir : "/tmp") < 0) {
                h->output_path = NULL;
                return -ENOMEM;
        }
        fd = mkostemp(h->output_path, O_CLOEXEC);       /* mode 0600 */
        if (fd < 0) {
                h->output_path = mfree(h->output_path);
                return -errno;
        }
        h->output_fd = fd;
        return write_all(fd, f->output, f->output_len);
}

static char *envf(const char *fmt, ...) _printf_(1, 2);
static char *envf(const char *fmt, ...) {
        va_list ap;
        char *s;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        return s;
}

void notify_hook_start(Notifier *n, const JobConfig *job, const HookConfig *hc, HookKind kind,
                       const NotifyFacts *f, void *hold, void (*release)(void *hold)) {
        char dur[32], sig[24] = "", status[24] = "", sched[RFC3339_UTC_MAX];
        size_t e = 0;
        Hook *h;
        int r;

        if (n->stopping || n->closing || n->n_pending >= NOTIFY_MAX_PENDING) {
                log_event(LOG_WARNING, "hook_failed", job->name, f->run_id,
                          (LogKV[]) { { "hook", hook_names[kind] }, {} },
                          "%s hook not started: %s", hook_names[kind],
                          n->n_pending >= NOTIFY_MAX_PENDING ? "too many notifications pending"
                                                             : "the daemon is stopping");
                notifier_count(n, NOTIFY_CHANNEL_HOOK, false);
                if (release)
                        release(hold);
                return;
        }
        h = calloc(1, sizeof(Hook));
        if (!h) {
                notifier_count(n, NOTIFY_CHANNEL_HOOK, false);
                if (release)
                        release(hold);
                return;
        }
        *h = (Hook) { .n = n, .kind = kind, .cfg = job, .hcfg = hc, .hold = hold,
                      .release = release, .timeout = hc->timeout,
                      .kill_after = job->policy->kill_after, .output_fd = -1,
                      .exit_status = -1 };
        (void) uv_timer_init(n->loop, &h->timer);
        h->timer.data = h;
        LIST_PREPEND(n->hooks, h);
        n->n_pending++;

        notify_format_seconds(f->duration_usec, dur);
        if (f->term_signal)
                (void) snprintf(sig, sizeof(sig), "SIG%s", sigabbrev_np(f->term_signal) ?: "?");
        if (f->exit_status >= 0)
                (void) snprintf(status, sizeof(status), "%lld", (long long) f->exit_status);
        format_rfc3339_utc(f->scheduled, sched);
        h->job = strdup(job->name);
        h->label = f->run_id ? envf("%s/%s", f->run_id, hook_names[kind])
                             : strdup(hook_names[kind]);
        if (!h->job || !h->label) {
                hook_end(h, "out of memory");
                return;
        }
        r = hook_output_file(h, f);
        if (r < 0) {
                log_event(LOG_WARNING, "hook_output_file", h->job, h->label, NULL,
                          "cannot write the output file, the hook runs without it: %s",
                          strerror(-r));
                if (h->output_fd >= 0)
                        (void) close(h->output_fd);
                h->output_fd = -1;
                if (h->output_path)
                        (void) unlink(h->output_path);
                h->output_path = mfree(h->output_path);
        }
        h->extra[e++] = envf("SOLOCRON_JOB=%s", job->name);
        h->extra[e++] = envf("SOLOCRON_RUN_ID=%s", f->run_id ?: "");
        h->extra[e++] = envf("SOLOCRON_EVENT=%s", f->event);
        h->extra[e++] = envf("SOLOCRON_RESULT=%s", f->result);
        h->extra[e++] = envf("SOLOCRON_EXIT_STATUS=%s", status);
        h->extra[e++] = envf("SOLOCRON_SIGNAL=%s", sig);
        h->extra[e++] = envf("SOLOCRON_DURATION=%s", dur);
        h->extra[e++] = envf("SOLOCRON_ATTEMPT=%u", f->attempt);
        h->extra[e++] = envf("SOLOCRON_HOST=%s", f->host);
        h->extra[e++] = envf("SOLOCRON_SCHEDULED_TIME=%s", sched);
        h->extra[e++] = envf("SOLOCRON_OUTPUT_FILE=%s", h->output_path ?: "");
        for (size_t i = 0; i < e; i++)
                if (!h->extra[i]) {
                        hook_end(h, "out of memory");
                        return;
                }
        if (!job->policy->user && !job->policy->group) {
                hook_spawn(h);
                return;
        }
        r = uv_queue_work(n->loop, &h->lookup, hook_lookup_work, hook_lookup_done);
        if (r < 0)
                hook_end(h, strerror(-r));
}

/* Shutdown: SIGTERM to every hook, SIGKILL after NOTIFY_STOP_KILL_MSEC. */
void notify_hook_stop(Notifier *n) {
        for (Hook *h = n->hooks; h; h = h->next)
                if (h->alive && !h->killed)
                        hook_terminate(h, NOTIFY_STOP_KILL_MSEC);
}

/* Closing: SIGKILL what is left (the reaper still runs). */
void notify_hook_close(Notifier *n) {
        for (Hook *h = n->hooks; h; h = h->next)
                if (h->alive) {
                        h->killed = true;
                        (void) spawn_kill_group(h->pid, SIGKILL);
                }
}
