/* SPDX-License-Identifier: MIT */
/* One claim of the etcd lease backend (see lease_etcd.c for the protocol): the election
 * (the daemon's session and the store's history lease, then one kv/txn), the final record,
 * and letting go of a won record without one (cancel). No lease per claim: the session
 * (lease_etcd_session.c) is renewed for all of them, and its loss is every claim's. */
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
#include "strv.h"
#include "timeutil.h"

#define ETCD_CLAIMS_MAX         4096            /* claims in flight, won, or finishing */

/* ---- requests ---- */

static char *u64_to_string(uint64_t v, char buf[static 21]) {
        (void) snprintf(buf, 21, "%" PRIu64, v);
        return buf;
}

static json_t *compare(const char *key64, bool create, uint64_t expect) {
        char e[21];

        return json_pack("{s:s,s:s,s:s}", "key", key64, "target", create ? "CREATE" : "MOD",
                         create ? "create_revision" : "mod_revision", u64_to_string(expect, e));
}

/* The job is not paused: its pause marker does not exist. */
static json_t *compare_absent(const char *key64) {
        return json_pack("{s:s,s:s,s:s}", "key", key64, "target", "VERSION", "version", "0");
}

static json_t *put(const char *key64, const char *value64, uint64_t lease) {
        char l[21];

        return json_pack("{s:{s:s,s:s,s:s}}", "request_put", "key", key64, "value", value64,
                         "lease", u64_to_string(lease, l));
}

static json_t *delete(const char *key64) {
        return json_pack("{s:{s:s}}", "request_delete_range", "key", key64);
}

static json_t *range(const char *key64) {
        return json_pack("{s:{s:s}}", "request_range", "key", key64);
}

/* The election: if the key (and, unless a takeover, the marker) was never created and the
 * job is not paused (unless a manual run): put the record on the session, and the marker
 * and the notes to the members told on the history lease; else range all three. A pause
 * holds back takeovers too: it means that no run of the schedule starts anywhere until it
 * is lifted, and the run of a holder that died while the job was paused is not started
 * again elsewhere. */
static json_t *body_claim(const LeaseClaim *c, const char *value64) {
        json_t *cmp = json_pack("[o]", compare(c->key64, true, 0)), *failure, *success;

        if (cmp && !c->takeover)
                (void) json_array_append_new(cmp, compare(c->mark64, true, 0));
        if (cmp && c->pause64)
                (void) json_array_append_new(cmp, compare_absent(c->pause64));
        failure = json_pack("[o,o]", range(c->key64), range(c->mark64));
        if (failure && c->pause64)
                (void) json_array_append_new(failure, range(c->pause64));
        success = json_pack("[o,o]", put(c->key64, value64, c->lease),
                            put(c->mark64, value64, c->history));
        for (size_t i = 0; success && i < c->n_notes; i++)
                (void) json_array_append_new(success, put(c->notes64[i], value64, c->history));
        if (c->turn64) {        /* a stand-in's: the turn is taken, either way (after the
                                 * failure's ranges, which txn_parse() reads by position) */
                (void) json_array_append_new(success, delete(c->turn64));
                (void) json_array_append_new(failure, delete(c->turn64));
        }
        return json_pack("{s:o,s:o,s:o}", "compare", cmp, "success", success,
                         "failure", failure);
}

/* The final record: if the key is still ours (or, CREATE, gone): put the record on the
 * history lease in its place and delete the marker, which it replaces, and the notes, which
 * tells the members that had them that it finished; else range the key. */
static json_t *body_final(const LeaseClaim *c, const char *value64) {
        bool create = c->step == FINAL_CREATE;
        json_t *success = json_pack("[o,o]", put(c->key64, value64, c->history),
                                    delete(c->mark64));

        for (size_t i = 0; success && i < c->n_notes; i++)
                (void) json_array_append_new(success, delete(c->notes64[i]));
        return json_pack("{s:[o],s:o,s:[o]}",
                         "compare", compare(c->key64, create, create ? 0 : c->token),
                         "success", success, "failure", range(c->key64));
}

/* A txn's outcome: succeeded (proto3 omits false) with the revision of the put, or the
 * ranges its failure branch ran (ret_ranges[i] NULL: none), for lease_etcd_range_reply_kv(). */
static int txn_parse(EtcdCall *k, const json_t *reply, bool *ret_won, uint64_t *ret_revision,
                     const json_t *ret_ranges[static 3]) {
        const json_t *ok = json_object_get(reply, "succeeded");
        const json_t *responses = json_object_get(reply, "responses");

        ret_ranges[0] = ret_ranges[1] = ret_ranges[2] = NULL;
        if (ok && !json_is_boolean(ok))
                goto bad;
        *ret_won = json_is_true(ok);
        if (*ret_won)
                return lease_etcd_json_u64(json_object_get(reply, "header"), "revision",
                                     ret_revision) < 0 ||
                       *ret_revision == 0 ? (lease_etcd_call_why(k, "malformed txn reply: no revision"),
                                             -EAGAIN) : 0;
        if (!json_is_array(responses))
                goto bad;
        for (size_t i = 0; i < 3; i++)
                ret_ranges[i] = json_object_get(json_array_get(responses, i), "response_range");
        return 0;
bad:
        lease_etcd_call_why(k, "malformed txn reply");
        return -EAGAIN;
}

/* ---- claims ---- */

static void claim_free(LeaseClaim *c) {
        EtcdStore *s = c->store;

        lease_etcd_alarm_disarm(s, &c->alarm);
        lease_etcd_call_cancel(c->call);
        LIST_UNLINK(s->claims, c);
        s->n_claims--;
        free(c->key);
        free(c->key64);
        free(c->mark64);
        free(c->turn64);
        free(c->pause64);
        strv_free(c->notes64);
        json_decref(c->record);
        free(c);
        lease_etcd_store_maybe_closed(s);
}

static int claim_on_released(EtcdCall *k, json_t *reply, int error, void *owner) {
        LeaseClaim *c = owner;

        (void) k, (void) reply, (void) error;  /* or it goes with the session */
        c->call = NULL;
        claim_free(c);
        return 0;
}

/* Let go and free the claim. A won record without a final one is deleted if it is still
 * ours, so that watchers take the firing over; the session and history leases are the
 * store's. */
void lease_etcd_claim_release(LeaseClaim *c) {
        EtcdStore *s = c->store;
        bool won = c->state == CLAIM_WON && c->token && !c->lost && !s->closing;

        c->state = CLAIM_RELEASE;
        c->history_wait = 0;
        c->session_wait = 0;
        c->lose_pending = false;
        lease_etcd_alarm_disarm(s, &c->alarm);
        lease_etcd_call_cancel(c->call);
        c->call = NULL;
        if (!won) {
                claim_free(c);
                return;
        }
        c->call = lease_etcd_call_start(s, "/v3/kv/txn",
                                        json_pack("{s:[o],s:[{s:{s:s}}]}",
                                                  "compare", compare(c->key64, false, c->token),
                                                  "success", "request_delete_range", "key",
                                                  c->key64),
                                        lease_etcd_now_ms(s) + s->election_ms,
                                        claim_on_released, c);
        if (!c->call)
                claim_free(c);
}

/* The outcome of a PENDING claim other than WON: tell the daemon, then let go. record: the
 * record found (HELD), or NULL. */
static void claim_conclude(LeaseClaim *c, LeaseResult result, LeaseHeld held,
                           const LeaseRecord *record) {
        LeaseInfo info = { .detail = c->detail, .key = c->key, .held = held, .record = record };

        c->state = CLAIM_DONE;          /* close() leaves it to us */
        c->cb.claimed(c, result, &info, c->cb.userdata);
        lease_etcd_claim_release(c);
}

static void claim_unavailable(LeaseClaim *c, EtcdCall *k, int error) {
        lease_etcd_call_failure(c->store, k, error, c->detail, sizeof(c->detail));
        claim_conclude(c, LEASE_UNAVAILABLE, 0, NULL);
}

static void claim_won(LeaseClaim *c, uint64_t token) {
        LeaseInfo info = { .key = c->key, .fencing_token = token };

        c->state = CLAIM_WON;
        c->token = token;
        c->cb.claimed(c, LEASE_WON, &info, c->cb.userdata);
}

static int claim_elect(LeaseClaim *c);

static void claim_out_of_memory(LeaseClaim *c) {
        (void) snprintf(c->detail, sizeof(c->detail), "out of memory");
        claim_conclude(c, LEASE_UNAVAILABLE, 0, NULL);
}

/* The key is gone and the marker is not: the firing was claimed and its holder's lease went
 * (it died, or let go without a final record). Not new: HELD, as while its holder lived; a
 * takeover claim may run it again, and its record names this holder. */
static void claim_abandoned(LeaseClaim *c, const Kv *mark) {
        bool running = lease_etcd_record_is_running(mark->record);
        LeaseRecord rec;
        bool found;
        size_t n;

        if (running)
                lease_etcd_seen_put(c->store, c->key, mark->record, mark->mod_revision);
        lease_etcd_record_describe(mark->record, c->detail, sizeof(c->detail));
        n = strlen(c->detail);
        if (running)
                (void) snprintf(c->detail + n, sizeof(c->detail) - n, " (its lease expired)");
        found = lease_etcd_record_read(mark->record, mark->mod_revision, &rec);
        if (found && running)
                rec.status = "abandoned";       /* as the history says */
        claim_conclude(c, LEASE_HELD, running ? LEASE_HELD_ABANDONED : LEASE_HELD_DONE,
                       found ? &rec : NULL);
}

/* The txn failed because the job is paused. */
static void claim_paused(LeaseClaim *c, const Kv *pause) {
        lease_etcd_pause_describe(pause, c->detail, sizeof(c->detail));
        claim_conclude(c, LEASE_HELD, LEASE_HELD_PAUSED, NULL);
}

/* The txn failed because the key exists: its record names the holder, or how it ended. */
static void claim_held(LeaseClaim *c, const Kv *kv) {
        bool running = lease_etcd_record_is_running(kv->record);
        LeaseRecord rec;
        bool found;

        if (running)
                lease_etcd_seen_put(c->store, c->key, kv->record, kv->mod_revision);
        lease_etcd_record_describe(kv->record, c->detail, sizeof(c->detail));
        found = lease_etcd_record_read(kv->record, kv->mod_revision, &rec);
        claim_conclude(c, LEASE_HELD, running ? LEASE_HELD_RUNNING : LEASE_HELD_DONE,
                       found ? &rec : NULL);
}

/* Is the key found our own put: on our session and naming this claim's run (another claim
 * of this daemon for the same firing is no earlier try of this one)? */
static bool claim_is_ours(const LeaseClaim *c, const Kv *kv) {
        const char *mine = json_string_value(json_object_get(c->record, "run"));
        const char *found = json_string_value(json_object_get(kv->record, "run"));

        return kv->found && kv->lease == c->lease && mine && found && strcmp(mine, found) == 0;
}

/* The ranges of a failed election: the key, the marker, the pause marker (if asked for).
 * -EAGAIN after filling k->why when they are malformed, or show no reason for the failure. */
static int claim_txn_ranges(EtcdCall *k, const json_t *ranges[static 3], Kv *ret_kv,
                            Kv *ret_mark, Kv *ret_pause) {
        int r;

        *ret_mark = *ret_pause = (Kv) {};
        r = lease_etcd_range_reply_kv(k, ranges[0], ret_kv);
        if (r >= 0)
                r = lease_etcd_range_reply_kv(k, ranges[1], ret_mark);
        if (r >= 0 && ranges[2])
                r = lease_etcd_range_reply_kv(k, ranges[2], ret_pause);
        if (r >= 0 && !ret_kv->found && !ret_mark->found && !ret_pause->found) {
                lease_etcd_call_why(k, "malformed txn reply: no kv");
                r = -EAGAIN;
        }
        if (r < 0) {
                json_decref(ret_kv->record);
                json_decref(ret_mark->record);
                json_decref(ret_pause->record);
        }
        return r;
}

static int claim_on_txn(EtcdCall *k, json_t *reply, int error, void *owner) {
        LeaseClaim *c = owner;
        const json_t *ranges[3];
        uint64_t rev;
        bool won;
        Kv kv = {}, mark = {}, pause = {};
        int r;

        if (!reply) {
                c->call = NULL;
                if (error == -ENOENT && lease_etcd_now_ms(c->store) < c->deadline) {
                        /* "requested lease not found": the session is gone (revoked by
                         * hand, expired in a long outage) or the history lease is (etcd
                         * restored from an old snapshot). Which one etcd does not say: a
                         * fresh history lease, and the session looked at now. */
                        lease_etcd_history_forget(c->store, c->history);
                        c->history = 0;
                        c->lease = 0;
                        lease_etcd_session_check(c->store);
                        if (claim_elect(c) < 0)
                                claim_out_of_memory(c);
                        return 0;
                }
                claim_unavailable(c, k, error);
                return 0;
        }
        r = txn_parse(k, reply, &won, &rev, ranges);
        if (r < 0)
                return r;
        if (won) {
                c->call = NULL;
                claim_won(c, rev);
                return 0;
        }
        r = claim_txn_ranges(k, ranges, &kv, &mark, &pause);
        if (r < 0)
                return r;
        c->call = NULL;
        if (claim_is_ours(c, &kv))
                /* Our own put: an earlier try of this txn did commit. */
                claim_won(c, kv.mod_revision);
        else if (kv.found)              /* run or running: say so, paused or not */
                claim_held(c, &kv);
        else if (pause.found)
                claim_paused(c, &pause);
        else
                claim_abandoned(c, &mark);
        json_decref(kv.record);
        json_decref(mark.record);
        json_decref(pause.record);
        return 0;
}

/* The election's next step: the daemon's session (for the record), the store's history
 * lease (for the marker), then the txn. 0, or -ENOMEM: nothing started. */
static int claim_elect(LeaseClaim *c) {
        EtcdStore *s = c->store;
        _cleanup_free_ char *value64 = NULL;
        int r;

        c->state = CLAIM_GRANT;
        if (!c->lease) {
                r = lease_etcd_session_need(s, c, &c->lease);
                if (r <= 0)
                        return r;       /* 0: lease_etcd_claim_on_session() follows */
        }
        if (!c->history) {
                r = lease_etcd_history_lease(s, c, &c->history);
                if (r <= 0)
                        return r;       /* 0: lease_etcd_claim_on_history() follows */
        }
        c->state = CLAIM_TXN;
        value64 = lease_etcd_record_to_base64(c->record);
        if (value64)
                c->call = lease_etcd_call_start(s, "/v3/kv/txn", body_claim(c, value64),
                                                c->deadline, claim_on_txn, c);
        return c->call ? 0 : -ENOMEM;
}

/* The running record: who, which run, since when; and whom a takeover replaces. */
static json_t *record_new(EtcdStore *s, const LeaseRequest *req, const char *key) {
        char sched[RFC3339_UTC_MAX], now[RFC3339_UTC_MAX];
        int64_t started = lease_started_at(req->scheduled, req->manual, lease_etcd_wall_sec());
        json_t *rec, *prev;

        rec = json_pack("{s:s,s:s,s:s*,s:{s:s,s:I,s:s},s:s,s:I,s:s,s:s}",
                        "job", req->job, "scheduled", format_rfc3339_utc(req->scheduled, sched),
                        "manual", req->manual,
                        "holder", "hostname", s->hostname, "pid", (json_int_t) s->pid,
                        "boot_id", s->boot_id,
                        "run", req->run_id ?: "", "attempt", (json_int_t) req->attempt,
                        "status", "running", "started", format_rfc3339_utc(started, now));
        if (rec && req->takeover) {
                prev = lease_etcd_seen_take(s, key);
                if (prev)
                        (void) json_object_set_new(rec, "previous", prev);
        }
        return rec;
}

/* The notes a claim of key leaves, one in the inbox of each member told: PREFIX/:inbox/
 * MEMBER/JOB/WHEN, in base64 (NULL, and no notes for no member). -ENOMEM */
static int notes_key64(const EtcdStore *s, const char *key, const LeaseRequest *req,
                       char ***ret) {
        _cleanup_strv_free_ char **notes = NULL;
        size_t n = 0;

        for (size_t i = 0; i < req->n_tell; i++) {
                _cleanup_free_ char *note = NULL;

                if (asprintf(&note, "%s/:inbox/%s/%s", s->prefix, req->tell[i],
                             key + strlen(s->prefix) + 1) < 0 ||
                    strv_push(&notes, &n, lease_etcd_b64_encode(note, strlen(note))) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(notes);
        return 0;
}

/* The marker's key: KEY/claimed (job names have no '/': no job's key is a marker's). */
static char *mark_key64(const char *key) {
        _cleanup_free_ char *mark = NULL;

        if (asprintf(&mark, "%s/claimed", key) < 0)
                return NULL;
        return lease_etcd_b64_encode(mark, strlen(mark));
}

LeaseResult lease_etcd_claim(LeaseStore *store, const LeaseRequest *req, const LeaseCallbacks *cb,
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
        if (req->late && !req->manual && !req->takeover && !req->stand_in) {
                /* A lower rank: the watch may have seen the firing claimed already. (Not a
                 * stand-in: its claim is what deletes the note of its turn.) */
                char key[1024];
                LeaseHeld held;
                const LeaseRecord *holder;
                const char *who;

                (void) snprintf(key, sizeof(key), "%s/%s/%s", s->prefix, req->job,
                                format_rfc3339_utc(req->scheduled, when));
                if (lease_etcd_session_seen_claimed(s, key, &held, &who, &holder)) {
                        (void) snprintf(s->detail, sizeof(s->detail), "%s", who);
                        *ret_info = (LeaseInfo) { .detail = s->detail, .held = held,
                                                  .record = holder };
                        return LEASE_HELD;
                }
        }
        if (s->n_claims >= ETCD_CLAIMS_MAX) {
                (void) snprintf(s->detail, sizeof(s->detail), "too many etcd claims at once (%d)",
                                ETCD_CLAIMS_MAX);
                return LEASE_UNAVAILABLE;
        }
        c = calloc(1, sizeof(LeaseClaim));
        if (!c)
                goto oom;
        *c = (LeaseClaim) { .store = s, .cb = *cb, .deadline = lease_etcd_now_ms(s) + s->election_ms };
        /* A manual run's key sorts after every firing's, and ignores the pause. */
        if ((req->manual ? asprintf(&c->key, "%s/%s/manual-%s", s->prefix, req->job, req->manual) :
             asprintf(&c->key, "%s/%s/%s", s->prefix, req->job,
                      format_rfc3339_utc(req->scheduled, when))) < 0)
                c->key = NULL;
        c->key64 = c->key ? lease_etcd_b64_encode(c->key, strlen(c->key)) : NULL;
        c->mark64 = c->key ? mark_key64(c->key) : NULL;
        c->pause64 = req->manual ? NULL : lease_etcd_pause_key64(s, req->job);
        c->takeover = req->takeover;
        if (req->stand_in && !req->manual) {
                _cleanup_free_ char *turn = lease_etcd_turn_key(s, s->member_id, req->job,
                                                                req->scheduled);

                c->turn64 = turn ? lease_etcd_b64_encode(turn, strlen(turn)) : NULL;
        }
        c->record = c->key64 && c->mark64 && (req->manual || c->pause64) &&
                    notes_key64(s, c->key, req, &c->notes64) >= 0 ?
                    record_new(s, req, c->key) : NULL;
        c->n_notes = strv_length(c->notes64);
        /* Its first step: a call, or a wait for the history lease, both from the loop. */
        if (!c->record || claim_elect(c) < 0) {
                json_decref(c->record);
                free(c->key);
                free(c->key64);
                free(c->mark64);
                free(c->turn64);
                free(c->pause64);
                strv_free(c->notes64);
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
void lease_etcd_claim_lose(LeaseClaim *c, const char *why) {
        if (c->lost || c->state != CLAIM_WON)
                return;
        c->lost = true;
        c->cb.lost(c, why, c->cb.userdata);
}

static void claim_final_step(LeaseClaim *c);

static int claim_on_final(EtcdCall *k, json_t *reply, int error, void *owner) {
        LeaseClaim *c = owner;
        const json_t *ranges[3];
        uint64_t rev;
        bool won;
        int r;

        if (!reply) {
                c->call = NULL;
                if (error == -ENOENT && lease_etcd_now_ms(c->store) < c->deadline) {
                        /* "requested lease not found": the history lease is gone (revoked by
                         * hand, or etcd restored from an old snapshot): a fresh one. */
                        lease_etcd_history_forget(c->store, c->history);
                        c->history = 0;
                        claim_final_step(c);
                        return 0;
                }
                lease_etcd_claim_release(c);  /* could not write it: the proof of run is lost */
                return 0;
        }
        r = txn_parse(k, reply, &won, &rev, ranges);
        if (r < 0)
                return r;
        c->call = NULL;
        if (!won && !lease_etcd_range_kv(ranges[0]) && c->step == FINAL_UPDATE) {
                /* Our lease expired and took the key along, and nobody has taken over: the
                 * run did happen, record it. */
                c->step = FINAL_CREATE;
                claim_final_step(c);
                return 0;
        }
        lease_etcd_claim_release(c);
        return 0;
}

/* The final txn, on the store's history lease of the hour (one more wait at most). */
static void claim_final_step(LeaseClaim *c) {
        EtcdStore *s = c->store;
        _cleanup_free_ char *value64 = NULL;
        int r;

        if (!c->history) {
                r = lease_etcd_history_lease(s, c, &c->history);
                if (r == 0)
                        return;         /* lease_etcd_claim_on_history() follows */
                if (r < 0) {
                        lease_etcd_claim_release(c);
                        return;
                }
        }
        value64 = lease_etcd_record_to_base64(c->record);
        if (value64)
                c->call = lease_etcd_call_start(s, "/v3/kv/txn", body_final(c, value64), c->deadline,
                                          claim_on_final, c);
        if (!c->call)
                lease_etcd_claim_release(c);
}

void lease_etcd_claim_on_session(LeaseClaim *c, EtcdCall *k, int error) {
        assert(c->state == CLAIM_GRANT);
        if (error < 0)
                claim_unavailable(c, k, error);
        else if (claim_elect(c) < 0)
                claim_out_of_memory(c);
}

void lease_etcd_claim_on_history(LeaseClaim *c, EtcdCall *k, uint64_t lease, int error) {
        c->history = lease;
        if (c->state == CLAIM_FINAL) {
                if (lease)
                        claim_final_step(c);
                else
                        lease_etcd_claim_release(c);
                return;
        }
        assert(c->state == CLAIM_GRANT);
        if (!lease)
                claim_unavailable(c, k, error);
        else if (claim_elect(c) < 0)
                claim_out_of_memory(c);
}

void lease_etcd_finish(LeaseClaim *c, const LeaseEnd *end) {
        EtcdStore *s = c->store;
        char now[RFC3339_UTC_MAX];

        assert(c->state == CLAIM_WON);
        c->lose_pending = false;
        lease_etcd_alarm_disarm(s, &c->alarm);
        lease_etcd_call_cancel(c->call);
        c->call = NULL;
        c->state = CLAIM_FINAL;
        c->step = FINAL_UPDATE;
        c->history = 0;         /* the marker's may be too old to keep a record for history */
        c->deadline = lease_etcd_now_ms(s) + s->election_ms;
        (void) json_object_set_new(c->record, "status", json_string(end->result ?: "finished"));
        (void) json_object_set_new(c->record, "finished",
                                   json_string(format_rfc3339_utc(lease_etcd_wall_sec(), now)));
        (void) json_object_set_new(c->record, "exit_status", end->exit_status >= 0 ?
                                   json_integer(end->exit_status) : json_null());
        if (end->duration_msec >= 0)
                (void) json_object_set_new(c->record, "duration_ms",
                                           json_integer(end->duration_msec));
        if (end->output)
                (void) json_object_set_new(c->record, "output", json_string(end->output));
        (void) json_object_set_new(c->record, "fencing_token", json_integer((json_int_t) c->token));
        claim_final_step(c);
}

void lease_etcd_cancel(LeaseClaim *c) {
        assert(c->state == CLAIM_GRANT || c->state == CLAIM_TXN || c->state == CLAIM_WON);
        /* A won record is deleted: watchers may take the firing over. */
        lease_etcd_claim_release(c);
}

