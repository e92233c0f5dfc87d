/* SPDX-License-Identifier: MIT */
/* The Redis lease backend: one connection per daemon (lease_redis_conn.c, hiredis on the
 * loop), every decision one Lua script, so each is atomic on the server and judged by the
 * server's clock (PEXPIRE). The keys, for a firing KEY = PREFIX/JOB/SCHEDULED-UTC (a manual
 * run's: PREFIX/JOB/manual-KEY):
 *
 *   KEY              the lease: a hash {holder, run, token} with PX ttl, made only if it does
 *                    not exist. Its going (expiry) is the holder's death.
 *   KEY/record       the firing's record (JSON, as every backend writes it), kept for
 *                    `history`: the running record, then the final one. It outlives the
 *                    lease: a record that says running without its lease is abandoned.
 *   PREFIX/:token    the fencing token counter (INCR): every holder of every firing under
 *                    this prefix gets a higher token than any before it. It never falls
 *                    behind the server's clock in milliseconds, so a replica promoted
 *                    without the last increments still hands out higher tokens than the
 *                    claims it lost (unless the two servers' clocks differ by more than the
 *                    time between those claims).
 *   PREFIX/:paused   a hash, job → {"by", "at"}: the fleet-wide pause markers.
 *   PREFIX/JOB/:history  a sorted set, firing keys by scheduled instant: the history's index,
 *                    trimmed by claims to `history`.
 *
 *   claim    the claim script: our own lease (a retry of a claim that won) → WON; a lease →
 *            HELD by its holder; a final record → HELD "already run"; the job paused (not for
 *            manual runs) → HELD paused; an abandoned record → HELD "(its lease expired)",
 *            unless a takeover claim; else INCR the token, make the lease and the running
 *            record → WON with that token.
 *   renew    every TTL/3: PEXPIRE the lease if its run id is still ours, else say what the
 *            record is now → lost() (also when no renewal got through for TTL).
 *   finish   the final record in place of the running one, if the lease (or, with the lease
 *            expired and nobody after us, the record) is still our run's; the lease deleted.
 *   cancel   the lease deleted if still ours: the record stays running, so a watcher takes
 *            the firing over (lease_redis_fleet.c polls the lease every second).
 *
 * What Redis can promise (solocron.yaml(5)): one primary with appendfsync always answers as
 * etcd does while it lives; an asynchronous failover can lose a claim the replica had not
 * yet received, which the fencing token lets a job detect. Redis Cluster is not supported:
 * the scripts touch keys they are not given.
 *
 * Non-logging: what went wrong is in the detail strings, which never carry the password. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lease_redis_internal.h"
#include "parse.h"
#include "reterr.h"
#include "secretfile.h"
#include "strv.h"
#include "timeutil.h"

/* KEYS: lease, record, token counter, paused hash, history index. ARGV: run, ttl ms, history
 * ms, running record (JSON object), job ("" for a manual run: no pause), takeover ("1"),
 * scheduled, holder, history cutoff. */
static const char script_claim[] =
        "local run = redis.call('HGET', KEYS[1], 'run')\n"
        "if run == ARGV[1] then return {'won', redis.call('HGET', KEYS[1], 'token')} end\n"
        "local rec = redis.call('GET', KEYS[2])\n"
        "if run then return {'held', rec or '', 1} end\n"
        "if rec then\n"
        "  local ok, r = pcall(cjson.decode, rec)\n"
        "  if not (ok and type(r) == 'table' and r.status == 'running') then\n"
        "    return {'held', rec, 0}\n"
        "  end\n"
        "end\n"
        "if ARGV[5] ~= '' then\n"
        "  local p = redis.call('HGET', KEYS[4], ARGV[5])\n"
        "  if p then return {'paused', p} end\n"
        "end\n"
        "if rec and ARGV[6] ~= '1' then return {'held', rec, 0} end\n"
        "if redis.replicate_commands then redis.replicate_commands() end\n"
        "local now = redis.call('TIME')\n"
        "local floor = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)\n"
        "local token = redis.call('INCR', KEYS[3])\n"
        "if token < floor then redis.call('SET', KEYS[3], floor) token = floor end\n"
        "redis.call('HSET', KEYS[1], 'holder', ARGV[8], 'run', ARGV[1], 'token', token)\n"
        "redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
        "local new = string.sub(ARGV[4], 1, -2) .. ',\"fencing_token\":' .. token\n"
        "if rec then new = new .. ',\"previous\":' .. rec end\n"
        "redis.call('SET', KEYS[2], new .. '}', 'PX', ARGV[3])\n"
        "redis.call('ZADD', KEYS[5], ARGV[7], KEYS[1])\n"
        "redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', '(' .. ARGV[9])\n"
        "redis.call('PEXPIRE', KEYS[5], ARGV[3])\n"
        "return {'won', token}\n";

/* KEYS: lease, record. ARGV: run, ttl ms. */
static const char script_renew[] =
        "if redis.call('HGET', KEYS[1], 'run') == ARGV[1] then\n"
        "  redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
        "  return 1\n"
        "end\n"
        "return redis.call('GET', KEYS[2]) or 0\n";

/* KEYS: lease, record, history index. ARGV: run, final record, history ms, scheduled. */
static const char script_final[] =
        "local run = redis.call('HGET', KEYS[1], 'run')\n"
        "if run == ARGV[1] then\n"
        "  redis.call('DEL', KEYS[1])\n"
        "elseif run then\n"
        "  return 0\n"
        "else\n"
        "  local rec = redis.call('GET', KEYS[2])\n"
        "  if rec then\n"
        "    local ok, r = pcall(cjson.decode, rec)\n"
        "    if not (ok and type(r) == 'table' and r.run == ARGV[1]) then return 0 end\n"
        "  end\n"
        "end\n"
        "redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])\n"
        "redis.call('ZADD', KEYS[3], ARGV[4], KEYS[1])\n"
        "redis.call('PEXPIRE', KEYS[3], ARGV[3])\n"
        "return 1\n";

/* KEYS: lease. ARGV: run. */
static const char script_release[] =
        "if redis.call('HGET', KEYS[1], 'run') == ARGV[1] then\n"
        "  return redis.call('DEL', KEYS[1])\n"
        "end\n"
        "return 0\n";

/* KEYS: lease, record. */
static const char script_watch[] =
        "return {redis.call('EXISTS', KEYS[1]), redis.call('GET', KEYS[2]) or ''}\n";

/* KEYS: history index. ARGV: since, limit. Each firing's record and whether its lease lives. */
static const char script_history[] =
        "local out = {}\n"
        "local keys = redis.call('ZREVRANGEBYSCORE', KEYS[1], '+inf', ARGV[1],\n"
        "                        'LIMIT', 0, ARGV[2])\n"
        "for _, k in ipairs(keys) do\n"
        "  local v = redis.call('GET', k .. '/record')\n"
        "  if v then\n"
        "    out[#out + 1] = v\n"
        "    out[#out + 1] = redis.call('EXISTS', k)\n"
        "  end\n"
        "end\n"
        "return out\n";

/* KEYS: lease, record, paused hash, alarm marker. ARGV: job, raise ("1"), the marker's value,
 * history ms. The firing's state and whether this call raised its alarm (lease_redis_missed.c). */
static const char script_missed[] =
        "if redis.call('EXISTS', KEYS[1]) == 1 then return {'running', 0} end\n"
        "local rec = redis.call('GET', KEYS[2])\n"
        "if rec then\n"
        "  local ok, r = pcall(cjson.decode, rec)\n"
        "  if not (ok and type(r) == 'table' and r.status == 'running') then\n"
        "    return {'done', 0}\n"
        "  end\n"
        "end\n"
        "if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then return {'paused', 0} end\n"
        "local state = rec and 'abandoned' or 'none'\n"
        "if ARGV[2] ~= '1' then return {state, 0} end\n"
        "if redis.call('SET', KEYS[4], ARGV[3], 'NX', 'PX', ARGV[4]) then\n"
        "  return {state, 1}\n"
        "end\n"
        "return {state, 0}\n";

const char *const lease_redis_scripts[_SCRIPT_MAX] = {
        [SCRIPT_CLAIM] = script_claim,
        [SCRIPT_RENEW] = script_renew,
        [SCRIPT_FINAL] = script_final,
        [SCRIPT_RELEASE] = script_release,
        [SCRIPT_WATCH] = script_watch,
        [SCRIPT_HISTORY] = script_history,
        [SCRIPT_MISSED] = script_missed,
};

/* ---- alarms: one uv timer per store ---- */

static void redis_on_timer(uv_timer_t *t);

static void alarms_rearm(RedisStore *s) {
        uint64_t now = lease_redis_now_ms(s);

        if (!s->alarms || s->timer_closing)
                (void) uv_timer_stop(&s->timer);
        else
                (void) uv_timer_start(&s->timer, redis_on_timer,
                                      s->alarms->when > now ? s->alarms->when - now : 0, 0);
}

void lease_redis_alarm_disarm(RedisStore *s, RedisAlarm *a) {
        if (!a->armed)
                return;
        for (RedisAlarm **p = &s->alarms; *p; p = &(*p)->next)
                if (*p == a) {
                        *p = a->next;
                        break;
                }
        a->next = NULL;
        a->armed = false;
        alarms_rearm(s);
}

void lease_redis_alarm_arm(RedisStore *s, RedisAlarm *a, uint64_t when,
                           void (*fn)(RedisAlarm *a)) {
        RedisAlarm **p;

        lease_redis_alarm_disarm(s, a);
        a->when = when;
        a->fn = fn;
        for (p = &s->alarms; *p && (*p)->when <= when; p = &(*p)->next)
                ;
        a->next = *p;
        *p = a;
        a->armed = true;
        alarms_rearm(s);
}

static void redis_on_timer(uv_timer_t *t) {
        RedisStore *s = container_of(t, RedisStore, timer);
        uint64_t now = lease_redis_now_ms(s);

        while (s->alarms && s->alarms->when <= now) {
                RedisAlarm *a = s->alarms;

                s->alarms = a->next;
                a->next = NULL;
                a->armed = false;
                a->fn(a);               /* may arm and disarm alarms, free its owner */
        }
        alarms_rearm(s);
}

/* ---- helpers ---- */

int64_t lease_redis_wall_sec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec;
}

const char *lease_redis_clean(const char *in, char *buf, size_t n) {
        size_t i = 0;

        for (; in && in[i] && i + 1 < n; i++)
                buf[i] = (unsigned char) in[i] < 0x20 || in[i] == 0x7f ? '?' : in[i];
        buf[i] = 0;
        return buf;
}

/* ---- the store ---- */

static void store_free(RedisStore *s) {
        free(s->prefix);
        for (size_t i = 0; i < s->n_endpoints; i++)
                free(s->endpoints[i].host);
        free(s->endpoints);
        free(s->username);
        if (s->password)
                explicit_bzero(s->password, strlen(s->password));
        free(s->password);
        free(s);
}

static void redis_on_timer_closed(uv_handle_t *h) {
        RedisStore *s = container_of((uv_timer_t *) h, RedisStore, timer);
        void (*done)(void *userdata) = s->close_done;
        void *userdata = s->close_userdata;

        store_free(s);
        if (done)
                done(userdata);
}

/* Closing: once the last background write is over, drop the connection; once libuv has let
 * go of its handle (and of a resolve in flight), close the timer. */
void lease_redis_store_maybe_closed(RedisStore *s) {
        if (!s->closing || s->timer_closing || s->claims || s->queries || s->missed ||
            s->n_live > 0)
                return;
        lease_redis_conn_close(s);
        if (!lease_redis_conn_closed(s))
                return;                 /* called again when they are */
        s->timer_closing = true;
        (void) uv_timer_stop(&s->timer);
        uv_close((uv_handle_t *) &s->timer, redis_on_timer_closed);
}

static void redis_close(LeaseStore *store, void (*done)(void *userdata), void *userdata) {
        RedisStore *s = container_of(store, RedisStore, store);
        LeaseClaim *c, *next;

        assert(!s->closing);
        s->closing = true;
        s->close_done = done;
        s->close_userdata = userdata;
        while (s->watches)
                lease_redis_unwatch(s->watches);
        lease_redis_queries_close(s);
        lease_redis_missed_close(s);
        /* Pending and won claims let go of their leases; final writes go on until their
         * deadline, so that a run that ended keeps its proof. */
        for (c = s->claims; c; c = next) {
                next = c->next;
                if (c->state == CLAIM_ELECT || c->state == CLAIM_WON)
                        lease_redis_claim_release(c);
        }
        lease_redis_store_maybe_closed(s);
}

static const LeaseOps lease_redis_ops = {
        .name = "redis",
        .claim = lease_redis_claim,
        .finish = lease_redis_finish,
        .cancel = lease_redis_cancel,
        .watch = lease_redis_watch,
        .unwatch = lease_redis_unwatch,
        .history = lease_redis_history,
        .set_paused = lease_redis_set_paused,
        .list_paused = lease_redis_list_paused,
        .check_missed = lease_redis_check_missed,
        .probe = lease_redis_probe,
        .close = redis_close,
};

/* redis://HOST[:PORT][/DB], HOST a name, an IPv4 address or [IPv6]. Credentials go in
 * username: and password_file:, never in the URL (config/lease_section.c refuses them). */
static int endpoint_parse(const char *url, Endpoint *ret) {
        const char *h = url + strlen("redis://"), *end;
        uint64_t port = 6379, db = 0;
        char buf[16];
        size_t n;

        if (strncmp(url, "redis://", 8) != 0)
                return -EINVAL;
        if (*h == '[') {
                end = strchr(++h, ']');
                if (!end)
                        return -EINVAL;
                n = (size_t) (end - h);
                end++;
        } else {
                n = strcspn(h, ":/");
                end = h + n;
        }
        if (n == 0)
                return -EINVAL;
        if (*end == ':') {
                size_t k = strcspn(++end, "/");

                if (k == 0 || k >= sizeof(buf))
                        return -EINVAL;
                memcpy(buf, end, k);
                buf[k] = 0;
                if (parse_uint64(buf, 65535, &port) < 0 || port == 0)
                        return -EINVAL;
                end += k;
        }
        if (*end == '/' && end[1] && parse_uint64(end + 1, 1000000, &db) < 0)
                return -EINVAL;
        else if (*end && *end != '/')
                return -EINVAL;
        ret->host = strndup(h, n);
        if (!ret->host)
                return -ENOMEM;
        (void) snprintf(ret->port, sizeof(ret->port), "%" PRIu64, port);
        ret->port_number = (unsigned) port;
        ret->db = (unsigned) db;
        return 0;
}

/* The first line of path, without its line end, as the api's token_file is read: a file
 * others may read is refused. */
int lease_redis_new(uv_loop_t *loop, const LeaseConfig *cfg, const char *hostname,
                    LeaseStore **ret, char **reterr_message) {
        RedisStore *s;
        size_t n;
        int r;

        assert(loop && cfg && ret);
        n = strv_length(cfg->endpoints);
        if (n == 0)
                return reterr_printf(reterr_message, -EINVAL,
                                     "the redis lease backend needs endpoints");
        r = redislib_load();
        if (r < 0)
                return reterr_printf(reterr_message, r, "the redis lease backend needs "
                                     "libhiredis.so.0.14 (Debian: libhiredis0.14), which is "
                                     "not installed");
        s = calloc(1, sizeof(RedisStore));
        if (!s)
                return -ENOMEM;
        s->store.ops = &lease_redis_ops;
        s->loop = loop;
        s->prefix = strdup(cfg->prefix ?: "solocron");
        s->endpoints = calloc(n, sizeof(Endpoint));
        s->username = cfg->username ? strdup(cfg->username) : NULL;
        if (!s->prefix || !s->endpoints || (cfg->username && !s->username)) {
                store_free(s);
                return -ENOMEM;
        }
        if (cfg->password_file) {
                r = secret_file_read(cfg->password_file, "redis password_file", &s->password,
                                     reterr_message);
                if (r < 0) {
                        store_free(s);
                        return r;
                }
        }
        for (size_t i = 0; i < n; i++) {
                r = endpoint_parse(cfg->endpoints[i], &s->endpoints[i]);
                if (r < 0) {
                        store_free(s);
                        return reterr_printf(reterr_message, r, "bad redis endpoint '%s'",
                                             cfg->endpoints[i]);
                }
                s->n_endpoints++;
        }
        for (size_t l = strlen(s->prefix); l > 0 && s->prefix[l - 1] == '/'; l--)
                s->prefix[l - 1] = 0;
        s->ttl_ms = cfg->ttl / USEC_PER_MSEC;
        s->history_ms = cfg->history / USEC_PER_MSEC > 0 ? cfg->history / USEC_PER_MSEC : 1000;
        s->election_ms = cfg->election_timeout / USEC_PER_MSEC > 0 ?
                         cfg->election_timeout / USEC_PER_MSEC : 1;
        (void) snprintf(s->hostname, sizeof(s->hostname), "%s", hostname ?: "localhost");
        s->pid = getpid();
        (void) uv_timer_init(loop, &s->timer);  /* cannot fail; last, so nothing to undo */
        *ret = &s->store;
        return 0;
}
