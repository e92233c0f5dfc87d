/* SPDX-License-Identifier: MIT */
/* The S3 lease: each firing is one object, PREFIX/JOB/SCHEDULED-UTC (a manual run's:
 * PREFIX/JOB/manual-KEY), holding a JSON record of who runs it. S3's conditional writes are
 * the election (lease_s3_claim.c):
 *
 *   pause:    is PREFIX/:paused/JOB there (not asked for a manual run)? HELD (paused):
 *             from the fleet's listing when it is recent, else a GET (lease_s3_members.c,
 *             lease_s3_fleet.c, which also answers the API's queries)
 *   claim:    PUT If-None-Match: *      2xx: won (generation 1)
 *                                       412: GET it: another holder (or our own earlier PUT
 *                                            whose answer was lost: then won after all),
 *                                            also within a grace after election_timeout
 *                                       409 ConditionalRequestConflict, 5xx, no answer: retry
 *                                            until election_timeout, then UNAVAILABLE
 *   renew:    PUT If-Match: ETAG every ttl/3 (a new ETag each time; 412: GET it, lost
 *             unless it is still ours) (lease_s3_hold.c)
 *   finish:   PUT If-Match: ETAG with the final status (412: GET it, again if still ours);
 *             then, at most hourly per job, ListObjectsV2 PREFIX/JOB/ page by page and
 *             DELETE records older than history (lease_s3_history.c)
 *   watch:    GET every ttl/2 (lease_s3_watch.c); expired when the record says running and,
 *             by the SERVER's clock, Date - Last-Modified > ttl + max_clock_skew
 *   takeover: GET; if still expired, PUT If-Match: STALE-ETAG with generation + 1 and the old
 *             holder listed as abandoned: one contender wins, the others get 412
 *
 * The generation is the fencing token: it rises with every holder of a firing (ETags order
 * nothing). Expiry never reads the local clock, so a replica whose clock is wrong cannot call
 * a live lease expired. The holder reports lost() once ttl has passed (monotonic clock) since
 * the start of its last good renewal: the object's Last-Modified is later than that start, so
 * the holder gives up before any other replica may take over.
 *
 * Every 412 to a write of ours is read back, because a write whose answer was lost may have
 * been applied, leaving us a stale ETag. That also makes libcurl's one silent resend harmless
 * (http.h: a request on a reused connection that dies before any byte of the answer is sent
 * again on a new one): if the first went through, the resend's condition fails, and the
 * read-back finds our record. libcurl before 8.16 cannot turn that resend off except by
 * never reusing a connection (CURLOPT_FRESH_CONNECT: a TCP and TLS handshake for every
 * renewal), which buys nothing once 412s are read back; so connections are reused.
 *
 * Before the first election a probe checks that the endpoint enforces conditional writes
 * (s3rver and some S3 clones accept and ignore them): PUT a probe object with
 * If-None-Match: * twice (the second must get 412), once with a wrong If-Match (must get
 * 412), then DELETE it. lease_s3_new() starts it; claims wait for it; a refusal makes every
 * claim UNAVAILABLE with the reason, and a failure is retried by the next claim.
 *
 * Members (lease_s3_members.c): a joined daemon PUTs PREFIX/:peers/HOST:PID every ttl/3
 * and lists PREFIX/:p (the heartbeats and the pause markers) at most once per window (ttl/3,
 * at most 10 s), when a firing needs the ranking or a pause look. A lower rank's claim
 * (late) reads the firing's record first and stands down if it is there; only a firing
 * still unclaimed goes on to the pause look and the conditional PUT. As that read is a
 * request, only the fallback rank makes one (looks_alone, core/elect.c); the other ranks
 * leave the firing alone. So a firing costs the claim, the fallback's read and the final
 * record.
 *
 * Non-logging: outcomes reach the daemon through LeaseInfo.detail and lost(why). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "lease_record.h"
#include "lease_s3_internal.h"
#include "macro.h"
#include "reterr.h"
#include "parse.h"
#include "testhook.h"

/* ---- helpers ---- */

uint64_t lease_s3_now_ms(const S3Store *s) {
        return uv_now(s->loop);
}

bool lease_s3_job_valid(const char *job) {
        return job && *job && !strchr(job, '/');
}

int lease_s3_key(const S3Store *s, const LeaseRequest *req, char **ret) {
        char when[RFC3339_UTC_MAX];
        int k;

        if (!lease_s3_job_valid(req->job) || (req->manual && !lease_manual_key_valid(req->manual)))
                return -EINVAL;
        if (req->manual)
                k = asprintf(ret, "%s/%s/manual-%s", s->prefix, req->job, req->manual);
        else
                k = asprintf(ret, "%s/%s/%s", s->prefix, req->job,
                             format_rfc3339_utc(req->scheduled, when));
        return k < 0 ? -ENOMEM : 0;
}

uint32_t lease_s3_timeout_until(const S3Store *s, uint64_t deadline_ms) {
        uint64_t n = lease_s3_now_ms(s), left = deadline_ms > n ? deadline_ms - n : 0;

        if (left > LEASE_S3_TIMEOUT_MAX_MS)
                return LEASE_S3_TIMEOUT_MAX_MS;
        return left < LEASE_S3_TIMEOUT_MIN_MS ? LEASE_S3_TIMEOUT_MIN_MS : (uint32_t) left;
}

/* A failure worth another try: no answer, the server's trouble, a lost race, throttling. TLS,
 * refused credentials, a missing bucket and the like are not. */
bool lease_s3_is_transient(const S3Response *r) {
        static const char *const codes[] = { "ConditionalRequestConflict", "OperationAborted",
                                             "RequestTimeout", "SlowDown", "ExpiredToken",
                                             "RequestTimeTooSkewed", "InternalError" };

        if (r->error < 0)
                return r->error != -EPROTO && r->error != -EINVAL && r->error != -EBADMSG &&
                       r->error != -ENOKEY && r->error != -ENOMEM;
        if (r->status >= 500 || r->status == 409 || r->status == 429 || r->status == 408)
                return true;
        for (size_t i = 0; i < ELEMENTSOF(codes); i++)
                if (strcmp(r->code, codes[i]) == 0)
                        return true;
        return false;
}

bool lease_s3_is_2xx(const S3Response *r) {
        return r->error == 0 && r->status >= 200 && r->status < 300;
}

bool lease_s3_is_no_such_key(const S3Response *r) {
        return r->error == 0 && r->status == 404 && strcmp(r->code, "NoSuchBucket") != 0;
}

bool lease_s3_is_expired(const S3Store *s, const S3Response *r) {
        if (r->date < 0 || r->last_modified < 0 || r->date < r->last_modified)
                return false;
        return (usec_t) (r->date - r->last_modified) * USEC_PER_SEC > s->ttl + s->skew;
}

json_t *lease_s3_record_parse(const S3Response *r) {
        json_t *rec = json_loadb(r->body, r->body_size, 0, NULL);

        if (!json_is_object(rec) || !json_is_string(json_object_get(rec, "status")) ||
            !json_is_integer(json_object_get(rec, "generation"))) {
                json_decref(rec);
                return NULL;
        }
        return rec;
}

bool lease_s3_record_running(const json_t *rec) {
        const char *status = json_string_value(json_object_get(rec, "status"));

        return status && strcmp(status, "running") == 0;
}

/* ---- the probe ---- */

static void lease_s3_on_probe(const S3Response *r, void *userdata);

static void probe_put(S3Store *s, bool if_none_match) {
        static const char body[] = "solocron conditional-write probe\n";
        int r;

        r = s3_request_start(s->s3, &(S3Request) {
                                     .method = HTTP_PUT,
                                     .key = s->probe_key,
                                     .if_none_match = if_none_match,
                                     .if_match = if_none_match ? NULL :
                                                 "\"00000000000000000000000000000000\"",
                                     .body = body,
                                     .body_size = sizeof(body) - 1,
                                     .content_type = "text/plain",
                                     .timeout_ms = LEASE_S3_TIMEOUT_MAX_MS,
                                     .done = lease_s3_on_probe,
                                     .userdata = s,
                             }, &s->probe_op);
        if (r < 0)
                lease_s3_on_probe(&(S3Response) { .error = r, .message = strerror(-r),
                                                  .code = "", .date = -1, .last_modified = -1,
                                                  .body = "" }, s);
}

static void lease_s3_on_probe_deleted(const S3Response *r, void *userdata) {
        S3Store *s = userdata;

        (void) r;                       /* best effort: a leftover probe object is harmless */
        s->probe_op = NULL;
}

static void probe_end(S3Store *s, ProbeState state, const char *why) {
        s->probe_op = NULL;
        s->probe = state;
        if (why)
                (void) snprintf(s->probe_error, sizeof(s->probe_error), "%s", why);
        if (state != PROBE_NONE && s3_request_start(s->s3, &(S3Request) {
                                                            .method = HTTP_DELETE,
                                                            .key = s->probe_key,
                                                            .timeout_ms = LEASE_S3_TIMEOUT_MAX_MS,
                                                            .done = lease_s3_on_probe_deleted,
                                                            .userdata = s,
                                                    }, &s->probe_op) < 0)
                s->probe_op = NULL;

        lease_s3_claims_go_on(s, CLAIM_PROBE, lease_s3_claim_probed);
}

static void lease_s3_on_probe(const S3Response *r, void *userdata) {
        S3Store *s = userdata;
        bool refused = r->error == 0 && (r->status == 412 || r->status == 409);
        char why[LEASE_S3_DETAIL_MAX];

        s->probe_op = NULL;
        if (!lease_s3_is_2xx(r) && !refused) {
                (void) snprintf(why, sizeof(why), "start-up probe: %s", r->message);
                s->probe_error_permanent = !lease_s3_is_transient(r);
                probe_end(s, PROBE_NONE, why);
                return;
        }
        switch (s->probe_step) {
        case 0:                         /* a new object: 2xx; 412 means it is there: fine */
                s->probe_step = refused ? 2 : 1;
                probe_put(s, !refused);
                return;
        case 1:                         /* the same again: must be refused */
                if (!refused) {
                        probe_end(s, PROBE_REFUSED, "the S3 endpoint ignores conditional writes "
                                  "(If-None-Match); leases there would not be safe");
                        return;
                }
                s->probe_step = 2;
                probe_put(s, false);
                return;
        default:                        /* a wrong If-Match: must be refused */
                if (!refused) {
                        probe_end(s, PROBE_REFUSED, "the S3 endpoint ignores conditional writes "
                                  "(If-Match); leases there would not be safe");
                        return;
                }
                probe_end(s, PROBE_OK, NULL);
                return;
        }
}

void lease_s3_probe_start(S3Store *s) {
        if (s->probe != PROBE_NONE || s->closing)
                return;
        s->probe = PROBE_RUNNING;
        s->probe_step = 0;
        probe_put(s, true);
}

/* ---- the store ---- */

static void store_free(S3Store *s) {
        lease_s3_history_free(s);
        lease_s3_members_free(s);
        free(s->prefix);
        free(s->hostname);
        free(s->probe_key);
        free(s);
}

static void lease_s3_on_s3_closed(void *userdata) {
        S3Store *s = userdata;
        void (*done)(void *) = s->close_done;
        void *ud = s->close_userdata;

        store_free(s);
        if (done)
                done(ud);
}

/* Once nothing is left in flight: close the S3 client, then free the store. */
void lease_s3_maybe_closed(S3Store *s) {
        if (!s->closing || s->s3_closing || s->claims || s->watches || s->n_handles > 0)
                return;
        s->s3_closing = true;
        s3_client_close(s->s3, lease_s3_on_s3_closed, s);
}

static void lease_s3_close(LeaseStore *store, void (*done)(void *userdata), void *userdata) {
        S3Store *s = container_of(store, S3Store, store);

        s->closing = true;
        s->close_done = done;
        s->close_userdata = userdata;
        s3_request_cancel(s->probe_op);
        s->probe_op = NULL;
        lease_s3_history_stop(s);
        lease_s3_fleet_stop(s);
        lease_s3_missed_stop(s);
        lease_s3_members_stop(s);
        while (s->watches)
                lease_s3_watch_stop(s->watches);
        /* Final records being written go on (without retries): a run that ended just before
         * shutdown must not look abandoned. Everything else stops now. */
        for (LeaseClaim *c = s->claims, *next; c; c = next) {
                next = c->next;
                if (!(c->state == CLAIM_FINISHING && c->op) &&
                    !(c->state == CLAIM_WON && c->finish_pending))
                        lease_s3_claim_cancel(c);
        }
        lease_s3_maybe_closed(s);
}

static const LeaseOps lease_s3_ops = {
        .name = "s3",
        .looks_alone = true,
        .claim = lease_s3_claim_start,
        .members = lease_s3_members,
        .join = lease_s3_join,
        .finish = lease_s3_claim_finish,
        .cancel = lease_s3_claim_cancel,
        .check_missed = lease_s3_check_missed,
        .watch = lease_s3_watch_start,
        .unwatch = lease_s3_watch_stop,
        .history = lease_s3_history_query,
        .set_paused = lease_s3_set_paused,
        .list_paused = lease_s3_list_paused,
        .probe = lease_s3_probe,
        .close = lease_s3_close,
};

static void read_boot_id(char buf[static 40]) {
        FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

        buf[0] = 0;
        if (!f)
                return;
        if (!fgets(buf, 40, f))
                buf[0] = 0;
        buf[strcspn(buf, "\n")] = 0;
        fclose(f);
}

/* The AWS credential chain's secrets (aws/s3_creds.c reads them): the S3 lease's, not the
 * jobs'. The variables that only say where credentials are (AWS_PROFILE, the container
 * credentials URIs, token files) stay: a file is guarded by its permissions. */
const char *const lease_s3_secret_env[] = {
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN", NULL,
};

int lease_s3_new(uv_loop_t *loop, const LeaseConfig *cfg, const char *hostname,
                 LeaseStore **ret, char **reterr_message) {
        const char *offset_env = test_hook_getenv("SOLOCRON_TEST_CLOCK_OFFSET");
        S3ClientConfig s3cfg = {
                .bucket = cfg->bucket,
                .endpoint = cfg->endpoint,
                .region = cfg->region,
                .path_style = cfg->path_style,
                .ca_file = cfg->ca_file,
        };
        uint8_t rnd[6] = {};
        size_t plen;
        S3Store *s;
        int offset = 0, r;

        /* Tests only: pretend the local clock is this many seconds off. Expiry decisions do
         * not read it; signing follows the server's Date anyway. */
        if (offset_env && parse_int(offset_env, -1000000000, 1000000000, &offset) < 0)
                offset = 0;
        s3cfg.clock_offset = offset;
        if (cfg->ttl < USEC_PER_SEC) {
                return reterr_printf(reterr_message, -EINVAL, "lease ttl must be at least 1s for S3");
        }
        s = calloc(1, sizeof(S3Store));
        if (!s)
                return -ENOMEM;
        s->store.ops = &lease_s3_ops;
        s->loop = loop;
        s->ttl = cfg->ttl;
        s->election_timeout = cfg->election_timeout ?: 10 * USEC_PER_SEC;
        s->grace = s->election_timeout / 2;
        if (s->grace > LEASE_S3_GRACE_MAX_MS * USEC_PER_MSEC)
                s->grace = LEASE_S3_GRACE_MAX_MS * USEC_PER_MSEC;
        s->history = cfg->history ?: 30 * 86400 * USEC_PER_SEC;
        s->skew = cfg->max_clock_skew;
        s->pid = (int64_t) getpid();
        read_boot_id(s->boot_id);
        s->hostname = strdup(hostname && *hostname ? hostname : "localhost");
        s->prefix = strdup(cfg->prefix && *cfg->prefix ? cfg->prefix : "solocron");
        if (!s->hostname || !s->prefix) {
                store_free(s);
                return -ENOMEM;
        }
        plen = strlen(s->prefix);
        while (plen > 1 && s->prefix[plen - 1] == '/')
                s->prefix[--plen] = 0;
        (void) getrandom(rnd, sizeof(rnd), GRND_NONBLOCK);
        if (asprintf(&s->probe_key, "%s/.probe/%s-%lld-%02x%02x%02x%02x%02x%02x", s->prefix,
                     s->hostname, (long long) s->pid, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4],
                     rnd[5]) < 0) {
                s->probe_key = NULL;
                store_free(s);
                return -ENOMEM;
        }
        r = s3_client_new(loop, &s3cfg, &s->s3, reterr_message);
        if (r < 0) {
                store_free(s);
                return r;
        }
        /* The probe starts now, so it is usually over by the first firing. */
        lease_s3_probe_start(s);
        *ret = &s->store;
        return 0;
}
