/* SPDX-License-Identifier: MIT */
/* The etcd lease backend, through etcd's v3 HTTP/JSON gateway, every request asynchronous on
 * the loop (http.c). One firing is one key, PREFIX/JOB/SCHEDULED-UTC, holding a JSON record;
 * every claim has a short lease of its own:
 *
 *   claim    lease/grant TTL → kv/txn "if the key was never created, put the running record
 *            on that lease, else range it" → WON, fencing token = the txn's revision (the key's
 *            mod_revision: etcd revisions only grow), or HELD naming the holder or the final
 *            status. A record on our own lease is ours: a retried txn whose first try did
 *            commit still wins. A loser revokes its lease at once.
 *   renew    every TTL/3: lease/keepalive, then kv/range to see that the record is still ours.
 *            No renewal for TTL, a lease etcd no longer has, or another record → lost().
 *   finish   lease/grant HISTORY → kv/txn "if mod_revision is still our token, put the final
 *            record on the long lease" (if the key is gone, create it) → lease/revoke the short
 *            lease. cancel() revokes the short lease: etcd deletes the running record with
 *            it, and watchers take the firing over.
 *   takeover a holder that dies stops renewing; etcd deletes its key with its lease. watch()
 *            polls kv/range every TTL/2 and calls expired() when the running record is gone:
 *            http.c delivers a body only when a transfer ends, and /v3/watch never ends, so a
 *            real watch would need a streaming http.c; a poll is one 1 ms range per watched
 *            firing per TTL/2. The takeover claim is an ordinary claim (create_revision == 0:
 *            exactly one contender wins) whose record names the old holder as abandoned: the
 *            last running record a claim or watch of this store saw (the seen cache).
 *
 * Every request goes through an EtcdCall: the current endpoint first, the next one on a
 * connection error, a 5xx or a malformed reply; after a round of failures a backoff (200 ms,
 * doubling) until the call's deadline (the election timeout, or the lease's expiry for
 * renewals). With a username, /v3/auth/authenticate gives a token for the Authorization
 * header, fetched again when etcd rejects it (simple tokens are per member and expire).
 * Timers are alarms on one uv_timer_t per store, so objects holding them free synchronously.
 *
 * Non-logging: what went wrong is in the detail and why strings, which never carry the
 * password or the token. */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "lease.h"
#include "macro.h"
#include "parse.h"
#include "strv.h"
#include "timeutil.h"

#define ETCD_REPLY_MAX          (64U * 1024U)   /* a reply carries one record at most */
#define ETCD_RECORD_MAX         (16U * 1024U)   /* a record we write or read */
#define ETCD_ATTEMPT_MAX_MS     2000U           /* one request to one endpoint: a proposal made
                                                 * while there is no leader hangs until then */
#define ETCD_BACKOFF_MS         200U            /* after a round of failed endpoints; doubles */
#define ETCD_BACKOFF_MAX_MS     2000U
#define ETCD_REAUTH_MAX         2               /* fresh tokens per call */
#define ETCD_CLAIMS_MAX         4096            /* claims in flight, won, or finishing */
#define ETCD_SEEN_MAX           64              /* running records remembered for takeovers */
#define ETCD_WHY_MAX            320

typedef struct EtcdStore EtcdStore;
typedef struct EtcdCall EtcdCall;
typedef struct Alarm Alarm;

struct Alarm {                  /* embedded in its owner; on store->alarms while armed */
        uint64_t when;          /* loop time, ms */
        void (*fn)(Alarm *a);
        Alarm *next;
        bool armed;
};

/* reply: the JSON object of a 200 answer; else NULL, error < 0 and k->why says why. Returns 0,
 * or -EAGAIN after filling k->why to call the reply malformed: the next endpoint is tried. */
typedef int (*call_done_fn)(void *owner, EtcdCall *k, json_t *reply, int error);

struct EtcdCall {               /* one request, retried; owned by itself, pointed to by its owner */
        EtcdStore *store;
        const char *path;       /* "/v3/kv/txn" */
        char *body;             /* JSON; borrowed by the transfer */
        char *auth_body;        /* authenticate's body (holds the password): wiped when freed */
        uint64_t deadline;      /* loop time, ms */
        uint64_t backoff;       /* ms */
        uint64_t sent;          /* when the last attempt started: a lease runs from no earlier */
        size_t endpoint;        /* the last attempt's */
        size_t failures;        /* in this round of endpoints */
        unsigned reauths;
        bool authenticating, delivering, cancelled;
        HttpTransfer *transfer;
        Alarm alarm;            /* the next attempt */
        call_done_fn done;
        void *owner;
        char why[ETCD_WHY_MAX];
};

typedef enum ClaimState {
        CLAIM_GRANT,            /* PENDING: granting the short lease */
        CLAIM_TXN,              /* PENDING: the election */
        CLAIM_WON,              /* the daemon's: renewing */
        CLAIM_FINAL,            /* finish(): writing the final record */
        CLAIM_DONE,             /* claimed() is running: released after it */
        CLAIM_RELEASE,          /* revoking what it holds, then freed */
} ClaimState;

typedef enum FinalStep {
        FINAL_GRANT,            /* the history lease */
        FINAL_UPDATE,           /* txn: mod_revision == token */
        FINAL_CREATE,           /* txn: the key is gone (our lease expired): create_revision == 0 */
} FinalStep;

struct LeaseClaim {             /* on store->claims; the daemon's while PENDING or WON */
        EtcdStore *store;
        LeaseClaim *prev, *next;
        ClaimState state;
        FinalStep step;
        LeaseCallbacks cb;
        char *key, *key64;      /* and in base64 */
        json_t *record;         /* the running record; finish() completes it */
        uint64_t lease;         /* the short lease, 0 before the grant (and after its revoke) */
        uint64_t long_lease;    /* finish: the history lease, while not holding the record */
        uint64_t token;         /* WON: the key's mod_revision */
        uint64_t deadline;      /* election or final write: loop time, ms */
        uint64_t renewed;       /* WON: the lease runs at least until renewed + ttl */
        bool lost;
        EtcdCall *call;
        Alarm alarm;            /* WON: the next renewal */
        char detail[ETCD_WHY_MAX + 64];
};

struct LeaseWatch {             /* the daemon's; on store->watches */
        EtcdStore *store;
        LeaseWatch *prev, *next;
        char *key, *key64;
        void (*expired)(void *userdata);
        void *userdata;
        bool fired;
        EtcdCall *call;
        Alarm alarm;            /* the next poll */
};

typedef struct Seen {           /* a running record seen in a claim or a watch */
        char *key;
        json_t *record;
        uint64_t mod_revision;
} Seen;

struct EtcdStore {
        LeaseStore store;
        uv_loop_t *loop;
        HttpClient *http;
        uv_timer_t timer;       /* the earliest alarm */
        Alarm *alarms;          /* earliest first */
        char *prefix;
        char **endpoints;       /* without a trailing '/' */
        size_t n_endpoints, current;
        char *username, *password, *ca_file, *cert_file, *key_file;
        char *token;            /* auth token; "" when etcd has auth disabled; NULL: none yet */
        uint64_t ttl_ms, history_s, election_ms;
        char hostname[256];
        char boot_id[64];
        int64_t pid;
        LeaseClaim *claims;
        size_t n_claims;
        LeaseWatch *watches;
        Seen seen[ETCD_SEEN_MAX];
        size_t n_seen;
        bool closing, http_closing;
        void (*close_done)(void *userdata);
        void *close_userdata;
        char detail[ETCD_WHY_MAX];      /* claim()'s synchronous UNAVAILABLE */
};

/* ---- small helpers ---- */

static uint64_t now_ms(const EtcdStore *s) {
        return uv_now(s->loop);
}

static char *u64_to_string(uint64_t v, char buf[static 21]) {
        (void) snprintf(buf, 21, "%" PRIu64, v);
        return buf;
}

/* strerror, lower case: "connection refused". */
static const char *errno_text(int error, char buf[static 64]) {
        (void) snprintf(buf, 64, "%s", strerror(error < 0 ? -error : error));
        buf[0] = (char) tolower((unsigned char) buf[0]);
        return buf;
}

/* A string from the server, made fit for a log line: printable, at most n - 1 bytes. */
static const char *clean(const char *in, char *buf, size_t n) {
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
                return clean(url, buf, n);
        (void) snprintf(buf, n, "%.*s%s", (int) (host - url), url, at + 1);
        return buf;
}

static const char b64_table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const void *data, size_t n) {
        const unsigned char *d = data;
        char *out = malloc(4 * ((n + 2) / 3) + 1), *p = out;

        if (!out)
                return NULL;
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t) d[i] << 16 | (i + 1 < n ? (uint32_t) d[i + 1] << 8 : 0) |
                             (i + 2 < n ? d[i + 2] : 0);

                *p++ = b64_table[v >> 18 & 63];
                *p++ = b64_table[v >> 12 & 63];
                *p++ = i + 1 < n ? b64_table[v >> 6 & 63] : '=';
                *p++ = i + 2 < n ? b64_table[v & 63] : '=';
        }
        *p = 0;
        return out;
}

/* Standard base64 with padding → *ret (NUL-terminated, *ret_size bytes). -EBADMSG if not. */
static int b64_decode(const char *s, size_t max, char **ret, size_t *ret_size) {
        size_t len = strlen(s), n = 0;
        char *out;

        if (len % 4 != 0 || len / 4 * 3 > max)
                return -EBADMSG;
        out = malloc(len / 4 * 3 + 1);
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < len; i += 4) {
                uint32_t v = 0;
                int pad = 0;

                for (size_t j = 0; j < 4; j++) {
                        const char *p = strchr(b64_table, s[i + j]);

                        if (s[i + j] == '=' && i + 4 == len && j >= 2) {
                                pad++;          /* "xx==" or "xxx=" at the very end */
                                v <<= 6;
                                continue;
                        }
                        if (!p || pad) {        /* strchr finds no '=' in the table */
                                free(out);
                                return -EBADMSG;
                        }
                        v = v << 6 | (uint32_t) (p - b64_table);
                }
                out[n++] = (char) (v >> 16);
                if (pad < 2)
                        out[n++] = (char) (v >> 8 & 0xff);
                if (pad < 1)
                        out[n++] = (char) (v & 0xff);
        }
        out[n] = 0;
        *ret = out;
        *ret_size = n;
        return 0;
}

/* etcd's int64 fields are JSON strings, and lease IDs exceed 2^53: never a double. proto3 omits
 * zero values: a missing field is 0 (-ENOENT tells so). -EBADMSG: not a number. */
static int json_u64(const json_t *o, const char *name, uint64_t *ret) {
        const json_t *v = json_object_get(o, name);

        *ret = 0;
        if (!v)
                return -ENOENT;
        if (json_is_string(v))
                return parse_uint64(json_string_value(v), UINT64_MAX, ret) < 0 ? -EBADMSG : 0;
        if (json_is_integer(v) && json_integer_value(v) >= 0) {
                *ret = (uint64_t) json_integer_value(v);
                return 0;
        }
        return -EBADMSG;
}

static json_t *record_from_base64(const char *value64) {
        _cleanup_free_ char *text = NULL;
        json_t *rec;
        size_t n;

        if (!value64 || b64_decode(value64, ETCD_RECORD_MAX, &text, &n) < 0)
                return NULL;
        rec = json_loadb(text, n, 0, NULL);
        if (!json_is_object(rec)) {
                json_decref(rec);
                return NULL;
        }
        return rec;
}

static char *record_to_base64(const json_t *rec) {
        _cleanup_free_ char *text = json_dumps(rec, JSON_COMPACT);

        if (!text || strlen(text) > ETCD_RECORD_MAX)
                return NULL;
        return b64_encode(text, strlen(text));
}

/* HELD's detail: "host-b pid 42" while it runs, "already run: succeeded" once final. */
static void record_describe(const json_t *rec, char *buf, size_t n) {
        const char *status = json_string_value(json_object_get(rec, "status"));
        const json_t *holder = json_object_get(rec, "holder");
        char host[96], st[48];

        if (!status) {
                (void) snprintf(buf, n, "held by a record solocron cannot read");
                return;
        }
        if (strcmp(status, "running") == 0)
                (void) snprintf(buf, n, "%s pid %" JSON_INTEGER_FORMAT,
                                clean(json_string_value(json_object_get(holder, "hostname")) ?: "?",
                                      host, sizeof(host)),
                                json_integer_value(json_object_get(holder, "pid")));
        else
                (void) snprintf(buf, n, "already run: %s", clean(status, st, sizeof(st)));
}

static bool record_is_running(const json_t *rec) {
        const char *status = json_string_value(json_object_get(rec, "status"));

        return status && strcmp(status, "running") == 0;
}

/* The first kv of a range (or of a txn's failure range): NULL when there is none. */
static const json_t *range_kv(const json_t *range) {
        return json_array_get(json_object_get(range, "kvs"), 0);
}

typedef struct Kv {
        uint64_t mod_revision, lease;
        json_t *record;         /* NULL: the value is not a record of ours */
} Kv;

static int kv_parse(const json_t *kv, Kv *ret, char *why, size_t n) {
        *ret = (Kv) {};
        if (!json_is_object(kv) || json_u64(kv, "mod_revision", &ret->mod_revision) < 0 ||
            ret->mod_revision == 0) {
                (void) snprintf(why, n, "malformed kv in reply: no mod_revision");
                return -EBADMSG;
        }
        if (json_u64(kv, "lease", &ret->lease) == -EBADMSG) {
                (void) snprintf(why, n, "malformed kv in reply: bad lease");
                return -EBADMSG;
        }
        ret->record = record_from_base64(json_string_value(json_object_get(kv, "value")));
        return 0;
}

/* ---- alarms: one uv timer per store ---- */

static void etcd_on_timer(uv_timer_t *t);

static void alarms_rearm(EtcdStore *s) {
        uint64_t now = now_ms(s);

        if (!s->alarms || s->http_closing)
                (void) uv_timer_stop(&s->timer);
        else
                (void) uv_timer_start(&s->timer, etcd_on_timer,
                                      s->alarms->when > now ? s->alarms->when - now : 0, 0);
}

static void alarm_disarm(EtcdStore *s, Alarm *a) {
        if (!a->armed)
                return;
        for (Alarm **p = &s->alarms; *p; p = &(*p)->next)
                if (*p == a) {
                        *p = a->next;
                        break;
                }
        a->next = NULL;
        a->armed = false;
        alarms_rearm(s);
}

static void alarm_arm(EtcdStore *s, Alarm *a, uint64_t when, void (*fn)(Alarm *a)) {
        Alarm **p;

        alarm_disarm(s, a);
        a->when = when;
        a->fn = fn;
        for (p = &s->alarms; *p && (*p)->when <= when; p = &(*p)->next)
                ;
        a->next = *p;
        *p = a;
        a->armed = true;
        alarms_rearm(s);
}

static void etcd_on_timer(uv_timer_t *t) {
        EtcdStore *s = container_of(t, EtcdStore, timer);
        uint64_t now = now_ms(s);

        while (s->alarms && s->alarms->when <= now) {
                Alarm *a = s->alarms;

                s->alarms = a->next;
                a->next = NULL;
                a->armed = false;
                a->fn(a);               /* may arm and disarm alarms, free its owner */
        }
        alarms_rearm(s);
}

/* ---- calls: one request, across the endpoints, until its deadline ---- */

static void call_attempt(EtcdCall *k);
static void call_retry(EtcdCall *k);

static void call_free(EtcdCall *k) {
        alarm_disarm(k->store, &k->alarm);
        free(k->body);
        if (k->auth_body)
                explicit_bzero(k->auth_body, strlen(k->auth_body));
        free(k->auth_body);
        free(k);
}

/* The owner forgets k: no done() will run. Safe from inside k's own done(). */
static void call_cancel(EtcdCall *k) {
        if (!k)
                return;
        k->done = NULL;
        k->owner = NULL;
        alarm_disarm(k->store, &k->alarm);
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
                r = k->done(k->owner, k, reply, error);
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
        uint64_t now = now_ms(s), wait;

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
        alarm_arm(s, &k->alarm, now + wait, call_on_alarm);
}

static void call_why(EtcdCall *k, const char *fmt, ...) _printf_(2, 3);
static void call_why(EtcdCall *k, const char *fmt, ...) {
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

        clean(msg ?: "no error message", text, sizeof(text));
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
                        call_why(k, "authentication as '%s' failed: %s", s->username, text);
                        call_fail(k, -EACCES);
                        return;
                }
        } else if (is_auth_error(status, msg)) {
                if (!s->username) {
                        call_why(k, "etcd requires authentication (lease username and "
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
                call_why(k, "etcd keeps rejecting fresh auth tokens: %s", text);
                call_fail(k, -EACCES);
                return;
        }
        call_why(k, "%s (HTTP %ld)", text, status);
        /* 5xx: unavailable, no leader, timeout; 429: too many requests; no JSON error: not etcd */
        if (status >= 500 || status == 429 || !msg) {
                call_retry(k);
                return;
        }
        call_fail(k, status == 404 ? -ENOENT : status == 403 ? -EACCES : -EINVAL);
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
        if (resp->error < 0) {
                if (resp->error == -EPROTO)     /* TLS: curl's words say what is wrong */
                        call_why(k, "TLS: %s", clean(resp->message, tls, sizeof(tls)));
                else
                        call_why(k, "%s", resp->error == -EFBIG ? "reply too large" :
                                          errno_text(resp->error, e));
                call_retry(k);
                return;
        }
        reply = json_loadb(resp->body, resp->body_size, 0, NULL);
        if (!json_is_object(reply)) {
                json_decref(reply);
                call_why(k, "malformed reply to %s (HTTP %ld): not a JSON object",
                         k->authenticating ? "/v3/auth/authenticate" : k->path, resp->status);
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
                        call_why(k, "malformed reply to /v3/auth/authenticate: no token");
                        call_retry(k);
                        return;
                }
                free(s->token);
                s->token = strdup(token);
                json_decref(reply);
                k->authenticating = false;
                if (!s->token) {
                        call_why(k, "out of memory");
                        call_fail(k, -ENOMEM);
                        return;
                }
                call_attempt(k);
                return;
        }
        call_deliver(k, reply, 0);
        json_decref(reply);
}

static void call_attempt(EtcdCall *k) {
        EtcdStore *s = k->store;
        uint64_t now = now_ms(s), left;
        _cleanup_free_ char *url = NULL, *auth = NULL;
        const char *headers[3] = { "Content-Type: application/json" };
        const char *body = k->body;
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
                                call_why(k, "out of memory");
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
                call_why(k, "out of memory");
                call_fail(k, -ENOMEM);
                return;
        }
        headers[1] = auth;
        k->sent = now;
        r = http_request_start(s->http, &(HttpRequest) {
                                       .method = HTTP_POST,
                                       .url = url,
                                       .headers = headers,
                                       .body = body,
                                       .body_size = strlen(body),
                                       .body_borrowed = true,
                                       .timeout_ms = (uint32_t) (left < ETCD_ATTEMPT_MAX_MS ?
                                                                 left : ETCD_ATTEMPT_MAX_MS),
                                       .max_body = ETCD_REPLY_MAX,
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
                call_why(k, "cannot send the request: %s", errno_text(r, e));
                if (r == -ESHUTDOWN || r == -EINVAL) {
                        call_fail(k, r);
                        return;
                }
                call_retry(k);
                return;
        }
}

/* Start a request from the loop (never calls done from here). body is JSON and is consumed. */
static EtcdCall *call_start(EtcdStore *s, const char *path, json_t *body, uint64_t deadline,
                            call_done_fn done, void *owner) {
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
        alarm_arm(s, &k->alarm, now_ms(s), call_on_alarm);
        return k;
}

static json_t *body_lease(uint64_t id) {
        char buf[21];

        return json_pack("{s:s}", "ID", u64_to_string(id, buf));
}

static json_t *body_grant(uint64_t ttl_s) {
        char buf[21];

        return json_pack("{s:s}", "TTL", u64_to_string(ttl_s, buf));
}

static json_t *body_range(const char *key64) {
        return json_pack("{s:s}", "key", key64);
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

/* A txn's outcome: succeeded (proto3 omits false) with the revision of the put, or the kv
 * the failure range found (NULL: none). */
static int txn_parse(EtcdCall *k, const json_t *reply, bool *ret_won, uint64_t *ret_revision,
                     const json_t **ret_kv) {
        const json_t *ok = json_object_get(reply, "succeeded");

        *ret_kv = NULL;
        if (ok && !json_is_boolean(ok))
                goto bad;
        *ret_won = json_is_true(ok);
        if (*ret_won)
                return json_u64(json_object_get(reply, "header"), "revision", ret_revision) < 0 ||
                       *ret_revision == 0 ? (call_why(k, "malformed txn reply: no revision"),
                                             -EAGAIN) : 0;
        if (!json_is_array(json_object_get(reply, "responses")))
                goto bad;
        *ret_kv = range_kv(json_object_get(json_array_get(json_object_get(reply, "responses"), 0),
                                           "response_range"));
        return 0;
bad:
        call_why(k, "malformed txn reply");
        return -EAGAIN;
}

/* ---- the seen cache: the last running record of a firing, for takeovers ---- */

static void seen_put(EtcdStore *s, const char *key, json_t *record, uint64_t mod_revision) {
        size_t i;
        char *k;

        for (i = 0; i < s->n_seen && strcmp(s->seen[i].key, key) != 0; i++)
                ;
        if (i < s->n_seen) {
                json_decref(s->seen[i].record);
                s->seen[i].record = json_incref(record);
                s->seen[i].mod_revision = mod_revision;
                return;
        }
        k = strdup(key);
        if (!k)
                return;
        if (s->n_seen == ETCD_SEEN_MAX) {           /* forget the oldest */
                free(s->seen[0].key);
                json_decref(s->seen[0].record);
                memmove(s->seen, s->seen + 1, sizeof(Seen) * --s->n_seen);
        }
        s->seen[s->n_seen++] = (Seen) { k, json_incref(record), mod_revision };
}

/* The old holder's record for a takeover, marked abandoned; NULL if never seen. */
static json_t *seen_take(EtcdStore *s, const char *key) {
        json_t *prev;

        for (size_t i = 0; i < s->n_seen; i++) {
                if (strcmp(s->seen[i].key, key) != 0)
                        continue;
                prev = json_deep_copy(s->seen[i].record);
                if (prev) {
                        (void) json_object_set_new(prev, "status", json_string("abandoned"));
                        (void) json_object_set_new(prev, "fencing_token", json_integer(
                                                           (json_int_t) s->seen[i].mod_revision));
                        (void) json_object_del(prev, "previous");
                }
                free(s->seen[i].key);
                json_decref(s->seen[i].record);
                memmove(s->seen + i, s->seen + i + 1, sizeof(Seen) * (--s->n_seen - i));
                return prev;
        }
        return NULL;
}

/* ---- claims ---- */

static void store_maybe_closed(EtcdStore *s);

static void claim_free(LeaseClaim *c) {
        EtcdStore *s = c->store;

        alarm_disarm(s, &c->alarm);
        call_cancel(c->call);
        if (c->prev)
                c->prev->next = c->next;
        else
                s->claims = c->next;
        if (c->next)
                c->next->prev = c->prev;
        s->n_claims--;
        free(c->key);
        free(c->key64);
        json_decref(c->record);
        free(c);
        store_maybe_closed(s);
}

static int claim_on_revoked(void *owner, EtcdCall *k, json_t *reply, int error);

/* Let go of what the claim still holds (short lease, unused history lease), then free it. */
static void claim_release(LeaseClaim *c) {
        EtcdStore *s = c->store;
        uint64_t id = c->lease ?: c->long_lease;

        c->state = CLAIM_RELEASE;
        alarm_disarm(s, &c->alarm);
        call_cancel(c->call);
        c->call = NULL;
        if (!id) {
                claim_free(c);
                return;
        }
        if (c->lease)
                c->lease = 0;
        else
                c->long_lease = 0;
        c->call = call_start(s, "/v3/lease/revoke", body_lease(id), now_ms(s) + s->election_ms,
                             claim_on_revoked, c);
        if (!c->call)
                claim_free(c);          /* the lease expires on its own */
}

static int claim_on_revoked(void *owner, EtcdCall *k, json_t *reply, int error) {
        LeaseClaim *c = owner;

        (void) k, (void) reply, (void) error;  /* gone, not found, or unreachable: it expires */
        c->call = NULL;
        claim_release(c);
        return 0;
}

/* The outcome of a PENDING claim other than WON: tell the daemon, then let go. */
static void claim_conclude(LeaseClaim *c, LeaseResult result) {
        LeaseInfo info = { .detail = c->detail, .key = c->key };

        c->state = CLAIM_DONE;          /* close() leaves it to us */
        c->cb.claimed(c, result, &info, c->cb.userdata);
        claim_release(c);
}

static void claim_unavailable(LeaseClaim *c, EtcdCall *k, int error) {
        char e[64];

        if (error == -ETIMEDOUT)
                (void) snprintf(c->detail, sizeof(c->detail), "no usable answer from etcd within %"
                                PRIu64 " ms: %s", c->store->election_ms, k->why);
        else
                (void) snprintf(c->detail, sizeof(c->detail), "%s",
                                k->why[0] ? k->why : errno_text(error, e));
        claim_conclude(c, LEASE_UNAVAILABLE);
}

static void claim_on_renew(Alarm *a);

static void claim_won(LeaseClaim *c, uint64_t token) {
        EtcdStore *s = c->store;
        LeaseInfo info = { .key = c->key, .fencing_token = token };

        c->state = CLAIM_WON;
        c->token = token;
        alarm_arm(s, &c->alarm, c->renewed + s->ttl_ms / 3, claim_on_renew);
        c->cb.claimed(c, LEASE_WON, &info, c->cb.userdata);
}

static void claim_grant(LeaseClaim *c);

static int claim_on_txn(void *owner, EtcdCall *k, json_t *reply, int error) {
        LeaseClaim *c = owner;
        const json_t *kvj;
        uint64_t rev;
        bool won;
        Kv kv = {};
        int r;

        if (!reply) {
                c->call = NULL;
                if (error == -ENOENT && now_ms(c->store) < c->deadline) {
                        c->lease = 0;           /* "requested lease not found": expired, again */
                        claim_grant(c);
                        return 0;
                }
                claim_unavailable(c, k, error);
                return 0;
        }
        r = txn_parse(k, reply, &won, &rev, &kvj);
        if (r < 0)
                return r;
        if (won) {
                c->call = NULL;
                claim_won(c, rev);
                return 0;
        }
        if (kv_parse(kvj, &kv, k->why, sizeof(k->why)) < 0)
                return -EAGAIN;
        c->call = NULL;
        if (kv.lease == c->lease) {
                /* Our own put: an earlier try of this txn did commit. */
                json_decref(kv.record);
                claim_won(c, kv.mod_revision);
                return 0;
        }
        if (record_is_running(kv.record))
                seen_put(c->store, c->key, kv.record, kv.mod_revision);
        record_describe(kv.record, c->detail, sizeof(c->detail));
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
        if (json_u64(reply, "ID", &c->lease) < 0 || c->lease == 0 ||
            json_u64(reply, "TTL", &ttl) < 0 || ttl == 0) {
                c->lease = 0;
                call_why(k, "malformed reply to /v3/lease/grant: no ID or TTL");
                return -EAGAIN;
        }
        c->call = NULL;
        c->renewed = k->sent;
        c->state = CLAIM_TXN;
        value64 = record_to_base64(c->record);
        if (value64)
                c->call = call_start(s, "/v3/kv/txn",
                                     body_txn(c->key64, true, 0, value64, c->lease), c->deadline,
                                     claim_on_txn, c);
        if (!c->call) {
                (void) snprintf(c->detail, sizeof(c->detail), "out of memory");
                claim_conclude(c, LEASE_UNAVAILABLE);
        }
        return 0;
}

static void claim_grant(LeaseClaim *c) {
        EtcdStore *s = c->store;

        c->state = CLAIM_GRANT;
        c->call = call_start(s, "/v3/lease/grant", body_grant(s->ttl_ms / 1000), c->deadline,
                             claim_on_grant, c);
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
                prev = seen_take(s, key);
                if (prev)
                        (void) json_object_set_new(rec, "previous", prev);
        }
        return rec;
}

static LeaseResult etcd_claim(LeaseStore *store, const LeaseRequest *req, const LeaseCallbacks *cb,
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
        *c = (LeaseClaim) { .store = s, .cb = *cb, .deadline = now_ms(s) + s->election_ms };
        if (asprintf(&c->key, "%s/%s/%s", s->prefix, req->job,
                     format_rfc3339_utc(req->scheduled, when)) < 0)
                c->key = NULL;
        c->key64 = c->key ? b64_encode(c->key, strlen(c->key)) : NULL;
        c->record = c->key64 ? record_new(s, req, c->key) : NULL;
        if (!c->record) {
                free(c->key);
                free(c->key64);
                free(c);
                goto oom;
        }
        c->call = call_start(s, "/v3/lease/grant", body_grant(s->ttl_ms / 1000), c->deadline,
                             claim_on_grant, c);
        if (!c->call) {
                json_decref(c->record);
                free(c->key);
                free(c->key64);
                free(c);
                goto oom;
        }
        c->next = s->claims;
        if (c->next)
                c->next->prev = c;
        s->claims = c;
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
        const json_t *kvj;
        Kv kv = {};

        (void) error;
        if (reply) {
                kvj = range_kv(reply);
                if (kvj && kv_parse(kvj, &kv, k->why, sizeof(k->why)) < 0)
                        return -EAGAIN;
        }
        c->call = NULL;
        alarm_arm(s, &c->alarm, c->renewed + s->ttl_ms / 3, claim_on_renew);
        if (!reply)
                return 0;               /* could not look: the keepalive decides */
        if (!kvj)
                return claim_lose(c, "the lease record was deleted"), 0;
        if (kv.mod_revision != c->token) {
                record_describe(kv.record, who, sizeof(who));
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
        uint64_t now = now_ms(s), ttl;

        (void) error;
        if (reply && (!json_is_object(result) || json_u64(result, "TTL", &ttl) == -EBADMSG)) {
                call_why(k, "malformed reply to /v3/lease/keepalive");
                return -EAGAIN;
        }
        c->call = NULL;
        if (!reply) {
                /* Keep trying: should etcd come back while our lease lives, the record stays
                 * ours and nobody takes the firing over. */
                alarm_arm(s, &c->alarm, now + s->ttl_ms / 3, claim_on_renew);
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
        c->call = call_start(s, "/v3/kv/range", body_range(c->key64), now + s->ttl_ms / 3,
                             claim_on_verify, c);
        if (!c->call)
                alarm_arm(s, &c->alarm, c->renewed + s->ttl_ms / 3, claim_on_renew);
        return 0;
}

static void claim_on_renew(Alarm *a) {
        LeaseClaim *c = container_of(a, LeaseClaim, alarm);
        EtcdStore *s = c->store;
        uint64_t now = now_ms(s), deadline = c->renewed + s->ttl_ms;

        if (deadline < now + ETCD_BACKOFF_MS)   /* past the TTL already: keep trying a while */
                deadline = now + s->ttl_ms / 3;
        c->call = call_start(s, "/v3/lease/keepalive", body_lease(c->lease), deadline,
                             claim_on_keepalive, c);
        if (!c->call)
                alarm_arm(s, &c->alarm, now + s->ttl_ms / 3, claim_on_renew);
}

static void claim_final_step(LeaseClaim *c);

static int claim_on_final(void *owner, EtcdCall *k, json_t *reply, int error) {
        LeaseClaim *c = owner;
        const json_t *kvj;
        uint64_t rev;
        bool won;
        int r;

        (void) error;
        if (!reply) {
                c->call = NULL;
                claim_release(c);       /* could not write it: the proof of run is lost */
                return 0;
        }
        if (c->step == FINAL_GRANT) {
                if (json_u64(reply, "ID", &c->long_lease) < 0 || c->long_lease == 0) {
                        c->long_lease = 0;
                        call_why(k, "malformed reply to /v3/lease/grant: no ID");
                        return -EAGAIN;
                }
                c->call = NULL;
                c->step = FINAL_UPDATE;
                claim_final_step(c);
                return 0;
        }
        r = txn_parse(k, reply, &won, &rev, &kvj);
        if (r < 0)
                return r;
        c->call = NULL;
        if (won)
                c->long_lease = 0;      /* holds the record now: keep it */
        else if (!kvj && c->step == FINAL_UPDATE) {
                /* Our lease expired and took the key along, and nobody has taken over: the
                 * run did happen, record it. */
                c->step = FINAL_CREATE;
                claim_final_step(c);
                return 0;
        }
        claim_release(c);
        return 0;
}

static void claim_final_step(LeaseClaim *c) {
        EtcdStore *s = c->store;
        _cleanup_free_ char *value64 = NULL;

        if (c->step == FINAL_GRANT)
                c->call = call_start(s, "/v3/lease/grant", body_grant(s->history_s), c->deadline,
                                     claim_on_final, c);
        else {
                value64 = record_to_base64(c->record);
                if (value64)
                        c->call = call_start(s, "/v3/kv/txn",
                                             body_txn(c->key64, c->step == FINAL_CREATE,
                                                      c->step == FINAL_CREATE ? 0 : c->token,
                                                      value64, c->long_lease),
                                             c->deadline, claim_on_final, c);
        }
        if (!c->call)
                claim_release(c);
}

static void etcd_finish(LeaseClaim *c, const char *result, int64_t exit_status) {
        EtcdStore *s = c->store;
        char now[RFC3339_UTC_MAX];

        assert(c->state == CLAIM_WON);
        alarm_disarm(s, &c->alarm);
        call_cancel(c->call);
        c->call = NULL;
        c->state = CLAIM_FINAL;
        c->step = FINAL_GRANT;
        c->deadline = now_ms(s) + s->election_ms;
        (void) json_object_set_new(c->record, "status", json_string(result ?: "finished"));
        (void) json_object_set_new(c->record, "finished",
                                   json_string(format_rfc3339_utc(time(NULL), now)));
        (void) json_object_set_new(c->record, "exit_status",
                                   exit_status >= 0 ? json_integer(exit_status) : json_null());
        (void) json_object_set_new(c->record, "fencing_token", json_integer((json_int_t) c->token));
        claim_final_step(c);
}

static void etcd_cancel(LeaseClaim *c) {
        assert(c->state == CLAIM_GRANT || c->state == CLAIM_TXN || c->state == CLAIM_WON);
        /* Revoking the lease deletes a record we put: watchers may take the firing over. */
        claim_release(c);
}

/* ---- watches ---- */

static void watch_on_poll(Alarm *a);

static int watch_on_range(void *owner, EtcdCall *k, json_t *reply, int error) {
        LeaseWatch *w = owner;
        EtcdStore *s = w->store;
        const json_t *kvj = NULL;
        uint64_t now = now_ms(s);
        Kv kv = {};

        (void) error;
        if (reply) {
                kvj = range_kv(reply);
                if (kvj && kv_parse(kvj, &kv, k->why, sizeof(k->why)) < 0)
                        return -EAGAIN;
        }
        w->call = NULL;
        if (!reply) {                   /* etcd unreachable: that proves nothing, look again */
                alarm_arm(s, &w->alarm, now + s->ttl_ms / 2, watch_on_poll);
                return 0;
        }
        if (!kvj) {
                /* The key went with its holder's lease (or was released without a final
                 * record): a record that said running. */
                w->fired = true;
                w->expired(w->userdata);
                return 0;
        }
        if (record_is_running(kv.record) || !kv.record) {
                if (kv.record)
                        seen_put(s, w->key, kv.record, kv.mod_revision);
                alarm_arm(s, &w->alarm, now + s->ttl_ms / 2, watch_on_poll);
        }                               /* else final: nothing to take over, stop looking */
        json_decref(kv.record);
        return 0;
}

static void watch_on_poll(Alarm *a) {
        LeaseWatch *w = container_of(a, LeaseWatch, alarm);
        EtcdStore *s = w->store;
        uint64_t now = now_ms(s);

        w->call = call_start(s, "/v3/kv/range", body_range(w->key64), now + s->ttl_ms / 2,
                             watch_on_range, w);
        if (!w->call)
                alarm_arm(s, &w->alarm, now + s->ttl_ms / 2, watch_on_poll);
}

static int etcd_watch(LeaseStore *store, const LeaseRequest *req, void (*expired)(void *userdata),
                      void *userdata, LeaseWatch **ret) {
        EtcdStore *s = container_of(store, EtcdStore, store);
        char when[RFC3339_UTC_MAX];
        LeaseWatch *w;

        assert(req && req->job && expired && ret);
        if (s->closing)
                return -ESHUTDOWN;
        w = calloc(1, sizeof(LeaseWatch));
        if (!w)
                return -ENOMEM;
        *w = (LeaseWatch) { .store = s, .expired = expired, .userdata = userdata };
        if (asprintf(&w->key, "%s/%s/%s", s->prefix, req->job,
                     format_rfc3339_utc(req->scheduled, when)) < 0)
                w->key = NULL;
        w->key64 = w->key ? b64_encode(w->key, strlen(w->key)) : NULL;
        if (!w->key64) {
                free(w->key);
                free(w);
                return -ENOMEM;
        }
        w->next = s->watches;
        if (w->next)
                w->next->prev = w;
        s->watches = w;
        /* The claim that came back HELD has just seen the record. */
        alarm_arm(s, &w->alarm, now_ms(s) + s->ttl_ms / 2, watch_on_poll);
        *ret = w;
        return 0;
}

static void etcd_unwatch(LeaseWatch *w) {
        EtcdStore *s;

        if (!w)
                return;
        s = w->store;
        alarm_disarm(s, &w->alarm);
        call_cancel(w->call);
        if (w->prev)
                w->prev->next = w->next;
        else
                s->watches = w->next;
        if (w->next)
                w->next->prev = w->prev;
        free(w->key);
        free(w->key64);
        free(w);
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
static void store_maybe_closed(EtcdStore *s) {
        if (!s->closing || s->claims || s->http_closing)
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
        s->close_done = done;
        s->close_userdata = userdata;
        while (s->watches)
                etcd_unwatch(s->watches);
        /* Pending and won claims are let go (their leases revoked); final writes go on until
         * their deadline, so that a run that ended keeps its proof. */
        for (c = s->claims; c; c = next) {
                next = c->next;
                if (c->state == CLAIM_GRANT || c->state == CLAIM_TXN || c->state == CLAIM_WON)
                        claim_release(c);
        }
        store_maybe_closed(s);
}

static const LeaseOps lease_etcd_ops = {
        .name = "etcd",
        .claim = etcd_claim,
        .finish = etcd_finish,
        .cancel = etcd_cancel,
        .watch = etcd_watch,
        .unwatch = etcd_unwatch,
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
        s->http = http_client_new(loop);
        if (!s->http) {
                int r = -errno;

                if (reterr_message && asprintf(reterr_message, "cannot start the HTTP client: %s",
                                               r == -EOPNOTSUPP ? "libcurl is not installed" :
                                               strerror(-r)) < 0)
                        *reterr_message = NULL;
                store_free(s);
                return r;
        }
        (void) uv_timer_init(loop, &s->timer);  /* cannot fail; last, so nothing to undo */
        *ret = &s->store;
        return 0;
}
