/* SPDX-License-Identifier: MIT */
/* The members of an S3 fleet and its pause markers, from one listing. A daemon that joins
 * writes a heartbeat object, PREFIX/:peers/HOST:PID, every ttl/3 (a PUT, no condition), and
 * deletes it when it closes. One ListObjectsV2 of PREFIX/:p finds both the heartbeats and the
 * pause markers (PREFIX/:paused/JOB; no other key of the store starts so), page by page. It
 * is started only when a firing asks (members() to rank it, or a claim's pause look) and
 * the last one is older than the window (ttl/3, at most 10 s): no listing while nothing
 * fires, and at most one per window however many firings there are.
 *
 * A member is live when its heartbeat's Last-Modified is within ttl + max_clock_skew of the
 * listing's Date, both the server's clock. Ranking uses the last listing and does not wait.
 * A claim's pause look (lease_s3_claim.c) trusts a listing asked for less than the window
 * ago: a job it does not show paused is not (a marker PUT before that listing was asked for
 * would be in it); one it shows paused is read (the marker may be gone: a resume takes at
 * once). A claim whose listing is older waits for the new one, and reads the marker when it
 * fails. So a pause reaches every replica within the window; set_paused answers once it
 * has (lease_s3_fleet.c). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lease_s3_internal.h"
#include "macro.h"
#include "strv.h"

#define MEMBERS_MAX             1000U   /* members a listing keeps */
#define LISTING_PAGES_MAX       10U     /* pages a listing reads at most */
#define LISTING_WINDOW_MAX_MS   10000U

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
             asprintf(&s->member_key, "%s/:peers/%s", s->prefix, s->member_id) < 0 ||
             asprintf(&s->members_prefix, "%s/:peers/", s->prefix) < 0 ||
             asprintf(&s->paused_prefix, "%s/:paused/", s->prefix) < 0 ||
             asprintf(&s->listing_prefix, "%s/:p", s->prefix) < 0))
                return;                 /* out of memory: not ranked, every claim at once */
        (void) uv_timer_init(s->loop, &s->member_timer);
        s->member_timer.data = s;
        s->joined = true;
        /* From the loop. */
        (void) uv_timer_start(&s->member_timer, on_heartbeat_timer, 0, 0);
}

/* ---- the fleet's listing: members and pause markers ---- */

/* How old a listing may be for a firing's pause look: ttl/3, at most 10 s. */
uint64_t lease_s3_listing_window_ms(const S3Store *s) {
        uint64_t w = MSEC(s->ttl) / 3;

        return w < LISTING_WINDOW_MAX_MS ? w : LISTING_WINDOW_MAX_MS;
}

struct S3Listing {                      /* one listing, page by page */
        char **ids, **paused;
        size_t n, n_paused;
        char *token;                    /* the next page's, or NULL: the first */
        unsigned pages;
        uint64_t sent_ms;               /* when its first page was asked for */
};

static void listing_free(S3Listing *l) {
        if (!l)
                return;
        strv_free(l->ids);
        strv_free(l->paused);
        free(l->token);
        free(l);
}

typedef struct Page {
        S3Store *store;
        S3Listing *l;
        int64_t date;
} Page;

static int listing_on_key(const char *key, int64_t last_modified, void *userdata) {
        Page *p = userdata;
        S3Store *s = p->store;
        S3Listing *l = p->l;
        size_t mlen = strlen(s->members_prefix), plen = strlen(s->paused_prefix);

        if (strncmp(key, s->paused_prefix, plen) == 0 && key[plen] && !strchr(key + plen, '/'))
                return strv_push(&l->paused, &l->n_paused, strdup(key + plen));
        if (strncmp(key, s->members_prefix, mlen) != 0 || !key[mlen] || l->n >= MEMBERS_MAX)
                return 0;
        if (p->date >= 0 && last_modified >= 0 && p->date > last_modified &&
            (usec_t) (p->date - last_modified) * USEC_PER_SEC > s->ttl + s->skew)
                return 0;               /* no heartbeat for longer than a lease lives */
        return strv_push(&l->ids, &l->n, strdup(key + mlen));
}

static void on_listed(const S3Response *r, void *userdata);

static int listing_page(S3Store *s) {
        int r = lease_s3_list(s, &(LeaseS3List) { .prefix = s->listing_prefix,
                                                   .token = s->listing->token,
                                                   .timeout_ms = (uint32_t) MSEC(s->election_timeout),
                                                   .done = on_listed, .userdata = s },
                              &s->listing_op);

        if (r < 0)
                s->listing_op = NULL;
        return r;
}

static void on_listed(const S3Response *r, void *userdata) {
        S3Store *s = userdata;
        S3Listing *l = s->listing;
        Page p = { .store = s, .l = l, .date = r->date };
        char *token = NULL;

        s->listing_op = NULL;
        if (!lease_s3_is_2xx(r) || lease_s3_list_parse(r, listing_on_key, &p, &token) < 0) {
                /* Keep the last listing; try again at the next firing. */
                (void) snprintf(s->listing_error, sizeof(s->listing_error), "%s",
                                !lease_s3_is_2xx(r) ? r->message :
                                "S3 answered the listing with a body solocron cannot read");
                free(token);
                goto done;
        }
        s->listing_error[0] = 0;
        free(l->token);
        l->token = token;
        if (token && ++l->pages < LISTING_PAGES_MAX && listing_page(s) >= 0)
                return;
        /* Every page read (or as many as we read): the members it found rank firings; the
         * pause markers count only when it read them all. */
        strv_free(s->members);
        s->members = l->ids;
        s->n_members = l->n;
        strv_free(s->paused);
        s->paused = l->paused;
        s->n_paused = l->n_paused;
        s->paused_known = !token;
        s->listed_ms = l->sent_ms;
        l->ids = l->paused = NULL;
done:
        listing_free(l);
        s->listing = NULL;
        lease_s3_claims_go_on(s, CLAIM_LISTING, lease_s3_claim_listed);
}

/* The last listing was asked for less than the window ago. */
static bool listing_recent(const S3Store *s) {
        return s->listed_ms && lease_s3_now_ms(s) - s->listed_ms < lease_s3_listing_window_ms(s);
}

/* Start a listing when the last one is older than the window and none is under way. true:
 * one is under way. */
static bool listing_start(S3Store *s) {
        if (s->listing)
                return true;
        if (!s->joined || s->closing || listing_recent(s))
                return false;
        s->listing = calloc(1, sizeof(S3Listing));
        if (!s->listing)
                return false;
        s->listing->sent_ms = lease_s3_now_ms(s);
        if (listing_page(s) < 0) {
                listing_free(s->listing);
                s->listing = NULL;
                return false;
        }
        return true;
}

size_t lease_s3_members(LeaseStore *store, const char *const **ret_ids, const char **ret_self) {
        S3Store *s = container_of(store, S3Store, store);

        if (!s->joined)
                return 0;
        (void) listing_start(s);
        *ret_ids = (const char *const *) s->members;
        *ret_self = s->member_id;
        return s->n_members;    /* the last listing: this firing's ranking does not wait */
}

S3Paused lease_s3_paused(S3Store *s, const char *job, bool may_wait) {
        if (s->paused_known && listing_recent(s))
                return strv_contains(s->paused, job) ? S3_PAUSED_LISTED : S3_PAUSED_NO;
        return may_wait && listing_start(s) ? S3_PAUSED_WAIT : S3_PAUSED_UNKNOWN;
}

void lease_s3_paused_note(S3Store *s, const char *job, bool paused) {
        char *copy;

        if (!s->paused_known)
                return;
        if (!paused) {
                for (size_t i = 0; i < s->n_paused; i++)
                        if (strcmp(s->paused[i], job) == 0) {
                                free(s->paused[i]);
                                s->paused[i] = s->paused[--s->n_paused];
                                s->paused[s->n_paused] = NULL;
                                return;
                        }
                return;
        }
        if (strv_contains(s->paused, job))
                return;
        copy = strdup(job);
        if (!copy || strv_push(&s->paused, &s->n_paused, copy) < 0)
                s->paused_known = false;        /* out of memory: read the marker */
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
        s3_request_cancel(s->listing_op);
        s->listing_op = NULL;
        listing_free(s->listing);
        s->listing = NULL;
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
        strv_free(s->paused);
        free(s->member_id);
        free(s->member_key);
        free(s->members_prefix);
        free(s->paused_prefix);
        free(s->listing_prefix);
}
