/* SPDX-License-Identifier: MIT */
/* One run of a job for one firing: its election, the jitter wait, the attempts
 * (run_attempt.c), and its end: the proof of run, the summary line, the owner told. The run
 * is freed from its timer's close callback. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"
#include "macro.h"
#include "numfmt.h"
#include "output_object.h"
#include "run_internal.h"
#include "upload.h"
#include "wallclock.h"

static uint64_t usec_to_msec_ceil(usec_t u) {
        return u / 1000 + (u % 1000 != 0);
}

void run_timer_at_least(uv_timer_t *t, uv_timer_cb cb, usec_t u) {
        /* The loop's time was read when this iteration began, in whole milliseconds rounded
         * down: from the time now, and 1 ms more. */
        uv_update_time(t->loop);
        (void) uv_timer_start(t, cb, usec_to_msec_ceil(u) + 1, 0);
}

void run_format_duration(int64_t usec, char buf[static 32]) {
        size_t n;

        if (usec < 0)           /* only a cast "infinite" (usec_t) -1: "0.000s", as before */
                usec = 0;
        n = fmt_int(buf, usec / 1000000);
        buf[n] = '.';
        fmt_digits(buf + n + 1, (unsigned) (usec % 1000000 / 1000), 3);
        memcpy(buf + n + 4, "s", 2);
}

void run_format_status(const Run *r, char buf[static 24]) {
        if (r->term_signal)
                (void) snprintf(buf, 24, "SIG%s", sigabbrev_np(r->term_signal) ?: "?");
        else
                (void) fmt_int(buf, r->exit_status);
}

/* 64 random bits from a generator seeded once: a getrandom() per run was a system call per
 * firing. splitmix64 over a counter: its output is a bijection of a state that steps by an
 * odd constant, so a daemon never repeats an id, and ids of two daemons are as unlikely to
 * meet as any 64 random bits. */
static uint64_t run_random(void) {
        static uint64_t state;
        static bool seeded;
        uint64_t z;

        if (!seeded) {
                if (getrandom(&state, sizeof(state), GRND_NONBLOCK) != (ssize_t) sizeof(state))
                        state = uv_hrtime() ^ ((uint64_t) getpid() << 32);
                seeded = true;
        }
        z = (state += UINT64_C(0x9e3779b97f4a7c15));
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

static void run_new_id(char id[static 17]) {
        static const char hex[] = "0123456789abcdef";
        uint64_t x = run_random();

        for (int i = 15; i >= 0; i--, x >>= 4)
                id[i] = hex[x & 15];
        id[16] = 0;
}

static uint64_t random_below(uint64_t n) {
        return n == 0 ? 0 : run_random() % n;
}

/* How much of a run's output to keep: the most any of its consumers needs, 0 for a job
 * that needs none (no buffer is ever allocated then). */
static size_t run_capture_cap(const JobConfig *cfg) {
        size_t notify = notifier_capture_size(cfg);
        size_t upload = cfg->policy->output ? (size_t) cfg->policy->output->max_size : 0;

        return notify > upload ? notify : upload;
}

static void run_on_hold_released(void *t) {
        table_unref(t);
}

void run_notify(Run *r, NotifyKind kind, const char *result, bool recovered) {
        if (!r->env->notifier || !r->cfg->policy->notify)
                return;
        if (kind == NOTIFY_FAILURE && !r->start_notified && strcmp(result, "terminated") == 0)
                return;         /* stopped before it started: nothing began, nothing ends */
        notifier_event(r->env->notifier, r->cfg, &(NotifyEvent) {
                        .kind = kind, .run_id = r->id, .result = result,
                        .exit_status = r->term_signal ? -1 : r->exit_status,
                        .term_signal = r->term_signal,
                        .duration_usec = r->env->now_usec() - r->run_start_usec,
                        .attempt = r->attempt, .scheduled = r->firing.f.t,
                        .recovered = recovered, .output = &r->capture,
                        .hold = table_ref(r->table), .release = run_on_hold_released });
}

/* --- the end ------------------------------------------------------------------------- */

static void run_on_timer_closed(uv_handle_t *h) {
        Run *r = h->data;

        spawn_creds_done(&r->creds);
        capture_done(&r->capture);
        elect_done(&r->election);
        table_unref(r->table);
        free(r->manual);
        free(r);
}

/* The run is over; it goes once its timer has closed. */
static void run_close(Run *r) {
        r->phase = RUN_CLOSING;
        if (r->watch)
                r->watch->ended(r, r->watch->userdata);
        r->owner->ended(r, r->owner_userdata);
        uv_close((uv_handle_t *) &r->timer, run_on_timer_closed);
}

static void run_log_summary(Run *r, const char *result) {
        int64_t dur = r->env->now_usec() - r->run_start_usec;
        char sched[RFC3339_UTC_MAX], status[24], duration[32], attempts[FMT_INT_MAX],
             usec[FMT_INT_MAX];

        format_rfc3339_utc(r->firing.f.t, sched);
        run_format_status(r, status);
        run_format_duration(dur, duration);
        (void) fmt_int(usec, dur);
        (void) fmt_uint(attempts, r->attempt);
        log_event(strcmp(result, "succeeded") == 0 ? LOG_INFO : LOG_ERR, "run_finished", r->job,
                  r->id,
                  (LogKV[]) { { "result", result }, { "status", status }, { "duration", duration },
                              { "duration_usec", usec }, { "attempts", attempts },
                              { "scheduled", sched }, {} },
                  "finished");
}

/* output: {s3: …}: the run's captured output goes to its object; the upload runs on its
 * own (upload.h). *ret_where: the object, for the proof-of-run record; NULL: none. */
static void run_keep_output(Run *r, char **ret_where) {
        const OutputS3Config *o = r->cfg->policy->output;
        _cleanup_free_ char *key = NULL, *body = NULL;
        uint64_t cut;
        size_t size;
        bool gzip;

        *ret_where = NULL;
        if (!o || !r->env->uploads || r->attempt_start_usec == 0)
                return;         /* no output kept, or no attempt ever started */
        gzip = o->gzip && uploads_gzip_available();
        key = output_object_key(o->prefix, r->job, r->firing.f.t, r->manual,
                                r->cfg->policy->no_lease ? r->env->hostname : NULL, gzip);
        if (!key || output_body_build(&r->capture, (size_t) o->max_size, &body, &size, &cut) < 0 ||
            asprintf(ret_where, "s3://%s/%s", o->bucket, key) < 0) {
                *ret_where = NULL;
                log_event(LOG_ERR, "output_upload_failed", r->job, r->id, NULL,
                          "OUTPUT NOT KEPT: out of memory");
                return;
        }
        uploads_submit(r->env->uploads, &(UploadRequest) {
                        .cfg = o, .job = r->job, .run_id = r->id, .key = key,
                        .body = TAKE_PTR(body), .size = size, .cut = cut, .gzip = gzip });
}

void run_finish(Run *r, const char *result) {
        int64_t duration = r->env->now_usec() - r->run_start_usec;
        _cleanup_free_ char *output = NULL;

        run_keep_output(r, &output);
        elect_finish(&r->election, &(LeaseEnd) {
                        .result = result,
                        .exit_status = r->term_signal ? 128 + r->term_signal : r->exit_status,
                        .duration_msec = duration / 1000,
                        .output = output });
        run_log_summary(r, result);
        if (r->watch)
                r->watch->finished(r, result, r->watch->userdata);
        r->owner->finished(r, result, r->owner_userdata);
        run_close(r);
}

/* --- the start ----------------------------------------------------------------------- */

static void run_on_jitter(uv_timer_t *t) {
        run_attempt(t->data);
}

/* The jitter wait, then the first attempt. */
static void run_go(Run *r) {
        if (r->cfg->policy->jitter > 0) {
                uint64_t delay = random_below(r->cfg->policy->jitter);
                char dur[32];

                run_format_duration((int64_t) delay, dur);
                log_event(LOG_INFO, "run_jitter", r->job, r->id, NULL, "starting in %s (jitter)",
                          dur);
                (void) uv_timer_start(&r->timer, run_on_jitter, delay / 1000, 0);
        } else
                run_attempt(r);
}

void run_due(Run *r) {
        if (!r->ahead)
                return;
        r->ahead = false;
        if (r->phase == RUN_WAITING) {          /* won: it starts now */
                (void) uv_timer_stop(&r->timer);
                r->run_start_usec = r->env->now_usec();
                run_go(r);
        }
        /* still electing: run_begin() starts it once won */
}

static void run_on_due(uv_timer_t *t) {
        run_due(t->data);
}

/* Elected: the wait for the instant (elected ahead), the jitter wait, then the first
 * attempt. The daemon's wall clock wakes at the instant and calls run_due(); the timer is
 * the backstop for a run whose job a reload removed meanwhile (up to 2 ms late: it never
 * starts the job before its instant). */
static void run_begin(Run *r) {
        r->phase = RUN_WAITING;
        r->owner->won(r, r->owner_userdata);
        if (r->ahead) {
                int64_t wait = r->firing.f.t * (int64_t) USEC_PER_SEC - wallclock_now_usec();

                if (wait > 0) {
                        run_timer_at_least(&r->timer, run_on_due, (usec_t) wait);
                        return;
                }
                r->ahead = false;
        }
        run_go(r);
}

static void run_on_decided(Election *e, bool run) {
        Run *r = container_of(e, Run, election);

        if (r->watch)
                r->watch->decided(r, run, r->watch->userdata);
        if (run)
                run_begin(r);
        else
                run_close(r);           /* it never ran here: no summary */
}

static void run_on_stagger(uv_timer_t *t) {
        Run *r = t->data;

        elect_resume(&r->election);
}

/* A lower rank's wait before its claim (core/elect.c): the run's timer is free until the
 * election is over. */
static void run_on_elect_wait(Election *e, uint64_t msec) {
        Run *r = container_of(e, Run, election);

        (void) uv_timer_start(&r->timer, run_on_stagger, msec, 0);
}

static void run_on_lease_lost(Election *e, const char *why) {
        Run *r = container_of(e, Run, election);

        if (r->cfg->policy->on_lease_lost == LEASE_LOST_CONTINUE) {
                log_event(LOG_ERR, "lease_lost", r->job, r->id, NULL,
                          "LEASE LOST (%s); the run goes on (on_lease_lost: continue): another "
                          "replica may run this firing too", why);
                return;
        }
        log_event(LOG_ERR, "lease_lost", r->job, r->id, NULL,
                  "LEASE LOST (%s); terminating the run (on_lease_lost: kill)", why);
        run_terminate(r, SIGTERM, r->cfg->policy->kill_after);
}

int run_new(CoreEnv *env, const RunOwner *owner, void *owner_userdata, Table *t,
            const JobConfig *cfg, const char *job, const RunRequest *req, Run **ret) {
        Run *r = calloc(1, sizeof(Run));
        int k;

        if (!r)
                return -ENOMEM;
        *r = (Run) { .job = job, .firing = req->firing, .phase = RUN_ELECTING,
                     .attempt = req->takeover ? 2 : 1, .env = env, .owner = owner,
                     .owner_userdata = owner_userdata,
                     .table = table_ref(t), .cfg = cfg, .catch_up = req->catch_up,
                     .takeover = req->takeover, .watch = req->watch, .ahead = req->ahead,
                     .run_start_usec = env->now_usec() };
        run_new_id(r->id);
        capture_init(&r->capture, run_capture_cap(cfg));
        if (req->manual && !(r->manual = strdup(req->manual))) {
                table_unref(r->table);
                free(r);
                return -ENOMEM;
        }
        r->election = (Election) { .env = env, .cfg = cfg, .job = job, .run_id = r->id,
                                   .firing = req->firing, .attempt = r->attempt,
                                   .takeover = req->takeover, .manual = r->manual,
                                   .stand_in = req->stand_in, .on_decided = run_on_decided,
                                   .on_lost = run_on_lease_lost, .on_wait = run_on_elect_wait };
        k = uv_timer_init(env->loop, &r->timer);
        if (k < 0) {
                table_unref(r->table);
                free(r->manual);
                free(r);
                return k;
        }
        r->timer.data = r;
        *ret = r;
        return 0;
}

void run_start(Run *r) {
        bool run;

        if (elect_start(&r->election, &run))
                run_on_decided(&r->election, run);
        /* else run_on_decided() follows */
}

void run_terminate(Run *r, int sig, usec_t escalate_after) {
        r->no_retry = true;
        switch (r->phase) {
        case RUN_ELECTING:
                (void) uv_timer_stop(&r->timer);        /* a lower rank's wait */
                elect_cancel(&r->election);
                r->terminated = true;
                run_close(r);
                return;
        case RUN_WAITING:
        case RUN_BACKOFF:
                /* No process: the run ends here. */
                r->terminated = true;
                (void) uv_timer_stop(&r->timer);
                run_finish(r, r->phase == RUN_WAITING ? "cancelled" : "terminated");
                return;
        case RUN_STARTING:
        case RUN_RUNNING:
                run_attempt_terminate(r, sig, escalate_after);
                return;
        case RUN_CLOSING:
                return;
        }
}
