/* SPDX-License-Identifier: MIT */
/* Holding an S3 lease (see lease_s3.c for the protocol): a won claim rewrites its record every
 * ttl/3 while the run lasts, and writes the final record once the daemon calls finish():
 *
 *   WON ─ttl/3→ PUT If-Match ─2xx─────────────────────────→ WON (the new ETag)
 *                  ├─412→ GET ─ours──────────────────────↗ (its ETag)
 *                  │           └─another holder's, or gone: lost (replaced)
 *                  ├─404: gone: lost (replaced)
 *                  └─no answer, 5xx…: again soon; ttl after the last good write: lost
 *   finish() → FINISHING: PUT If-Match, the result ─2xx→ done (history clean-up)
 *                  ├─412→ GET ─ours, final: done; ours, running: PUT again with its ETag
 *                  │           └─another holder's, or gone: done (not ours to write)
 *                  └─no answer, 5xx…: again, within max(ttl, election_timeout)
 *
 * Why a 412 is read back: a write whose answer was lost may have been applied, and then the
 * ETag we hold is stale. Our next write (after a timeout), or libcurl's own resend of the same
 * request (http.h: a reused connection that died before the answer), then gets 412 although
 * the record is still ours. Reading it back tells the two apart; the generation, run and
 * holder in the record are ours alone. Without it, a renewal would report the lease lost and
 * the run would be killed, and a final record would never be written: the record would say
 * running, and replicas with takeover: would run the firing again. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lease_s3_internal.h"
#include "macro.h"

#define RENEW_RETRY_MAX_MS      1000U

static void lease_s3_on_renew(const S3Response *r, void *userdata);
static void lease_s3_on_final(const S3Response *r, void *userdata);
static void lease_s3_on_read_back(const S3Response *r, void *userdata);

static const S3Response *failed(S3Response *buf, int error) {
        *buf = (S3Response) { .error = error, .message = strerror(-error), .code = "",
                              .date = -1, .last_modified = -1, .body = "" };
        return buf;
}

void lease_s3_hold_schedule(LeaseClaim *c) {
        uint64_t due = c->renewed_ms + MSEC(c->store->ttl) / 3, n = lease_s3_now_ms(c->store);

        (void) uv_timer_start(&c->timer, lease_s3_on_claim_timer, due > n ? due - n : 0, 0);
}

static void claim_lost(LeaseClaim *c, const char *why) {
        char buf[LEASE_S3_DETAIL_MAX];

        (void) snprintf(buf, sizeof(buf), "%s", why);   /* why may be c->detail */
        (void) snprintf(c->detail, sizeof(c->detail), "%s", buf);
        c->lost = true;
        if (c->cb.lost)
                c->cb.lost(c, c->detail, c->cb.userdata);
}

static void final_write(LeaseClaim *c) {
        S3Response buf;
        int r;

        c->state = CLAIM_FINISHING;
        r = lease_s3_claim_put(c, c->result, true,
                               lease_s3_timeout_until(c->store, c->deadline_ms),
                               lease_s3_on_final);
        if (r < 0)
                lease_s3_claim_retry(c, CLAIM_FINISHING, failed(&buf, r)->message);
}

/* GET the record after a 412: until the lease would end (renewal) or the final write's
 * deadline. */
static void read_back(LeaseClaim *c) {
        S3Store *s = c->store;
        uint64_t until = c->state == CLAIM_FINISHING ? c->deadline_ms :
                         c->renewed_ms + MSEC(s->ttl);
        S3Response buf;
        int r;

        r = lease_s3_claim_get(c, lease_s3_timeout_until(s, until), lease_s3_on_read_back);
        if (r < 0)
                lease_s3_on_read_back(failed(&buf, r), c);
}

/* A renewal went through: the next one, or the final record if finish() came meanwhile. */
static void renewed(LeaseClaim *c) {
        if (c->finish_pending)
                final_write(c);
        else
                lease_s3_hold_schedule(c);
}

/* The record is another holder's, or gone. */
static void replaced(LeaseClaim *c, const char *why) {
        if (c->finish_pending) {
                lease_s3_claim_cancel(c);       /* nothing of ours to finish */
                return;
        }
        c->replaced = true;
        claim_lost(c, why);
}

/* A renewal, or its read-back, failed: again soon; renew() declares the lease lost once ttl
 * has passed since the last good write. With finish() waiting, the final record goes now
 * instead: it retries on its own. */
static void renew_failed(LeaseClaim *c, const char *why) {
        S3Store *s = c->store;
        uint64_t n = lease_s3_now_ms(s), end = c->renewed_ms + MSEC(s->ttl);
        uint64_t retry = MSEC(s->ttl) / 10;

        (void) snprintf(c->detail, sizeof(c->detail), "%s", why);
        if (c->finish_pending) {
                final_write(c);
                return;
        }
        if (retry > RENEW_RETRY_MAX_MS)
                retry = RENEW_RETRY_MAX_MS;
        if (retry > (end > n ? end - n : 0))
                retry = end > n ? end - n : 0;
        (void) uv_timer_start(&c->timer, lease_s3_on_claim_timer, retry, 0);
}

/* A renewal, unless ttl has already passed since the last good write: then the lease is lost
 * (another replica may take over from now on, by the server's clock). */
static void renew(LeaseClaim *c) {
        S3Store *s = c->store;
        uint64_t n = lease_s3_now_ms(s), end = c->renewed_ms + MSEC(s->ttl);
        uint64_t t = MSEC(s->ttl) / 3;
        char why[LEASE_S3_DETAIL_MAX];
        S3Response buf;
        int r;

        if (n >= end) {
                /* Without a failure to name, the renewal itself came too late: the loop did
                 * not run (the daemon stopped, or blocked) past its time. */
                if (c->detail[0])
                        (void) snprintf(why, sizeof(why), "the lease could not be renewed "
                                        "within its TTL (%llu ms): %.400s",
                                        (unsigned long long) MSEC(s->ttl), c->detail);
                else
                        (void) snprintf(why, sizeof(why), "the lease could not be renewed "
                                        "within its TTL (%llu ms): the renewal due %llu ms "
                                        "after the last good write started %llu ms late (the "
                                        "daemon was stopped or blocked)",
                                        (unsigned long long) MSEC(s->ttl),
                                        (unsigned long long) t,
                                        (unsigned long long) (n - c->renewed_ms - t));
                claim_lost(c, why);
                return;
        }
        if (t > end - n)
                t = end - n;            /* no answer after the end counts */
        r = lease_s3_claim_put(c, "running", false,
                               t < LEASE_S3_TIMEOUT_MIN_MS ? LEASE_S3_TIMEOUT_MIN_MS :
                               t > LEASE_S3_TIMEOUT_MAX_MS ? LEASE_S3_TIMEOUT_MAX_MS : (uint32_t) t,
                               lease_s3_on_renew);
        if (r < 0)
                lease_s3_on_renew(failed(&buf, r), c);
}

static void lease_s3_on_renew(const S3Response *r, void *userdata) {
        LeaseClaim *c = userdata;

        c->op = NULL;
        if (lease_s3_is_2xx(r) && r->etag) {
                if (lease_s3_claim_confirm(c, r->etag, false) < 0)
                        renew_failed(c, "out of memory");
                else
                        renewed(c);
                return;
        }
        if (r->error == 0 && r->status == 412) {
                read_back(c);
                return;
        }
        if (r->error == 0 && r->status == 404) {
                replaced(c, "the lease record is gone: deleted from the bucket");
                return;
        }
        renew_failed(c, lease_s3_is_2xx(r) ? "S3 answered a renewal without an ETag" :
                        r->message);
}

static void lease_s3_on_read_back(const S3Response *r, void *userdata) {
        LeaseClaim *c = userdata;
        bool gone = r->error == 0 && r->status == 404, ours, final;
        json_t *rec;

        c->op = NULL;
        if (!lease_s3_is_2xx(r) && !gone) {
                if (c->state == CLAIM_FINISHING)
                        lease_s3_claim_retry(c, CLAIM_FINISHING, r->message);
                else
                        renew_failed(c, r->message);
                return;
        }
        rec = gone ? NULL : lease_s3_record_parse(r);
        ours = rec && r->etag && lease_s3_record_is_ours(c, rec);
        final = ours && c->result && !lease_s3_record_running(rec) &&
                strcmp(json_string_value(json_object_get(rec, "status")), c->result) == 0;
        json_decref(rec);

        if (c->state == CLAIM_FINISHING) {
                if (final) {
                        /* Our final write went through; its answer was lost. */
                        lease_s3_history_note(c->store, c->job);
                        lease_s3_claim_cancel(c);
                } else if (ours && lease_s3_claim_confirm(c, r->etag, true) == 0)
                        final_write(c);
                else if (ours)
                        lease_s3_claim_retry(c, CLAIM_FINISHING, "out of memory");
                else
                        lease_s3_claim_cancel(c);       /* another holder's now, or gone */
                return;
        }
        if (!ours) {
                replaced(c, gone ? "the lease record is gone: deleted from the bucket" :
                         "the lease record was replaced: another holder took this firing over");
                return;
        }
        if (lease_s3_claim_confirm(c, r->etag, true) < 0)
                renew_failed(c, "out of memory");
        else
                renewed(c);
}

static void lease_s3_on_final(const S3Response *r, void *userdata) {
        LeaseClaim *c = userdata;

        c->op = NULL;
        if (lease_s3_is_2xx(r)) {
                lease_s3_history_note(c->store, c->job);
                lease_s3_claim_cancel(c);
                return;
        }
        if (r->error == 0 && r->status == 412) {
                read_back(c);
                return;
        }
        if (lease_s3_is_transient(r)) {
                lease_s3_claim_retry(c, CLAIM_FINISHING, r->message);
                return;
        }
        lease_s3_claim_cancel(c);       /* 404: gone; or refused for good */
}

void lease_s3_hold_on_timer(LeaseClaim *c) {
        if (c->state == CLAIM_FINISHING)
                final_write(c);
        else if (!c->lost && !c->op)
                renew(c);
}

void lease_s3_claim_finish(LeaseClaim *c, const LeaseEnd *end) {
        S3Store *s = c->store;

        if (c->state != CLAIM_WON || c->replaced || !(c->result = strdup(end->result ?: "failed"))) {
                lease_s3_claim_cancel(c);
                return;
        }
        c->exit_status = end->exit_status;
        c->duration_msec = end->duration_msec;
        if (end->output && !(c->output = strdup(end->output))) {
                lease_s3_claim_cancel(c);
                return;
        }
        c->retry_ms = LEASE_S3_RETRY_FIRST_MS;
        c->deadline_ms = lease_s3_now_ms(s) + MSEC(s->ttl > s->election_timeout ? s->ttl :
                                                    s->election_timeout);
        if (c->op) {
                c->finish_pending = true;       /* after the renewal (or read-back) in flight */
                return;
        }
        (void) uv_timer_stop(&c->timer);
        final_write(c);
}
