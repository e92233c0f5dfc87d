/* SPDX-License-Identifier: MIT */
/* The Redis lease backend's one connection, and the calls that go over it.
 *
 * hiredis's async API on the loop: its libuv adapter (hiredis/adapters/libuv.h) made over
 * for a library loaded at run time (redislib.h), with the poll handle counted so that the
 * store closes only once libuv has let go of it. The host name is resolved with
 * uv_getaddrinfo() first: hiredis would resolve it with a blocking getaddrinfo().
 *
 * A connection is made when a call needs one, to the current endpoint: connect, then the
 * handshake pipelined in one round trip: AUTH (when a password is set), SELECT (a database
 * other than 0), SCRIPT LOAD of every script (their SHA1s for EVALSHA; a server that forgets
 * one answers NOSCRIPT and the call is sent again as EVAL). A connection that fails, or does
 * not finish its handshake within the election timeout, moves on to the next endpoint; after
 * a round of failures a backoff (200 ms, doubling up to 5 s). A server that refuses the
 * credentials fails the calls waiting at once: retrying does not fix a password.
 *
 * A call waits for a connection, goes out, and is sent again when its connection breaks
 * before the answer (every script of this backend can be run twice: a retried claim that
 * had won finds its own run id) or the server is loading or read-only (a replica after a
 * failover); done() runs with the answer, or at the deadline with -ETIMEDOUT. A call that is
 * on the wire at its deadline drops the connection: Redis answers in order, so a late answer
 * holds up every call behind it. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lease_redis_internal.h"
#include "list.h"

typedef struct RedisPoll {      /* the adapter's events: freed when libuv has closed handle */
        uv_poll_t handle;
        redisAsyncContext *ac;  /* NULL once hiredis has let go */
        RedisStore *store;
        int events;
} RedisPoll;

static void conn_kick(RedisStore *s);
static void conn_drop(RedisStore *s, const char *fmt, ...) _printf_(2, 3);

/* ---- the adapter ---- */

static void poll_on_event(uv_poll_t *h, int status, int events) {
        RedisPoll *p = h->data;

        if (status < 0)
                events = UV_READABLE;   /* hiredis reads the error and disconnects */
        if (p->ac && (events & UV_READABLE))
                sym_redisAsyncHandleRead(p->ac);
        if (p->ac && (events & UV_WRITABLE))
                sym_redisAsyncHandleWrite(p->ac);
}

static void poll_update(RedisPoll *p, int add, int del) {
        p->events = (p->events | add) & ~del;
        if (p->events)
                (void) uv_poll_start(&p->handle, p->events, poll_on_event);
        else
                (void) uv_poll_stop(&p->handle);
}

static void poll_add_read(void *d) { poll_update(d, UV_READABLE, 0); }
static void poll_del_read(void *d) { poll_update(d, 0, UV_READABLE); }
static void poll_add_write(void *d) { poll_update(d, UV_WRITABLE, 0); }
static void poll_del_write(void *d) { poll_update(d, 0, UV_WRITABLE); }

static void poll_on_close(uv_handle_t *h) {
        RedisPoll *p = h->data;
        RedisStore *s = p->store;

        free(p);
        s->n_polls--;
        lease_redis_store_maybe_closed(s);
}

/* hiredis frees the context: after the callbacks of its calls (with NULL replies). */
static void poll_cleanup(void *d) {
        RedisPoll *p = d;
        RedisStore *s = p->store;

        if (s->ac == p->ac) {           /* lost (not dropped by us): the next attempt */
                const Endpoint *e = &s->endpoints[s->endpoint];

                s->ac = NULL;
                conn_drop(s, "the connection to redis at %s:%s was lost%s%s", e->host, e->port,
                          p->ac->errstr[0] ? ": " : "", p->ac->errstr);
        }
        p->ac = NULL;
        uv_close((uv_handle_t *) &p->handle, poll_on_close);
}

static int poll_attach(RedisStore *s, redisAsyncContext *ac) {
        RedisPoll *p = calloc(1, sizeof(RedisPoll));
        int r;

        if (!p)
                return -ENOMEM;
        r = uv_poll_init(s->loop, &p->handle, ac->c.fd);
        if (r < 0) {
                free(p);
                return r;
        }
        /* An idle connection is always read: it must not keep the loop running (the
         * daemon's teardown runs the loop until its own handles are closed). The calls'
         * deadline alarms keep it running while answers are awaited. */
        uv_unref((uv_handle_t *) &p->handle);
        p->handle.data = p;
        p->ac = ac;
        p->store = s;
        s->n_polls++;
        ac->ev.data = p;
        ac->ev.addRead = poll_add_read;
        ac->ev.delRead = poll_del_read;
        ac->ev.addWrite = poll_add_write;
        ac->ev.delWrite = poll_del_write;
        ac->ev.cleanup = poll_cleanup;
        return 0;
}

/* ---- calls ---- */

static void call_free(RedisCall *k) {
        RedisStore *s = k->store;

        lease_redis_alarm_disarm(s, &k->alarm);
        LIST_UNLINK(s->calls, k);
        if (!k->cancelled)
                s->n_live--;
        free(k->argv);
        free(k);
}

static void call_deliver(RedisCall *k, const redisReply *reply, int error) {
        RedisStore *s = k->store;

        assert(!k->cancelled);
        k->cancelled = true;    /* done() may cancel other calls, never this one */
        s->n_live--;
        lease_redis_alarm_disarm(s, &k->alarm);
        k->done(k, reply, error, k->owner);
        if (!k->sent)
                call_free(k);   /* else when hiredis answers it */
        lease_redis_store_maybe_closed(s);
}

void lease_redis_call_why(RedisCall *k, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(k->why, sizeof(k->why), fmt, ap);
        va_end(ap);
}

const char *lease_redis_call_failure(RedisCall *k, const redisReply *reply, int error) {
        char buf[REDIS_WHY_MAX];

        if (reply && reply->type == REDIS_REPLY_ERROR)
                lease_redis_call_why(k, "redis: %s",
                                     lease_redis_clean(reply->str, buf, sizeof(buf)));
        else if (!k->why[0])
                lease_redis_call_why(k, "%s", strerror(-error));
        return k->why;
}

static bool error_is(const redisReply *reply, const char *code) {
        size_t n = strlen(code);

        return reply->type == REDIS_REPLY_ERROR && reply->len >= n &&
               strncmp(reply->str, code, n) == 0 && (reply->len == n || reply->str[n] == ' ');
}

static void call_send(RedisCall *k);

static void call_on_reply(redisAsyncContext *ac, void *r, void *privdata) {
        RedisCall *k = privdata;
        RedisStore *s = k->store;
        const redisReply *reply = r;
        char buf[REDIS_WHY_MAX];

        (void) ac;
        k->sent = false;
        if (k->cancelled) {
                call_free(k);
                lease_redis_store_maybe_closed(s);
                return;
        }
        if (!reply) {
                /* hiredis is freeing the connection: wait for the next one. */
                if (s->ac == ac)
                        s->state = CONN_DOWN;
                return;
        }
        if (k->script >= 0 && !k->use_eval && error_is(reply, "NOSCRIPT")) {
                k->use_eval = true;     /* flushed, or another server since the handshake */
                call_send(k);
                return;
        }
        if (error_is(reply, "LOADING") || error_is(reply, "READONLY") ||
            error_is(reply, "MASTERDOWN") || error_is(reply, "TRYAGAIN")) {
                conn_drop(s, "%s:%s: %s", s->endpoints[s->endpoint].host,
                          s->endpoints[s->endpoint].port,
                          lease_redis_clean(reply->str, buf, sizeof(buf)));
                return;                 /* sent again on the next connection */
        }
        call_deliver(k, reply, 0);
}

static void call_send(RedisCall *k) {
        RedisStore *s = k->store;

        if (k->script >= 0) {
                bool eval = k->use_eval || !s->sha[k->script][0];

                k->argv[0] = (char *) (eval ? "EVAL" : "EVALSHA");
                k->argv[1] = (char *) (eval ? lease_redis_scripts[k->script] : s->sha[k->script]);
                k->argvlen[0] = strlen(k->argv[0]);
                k->argvlen[1] = strlen(k->argv[1]);
        }
        if (sym_redisAsyncCommandArgv(s->ac, call_on_reply, k, k->argc, (const char **) k->argv,
                                      k->argvlen) != REDIS_OK) {
                conn_drop(s, "cannot send to redis: %s", s->ac->errstr);
                return;
        }
        k->sent = true;
}

static void call_on_deadline(RedisAlarm *a) {
        RedisCall *k = container_of(a, RedisCall, alarm);
        RedisStore *s = k->store;
        bool sent = k->sent;

        if (sent && !k->why[0])
                lease_redis_call_why(k, "%s:%s did not answer", s->endpoints[s->endpoint].host,
                                     s->endpoints[s->endpoint].port);
        else if (!k->why[0])
                lease_redis_call_why(k, "%s", s->why[0] ? s->why : "no connection to redis");
        call_deliver(k, NULL, -ETIMEDOUT);
        if (sent)
                conn_drop(s, "%s:%s did not answer in time", s->endpoints[s->endpoint].host,
                          s->endpoints[s->endpoint].port);
}

/* A call of n args; a script's (script >= 0) are preceded by EVALSHA SHA NKEYS. Sent at once
 * when the connection is up. */
static RedisCall *call_new(RedisStore *s, int script, unsigned nkeys, const char *const *args,
                           size_t n, uint64_t deadline, lease_redis_call_done_cb done,
                           void *owner) {
        size_t lead = script >= 0 ? 3 : 0, argc = lead + n, size = 0;
        RedisCall *k;
        char *p;

        for (size_t i = 0; i < n; i++)
                size += strlen(args[i]) + 1;
        k = calloc(1, sizeof(RedisCall));
        if (!k)
                return NULL;
        k->argv = malloc(argc * (sizeof(char *) + sizeof(size_t)) + size + 24);
        if (!k->argv) {
                free(k);
                return NULL;
        }
        k->argvlen = (size_t *) (k->argv + argc);
        p = (char *) (k->argvlen + argc);
        for (size_t i = 0; i < n; i++) {
                k->argvlen[lead + i] = strlen(args[i]);
                k->argv[lead + i] = memcpy(p, args[i], k->argvlen[lead + i] + 1);
                p += k->argvlen[lead + i] + 1;
        }
        if (script >= 0) {              /* the number of keys, in the 24 bytes left */
                k->argvlen[2] = (size_t) snprintf(p, 24, "%u", nkeys);
                k->argv[2] = p;
        }
        k->store = s;
        k->script = script;
        k->argc = (int) argc;
        k->deadline = deadline;
        k->done = done;
        k->owner = owner;
        LIST_PREPEND(s->calls, k);
        s->n_live++;
        lease_redis_alarm_arm(s, &k->alarm, deadline, call_on_deadline);
        if (s->state == CONN_UP)
                call_send(k);
        else
                conn_kick(s);
        return k;
}

RedisCall *lease_redis_script(RedisStore *s, RedisScript script, unsigned nkeys,
                              const char *const *args, size_t n_args, uint64_t deadline,
                              lease_redis_call_done_cb done, void *owner) {
        return call_new(s, (int) script, nkeys, args, n_args, deadline, done, owner);
}

RedisCall *lease_redis_command(RedisStore *s, const char *const *args, size_t n_args,
                               uint64_t deadline, lease_redis_call_done_cb done, void *owner) {
        return call_new(s, -1, 0, args, n_args, deadline, done, owner);
}

void lease_redis_call_cancel(RedisCall *k) {
        RedisStore *s;

        if (!k || k->cancelled)
                return;
        s = k->store;
        k->cancelled = true;
        s->n_live--;
        lease_redis_alarm_disarm(s, &k->alarm);
        if (!k->sent)
                call_free(k);
}

/* ---- the connection ---- */

static void conn_on_alarm(RedisAlarm *a);

static void conn_fail_waiting(RedisStore *s, int error) {
        RedisCall *k, *next;

        for (k = s->calls; k; k = next) {
                next = k->next;
                if (!k->cancelled && !k->sent) {
                        lease_redis_call_why(k, "%s", s->why);
                        call_deliver(k, NULL, error);
                        next = s->calls;        /* done() may have cancelled any call */
                }
        }
}

/* The connection failed (why): free it; the next endpoint, after a backoff at the end of a
 * round. */
static void conn_drop(RedisStore *s, const char *fmt, ...) {
        redisAsyncContext *ac = s->ac;
        uint64_t delay = 0;
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(s->why, sizeof(s->why), fmt, ap);
        va_end(ap);
        s->ac = NULL;
        s->state = CONN_DOWN;
        s->handshake_left = 0;
        if (++s->failures >= s->n_endpoints) {
                s->failures = 0;
                s->backoff = s->backoff ? s->backoff * 2 : REDIS_BACKOFF_MS;
                if (s->backoff > REDIS_BACKOFF_MAX_MS)
                        s->backoff = REDIS_BACKOFF_MAX_MS;
                delay = s->backoff;
        }
        s->endpoint = (s->endpoint + 1) % s->n_endpoints;
        lease_redis_alarm_arm(s, &s->conn_alarm, lease_redis_now_ms(s) + delay, conn_on_alarm);
        if (ac)
                sym_redisAsyncFree(ac); /* deferred when inside a hiredis callback */
}

static void conn_up(RedisStore *s) {
        s->state = CONN_UP;
        s->failures = 0;
        s->backoff = 0;
        s->why[0] = 0;
        lease_redis_alarm_disarm(s, &s->conn_alarm);
        for (RedisCall *k = s->calls; k && s->state == CONN_UP; k = k->next)
                if (!k->cancelled && !k->sent)
                        call_send(k);
}

/* A handshake reply; privdata: the script it loaded, or -1 (AUTH, SELECT). */
static void conn_on_handshake(redisAsyncContext *ac, void *r, void *privdata) {
        RedisStore *s = ((RedisPoll *) ac->ev.data)->store;
        const redisReply *reply = r;
        int script = (int) (intptr_t) privdata;
        const Endpoint *e = &s->endpoints[s->endpoint];
        char buf[REDIS_WHY_MAX];

        if (!reply || s->ac != ac || s->state != CONN_CONNECTING)
                return;                 /* the connection is going */
        if (reply->type == REDIS_REPLY_ERROR) {
                bool auth = error_is(reply, "WRONGPASS") || error_is(reply, "NOAUTH") ||
                            error_is(reply, "NOPERM") || strstr(reply->str, "password");

                conn_drop(s, "%s:%s %s: %s", e->host, e->port,
                          auth ? "refused the credentials" : "refused the handshake",
                          lease_redis_clean(reply->str, buf, sizeof(buf)));
                if (auth)
                        conn_fail_waiting(s, -EACCES);
                return;
        }
        if (script >= 0) {
                if (reply->type != REDIS_REPLY_STRING || reply->len != 40) {
                        conn_drop(s, "%s:%s: unexpected answer to SCRIPT LOAD", e->host, e->port);
                        return;
                }
                memcpy(s->sha[script], reply->str, 40);
                s->sha[script][40] = 0;
        }
        if (--s->handshake_left == 0)
                conn_up(s);
}

static void conn_on_connect(const redisAsyncContext *ac, int status) {
        RedisStore *s = ((RedisPoll *) ac->ev.data)->store;
        const Endpoint *e = &s->endpoints[s->endpoint];

        if (s->ac != ac)
                return;
        if (status != REDIS_OK) {
                /* hiredis frees the context after this callback. */
                s->ac = NULL;
                conn_drop(s, "cannot connect to redis at %s:%s: %s", e->host, e->port,
                          ac->errstr);
        }
}

static void conn_send_handshake(RedisStore *s) {
        const Endpoint *e = &s->endpoints[s->endpoint];
        const char *argv[4];
        size_t lens[4];
        char db[16];
        int argc = 0;

        s->handshake_left = 0;
        if (s->password) {
                argv[argc++] = "AUTH";
                if (s->username)
                        argv[argc++] = s->username;
                argv[argc++] = s->password;
                for (int i = 0; i < argc; i++)
                        lens[i] = strlen(argv[i]);
                if (sym_redisAsyncCommandArgv(s->ac, conn_on_handshake, (void *) (intptr_t) -1,
                                              argc, argv, lens) == REDIS_OK)
                        s->handshake_left++;
        }
        if (e->db) {
                (void) snprintf(db, sizeof(db), "%u", e->db);
                argv[0] = "SELECT";
                argv[1] = db;
                lens[0] = 6;
                lens[1] = strlen(db);
                if (sym_redisAsyncCommandArgv(s->ac, conn_on_handshake, (void *) (intptr_t) -1,
                                              2, argv, lens) == REDIS_OK)
                        s->handshake_left++;
        }
        for (int i = 0; i < _SCRIPT_MAX; i++) {
                argv[0] = "SCRIPT";
                argv[1] = "LOAD";
                argv[2] = lease_redis_scripts[i];
                lens[0] = 6;
                lens[1] = 4;
                lens[2] = strlen(argv[2]);
                if (sym_redisAsyncCommandArgv(s->ac, conn_on_handshake, (void *) (intptr_t) i,
                                              3, argv, lens) == REDIS_OK)
                        s->handshake_left++;
        }
        if (s->handshake_left < (unsigned) _SCRIPT_MAX)
                conn_drop(s, "cannot send to redis: out of memory");
}

static void conn_connect(RedisStore *s, const char *ip) {
        const Endpoint *e = &s->endpoints[s->endpoint];
        redisAsyncContext *ac;
        int r;

        ac = sym_redisAsyncConnect(ip, (int) e->port_number);
        if (!ac) {
                conn_drop(s, "cannot connect to redis: out of memory");
                return;
        }
        if (ac->err) {
                char why[REDIS_WHY_MAX];

                (void) snprintf(why, sizeof(why), "%s", ac->errstr);
                sym_redisAsyncFree(ac);
                conn_drop(s, "cannot connect to redis at %s:%s: %s", e->host, e->port, why);
                return;
        }
        r = poll_attach(s, ac);
        if (r < 0) {
                sym_redisAsyncFree(ac);
                conn_drop(s, "cannot watch the redis connection: %s", strerror(-r));
                return;
        }
        s->ac = ac;
        s->state = CONN_CONNECTING;
        (void) sym_redisAsyncSetConnectCallback(ac, conn_on_connect);
        /* The handshake is queued now and goes out once connected. */
        conn_send_handshake(s);
}

static void conn_on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
        RedisStore *s = container_of(req, RedisStore, resolve);
        const Endpoint *e = &s->endpoints[s->endpoint];
        char ip[64] = "";

        s->resolving = false;
        if (status == 0 && res && s->conn_alarm.armed)
                (void) uv_ip_name(res->ai_addr, ip, sizeof(ip));
        uv_freeaddrinfo(res);
        if (s->closing) {
                s->state = CONN_DOWN;
                lease_redis_store_maybe_closed(s);
                return;
        }
        if (!s->conn_alarm.armed) {    /* its deadline went by (conn_on_alarm) */
                conn_drop(s, "%s", s->why);
                return;
        }
        if (!ip[0]) {
                conn_drop(s, "cannot resolve redis host '%s': %s", e->host,
                          status < 0 ? uv_strerror(status) : "no address");
                return;
        }
        conn_connect(s, ip);
}

static void conn_start(RedisStore *s) {
        const Endpoint *e = &s->endpoints[s->endpoint];
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
        int r;

        s->state = CONN_RESOLVING;
        /* The handshake's deadline covers the resolution too. */
        lease_redis_alarm_arm(s, &s->conn_alarm, lease_redis_now_ms(s) + s->election_ms,
                              conn_on_alarm);
        r = uv_getaddrinfo(s->loop, &s->resolve, conn_on_resolved, e->host, e->port, &hints);
        if (r < 0) {
                conn_drop(s, "cannot resolve redis host '%s': %s", e->host, uv_strerror(r));
                return;
        }
        s->resolving = true;
}

static void conn_on_alarm(RedisAlarm *a) {
        RedisStore *s = container_of(a, RedisStore, conn_alarm);
        const Endpoint *e = &s->endpoints[s->endpoint];

        if (s->state == CONN_DOWN) {            /* the next attempt */
                if (s->n_live > 0 && !s->closing)
                        conn_start(s);
                return;
        }
        if (s->state == CONN_RESOLVING) {
                (void) uv_cancel((uv_req_t *) &s->resolve);
                /* conn_on_resolved() follows with UV_ECANCELED, or the address: the next
                 * attempt goes on from there. */
                (void) snprintf(s->why, sizeof(s->why), "cannot resolve redis host '%s' in time",
                                e->host);
                return;
        }
        if (s->state == CONN_CONNECTING)
                conn_drop(s, "redis at %s:%s did not answer within %" PRIu64 " ms", e->host,
                          e->port, s->election_ms);
}

/* Calls wait: make sure a connection is coming (from an alarm, never inside hiredis). */
static void conn_kick(RedisStore *s) {
        if (s->state != CONN_DOWN || s->conn_alarm.armed || s->n_live == 0 || s->closing ||
            s->resolving)
                return;
        lease_redis_alarm_arm(s, &s->conn_alarm, lease_redis_now_ms(s), conn_on_alarm);
}

void lease_redis_conn_close(RedisStore *s) {
        redisAsyncContext *ac = s->ac;

        lease_redis_alarm_disarm(s, &s->conn_alarm);
        if (s->resolving)
                (void) uv_cancel((uv_req_t *) &s->resolve);
        s->ac = NULL;
        s->state = CONN_DOWN;
        if (ac)
                sym_redisAsyncFree(ac);
}

bool lease_redis_conn_closed(const RedisStore *s) {
        return !s->ac && !s->resolving && s->n_polls == 0 && !s->calls;
}
