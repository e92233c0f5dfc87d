/* SPDX-License-Identifier: MIT */
/* One request of the etcd lease backend (see lease_etcd.c for the design): an EtcdCall tries
 * the current endpoint, the next one on a connection error, a 5xx or a malformed reply, backs
 * off after a round of failures until its deadline, and authenticates first when the store
 * has a username but no token yet. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "lease_etcd_internal.h"
#include "macro.h"

#define ETCD_REPLY_MAX          (64U * 1024U)   /* a reply carries one record at most, unless
                                                 * its call says (EtcdCall.reply_max) */
#define ETCD_ATTEMPT_MAX_MS     2000U           /* one request to one endpoint: a proposal made
                                                 * while there is no leader hangs until then */
#define ETCD_BACKOFF_MAX_MS     2000U
#define ETCD_REAUTH_MAX         2               /* fresh tokens per call */

/* ---- messages ---- */

/* strerror, lower case: "connection refused". */
const char *lease_etcd_errno_text(int error, char buf[static 64]) {
        (void) snprintf(buf, 64, "%s", strerror(error < 0 ? -error : error));
        buf[0] = (char) tolower((unsigned char) buf[0]);
        return buf;
}

void lease_etcd_call_failure(const EtcdStore *s, const EtcdCall *k, int error, char *buf, size_t n) {
        char e[64];

        if (error == -ETIMEDOUT)
                (void) snprintf(buf, n, "no usable answer from etcd within %" PRIu64 " ms: %s",
                                s->election_ms, k->why);
        else
                (void) snprintf(buf, n, "%s", k->why[0] ? k->why : lease_etcd_errno_text(error, e));
}

/* A string from the server, made fit for a log line: printable, at most n - 1 bytes. */
const char *lease_etcd_clean(const char *in, char *buf, size_t n) {
        size_t i = 0;

        for (; in && in[i] && i + 1 < n; i++)
                buf[i] = (unsigned char) in[i] < 0x20 || in[i] == 0x7f ? '?' : in[i];
        buf[i] = 0;
        return buf;
}

/* An endpoint for messages: without "user:password@" should someone have written one. */
static const char *endpoint_name(const char *url, char *buf, size_t n) {
        const char *host = strstr(url, "://"), *at;

        host = host ? host + 3 : url;
        at = strchr(host, '@');
        if (!at || (strchr(host, '/') && strchr(host, '/') < at))
                return lease_etcd_clean(url, buf, n);
        (void) snprintf(buf, n, "%.*s%s", (int) (host - url), url, at + 1);
        return buf;
}

/* ---- calls: one request, across the endpoints, until its deadline ---- */

static void call_attempt(EtcdCall *k);
static void call_retry(EtcdCall *k);

static void call_free(EtcdCall *k) {
        lease_etcd_alarm_disarm(k->store, &k->alarm);
        free(k->body);
        if (k->auth_body)
                explicit_bzero(k->auth_body, strlen(k->auth_body));
        free(k->auth_body);
        free(k);
}

/* The owner forgets k: no done() will run. Safe from inside k's own done(). */
void lease_etcd_call_cancel(EtcdCall *k) {
        if (!k)
                return;
        k->done = NULL;
        k->owner = NULL;
        lease_etcd_alarm_disarm(k->store, &k->alarm);
        k->cancelled = true;
        if (k->transfer)
                http_request_cancel(k->transfer);       /* freed in call_on_http_done */
        else if (!k->delivering)
                call_free(k);
}

static void call_deliver(EtcdCall *k, json_t *reply, int error) {
        int r = 0;

        k->delivering = true;
        if (k->done)
                r = k->done(k, reply, error, k->owner);
        k->delivering = false;
        if (r == -EAGAIN && reply && !k->cancelled)
                call_retry(k);          /* malformed: the owner keeps k, try elsewhere */
        else
                call_free(k);
}

static void call_fail(EtcdCall *k, int error) {
        call_deliver(k, NULL, error);
}

static void call_on_alarm(Alarm *a) {
        call_attempt(container_of(a, EtcdCall, alarm));
}

/* The last attempt failed (k->why says how): the next endpoint, or a backoff after a round. */
static void call_retry(EtcdCall *k) {
        EtcdStore *s = k->store;
        uint64_t now = lease_etcd_now_ms(s), wait;

        if (s->current == k->endpoint)
                s->current = (k->endpoint + 1) % s->n_endpoints;
        if (now >= k->deadline) {
                call_fail(k, -ETIMEDOUT);
                return;
        }
        if (++k->failures < s->n_endpoints) {
                call_attempt(k);
                return;
        }
        k->failures = 0;
        wait = k->backoff < k->deadline - now ? k->backoff : k->deadline - now;
        k->backoff = k->backoff * 2 < ETCD_BACKOFF_MAX_MS ? k->backoff * 2 : ETCD_BACKOFF_MAX_MS;
        lease_etcd_alarm_arm(s, &k->alarm, now + wait, call_on_alarm);
}

void lease_etcd_call_why(EtcdCall *k, const char *fmt, ...) {
        char name[160];
        size_t n;
        va_list ap;

        n = (size_t) snprintf(k->why, sizeof(k->why), "%s: ",
                              endpoint_name(k->store->endpoints[k->endpoint], name, sizeof(name)));
        if (n >= sizeof(k->why))
                return;
        va_start(ap, fmt);
        (void) vsnprintf(k->why + n, sizeof(k->why) - n, fmt, ap);
        va_end(ap);
}

static bool is_auth_error(long status, const char *msg) {
        return status == 401 || (msg && (strstr(msg, "invalid auth token") ||
                                         strstr(msg, "user name is empty")));
}

/* A non-200 answer that is JSON: etcd's {"error": …, "code": N}. */
static void call_on_error_reply(EtcdCall *k, long status, json_t *reply) {
        EtcdStore *s = k->store;
        const char *msg = json_string_value(json_object_get(reply, "error"));
        char text[160];

        lease_etcd_clean(msg ?: "no error message", text, sizeof(text));
        if (k->authenticating) {
                if (msg && strstr(msg, "authentication is not enabled")) {
                        free(s->token);
                        s->token = strdup("");          /* proceed without a token */
                        k->authenticating = false;
                        if (s->token) {
                                call_attempt(k);
                                return;
                        }
                }
                if (status < 500) {
                        lease_etcd_call_why(k, "authentication as '%s' failed: %s", s->username, text);
                        call_fail(k, -EACCES);
                        return;
                }
        } else if (is_auth_error(status, msg)) {
                if (!s->username) {
                        lease_etcd_call_why(k, "etcd requires authentication (lease username and "
                                      "password): %s", text);
                        call_fail(k, -EACCES);
                        return;
                }
                if (k->reauths++ < ETCD_REAUTH_MAX) {
                        free(s->token);
                        s->token = NULL;
                        call_attempt(k);
                        return;
                }
                lease_etcd_call_why(k, "etcd keeps rejecting fresh auth tokens: %s", text);
                call_fail(k, -EACCES);
                return;
        }
        lease_etcd_call_why(k, "%s (HTTP %ld)", text, status);
        /* 5xx: unavailable, no leader, timeout; 429: too many requests; no JSON error: not etcd */
        if (status >= 500 || status == 429 || !msg) {
                call_retry(k);
                return;
        }
        call_fail(k, status == 404 ? -ENOENT : status == 403 ? -EACCES : -EINVAL);
}

/* One more answered request's round trip in the store's running average, which weighs the
 * last one half: a slow spell is forgotten after a few quick answers (etcd_claim_lag_ms()). */
static void call_note_round_trip(EtcdStore *s, uint64_t ms) {
        s->round_trip_ms = (s->round_trip_ms + ms + 1) / 2;
}

static void call_on_http_done(HttpResponse *resp, void *userdata) {
        EtcdCall *k = userdata;
        EtcdStore *s = k->store;
        const char *token;
        char e[64], tls[160];
        json_t *reply;

        k->transfer = NULL;
        if (k->cancelled) {
                call_free(k);
                return;
        }
        if (k->streaming) {             /* a stream that ran: its end is the owner's news */
                call_deliver(k, NULL, resp->error);
                return;
        }
        if (resp->error < 0) {
                if (resp->error == -EPROTO)     /* TLS: curl's words say what is wrong */
                        lease_etcd_call_why(k, "TLS: %s", lease_etcd_clean(resp->message, tls, sizeof(tls)));
                else
                        lease_etcd_call_why(k, "%s", resp->error == -EFBIG ? "reply too large" :
                                               lease_etcd_errno_text(resp->error, e));
                call_retry(k);
                return;
        }
        reply = json_loadb(resp->body, resp->body_size, 0, NULL);
        if (!json_is_object(reply)) {
                json_decref(reply);
                lease_etcd_call_why(k, "malformed reply to %s (HTTP %ld): not a JSON object",
                              k->authenticating ? "/v3/auth/authenticate" : k->path,
                              resp->status);
                call_retry(k);
                return;
        }
        if (resp->status != 200) {
                call_on_error_reply(k, resp->status, reply);
                json_decref(reply);
                return;
        }
        if (k->authenticating) {
                token = json_string_value(json_object_get(reply, "token"));
                if (!token || !*token || strpbrk(token, "\r\n")) {
                        json_decref(reply);
                        lease_etcd_call_why(k, "malformed reply to /v3/auth/authenticate: no token");
                        call_retry(k);
                        return;
                }
                free(s->token);
                s->token = strdup(token);
                json_decref(reply);
                k->authenticating = false;
                if (!s->token) {
                        lease_etcd_call_why(k, "out of memory");
                        call_fail(k, -ENOMEM);
                        return;
                }
                call_attempt(k);
                return;
        }
        call_note_round_trip(s, lease_etcd_now_ms(s) - k->sent);
        call_deliver(k, reply, 0);
        json_decref(reply);
}

static bool call_on_stream_data(const char *data, size_t size, void *userdata) {
        EtcdCall *k = userdata;

        k->streaming = true;
        return !k->cancelled && k->on_data && k->on_data(data, size, k->owner);
}

static void call_attempt(EtcdCall *k) {
        EtcdStore *s = k->store;
        uint64_t now = lease_etcd_now_ms(s), left;
        _cleanup_free_ char *url = NULL, *auth = NULL;
        const char *headers[4] = { "Content-Type: application/json" };
        const char *body = k->body;
        bool stream;
        char e[64];
        int r;

        if (now >= k->deadline) {
                if (!k->why[0])
                        (void) snprintf(k->why, sizeof(k->why), "no time left to ask etcd");
                call_fail(k, -ETIMEDOUT);
                return;
        }
        left = k->deadline - now;
        k->endpoint = s->current;
        k->authenticating = s->username && !s->token;
        if (k->authenticating) {
                if (!k->auth_body) {
                        json_t *j = json_pack("{s:s,s:s}", "name", s->username,
                                              "password", s->password ?: "");

                        k->auth_body = j ? json_dumps(j, JSON_COMPACT) : NULL;
                        json_decref(j);
                        if (!k->auth_body) {
                                lease_etcd_call_why(k, "out of memory");
                                call_fail(k, -ENOMEM);
                                return;
                        }
                }
                body = k->auth_body;
        }
        if (asprintf(&url, "%s%s", s->endpoints[k->endpoint],
                     k->authenticating ? "/v3/auth/authenticate" : k->path) < 0)
                url = NULL;
        if (!k->authenticating && s->token && *s->token &&
            asprintf(&auth, "Authorization: %s", s->token) < 0)
                auth = NULL;
        if (!url || (!k->authenticating && s->token && *s->token && !auth)) {
                lease_etcd_call_why(k, "out of memory");
                call_fail(k, -ENOMEM);
                return;
        }
        stream = k->on_data && !k->authenticating;
        /* A stream from a member cut off from the others would never deliver an event: with
         * this metadata, etcd cancels the watch when the member has no leader. */
        headers[auth ? 2 : 1] = stream ? "Grpc-Metadata-hasleader: true" : NULL;
        if (auth)
                headers[1] = auth;
        k->sent = now;
        r = http_request_start(s->http, &(HttpRequest) {
                                       .method = HTTP_POST,
                                       .url = url,
                                       .headers = headers,
                                       .body = body,
                                       .body_size = strlen(body),
                                       .body_borrowed = true,
                                       .timeout_ms = stream ? k->stream_ms :
                                                     (uint32_t) (left < ETCD_ATTEMPT_MAX_MS ?
                                                                 left : ETCD_ATTEMPT_MAX_MS),
                                       .on_data = stream ? call_on_stream_data : NULL,
                                       .connect_timeout_ms = (uint32_t) (left < ETCD_ATTEMPT_MAX_MS ?
                                                                         left : ETCD_ATTEMPT_MAX_MS),
                                       .max_body = k->reply_max ?: ETCD_REPLY_MAX,
                                       .ca_file = s->ca_file,
                                       .client_cert = s->cert_file,
                                       .client_key = s->key_file,
                                       .done = call_on_http_done,
                                       .userdata = k,
                               }, &k->transfer);
        if (auth)
                explicit_bzero(auth, strlen(auth));
        if (r < 0) {
                k->transfer = NULL;
                lease_etcd_call_why(k, "cannot send the request: %s", lease_etcd_errno_text(r, e));
                if (r == -ESHUTDOWN || r == -EINVAL) {
                        call_fail(k, r);
                        return;
                }
                call_retry(k);
                return;
        }
}

/* Start a request from the loop (never calls done from here). body is JSON and is consumed. */
EtcdCall *lease_etcd_call_start(EtcdStore *s, const char *path, json_t *body, uint64_t deadline,
                          lease_etcd_call_done_cb done, void *owner) {
        EtcdCall *k = NULL;

        if (body)
                k = calloc(1, sizeof(EtcdCall));
        if (k)
                k->body = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        if (!k || !k->body) {
                free(k);
                return NULL;
        }
        k->store = s;
        k->path = path;
        k->deadline = deadline;
        k->backoff = ETCD_BACKOFF_MS;
        k->done = done;
        k->owner = owner;
        lease_etcd_alarm_arm(s, &k->alarm, lease_etcd_now_ms(s), call_on_alarm);
        return k;
}

EtcdCall *lease_etcd_call_stream(EtcdStore *s, const char *path, json_t *body, uint64_t deadline,
                           uint32_t stream_ms, lease_etcd_call_data_cb on_data, lease_etcd_call_done_cb done,
                           void *owner) {
        EtcdCall *k = lease_etcd_call_start(s, path, body, deadline, done, owner);

        if (k) {
                k->on_data = on_data;
                k->stream_ms = stream_ms;
        }
        return k;
}
