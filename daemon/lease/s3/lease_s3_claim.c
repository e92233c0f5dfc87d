/* SPDX-License-Identifier: MIT */
/* One claim of an S3 lease (see lease_s3.c for the protocol):
 *
 *   BACKOFF(0 ms) → PROBE → PAUSE → WRITE ─2xx───────────────────→ WON (lease_s3_hold.c)
 *                     │         │       │ └─412/404→ READ ─ours─────────↗
 *                     │         │       │             ├─expired + takeover→ WRITE (If-Match)
 *                     │         │       │             └─else: HELD
 *                     │         │       └ takeover: READ first
 *                     │         └─the job's pause marker is there: HELD (paused)
 *                     └ a manual run: no PAUSE (it ignores a pause)
 *   PAUSE: the fleet's listing when it is recent (no request), or LISTING (waiting for the
 *   one under way), or a GET of the marker (none recent, or the listing shows one)
 *   transient failures → BACKOFF → the same step again, until election_timeout → UNAVAILABLE
 *
 * No step starts after the deadline (election_timeout), with one exception: a 412 is an
 * answer, not an outage (the record exists: another holder's, or ours if an answer was
 * lost), so it is read back within the store's grace past the deadline; requests in flight
 * at the deadline get that grace to answer. Standing down then beats on_store_down: run
 * running a firing another replica already runs.
 *
 * Every outcome reaches the daemon from the loop, never from inside claim(). A claim's memory
 * outlives the daemon's interest in it: it is freed by its timer's close callback. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lease_record.h"
#include "lease_s3_internal.h"
#include "list.h"
#include "macro.h"

#define PREVIOUS_MAX            8               /* abandoned holders kept in a record */

/* ---- records ---- */

static json_t *record_new(const LeaseClaim *c, const char *status, bool final) {
        const S3Store *s = c->store;
        char when[RFC3339_UTC_MAX], now[RFC3339_UTC_MAX];
        json_t *rec;

        rec = json_pack("{s:s, s:s, s:{s:s, s:I, s:s}, s:s, s:I, s:I, s:s, s:i, s:s, s:s}",
                        "job", c->job,
                        "scheduled", format_rfc3339_utc(c->scheduled, when),
                        "holder", "hostname", s->hostname, "pid", (json_int_t) s->pid,
                        "boot_id", s->boot_id,
                        "run", c->run_id,
                        "fencing_token", (json_int_t) c->generation,
                        "generation", (json_int_t) c->generation,
                        "status", status,
                        "attempt", (int) c->attempt,
                        "started", c->started,
                        "renewed_at", format_rfc3339_utc(s3_client_now(s->s3), now));
        if (!rec)
                return NULL;
        if (c->manual)
                (void) json_object_set_new(rec, "manual", json_string(c->manual));
        if (final) {
                (void) json_object_set_new(rec, "finished", json_string(now));
                if (c->exit_status >= 0)
                        (void) json_object_set_new(rec, "exit_status",
                                                   json_integer(c->exit_status));
                if (c->duration_msec >= 0)
                        (void) json_object_set_new(rec, "duration_ms",
                                                   json_integer(c->duration_msec));
                if (c->output)
                        (void) json_object_set_new(rec, "output", json_string(c->output));
        }
        if (c->previous && json_array_size(c->previous) > 0)
                (void) json_object_set(rec, "previous", c->previous);
        return rec;
}

static const char *rec_str(const json_t *rec, const char *name) {
        return json_string_value(json_object_get(rec, name)) ?: "?";
}

static uint64_t rec_generation(const json_t *rec) {
        json_int_t g = json_integer_value(json_object_get(rec, "generation"));

        return g > 0 ? (uint64_t) g : 0;
}

static const json_t *holder(const json_t *rec) {
        return json_object_get(rec, "holder");
}

bool lease_s3_record_is_ours(const LeaseClaim *c, const json_t *rec) {
        const S3Store *s = c->store;
        const char *h = json_string_value(json_object_get(holder(rec), "hostname"));
        const char *b = json_string_value(json_object_get(holder(rec), "boot_id"));

        return strcmp(rec_str(rec, "run"), c->run_id) == 0 &&
               rec_generation(rec) == c->generation && h && strcmp(h, s->hostname) == 0 &&
               b && strcmp(b, s->boot_id) == 0 &&
               json_integer_value(json_object_get(holder(rec), "pid")) == s->pid;
}

/* "pid 4242 on web-1", or "already run by pid 4242 on web-1 (succeeded)". */
static void record_describe(const json_t *rec, char *buf, size_t size) {
        long long pid = json_integer_value(json_object_get(holder(rec), "pid"));
        const char *h = json_string_value(json_object_get(holder(rec), "hostname")) ?: "?";

        if (lease_s3_record_running(rec))
                (void) snprintf(buf, size, "pid %lld on %s", pid, h);
        else
                (void) snprintf(buf, size, "already run by pid %lld on %s (%s)", pid, h,
                                rec_str(rec, "status"));
}

/* Our record's "previous": the old record's list plus the old holder, marked abandoned. */
static int previous_from(LeaseClaim *c, const json_t *rec) {
        json_t *prev = json_deep_copy(json_object_get(rec, "previous"));
        json_t *old = json_deep_copy(rec);

        if (!json_is_array(prev)) {
                json_decref(prev);
                prev = json_array();
        }
        if (!prev || !old) {
                json_decref(prev);
                json_decref(old);
                return -ENOMEM;
        }
        (void) json_object_del(old, "previous");
        (void) json_object_set_new(old, "status", json_string("abandoned"));
        (void) json_array_append_new(prev, old);
        while (json_array_size(prev) > PREVIOUS_MAX)
                (void) json_array_remove(prev, 0);
        json_decref(c->previous);
        c->previous = prev;
        return 0;
}

/* ---- life and death of a claim ---- */

static void lease_s3_on_claim_closed(uv_handle_t *h) {
        LeaseClaim *c = container_of((uv_timer_t *) h, LeaseClaim, timer);
        S3Store *s = c->store;

        free(c->job);
        free(c->manual);
        free(c->run_id);
        free(c->key);
        free(c->etag);
        free(c->result);
        free(c->output);
        json_decref(c->previous);
        free(c);
        s->n_handles--;
        lease_s3_maybe_closed(s);
}

/* Forget c without a callback. Its memory lives until the timer's close callback. */
void lease_s3_claim_cancel(LeaseClaim *c) {
        S3Store *s = c->store;

        if (c->state == CLAIM_GONE)
                return;
        s3_request_cancel(c->op);
        c->op = NULL;
        c->state = CLAIM_GONE;
        LIST_UNLINK(s->claims, c);
        s->n_handles++;
        uv_close((uv_handle_t *) &c->timer, lease_s3_on_claim_closed);
}

/* The election is over without a win: tell the daemon, which forgets c. rec: the record
 * found, or NULL. */
static void claim_end(LeaseClaim *c, LeaseResult result, LeaseHeld held, const char *detail,
                      json_t *rec) {
        LeaseInfo info = { .detail = c->detail, .key = c->key, .held = held };
        LeaseRecord record;

        if (detail != c->detail)
                (void) snprintf(c->detail, sizeof(c->detail), "%s", detail);
        if (rec && lease_record_from_json(rec, &record))
                info.record = &record;
        lease_s3_claim_cancel(c);
        c->cb.claimed(c, result, &info, c->cb.userdata);
}

static void claim_unavailable(LeaseClaim *c, const char *why) {
        char buf[LEASE_S3_DETAIL_MAX];

        (void) snprintf(buf, sizeof(buf), "%s", why);   /* why may be c->detail */
        claim_end(c, LEASE_UNAVAILABLE, 0, buf, NULL);
}

void lease_s3_claim_retry(LeaseClaim *c, ClaimState what, const char *why) {
        S3Store *s = c->store;
        uint64_t n = lease_s3_now_ms(s);
        char buf[LEASE_S3_DETAIL_MAX];

        c->op = NULL;
        if (s->closing || n >= c->deadline_ms) {
                if (c->state == CLAIM_FINISHING) {
                        lease_s3_claim_cancel(c);
                        return;
                }
                (void) snprintf(buf, sizeof(buf), "S3 lease store unavailable for %llu ms: %.400s",
                                (unsigned long long) MSEC(s->election_timeout), why);
                claim_unavailable(c, buf);
                return;
        }
        (void) snprintf(c->detail, sizeof(c->detail), "%s", why);
        if (c->state != CLAIM_FINISHING)
                c->state = CLAIM_BACKOFF;
        c->retry_state = what;
        (void) uv_timer_start(&c->timer, lease_s3_on_claim_timer,
                              c->retry_ms < c->deadline_ms - n ? c->retry_ms : c->deadline_ms - n,
                              0);
        c->retry_ms = c->retry_ms * 2 > LEASE_S3_RETRY_MAX_MS ? LEASE_S3_RETRY_MAX_MS :
                                                                c->retry_ms * 2;
}

/* ---- requests ---- */

static int claim_request(LeaseClaim *c, const S3Request *req) {
        int r = s3_request_start(c->store->s3, req, &c->op);

        if (r < 0)
                c->op = NULL;
        return r;
}

int lease_s3_claim_get(LeaseClaim *c, uint32_t timeout_ms, s3_done_cb done) {
        return claim_request(c, &(S3Request) {
                                     .method = HTTP_GET,
                                     .key = c->key,
                                     .max_body = LEASE_S3_RECORD_MAX,
                                     .timeout_ms = timeout_ms,
                                     .done = done,
                                     .userdata = c,
                             });
}

int lease_s3_claim_put(LeaseClaim *c, const char *status, bool final, uint32_t timeout_ms,
                       s3_done_cb done) {
        _cleanup_free_ char *text = NULL;
        json_t *rec = record_new(c, status, final);

        text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
        json_decref(rec);
        if (!text)
                return -ENOMEM;
        c->write_started_ms = lease_s3_now_ms(c->store);
        if (!c->unconfirmed) {
                c->unconfirmed = true;
                c->unconfirmed_ms = c->write_started_ms;
        }
        return claim_request(c, &(S3Request) {
                                     .method = HTTP_PUT,
                                     .key = c->key,
                                     .if_none_match = !c->etag,
                                     .if_match = c->etag,
                                     .body = text,
                                     .body_size = strlen(text),
                                     .content_type = "application/json",
                                     .timeout_ms = timeout_ms,
                                     .done = done,
                                     .userdata = c,
                             });
}

int lease_s3_claim_confirm(LeaseClaim *c, const char *etag, bool read_back) {
        uint64_t n = lease_s3_now_ms(c->store);
        char *e = strdup(etag);

        if (!e)
                return -ENOMEM;
        free(c->etag);
        c->etag = e;
        /* An answer confirms the write it answers: had an earlier one been applied, this
         * one's condition would have failed. A read-back confirms one of the unconfirmed
         * writes, we cannot tell which: count from the earliest. */
        c->renewed_ms = read_back && c->unconfirmed ? c->unconfirmed_ms : c->write_started_ms;
        c->unconfirmed = false;
        if (read_back)
                (void) snprintf(c->detail, sizeof(c->detail), "the answer to our write was "
                                "lost (read back %llu ms after it started)",
                                (unsigned long long) (n - c->renewed_ms));
        else
                c->detail[0] = 0;
        return 0;
}

/* ---- election ---- */

/* Election requests may answer until the deadline plus the grace. */
static uint32_t election_timeout_ms(const LeaseClaim *c) {
        return lease_s3_timeout_until(c->store, c->deadline_ms + MSEC(c->store->grace));
}

static void claim_won(LeaseClaim *c, const char *etag, bool read_back) {
        LeaseInfo info = { .detail = "", .key = c->key, .fencing_token = c->generation };

        if (lease_s3_claim_confirm(c, etag, read_back) < 0) {
                claim_unavailable(c, "out of memory");
                return;
        }
        c->state = CLAIM_WON;
        lease_s3_hold_schedule(c);
        c->cb.claimed(c, LEASE_WON, &info, c->cb.userdata);
}

static void lease_s3_on_read(const S3Response *r, void *userdata);
static void lease_s3_on_write(const S3Response *r, void *userdata);
static void lease_s3_on_marker(const S3Response *r, void *userdata);

static void claim_read(LeaseClaim *c) {
        int r;

        c->state = CLAIM_READ;
        r = lease_s3_claim_get(c, election_timeout_ms(c), lease_s3_on_read);
        if (r < 0)
                lease_s3_claim_retry(c, CLAIM_READ, strerror(-r));
}

static void claim_write(LeaseClaim *c) {
        int r;

        c->state = CLAIM_WRITE;
        r = lease_s3_claim_put(c, "running", false, election_timeout_ms(c), lease_s3_on_write);
        if (r < 0)
                lease_s3_claim_retry(c, CLAIM_WRITE, strerror(-r));
}

/* The next step right away (a 412 to look at, a record gone): a write still within the
 * deadline, so that a record that keeps changing cannot keep a claim going forever; a read
 * within the grace after it, as the record it reads is an answer already given. */
static void claim_next(LeaseClaim *c, ClaimState step) {
        uint64_t n = lease_s3_now_ms(c->store);

        if (step == CLAIM_READ && n >= c->deadline_ms + MSEC(c->store->grace)) {
                lease_s3_claim_retry(c, step, "no decision: no time was left to read the record "
                                     "that answered 412");
                return;
        }
        if (step == CLAIM_WRITE && n >= c->deadline_ms) {
                lease_s3_claim_retry(c, step, "no decision: the record kept changing");
                return;
        }
        if (step == CLAIM_READ)
                claim_read(c);
        else
                claim_write(c);
}

/* The election proper: a takeover reads the record first. */
static void claim_elect(LeaseClaim *c) {
        if (c->takeover)
                claim_read(c);
        else
                claim_write(c);
}

/* A firing of the schedule first looks whether its job is paused: in the fleet's listing
 * when one is recent enough (lease_s3_members.c), else by a GET of its marker
 * (lease_s3_fleet.c). A takeover too: a pause stops every start of the job's command, a
 * second start of a firing whose holder died included; that firing stays recorded as
 * abandoned. A marker written after our look does not stop this claim: the race that
 * remains (see lease_s3_fleet.c). may_wait: wait for a listing under way (or started now)
 * rather than read the marker. */
static void claim_pause(LeaseClaim *c, bool may_wait) {
        int r;

        c->state = CLAIM_PAUSE;
        switch (lease_s3_paused(c->store, c->job, may_wait)) {
        case S3_PAUSED_NO:
                claim_elect(c);
                return;
        case S3_PAUSED_WAIT:
                c->state = CLAIM_LISTING;       /* lease_s3_claim_listed() follows */
                return;
        default:
                break;                          /* shown paused (it may be gone), or unknown */
        }
        r = lease_s3_marker_get(c->store, c->job, election_timeout_ms(c), lease_s3_on_marker, c,
                                &c->op);
        if (r < 0) {
                c->op = NULL;
                lease_s3_claim_retry(c, CLAIM_PAUSE, strerror(-r));
        }
}

static void claim_check_pause(LeaseClaim *c) {
        claim_pause(c, true);
}

void lease_s3_claim_listed(LeaseClaim *c) {
        const S3Store *s = c->store;

        if (lease_s3_now_ms(s) >= c->deadline_ms)
                lease_s3_claim_retry(c, CLAIM_PAUSE, s->listing_error[0] ? s->listing_error :
                                     "no decision: no time was left after listing the pause "
                                     "markers");
        else
                claim_pause(c, false);          /* a failed listing: read the marker */
}

static void lease_s3_on_marker(const S3Response *r, void *userdata) {
        LeaseClaim *c = userdata;
        char why[LEASE_S3_DETAIL_MAX];

        c->op = NULL;
        if (lease_s3_is_no_such_key(r) && lease_s3_now_ms(c->store) >= c->deadline_ms)
                /* No step starts after the deadline: the marker answered within the grace. */
                lease_s3_claim_retry(c, CLAIM_PAUSE, "no decision: no time was left after "
                                     "reading the pause marker");
        else if (lease_s3_is_no_such_key(r))
                claim_elect(c);
        else if (lease_s3_is_2xx(r)) {
                lease_s3_marker_describe(r, why, sizeof(why));
                claim_end(c, LEASE_HELD, LEASE_HELD_PAUSED, why, NULL);
        } else if (lease_s3_is_transient(r))
                lease_s3_claim_retry(c, CLAIM_PAUSE, r->message);
        else
                claim_unavailable(c, r->message);
}

/* Where a claim goes once the probe allows. */
static void claim_step(LeaseClaim *c) {
        S3Store *s = c->store;

        switch (s->probe) {
        case PROBE_OK:
                if (lease_s3_now_ms(s) >= c->deadline_ms) {     /* the probe took it all */
                        lease_s3_claim_retry(c, CLAIM_PROBE, "no decision: the start-up probe "
                                             "took the election's time");
                        return;
                }
                if (c->manual)
                        claim_elect(c);
                else if (c->late)
                        claim_read(c);          /* claimed already? then no pause look */
                else
                        claim_check_pause(c);
                return;
        case PROBE_REFUSED:
                claim_unavailable(c, s->probe_error);
                return;
        case PROBE_NONE:
                c->state = CLAIM_PROBE;
                lease_s3_probe_start(s);
                return;
        case PROBE_RUNNING:
                c->state = CLAIM_PROBE;
                return;
        }
}

void lease_s3_claims_go_on(S3Store *s, ClaimState waiting, void (*go_on)(LeaseClaim *c)) {
        /* One at a time from the list's head: a callback may cancel claims or close the
         * store. Each leaves `waiting`. */
        for (;;) {
                LeaseClaim *c = s->claims;

                while (c && c->state != waiting)
                        c = c->next;
                if (!c)
                        return;
                go_on(c);
        }
}

void lease_s3_claim_probed(LeaseClaim *c) {
        S3Store *s = c->store;

        if (s->probe == PROBE_NONE && s->probe_error_permanent)
                claim_unavailable(c, s->probe_error);
        else if (s->probe == PROBE_NONE)
                lease_s3_claim_retry(c, CLAIM_PROBE, s->probe_error);
        else
                claim_step(c);
}

static void lease_s3_on_read(const S3Response *r, void *userdata) {
        LeaseClaim *c = userdata;
        char buf[LEASE_S3_DETAIL_MAX];
        bool running, expired;
        json_t *rec;

        c->op = NULL;
        if (r->error == 0 && r->status == 404 && c->late) {
                /* A lower rank finds the firing still unclaimed: the ordinary claim. */
                c->late = false;
                if (lease_s3_now_ms(c->store) >= c->deadline_ms)
                        lease_s3_claim_retry(c, CLAIM_PAUSE, "no decision: no time was left "
                                             "after reading the record");
                else
                        claim_check_pause(c);
                return;
        }
        if (r->error == 0 && r->status == 404) {
                /* Nothing there (any more): an ordinary election. */
                free(c->etag);
                c->etag = NULL;
                c->generation = 1;
                claim_next(c, CLAIM_WRITE);
                return;
        }
        if (!lease_s3_is_2xx(r)) {
                if (lease_s3_is_transient(r))
                        lease_s3_claim_retry(c, CLAIM_READ, r->message);
                else
                        claim_unavailable(c, r->message);
                return;
        }
        rec = lease_s3_record_parse(r);
        if (!rec) {
                claim_end(c, LEASE_HELD, LEASE_HELD_RUNNING, "held by a record solocron cannot "
                          "read (not a lease record, or malformed JSON)", NULL);
                return;
        }
        if (lease_s3_record_is_ours(c, rec) && r->etag) {
                /* Our earlier write succeeded though its answer was lost. */
                json_decref(rec);
                claim_won(c, r->etag, true);
                return;
        }
        running = lease_s3_record_running(rec);
        expired = running && lease_s3_is_expired(c->store, r);
        if (c->takeover && expired && r->etag) {
                char *stale = strdup(r->etag);

                c->generation = rec_generation(rec) + 1;
                if (!stale || previous_from(c, rec) < 0) {
                        free(stale);
                        json_decref(rec);
                        claim_unavailable(c, "out of memory");
                        return;
                }
                json_decref(rec);
                free(c->etag);
                c->etag = stale;
                claim_next(c, CLAIM_WRITE);
                return;
        }
        record_describe(rec, buf, sizeof(buf));
        if (expired)
                (void) strncat(buf, " (its lease expired)", sizeof(buf) - strlen(buf) - 1);
        claim_end(c, LEASE_HELD, !running ? LEASE_HELD_DONE :
                                 expired ? LEASE_HELD_ABANDONED : LEASE_HELD_RUNNING, buf, rec);
        json_decref(rec);
}

static void lease_s3_on_write(const S3Response *r, void *userdata) {
        LeaseClaim *c = userdata;

        c->op = NULL;
        if (lease_s3_is_2xx(r)) {
                if (r->etag)
                        claim_won(c, r->etag, false);
                else
                        claim_next(c, CLAIM_READ);      /* no ETag in the answer: read ours */
                return;
        }
        if (r->error == 0 && (r->status == 412 || r->status == 404)) {
                /* Someone else's now, or ours if an earlier answer was lost: look. (AWS
                 * answers If-Match on a missing key with 404.) */
                claim_next(c, CLAIM_READ);
                return;
        }
        if (lease_s3_is_transient(r))
                lease_s3_claim_retry(c, CLAIM_WRITE, r->message);
        else
                claim_unavailable(c, r->message);
}

LeaseResult lease_s3_claim_start(LeaseStore *store, const LeaseRequest *req,
                                 const LeaseCallbacks *cb, LeaseClaim **ret_claim,
                                 LeaseInfo *ret_info) {
        S3Store *s = container_of(store, S3Store, store);
        LeaseClaim *c;
        char now[RFC3339_UTC_MAX];
        int r;

        c = calloc(1, sizeof(LeaseClaim));
        if (!c) {
                *ret_info = (LeaseInfo) { .detail = "out of memory" };
                return LEASE_UNAVAILABLE;
        }
        c->store = s;
        c->cb = *cb;
        c->scheduled = req->scheduled;
        c->attempt = req->attempt > 0 ? req->attempt : 1;
        c->takeover = req->takeover;
        c->late = req->late && !req->takeover && !req->manual;
        c->generation = 1;
        c->exit_status = -1;
        c->duration_msec = -1;
        c->retry_ms = LEASE_S3_RETRY_FIRST_MS;
        c->deadline_ms = lease_s3_now_ms(s) + MSEC(s->election_timeout);
        (void) snprintf(c->started, sizeof(c->started), "%s",
                        format_rfc3339_utc(lease_started_at(req->scheduled, req->manual,
                                                            s3_client_now(s->s3)), now));
        c->job = strdup(req->job ?: "");
        c->run_id = strdup(req->run_id ?: "");
        c->manual = req->manual ? strdup(req->manual) : NULL;
        r = c->job && c->run_id && (c->manual || !req->manual) ? lease_s3_key(s, req, &c->key) :
                                                                 -ENOMEM;
        if (r < 0 || s->closing) {
                free(c->key);
                free(c->job);
                free(c->manual);
                free(c->run_id);
                free(c);
                *ret_info = (LeaseInfo) {
                        .detail = r == -EINVAL ? "invalid job name or manual key for an S3 key" :
                                  r < 0 ? "out of memory" : "the lease store is closing" };
                return LEASE_UNAVAILABLE;
        }
        (void) uv_timer_init(s->loop, &c->timer);
        LIST_PREPEND(s->claims, c);

        /* Every outcome comes from the loop, even a refused probe's. */
        c->state = CLAIM_BACKOFF;
        c->retry_state = CLAIM_PROBE;
        (void) uv_timer_start(&c->timer, lease_s3_on_claim_timer, 0, 0);
        *ret_claim = c;
        *ret_info = (LeaseInfo) { .key = c->key };
        return LEASE_PENDING;
}

/* ---- the timer ---- */

void lease_s3_on_claim_timer(uv_timer_t *t) {
        LeaseClaim *c = container_of(t, LeaseClaim, timer);

        switch (c->state) {
        case CLAIM_BACKOFF:
                if (c->retry_state == CLAIM_READ)
                        claim_read(c);
                else if (c->retry_state == CLAIM_WRITE)
                        claim_write(c);
                else if (c->retry_state == CLAIM_PAUSE)
                        claim_check_pause(c);
                else
                        claim_step(c);
                return;
        case CLAIM_WON:
        case CLAIM_FINISHING:
                lease_s3_hold_on_timer(c);
                return;
        default:
                return;
        }
}
