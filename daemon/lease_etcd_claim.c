/* SPDX-License-Identifier: MIT */
/* One claim of the etcd lease backend (see lease_etcd.c for the protocol): the election
 * (lease/grant, then kv/txn), renewal while WON (lease/keepalive, then kv/range), the final
 * record, and letting go of its leases (lease/revoke). */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lease_etcd_internal.h"
#include "list.h"
#include "macro.h"
#include "timeutil.h"

#define ETCD_CLAIMS_MAX         4096            /* claims in flight, won, or finishing */
/* Final records share a history lease for this long: it is granted for history + this, so
 * each record is kept at least `history` and at most this much longer, and etcd holds one
 * history lease per daemon per hour rather than one per firing. */
#define HISTORY_SHARE_S         3600U

/* ---- requests ---- */

static char *u64_to_string(uint64_t v, char buf[static 21]) {
        (void) snprintf(buf, 21, "%" PRIu64, v);
        return buf;
}

static json_t *body_lease(uint64_t id) {
        char buf[21];

        return json_pack("{s:s}", "ID", u64_to_string(id, buf));
}

static json_t *body_grant(uint64_t ttl_s) {
        char buf[21];

        return json_pack("{s:s}", "TTL", u64_to_string(ttl_s, buf));
}

/* if KEY's target (CREATE: create_revision, MOD: mod_revision) == expect: put value64 on lease;
 * else: range KEY. */
static json_t *body_txn(const char *key64, bool create, uint64_t expect, const char *value64,
                        uint64_t lease) {
        char e[21], l[21];

        return json_pack("{s:[{s:s,s:s,s:s}],s:[{s:{s:s,s:s,s:s}}],s:[{s:{s:s}}]}",
                         "compare", "key", key64, "target", create ? "CREATE" : "MOD",
                         create ? "create_revision" : "mod_revision", u64_to_string(expect, e),
                         "success", "request_put", "key", key64, "value", value64,
                         "lease", u64_to_string(lease, l),
                         "failure", "request_range", "key", key64);
}

/* A txn's outcome: succeeded (proto3 omits false) with the revision of the put, or the range
 * its failure branch ran (NULL: none), for etcd_range_reply_kv(). */
static int txn_parse(EtcdCall *k, const json_t *reply, bool *ret_won, uint64_t *ret_revision,
                     const json_t **ret_range) {
        const json_t *ok = json_object_get(reply, "succeeded");

        *ret_range = NULL;
        if (ok && !json_is_boolean(ok))
                goto bad;
        *ret_won = json_is_true(ok);
        if (*ret_won)
                return etcd_json_u64(json_object_get(reply, "header"), "revision",
                                     ret_revision) < 0 ||
                       *ret_revision == 0 ? (etcd_call_why(k, "malformed txn reply: no revision"),
                                             -EAGAIN) : 0;
        if (!json_is_array(json_object_get(reply, "responses")))
                goto bad;
        *ret_range = json_object_get(json_array_get(json_object_get(reply, "responses"), 0),
                                     "response_range");
        return 0;
bad:
        etcd_call_why(k, "malformed txn reply");
        return -EAGAIN;
}

/* ---- claims ---- */

static void claim_free(LeaseClaim *c) {
        EtcdStore *s = c->store;

        etcd_alarm_disarm(s, &c->alarm);
        etcd_call_cancel(c->call);
        LIST_UNLINK(s->claims, c);
        s->n_claims--;
        free(c->key);
        free(c->key64);
        json_decref(c->record);
        free(c);
        etcd_store_maybe_closed(s);
}

static int claim_on_revoked(void *owner, EtcdCall *k, json_t *reply, int error);

/* Let go of what the claim still holds (short lease, unused history lease), then free it. */
void etcd_claim_release(LeaseClaim *c) {
        EtcdStore *s = c->store;
        uint64_t id = c->lease ?: c->long_lease;

        c->state = CLAIM_RELEASE;
        etcd_alarm_disarm(s, &c->alarm);
        etcd_call_cancel(c->call);
        c->call = NULL;
        if (!id) {
                claim_free(c);
                return;
        }
        if (c->lease)
                c->lease = 0;
        else {
                c->long_lease = 0;
                if (c->long_shared) {
                        /* A shared history lease holds other final records: never revoke
                         * it, it expires on its own. */
                        claim_free(c);
                        return;
                }
        }
        c->call = etcd_call_start(s, "/v3/lease/revoke", body_lease(id),
                                  etcd_now_ms(s) + s->election_ms, claim_on_revoked, c);
        if (!c->call)
                claim_free(c);          /* the lease expires on its own */
}

static int claim_on_revoked(void *owner, EtcdCall *k, json_t *reply, int error) {
        LeaseClaim *c = owner;

        (void) k, (void) reply, (void) error;  /* gone, not found, or unreachable: it expires */
        c->call = NULL;
        etcd_claim_release(c);
        return 0;
}

/* The outcome of a PENDING claim other than WON: tell the daemon, then let go. */
static void claim_conclude(LeaseClaim *c, LeaseResult result) {
        LeaseInfo info = { .detail = c->detail, .key = c->key };

        c->state = CLAIM_DONE;          /* close() leaves it to us */
        c->cb.claimed(c, result, &info, c->cb.userdata);
        etcd_claim_release(c);
}

static void claim_unavailable(LeaseClaim *c, EtcdCall *k, int error) {
        char e[64];

        if (error == -ETIMEDOUT)
                (void) snprintf(c->detail, sizeof(c->detail), "no usable answer from etcd within %"
                                PRIu64 " ms: %s", c->store->election_ms, k->why);
        else
                (void) snprintf(c->detail, sizeof(c->detail), "%s",
                                k->why[0] ? k->why : etcd_errno_text(error, e));
        claim_conclude(c, LEASE_UNAVAILABLE);
}

static void claim_on_renew(Alarm *a);

static void claim_won(LeaseClaim *c, uint64_t token) {
        EtcdStore *s = c->store;
        LeaseInfo info = { .key = c->key, .fencing_token = token };

        c->state = CLAIM_WON;
        c->token = token;
        etcd_alarm_arm(s, &c->alarm, c->renewed + s->ttl_ms / 3, claim_on_renew);
        c->cb.claimed(c, LEASE_WON, &info, c->cb.userdata);
}

static void claim_grant(LeaseClaim *c);

static int claim_on_txn(void *owner, EtcdCall *k, json_t *reply, int error) {
        LeaseClaim *c = owner;
        const json_t *range;
        uint64_t rev;
        bool won;
        Kv kv = {};
        int r;

        if (!reply) {
                c->call = NULL;
                if (error == -ENOENT && etcd_now_ms(c->store) < c->deadline) {
                        c->lease = 0;           /* "requested lease not found": expired, again */
                        claim_grant(c);
                        return 0;
                }
                claim_unavailable(c, k, error);
                return 0;
        }
        r = txn_parse(k, reply, &won, &rev, &range);
        if (r < 0)
                return r;
        if (won) {
                c->call = NULL;
                claim_won(c, rev);
                return 0;
        }
        r = etcd_range_reply_kv(k, range, &kv);
        if (r < 0)
                return r;
        if (!kv.found) {                /* the key exists (the txn failed): its kv is due */
                (void) snprintf(k->why, sizeof(k->why), "malformed kv in reply: no mod_revision");
                return -EAGAIN;
        }
        c->call = NULL;
        if (kv.lease == c->lease) {
                /* Our own put: an earlier try of this txn did commit. */
                json_decref(kv.record);
                claim_won(c, kv.mod_revision);
                return 0;
        }
        if (etcd_record_is_running(kv.record))
                etcd_seen_put(c->store, c->key, kv.record, kv.mod_revision);
        etcd_record_describe(kv.record, c->detail, sizeof(c->detail));
        json_decref(kv.record);
        claim_conclude(c, LEASE_HELD);
        return 0;
}

static int claim_on_grant(void *owner, EtcdCall *k, json_t *reply, int error) {
        LeaseClaim *c = owner;
        EtcdStore *s = c->store;
        _cleanup_free_ char *value64 = NULL;
        uint64_t ttl;

        if (!reply) {
                c->call = NULL;
                claim_unavailable(c, k, error);
                return 0;
        }
        if (etcd_json_u64(reply, "ID", &c->lease) < 0 || c->lease == 0 ||
            etcd_json_u64(reply, "TTL", &ttl) < 0 || ttl == 0) {
                c->lease = 0;
                etcd_call_why(k, "malformed reply to /v3/lease/grant: no ID or TTL");
                return -EAGAIN;
        }
        c->call = NULL;
        c->renewed = k->sent;
        c->state = CLAIM_TXN;
        value64 = etcd_record_to_base64(c->record);
        if (value64)
                c->call = etcd_call_start(s, "/v3/kv/txn",
                                          body_txn(c->key64, true, 0, value64, c->lease),
                                          c->deadline, claim_on_txn, c);
        if (!c->call) {
                (void) snprintf(c->detail, sizeof(c->detail), "out of memory");
                claim_conclude(c, LEASE_UNAVAILABLE);
        }
        return 0;
}

static void claim_grant(LeaseClaim *c) {
        EtcdStore *s = c->store;

        c->state = CLAIM_GRANT;
        c->call = etcd_call_start(s, "/v3/lease/grant", body_grant(s->ttl_ms / 1000),
                                  c->deadline, claim_on_grant, c);
        if (!c->call) {
                (void) snprintf(c->detail, sizeof(c->detail), "out of memory");
                claim_conclude(c, LEASE_UNAVAILABLE);
        }
}

/* The running record: who, which run, since when; and whom a takeover replaces. */
static json_t *record_new(EtcdStore *s, const LeaseRequest *req, const char *key) {
        char sched[RFC3339_UTC_MAX], now[RFC3339_UTC_MAX];
        json_t *rec, *prev;

        rec = json_pack("{s:s,s:s,s:{s:s,s:I,s:s},s:s,s:I,s:s,s:s}",
                        "job", req->job, "scheduled", format_rfc3339_utc(req->scheduled, sched),
                        "holder", "hostname", s->hostname, "pid", (json_int_t) s->pid,
                        "boot_id", s->boot_id,
                        "run", req->run_id ?: "", "attempt", (json_int_t) req->attempt,
                        "status", "running", "started", format_rfc3339_utc(time(NULL), now));
        if (rec && req->takeover) {
                prev = etcd_seen_take(s, key);
                if (prev)
                        (void) json_object_set_new(rec, "previous", prev);
        }
        return rec;
}

LeaseResult etcd_claim(LeaseStore *store, const LeaseRequest *req, const LeaseCallbacks *cb,
                       LeaseClaim **ret_claim, LeaseInfo *ret_info) {
        EtcdStore *s = container_of(store, EtcdStore, store);
        char when[RFC3339_UTC_MAX];
        LeaseClaim *c;

        assert(req && req->job && cb && cb->claimed && cb->lost);
        *ret_info = (LeaseInfo) { .detail = s->detail };
        if (s->closing) {
                (void) snprintf(s->detail, sizeof(s->detail), "the etcd lease store is closing");
                return LEASE_UNAVAILABLE;
        }
        if (s->n_claims >= ETCD_CLAIMS_MAX) {
                (void) snprintf(s->detail, sizeof(s->detail), "too many etcd claims at once (%d)",
                                ETCD_CLAIMS_MAX);
                return LEASE_UNAVAILABLE;
        }
        c = calloc(1, sizeof(LeaseClaim));
        if (!c)
                goto oom;
        *c = (LeaseClaim) { .store = s, .cb = *cb, .deadline = etcd_now_ms(s) + s->election_ms };
        if (asprintf(&c->key, "%s/%s/%s", s->prefix, req->job,
                     format_rfc3339_utc(req->scheduled, when)) < 0)
                c->key = NULL;
        c->key64 = c->key ? etcd_b64_encode(c->key, strlen(c->key)) : NULL;
        c->record = c->key64 ? record_new(s, req, c->key) : NULL;
        if (!c->record) {
                free(c->key);
                free(c->key64);
                free(c);
                goto oom;
        }
        c->call = etcd_call_start(s, "/v3/lease/grant", body_grant(s->ttl_ms / 1000),
                                  c->deadline, claim_on_grant, c);
        if (!c->call) {
                json_decref(c->record);
                free(c->key);
                free(c->key64);
                free(c);
                goto oom;
        }
        LIST_PREPEND(s->claims, c);
        s->n_claims++;
        ret_info->key = c->key;
        ret_info->detail = NULL;
        *ret_claim = c;
        return LEASE_PENDING;
oom:
        (void) snprintf(s->detail, sizeof(s->detail), "out of memory");
        return LEASE_UNAVAILABLE;
}

/* lost() once; the claim stays the daemon's until finish() or cancel(). Call last. */
static void claim_lose(LeaseClaim *c, const char *why) {
        if (c->lost)
                return;
        c->lost = true;
        c->cb.lost(c, why, c->cb.userdata);
}

static int claim_on_verify(void *owner, EtcdCall *k, json_t *reply, int error) {
        LeaseClaim *c = owner;
        EtcdStore *s = c->store;
        char who[ETCD_WHY_MAX], why[ETCD_WHY_MAX + 64];
        Kv kv = {};

        (void) error;
        if (reply && etcd_range_reply_kv(k, reply, &kv) < 0)
                return -EAGAIN;
        c->call = NULL;
        etcd_alarm_arm(s, &c->alarm, c->renewed + s->ttl_ms / 3, claim_on_renew);
        if (!reply)
                return 0;               /* could not look: the keepalive decides */
        if (!kv.found)
                return claim_lose(c, "the lease record was deleted"), 0;
        if (kv.mod_revision != c->token) {
                etcd_record_describe(kv.record, who, sizeof(who));
                json_decref(kv.record);
                (void) snprintf(why, sizeof(why), "the record now names another holder: %s", who);
                return claim_lose(c, why), 0;
        }
        json_decref(kv.record);
        return 0;
}

static int claim_on_keepalive(void *owner, EtcdCall *k, json_t *reply, int error) {
        LeaseClaim *c = owner;
        EtcdStore *s = c->store;
        const json_t *result = json_object_get(reply, "result");
        char why[ETCD_WHY_MAX + 64];
        uint64_t now = etcd_now_ms(s), ttl;

        (void) error;
        if (reply && (!json_is_object(result) || etcd_json_u64(result, "TTL", &ttl) == -EBADMSG)) {
                etcd_call_why(k, "malformed reply to /v3/lease/keepalive");
                return -EAGAIN;
        }
        c->call = NULL;
        if (!reply) {
                /* Keep trying: should etcd come back while our lease lives, the record stays
                 * ours and nobody takes the firing over. */
                etcd_alarm_arm(s, &c->alarm, now + s->ttl_ms / 3, claim_on_renew);
                if (now < c->renewed + s->ttl_ms)
                        return 0;
                (void) snprintf(why, sizeof(why), "renewal failed for %" PRIu64 " s: %s",
                                (now - c->renewed) / 1000, k->why);
                return claim_lose(c, why), 0;
        }
        if (ttl == 0)                   /* proto3: no TTL, the lease is gone */
                return claim_lose(c, "the lease expired: etcd no longer has it"), 0;
        if (k->sent > c->renewed)
                c->renewed = k->sent;
        c->call = etcd_call_start(s, "/v3/kv/range", etcd_body_range(c->key64),
                                  now + s->ttl_ms / 3, claim_on_verify, c);
        if (!c->call)
                etcd_alarm_arm(s, &c->alarm, c->renewed + s->ttl_ms / 3, claim_on_renew);
        return 0;
}

static void claim_on_renew(Alarm *a) {
        LeaseClaim *c = container_of(a, LeaseClaim, alarm);
        EtcdStore *s = c->store;
        uint64_t now = etcd_now_ms(s), deadline = c->renewed + s->ttl_ms;

        if (deadline < now + ETCD_BACKOFF_MS)   /* past the TTL already: keep trying a while */
                deadline = now + s->ttl_ms / 3;
        c->call = etcd_call_start(s, "/v3/lease/keepalive", body_lease(c->lease), deadline,
                                  claim_on_keepalive, c);
        if (!c->call)
                etcd_alarm_arm(s, &c->alarm, now + s->ttl_ms / 3, claim_on_renew);
}

static void claim_final_step(LeaseClaim *c);

static int claim_on_final(void *owner, EtcdCall *k, json_t *reply, int error) {
        LeaseClaim *c = owner;
        EtcdStore *s = c->store;
        const json_t *range;
        uint64_t rev;
        bool won;
        int r;

        if (!reply) {
                c->call = NULL;
                if (c->long_shared && error == -ENOENT && c->step != FINAL_GRANT) {
                        /* The shared history lease is gone (revoked by hand, or etcd
                         * restored from an old snapshot): grant a fresh one. */
                        if (c->store->history_lease == c->long_lease)
                                c->store->history_lease = 0;
                        c->long_lease = 0;
                        c->long_shared = false;
                        c->step = FINAL_GRANT;
                        claim_final_step(c);
                        return 0;
                }
                etcd_claim_release(c);  /* could not write it: the proof of run is lost */
                return 0;
        }
        if (c->step == FINAL_GRANT) {
                if (etcd_json_u64(reply, "ID", &c->long_lease) < 0 || c->long_lease == 0) {
                        c->long_lease = 0;
                        etcd_call_why(k, "malformed reply to /v3/lease/grant: no ID");
                        return -EAGAIN;
                }
                /* Share it with the final records of the next HISTORY_SHARE_S. */
                s->history_lease = c->long_lease;
                s->history_until = etcd_now_ms(s) + HISTORY_SHARE_S * 1000;
                c->long_shared = true;
                c->call = NULL;
                c->step = FINAL_UPDATE;
                claim_final_step(c);
                return 0;
        }
        r = txn_parse(k, reply, &won, &rev, &range);
        if (r < 0)
                return r;
        c->call = NULL;
        if (won)
                c->long_lease = 0;      /* holds the record now: keep it */
        else if (!etcd_range_kv(range) && c->step == FINAL_UPDATE) {
                /* Our lease expired and took the key along, and nobody has taken over: the
                 * run did happen, record it. */
                c->step = FINAL_CREATE;
                claim_final_step(c);
                return 0;
        }
        etcd_claim_release(c);
        return 0;
}

static void claim_final_step(LeaseClaim *c) {
        EtcdStore *s = c->store;
        _cleanup_free_ char *value64 = NULL;

        if (c->step == FINAL_GRANT && s->history_lease && etcd_now_ms(s) < s->history_until) {
                c->long_lease = s->history_lease;
                c->long_shared = true;
                c->step = FINAL_UPDATE;
        }
        if (c->step == FINAL_GRANT)
                c->call = etcd_call_start(s, "/v3/lease/grant",
                                          body_grant(s->history_s + HISTORY_SHARE_S),
                                          c->deadline, claim_on_final, c);
        else {
                value64 = etcd_record_to_base64(c->record);
                if (value64)
                        c->call = etcd_call_start(s, "/v3/kv/txn",
                                                  body_txn(c->key64, c->step == FINAL_CREATE,
                                                           c->step == FINAL_CREATE ? 0 : c->token,
                                                           value64, c->long_lease),
                                                  c->deadline, claim_on_final, c);
        }
        if (!c->call)
                etcd_claim_release(c);
}

void etcd_finish(LeaseClaim *c, const char *result, int64_t exit_status) {
        EtcdStore *s = c->store;
        char now[RFC3339_UTC_MAX];

        assert(c->state == CLAIM_WON);
        etcd_alarm_disarm(s, &c->alarm);
        etcd_call_cancel(c->call);
        c->call = NULL;
        c->state = CLAIM_FINAL;
        c->step = FINAL_GRANT;
        c->deadline = etcd_now_ms(s) + s->election_ms;
        (void) json_object_set_new(c->record, "status", json_string(result ?: "finished"));
        (void) json_object_set_new(c->record, "finished",
                                   json_string(format_rfc3339_utc(time(NULL), now)));
        (void) json_object_set_new(c->record, "exit_status",
                                   exit_status >= 0 ? json_integer(exit_status) : json_null());
        (void) json_object_set_new(c->record, "fencing_token", json_integer((json_int_t) c->token));
        claim_final_step(c);
}

void etcd_cancel(LeaseClaim *c) {
        assert(c->state == CLAIM_GRANT || c->state == CLAIM_TXN || c->state == CLAIM_WON);
        /* Revoking the lease deletes a record we put: watchers may take the firing over. */
        etcd_claim_release(c);
}

