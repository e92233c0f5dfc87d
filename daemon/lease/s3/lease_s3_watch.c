/* SPDX-License-Identifier: MIT */
/* Watching a firing held elsewhere, for takeover: GET its record every ttl/2 (every 250 ms
 * around the moment it would expire) and call ended(true) once when the record says running
 * but, by the server's clock (the answer's Date against the object's Last-Modified), has not
 * been renewed for ttl + max_clock_skew. A finished, deleted or unreadable record ends the
 * watch with ended(false). The daemon then claims with takeover set; lease_s3_claim.c checks expiry
 * again before it writes. */
#include <errno.h>
#include <stdlib.h>

#include "lease_s3_internal.h"
#include "list.h"
#include "macro.h"

static void lease_s3_on_watch_timer(uv_timer_t *t);
static void lease_s3_on_watch_read(const S3Response *r, void *userdata);

static void lease_s3_on_watch_closed(uv_handle_t *h) {
        LeaseWatch *w = container_of((uv_timer_t *) h, LeaseWatch, timer);
        S3Store *s = w->store;

        free(w->key);
        free(w);
        s->n_handles--;
        lease_s3_maybe_closed(s);
}

void lease_s3_watch_stop(LeaseWatch *w) {
        S3Store *s;

        if (!w || w->gone)
                return;
        s = w->store;
        w->gone = true;
        s3_request_cancel(w->op);
        w->op = NULL;
        LIST_UNLINK(s->watches, w);
        s->n_handles++;
        uv_close((uv_handle_t *) &w->timer, lease_s3_on_watch_closed);
}

static void lease_s3_on_watch_timer(uv_timer_t *t) {
        LeaseWatch *w = container_of(t, LeaseWatch, timer);
        uint64_t half = MSEC(w->store->ttl) / 2;
        int r;

        r = s3_request_start(w->store->s3, &(S3Request) {
                                     .method = HTTP_GET,
                                     .key = w->key,
                                     .max_body = LEASE_S3_RECORD_MAX,
                                     .timeout_ms = half > LEASE_S3_TIMEOUT_MAX_MS ?
                                                   LEASE_S3_TIMEOUT_MAX_MS :
                                                   half < LEASE_S3_TIMEOUT_MIN_MS ?
                                                   LEASE_S3_TIMEOUT_MIN_MS : (uint32_t) half,
                                     .done = lease_s3_on_watch_read,
                                     .userdata = w,
                             }, &w->op);
        if (r < 0) {
                w->op = NULL;
                (void) uv_timer_start(&w->timer, lease_s3_on_watch_timer, half, 0);
        }
}

static void lease_s3_on_watch_read(const S3Response *r, void *userdata) {
        LeaseWatch *w = userdata;
        S3Store *s = w->store;
        uint64_t next = MSEC(s->ttl) / 2;
        json_t *rec;
        bool running;

        w->op = NULL;
        if (r->error == 0 && r->status == 404) {
                w->done = true;         /* nothing to take over */
                w->ended(false, w->userdata);
                return;
        }
        rec = lease_s3_is_2xx(r) ? lease_s3_record_parse(r) : NULL;
        if (lease_s3_is_2xx(r) && !rec) {
                w->done = true;         /* not a record we understand: never taken over */
                w->ended(false, w->userdata);
                return;
        }
        if (rec) {
                running = lease_s3_record_running(rec);
                json_decref(rec);
                if (!running) {
                        w->done = true; /* it ended: nothing will expire */
                        w->ended(false, w->userdata);
                        return;
                }
                if (lease_s3_is_expired(s, r)) {
                        w->done = true;
                        w->ended(true, w->userdata);
                        return;
                }
                if (r->date >= 0 && r->last_modified >= 0 && r->date >= r->last_modified) {
                        /* Date and Last-Modified are whole seconds: it expires when Date -
                         * Last-Modified reaches k, somewhere in the second after the one we
                         * can compute. Near that moment, look every 250 ms. */
                        uint64_t k = (s->ttl + s->skew) / USEC_PER_SEC + 1;
                        uint64_t age = (uint64_t) (r->date - r->last_modified);
                        uint64_t left = age + 1 < k ? (k - age - 1) * 1000 + 250 : 250;

                        if (left < next)
                                next = left;
                }
        }
        /* Errors: look again later. */
        (void) uv_timer_start(&w->timer, lease_s3_on_watch_timer, next, 0);
}

int lease_s3_watch_start(LeaseStore *store, const LeaseRequest *req,
                         void (*ended)(bool holder_died, void *userdata), void *userdata,
                         LeaseWatch **ret) {
        S3Store *s = container_of(store, S3Store, store);
        LeaseWatch *w;
        int r;

        if (s->closing)
                return -ESHUTDOWN;
        if (!ended)
                return -EINVAL;
        w = calloc(1, sizeof(LeaseWatch));
        if (!w)
                return -ENOMEM;
        r = lease_s3_key(s, req, &w->key);
        if (r < 0) {
                free(w);
                return r;
        }
        w->store = s;
        w->ended = ended;
        w->userdata = userdata;
        (void) uv_timer_init(s->loop, &w->timer);
        LIST_PREPEND(s->watches, w);
        (void) uv_timer_start(&w->timer, lease_s3_on_watch_timer, 0, 0);
        *ret = w;
        return 0;
}
