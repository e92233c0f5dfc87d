/* SPDX-License-Identifier: MIT */
/* The members of an S3 fleet, for ranking firings (core/elect.c). A daemon that joins writes
 * a heartbeat object, PREFIX/:members/HOST:PID, every ttl/3 (a PUT, no condition), and
 * deletes it when it closes. members() answers from the last listing of PREFIX/:members/ and
 * starts a new one (one ListObjectsV2 page) only when a firing asks and that listing is
 * older than ttl/3: no listing while nothing fires. A member is live when its heartbeat's
 * Last-Modified is within ttl + max_clock_skew of the listing's Date, both the server's
 * clock. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lease_s3_internal.h"
#include "macro.h"
#include "strv.h"

#define MEMBERS_MAX     1000U           /* one listing page */

static void heartbeat(S3Store *s);

static void on_heartbeat_timer(uv_timer_t *t) {
        heartbeat(t->data);
}

static void on_heartbeat(const S3Response *r, void *userdata) {
        S3Store *s = userdata;

        (void) r;                       /* a failure: the next one, ttl/3 later */
        s->heartbeat_op = NULL;
        if (!s->closing)
                (void) uv_timer_start(&s->member_timer, on_heartbeat_timer,
                                      MSEC(s->ttl) / 3, 0);
}

static void heartbeat(S3Store *s) {
        char now[RFC3339_UTC_MAX], body[512];
        int r;

        (void) snprintf(body, sizeof(body), "{\"hostname\":\"%s\",\"pid\":%" PRIi64
                        ",\"at\":\"%s\"}", s->hostname, s->pid,
                        format_rfc3339_utc(s3_client_now(s->s3), now));
        r = s3_request_start(s->s3, &(S3Request) {
                                     .method = HTTP_PUT,
                                     .key = s->member_key,
                                     .body = body,
                                     .body_size = strlen(body),
                                     .content_type = "application/json",
                                     .timeout_ms = (uint32_t) (MSEC(s->ttl) / 3),
                                     .done = on_heartbeat,
                                     .userdata = s,
                             }, &s->heartbeat_op);
        if (r < 0) {
                s->heartbeat_op = NULL;
                if (!s->closing)
                        (void) uv_timer_start(&s->member_timer, on_heartbeat_timer,
                                              MSEC(s->ttl) / 3, 0);
        }
}

void lease_s3_join(LeaseStore *store, const LeaseFleetCallbacks *cb) {
        S3Store *s = container_of(store, S3Store, store);

        (void) cb;      /* no turns are handed on: nothing can reach a member unasked */

        if (s->joined || s->closing)
                return;
        if (!s->member_id &&
            (asprintf(&s->member_id, "%s:%" PRIi64, s->hostname, s->pid) < 0 ||
             asprintf(&s->member_key, "%s/:members/%s", s->prefix, s->member_id) < 0 ||
             asprintf(&s->members_prefix, "%s/:members/", s->prefix) < 0))
                return;                 /* out of memory: not ranked, every claim at once */
        (void) uv_timer_init(s->loop, &s->member_timer);
        s->member_timer.data = s;
        s->joined = true;
        /* From the loop. */
        (void) uv_timer_start(&s->member_timer, on_heartbeat_timer, 0, 0);
}

typedef struct Listing {
        S3Store *store;
        int64_t date;
        char **ids;
        size_t n;
} Listing;

static int members_on_key(const char *key, int64_t last_modified, void *userdata) {
        Listing *l = userdata;
        S3Store *s = l->store;
        size_t plen = strlen(s->members_prefix);

        if (strncmp(key, s->members_prefix, plen) != 0 || !key[plen] || l->n >= MEMBERS_MAX)
                return 0;
        if (l->date >= 0 && last_modified >= 0 && l->date > last_modified &&
            (usec_t) (l->date - last_modified) * USEC_PER_SEC > s->ttl + s->skew)
                return 0;               /* no heartbeat for longer than a lease lives */
        return strv_push(&l->ids, &l->n, strdup(key + plen));
}

static void on_members_listed(const S3Response *r, void *userdata) {
        S3Store *s = userdata;
        Listing l = { .store = s, .date = r->date };
        char *token = NULL;

        s->members_op = NULL;
        if (!lease_s3_is_2xx(r) || lease_s3_list_parse(r, members_on_key, &l, &token) < 0) {
                strv_free(l.ids);       /* keep the last list; try again at the next firing */
                free(token);
                return;
        }
        free(token);
        strv_free(s->members);
        s->members = l.ids;
        s->n_members = l.n;
        s->members_listed_ms = lease_s3_now_ms(s);
}

size_t lease_s3_members(LeaseStore *store, const char *const **ret_ids, const char **ret_self) {
        S3Store *s = container_of(store, S3Store, store);
        uint64_t now = lease_s3_now_ms(s);

        if (!s->joined)
                return 0;
        if (!s->members_op && !s->closing &&
            (!s->members_listed_ms || now - s->members_listed_ms >= MSEC(s->ttl) / 3) &&
            lease_s3_list(s, &(LeaseS3List) { .prefix = s->members_prefix,
                                               .timeout_ms = (uint32_t) MSEC(s->election_timeout),
                                               .done = on_members_listed, .userdata = s },
                          &s->members_op) < 0)
                s->members_op = NULL;
        *ret_ids = (const char *const *) s->members;
        *ret_self = s->member_id;
        return s->n_members;    /* the last listing: this firing's ranking does not wait */
}

static void on_member_timer_closed(uv_handle_t *h) {
        S3Store *s = h->data;

        s->n_handles--;
        lease_s3_maybe_closed(s);
}

static void on_member_deleted(const S3Response *r, void *userdata) {
        S3Store *s = userdata;

        (void) r;
        s->heartbeat_op = NULL;
        s->n_handles--;
        lease_s3_maybe_closed(s);
}

void lease_s3_members_stop(S3Store *s) {
        int r;

        if (!s->joined)
                return;
        s->joined = false;
        s3_request_cancel(s->heartbeat_op);
        s->heartbeat_op = NULL;
        s3_request_cancel(s->members_op);
        s->members_op = NULL;
        s->n_handles++;
        uv_close((uv_handle_t *) &s->member_timer, on_member_timer_closed);
        /* Goodbye: the others drop us at their next listing rather than after ttl. */
        s->n_handles++;
        r = s3_request_start(s->s3, &(S3Request) {
                                     .method = HTTP_DELETE,
                                     .key = s->member_key,
                                     .timeout_ms = (uint32_t) MSEC(s->election_timeout),
                                     .done = on_member_deleted,
                                     .userdata = s,
                             }, &s->heartbeat_op);
        if (r < 0) {
                s->heartbeat_op = NULL;
                s->n_handles--;
        }
}

void lease_s3_members_free(S3Store *s) {
        strv_free(s->members);
        free(s->member_id);
        free(s->member_key);
        free(s->members_prefix);
}
