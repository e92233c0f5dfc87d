/* SPDX-License-Identifier: MIT */
/* The etcd lease backend, through etcd's v3 HTTP/JSON gateway, every request asynchronous on
 * the loop (http.c). One firing is one key, PREFIX/JOB/SCHEDULED-UTC (a manual run's:
 * PREFIX/JOB/manual-KEY), holding a JSON record, and a marker beside it, KEY/claimed, that
 * says the firing was claimed. Nothing is granted or revoked per claim: the daemon holds one
 * session (lease_etcd_session.c):
 *
 *   session  lease/grant TTL once, kv/put PREFIX/:members/HOST:PID on it (the others rank
 *            firings over the members, core/elect.c), lease/keepalive every TTL/3, and two
 *            /v3/watch streams: over PREFIX/:members/, and over the daemon's inbox,
 *            PREFIX/:inbox/HOST:PID/. No renewal for TTL, or a lease etcd no longer has,
 *            loses the session: lost() for every claim won on it, and a new session.
 *            close() revokes it. Opened by join() (the daemon), else at the first claim.
 *   claim    kv/txn "if neither the key nor the marker exists, and the job is not paused
 *            (no PREFIX/:paused/JOB; a manual run does not ask), put the running record on
 *            the session, and on the history lease its copies: the marker, and a note in
 *            the inbox of each other member that looks at the firing (LeaseRequest.tell:
 *            ranks 0, 1 and the fallback), else range all three" → WON, fencing token =
 *            the txn's revision (the key's mod_revision: etcd revisions only grow), or HELD
 *            naming the holder, the final status or the pause. A record on our own session
 *            is ours: a retried txn whose first try did commit still wins.
 *   notes    a lower rank that finds a note for its firing in its inbox answers HELD
 *            without a request, and a deleted note (the final record deletes them) tells
 *            its missed-firing check that the firing ran. So a firing costs two watch
 *            messages per member told, not per member of the fleet; the members not told
 *            stand down at once (core/elect.c). A note is on the history lease, not the
 *            holder's session: a holder that dies leaves it, and it still says "not
 *            finished" (the missed-firing check then asks etcd).
 *   orphaned the key goes with its holder's session, the marker stays: a replica that claims
 *            the firing after its holder died (catch-up, a slow replica) finds the marker
 *            alone and stands down, HELD "HOST pid N (its lease expired)", as it would have
 *            before the holder died. Only a takeover claim runs it again.
 *   lost     the session lost (above). A won record deleted or overwritten by hand is not
 *            watched for: the run goes on, and finish() writes its final record if the key
 *            is gone, not over another holder's record.
 *   finish   kv/txn "if mod_revision is still our token, put the final record on the
 *            history lease and delete the marker and the notes" (if the key is gone, create
 *            it): two requests per firing in all. cancel() deletes a won record if it is
 *            still ours; the marker and the notes stay, and watchers take the firing over.
 *   history  markers and final records share a history lease of HISTORY + 1 h, granted by the
 *            first claim that needs one (its waits are shared) and used for an hour: one
 *            lease per daemon per hour, not one per firing, and each record is kept at least
 *            HISTORY. A lease etcd no longer has ("requested lease not found") is granted
 *            again.
 *   takeover a holder that dies stops renewing; etcd deletes its key with its session. watch()
 *            (lease_etcd_watch.c) ranges the key, then follows it with a /v3/watch stream
 *            from that revision and calls ended(true) on its DELETE event (a stream per
 *            watched firing, at most 8 at once; beyond that, a kv/range every TTL/2). The
 *            takeover claim is an ordinary claim that only asks for the key to be gone
 *            (create_revision == 0: exactly one contender wins) and rewrites the marker;
 *            its record names the old holder as abandoned: the last running record a claim
 *            or watch of this store saw, or the marker a claim found (the seen cache,
 *            lease_etcd_record.c).
 *
 *   api      the history, pause markers and the probe: lease_etcd_fleet.c.
 *
 * Every request goes through an EtcdCall (lease_etcd_call.c): the current endpoint first, the
 * next one on a connection error, a 5xx or a malformed reply; after a round of failures a
 * backoff (200 ms, doubling) until the call's deadline (the election timeout, or the lease's
 * expiry for renewals). With a username, /v3/auth/authenticate gives a token for the
 * Authorization header, fetched again when etcd rejects it (simple tokens are per member and
 * expire). Timers are alarms on one uv_timer_t per store (lease_etcd_alarm.c), so objects
 * holding them free synchronously.
 *
 * Non-logging: what went wrong is in the detail and why strings, which never carry the
 * password or the token. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lease_etcd_internal.h"
#include "macro.h"
#include "reterr.h"
#include "strv.h"
#include "timeutil.h"

/* ---- the history lease: one per store per hour ---- */

/* Markers and final records share a history lease for this long: it is granted for history +
 * this, so each record is kept at least `history` and at most this much longer, and etcd
 * holds one history lease per daemon per hour rather than one per firing. */
#define HISTORY_SHARE_S         3600U

static int history_on_grant(EtcdCall *k, json_t *reply, int error, void *owner) {
        EtcdStore *s = owner;
        uint64_t id = 0, gen = s->history_gen;
        LeaseClaim *c;

        if (reply && lease_etcd_grant_parse(k, reply, &id) < 0)
                return -EAGAIN;
        s->history_call = NULL;
        if (reply) {
                s->history_lease = id;
                /* The lease runs from no earlier than the request: count the hour from it. */
                s->history_until = k->sent + HISTORY_SHARE_S * 1000;
        }
        /* Each waiter in turn, from the head again: a waiter's outcome reaches the daemon,
         * which may cancel claims or add ones (that wait for another grant) meanwhile. */
        for (;;) {
                for (c = s->claims; c && c->history_wait != gen; c = c->next)
                        ;
                if (!c)
                        break;
                c->history_wait = 0;
                lease_etcd_claim_on_history(c, k, id, reply ? 0 : error);
        }
        lease_etcd_store_maybe_closed(s);
        return 0;
}

int lease_etcd_history_lease(EtcdStore *s, LeaseClaim *c, uint64_t *ret) {
        if (s->history_lease && lease_etcd_now_ms(s) < s->history_until) {
                *ret = s->history_lease;
                return 1;
        }
        if (!s->history_call) {
                s->history_call = lease_etcd_call_start(s, "/v3/lease/grant",
                                                  lease_etcd_body_grant(s->history_s + HISTORY_SHARE_S),
                                                  c->deadline, history_on_grant, s);
                if (!s->history_call)
                        return -ENOMEM;
                s->history_gen++;
        }
        c->history_wait = s->history_gen;
        return 0;
}

void lease_etcd_history_forget(EtcdStore *s, uint64_t lease) {
        if (lease && s->history_lease == lease)
                s->history_lease = 0;
}

/* ---- the store ---- */

static void store_free(EtcdStore *s) {
        free(s->prefix);
        strv_free(s->endpoints);
        free(s->username);
        if (s->password)
                explicit_bzero(s->password, strlen(s->password));
        free(s->password);
        if (s->token)
                explicit_bzero(s->token, strlen(s->token));
        free(s->token);
        free(s->ca_file);
        free(s->cert_file);
        free(s->key_file);
        lease_etcd_session_free(s);
        for (size_t i = 0; i < s->n_seen; i++) {
                free(s->seen[i].key);
                json_decref(s->seen[i].record);
        }
        free(s);
}

static void etcd_on_timer_closed(uv_handle_t *h) {
        EtcdStore *s = container_of((uv_timer_t *) h, EtcdStore, timer);
        void (*done)(void *userdata) = s->close_done;
        void *userdata = s->close_userdata;

        store_free(s);
        if (done)
                done(userdata);
}

static void etcd_on_http_closed(void *userdata) {
        EtcdStore *s = userdata;

        uv_close((uv_handle_t *) &s->timer, etcd_on_timer_closed);
}

/* Closing, and every background write and revoke is over: close the client, then the timer. */
void lease_etcd_store_maybe_closed(EtcdStore *s) {
        if (!s->closing || s->in_close || s->claims || s->queries || s->missed ||
            s->history_call || s->session_call || s->follow_members.call ||
            s->follow_inbox.call || s->http_closing)
                return;
        s->http_closing = true;
        (void) uv_timer_stop(&s->timer);
        http_client_close(s->http, etcd_on_http_closed, s);
}

static void etcd_close(LeaseStore *store, void (*done)(void *userdata), void *userdata) {
        EtcdStore *s = container_of(store, EtcdStore, store);
        LeaseClaim *c, *next;

        assert(!s->closing);
        s->closing = true;
        s->in_close = true;     /* answering a query below must not close the client early */
        s->close_done = done;
        s->close_userdata = userdata;
        while (s->watches)
                lease_etcd_unwatch(s->watches);
        lease_etcd_queries_close(s);    /* answered: the store is closing */
        lease_etcd_missed_close(s);
        /* Pending and won claims are let go (the session's revoke below deletes the running
         * records); final writes go on until their deadline, so that a run that ended keeps
         * its proof. */
        for (c = s->claims; c; c = next) {
                next = c->next;
                if (c->state == CLAIM_GRANT || c->state == CLAIM_TXN || c->state == CLAIM_WON)
                        lease_etcd_claim_release(c);
        }
        /* A history grant only final writes could still need. */
        for (c = s->claims; c && c->history_wait == 0; c = c->next)
                ;
        if (s->history_call && !c) {
                lease_etcd_call_cancel(s->history_call);
                s->history_call = NULL;
        }
        lease_etcd_session_close(s);
        s->in_close = false;
        lease_etcd_store_maybe_closed(s);
}

/* A claim made now reaches the others in about two round trips: the claim's own, and the
 * inbox watch's that brings its note. At most half the election timeout. */
static uint64_t etcd_claim_lag_ms(LeaseStore *store) {
        EtcdStore *s = container_of(store, EtcdStore, store);
        uint64_t lag = 2 * s->round_trip_ms;

        return lag < s->election_ms / 2 ? lag : s->election_ms / 2;
}

static const LeaseOps lease_etcd_ops = {
        .name = "etcd",
        .claim = lease_etcd_claim,
        .finish = lease_etcd_finish,
        .cancel = lease_etcd_cancel,
        .watch = lease_etcd_watch,
        .unwatch = lease_etcd_unwatch,
        .history = lease_etcd_history,
        .set_paused = lease_etcd_set_paused,
        .list_paused = lease_etcd_list_paused,
        .check_missed = lease_etcd_check_missed,
        .members = lease_etcd_members,
        .claim_lag_ms = etcd_claim_lag_ms,
        .join = lease_etcd_join,
        .pass_turn = lease_etcd_pass_turn,
        .probe = lease_etcd_probe,
        .close = etcd_close,
};

static void read_boot_id(char *buf, size_t n) {
        int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
        ssize_t k = fd >= 0 ? read(fd, buf, n - 1) : -1;

        if (fd >= 0)
                (void) close(fd);
        buf[k > 0 ? k : 0] = 0;
        buf[strcspn(buf, "\n")] = 0;
}

int lease_etcd_new(uv_loop_t *loop, const LeaseConfig *cfg, const char *hostname, LeaseStore **ret,
                   char **reterr_message) {
        EtcdStore *s;
        size_t n;

        assert(loop && cfg && ret);
        n = strv_length(cfg->endpoints);
        if (n == 0) {
                if (reterr_message)
                        *reterr_message = strdup("the etcd lease backend needs endpoints");
                return -EINVAL;
        }
        if (cfg->ttl < 2 * USEC_PER_SEC) {
                if (reterr_message)
                        *reterr_message = strdup("the etcd lease ttl must be at least 2s");
                return -EINVAL;
        }
        s = calloc(1, sizeof(EtcdStore));
        if (!s)
                return -ENOMEM;
        s->store.ops = &lease_etcd_ops;
        s->loop = loop;
        s->prefix = strdup(cfg->prefix ?: "solocron");
        s->endpoints = strv_copy(cfg->endpoints);
        s->n_endpoints = n;
        s->username = cfg->username ? strdup(cfg->username) : NULL;
        s->password = cfg->password ? strdup(cfg->password) : NULL;
        s->ca_file = cfg->ca_file ? strdup(cfg->ca_file) : NULL;
        s->cert_file = cfg->cert_file ? strdup(cfg->cert_file) : NULL;
        s->key_file = cfg->key_file ? strdup(cfg->key_file) : NULL;
        if (!s->prefix || !s->endpoints || (cfg->username && !s->username) ||
            (cfg->password && !s->password) || (cfg->ca_file && !s->ca_file) ||
            (cfg->cert_file && !s->cert_file) || (cfg->key_file && !s->key_file)) {
                store_free(s);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {        /* "http://h:2379/" → "http://h:2379" */
                char *ep = s->endpoints[i];

                for (size_t l = strlen(ep); l > 0 && ep[l - 1] == '/'; l--)
                        ep[l - 1] = 0;
        }
        for (size_t l = strlen(s->prefix); l > 0 && s->prefix[l - 1] == '/'; l--)
                s->prefix[l - 1] = 0;
        /* ttl in whole seconds (etcd's unit), rounded up */
        s->ttl_ms = (cfg->ttl + USEC_PER_SEC - 1) / USEC_PER_SEC * 1000;
        s->history_s = cfg->history / USEC_PER_SEC > 0 ? cfg->history / USEC_PER_SEC : 1;
        s->election_ms = cfg->election_timeout / USEC_PER_MSEC > 0 ?
                         cfg->election_timeout / USEC_PER_MSEC : 1;
        (void) snprintf(s->hostname, sizeof(s->hostname), "%s", hostname ?: "localhost");
        read_boot_id(s->boot_id, sizeof(s->boot_id));
        s->pid = getpid();
        if (lease_etcd_session_init(s) < 0) {
                store_free(s);
                return -ENOMEM;
        }
        s->http = http_client_new(loop);
        if (!s->http) {
                int r = -errno;

                if (reterr_message)
                        (void) reterr_printf(reterr_message, r, "cannot start the HTTP client: %s",
                                             r == -EOPNOTSUPP ? "libcurl is not installed" :
                                             strerror(-r));
                store_free(s);
                return r;
        }
        (void) uv_timer_init(loop, &s->timer);  /* cannot fail; last, so nothing to undo */
        *ret = &s->store;
        return 0;
}
