/* SPDX-License-Identifier: MIT */
/* The missed-firing alarm of the S3 lease backend (check_missed, see lease.h and
 * daemon/core/missed.c):
 *   GET KEY          2xx: a final record → done; running and renewed within ttl +
 *                    max_clock_skew by the server's clock → running; else abandoned.
 *                    404 → none.
 *   GET the pause    (none or abandoned only) PREFIX/:paused/JOB there → paused.
 *   PUT the alarm    (asked to raise only) PREFIX/:missed/JOB/SCHEDULED with If-None-Match: *:
 *                    2xx → raised; 412 → another replica raised it.
 * Steady state (a firing that ran or runs): one GET per check. S3 has no condition across
 * two objects, so a takeover that writes KEY between the GET and the PUT is not seen: the core
 * raises a takeover: true firing only after the takeover had its time. The markers are small
 * and never deleted by solocron: an S3 lifecycle rule on PREFIX/:missed/ expires them
 * (solocron.yaml(5)). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lease_s3_internal.h"
#include "list.h"
#include "macro.h"

#define MISSED_RETRIES_MAX      3

static const char store_closing[] = "the S3 lease store is closing";

typedef enum MissedStep {
        MISSED_RECORD,
        MISSED_PAUSE,
        MISSED_RAISE,
} MissedStep;

struct S3Missed {               /* on store->missed until answered, which frees it */
        S3Store *store;
        S3Missed *prev, *next;
        MissedStep step;
        LeaseFiringState state;
        bool raise;
        char *job, *key, *alarm_key;
        char *body;             /* the alarm marker's */
        uint64_t deadline_ms;
        unsigned retries;       /* transient failures retried at once so far */
        S3Op *op;
        lease_missed_cb done;
        void *userdata;
};

static void missed_answer(S3Missed *m, LeaseFiringState state, bool raised, const char *error) {
        LIST_UNLINK(m->store->missed, m);
        s3_request_cancel(m->op);
        m->op = NULL;
        m->done(state, raised, error, m->userdata);
        free(m->job);
        free(m->key);
        free(m->alarm_key);
        free(m->body);
        free(m);
}

static void missed_fail(S3Missed *m, const S3Response *r) {
        char why[LEASE_S3_DETAIL_MAX];

        (void) snprintf(why, sizeof(why), "%s", r->message ? r->message : "unexpected answer");
        missed_answer(m, LEASE_FIRING_NONE, false, why);
}

static void missed_on_answer(const S3Response *r, void *userdata);

static void missed_step(S3Missed *m, MissedStep step) {
        int k;

        m->step = step;
        switch (step) {
        case MISSED_RECORD:
                k = s3_request_start(m->store->s3, &(S3Request) {
                                             .method = HTTP_GET,
                                             .key = m->key,
                                             .max_body = LEASE_S3_RECORD_MAX,
                                             .timeout_ms = lease_s3_timeout_until(m->store, m->deadline_ms),
                                             .done = missed_on_answer,
                                             .userdata = m,
                                     }, &m->op);
                break;
        case MISSED_PAUSE:
                k = lease_s3_marker_get(m->store, m->job,
                                        lease_s3_timeout_until(m->store, m->deadline_ms),
                                        missed_on_answer, m, &m->op);
                break;
        default:
                k = s3_request_start(m->store->s3, &(S3Request) {
                                             .method = HTTP_PUT,
                                             .key = m->alarm_key,
                                             .if_none_match = true,
                                             .body = m->body,
                                             .body_size = strlen(m->body),
                                             .content_type = "application/json",
                                             .timeout_ms = lease_s3_timeout_until(m->store, m->deadline_ms),
                                             .done = missed_on_answer,
                                             .userdata = m,
                                     }, &m->op);
                break;
        }
        if (k < 0) {
                m->op = NULL;
                missed_answer(m, LEASE_FIRING_NONE, false, strerror(-k));
        }
}

static void missed_on_answer(const S3Response *r, void *userdata) {
        S3Missed *m = userdata;
        json_t *rec;

        m->op = NULL;
        /* 409 ConditionalRequestConflict (another replica's PUT of the marker in flight), a
         * 5xx, no answer: again at once, a few times within election_timeout; the core asks
         * again later after that. */
        if (lease_s3_is_transient(r) && m->retries < MISSED_RETRIES_MAX &&
            lease_s3_now_ms(m->store) < m->deadline_ms) {
                m->retries++;
                return missed_step(m, m->step);
        }
        switch (m->step) {
        case MISSED_RECORD:
                if (r->error == 0 && lease_s3_is_no_such_key(r))
                        m->state = LEASE_FIRING_NONE;
                else if (!lease_s3_is_2xx(r))
                        return missed_fail(m, r);
                else {
                        rec = lease_s3_record_parse(r);
                        m->state = !rec || !lease_s3_record_running(rec) ? LEASE_FIRING_DONE :
                                   lease_s3_is_expired(m->store, r) ? LEASE_FIRING_ABANDONED :
                                   LEASE_FIRING_RUNNING;
                        json_decref(rec);
                        if (m->state != LEASE_FIRING_ABANDONED)
                                return missed_answer(m, m->state, false, NULL);
                }
                return missed_step(m, MISSED_PAUSE);
        case MISSED_PAUSE:
                if (lease_s3_is_2xx(r))
                        return missed_answer(m, LEASE_FIRING_PAUSED, false, NULL);
                if (!(r->error == 0 && lease_s3_is_no_such_key(r)))
                        return missed_fail(m, r);
                if (!m->raise)
                        return missed_answer(m, m->state, false, NULL);
                return missed_step(m, MISSED_RAISE);
        default:
                if (lease_s3_is_2xx(r))
                        return missed_answer(m, m->state, true, NULL);
                if (r->error == 0 && r->status == 412)
                        return missed_answer(m, m->state, false, NULL);
                return missed_fail(m, r);
        }
}

void lease_s3_check_missed(LeaseStore *store, const LeaseRequest *req, bool raise,
                           lease_missed_cb done, void *userdata) {
        S3Store *s = container_of(store, S3Store, store);
        char when[RFC3339_UTC_MAX], at[RFC3339_UTC_MAX];
        S3Missed *m;
        json_t *v;

        if (s->closing) {
                done(LEASE_FIRING_NONE, false, store_closing, userdata);
                return;
        }
        m = calloc(1, sizeof(S3Missed));
        if (!m) {
                done(LEASE_FIRING_NONE, false, "out of memory", userdata);
                return;
        }
        *m = (S3Missed) { .store = s, .raise = raise, .done = done, .userdata = userdata,
                          .deadline_ms = lease_s3_now_ms(s) + MSEC(s->election_timeout) };
        LIST_PREPEND(s->missed, m);
        format_rfc3339_utc(req->scheduled, when);
        m->job = strdup(req->job);
        if (lease_s3_key(s, &(LeaseRequest) { .job = req->job, .scheduled = req->scheduled },
                         &m->key) < 0)
                m->key = NULL;
        if (asprintf(&m->alarm_key, "%s/:missed/%s/%s", s->prefix, req->job, when) < 0)
                m->alarm_key = NULL;
        v = json_pack("{s:s,s:s,s:s,s:I,s:s}", "job", req->job, "scheduled", when,
                      "by", s->hostname, "pid", (json_int_t) s->pid,
                      "at", format_rfc3339_utc(s3_client_now(s->s3), at));
        m->body = v ? json_dumps(v, JSON_COMPACT) : NULL;
        json_decref(v);
        if (!m->job || !m->key || !m->alarm_key || !m->body)
                return missed_answer(m, LEASE_FIRING_NONE, false, "out of memory");
        missed_step(m, MISSED_RECORD);
}

void lease_s3_missed_stop(S3Store *s) {
        while (s->missed)
                missed_answer(s->missed, LEASE_FIRING_NONE, false, store_closing);
}
