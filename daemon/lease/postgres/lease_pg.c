/* SPDX-License-Identifier: MIT */
/* The PostgreSQL lease backend: one connection per daemon, libpq non-blocking on a uv_poll of
 * PQsocket() (PQconnectStart/PQconnectPoll, then PQsendQueryPrepared/PQconsumeInput), one
 * statement on the wire at a time. A connection creates the schema if it is missing and
 * prepares every statement; one that fails moves on after a backoff (200 ms, doubling up to
 * 5 s); a statement still unanswered at its deadline drops it. Every decision is one
 * statement, and expiry is the database's now(), never a replica's clock.
 *
 * One row per firing in solocron_firings (the schema below, in solocron.yaml(5)):
 *   claim    INSERT … ON CONFLICT DO NOTHING RETURNING token, unless the job is paused (a
 *            manual run does not ask); no row: look at the firing's row: our own run id (a
 *            retry of a claim that did win) → WON; live → HELD by its holder; ended →
 *            HELD "already run"; paused → HELD paused; expired while running → HELD "(its
 *            lease expired)", or for a takeover claim UPDATE … WHERE expires_at < now()
 *            RETURNING token (one contender wins).
 *   token    nextval('solocron_token'): higher for every holder of every firing.
 *   renew    every TTL/3: UPDATE … WHERE run_id = ours; no row → lost().
 *   finish   the final record, UPDATE … WHERE run_id = ours; cancel() ends the lease
 *            (expires_at = now()) and leaves the row running: watchers take over.
 *   history  the rows of the job; rows of ended firings older than `history` are deleted by
 *            the first claim of each hour.
 *   watch    the firing's row every second: expired while running → ended(true).
 *
 * Non-logging: failures are in details, which never carry the DSN. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lease_pg_internal.h"
#include "list.h"
#include "reterr.h"
#include "secretfile.h"
#include "timeutil.h"

/* The schema, as solocron.yaml(5) shows it. */
#define SCHEMA \
        "CREATE SEQUENCE IF NOT EXISTS solocron_token;\n" \
        "CREATE TABLE IF NOT EXISTS solocron_firings (\n" \
        "  prefix text NOT NULL,\n" \
        "  job text NOT NULL,\n" \
        "  scheduled text NOT NULL,\n" \
        "  scheduled_at bigint NOT NULL,\n" \
        "  holder text NOT NULL,\n" \
        "  run_id text NOT NULL,\n" \
        "  token bigint NOT NULL,\n" \
        "  state text NOT NULL,\n" \
        "  renewed_at timestamptz NOT NULL DEFAULT now(),\n" \
        "  expires_at timestamptz NOT NULL,\n" \
        "  finished_at timestamptz,\n" \
        "  result text,\n" \
        "  exit_status integer,\n" \
        "  record text NOT NULL,\n" \
        "  PRIMARY KEY (prefix, job, scheduled));\n" \
        "CREATE TABLE IF NOT EXISTS solocron_paused (\n" \
        "  prefix text NOT NULL,\n" \
        "  job text NOT NULL,\n" \
        "  paused_by text NOT NULL,\n" \
        "  paused_at timestamptz NOT NULL DEFAULT now(),\n" \
        "  PRIMARY KEY (prefix, job));\n"

/* The missed-firing alarm's table (lease_pg_missed.c), added after the others: a schema made
 * before it by init-store, for a role that may not create, lacks it. Such a connection still
 * elects firings; only its missed-firing checks fail, until init-store adds the table. */
#define SCHEMA_ALARMS \
        "CREATE TABLE IF NOT EXISTS solocron_alarms (\n" \
        "  prefix text NOT NULL,\n" \
        "  job text NOT NULL,\n" \
        "  scheduled text NOT NULL,\n" \
        "  scheduled_at bigint NOT NULL,\n" \
        "  raised_by text NOT NULL,\n" \
        "  raised_at timestamptz NOT NULL DEFAULT now(),\n" \
        "  PRIMARY KEY (prefix, job, scheduled));\n"

/* Created only when a part is missing: CREATE … IF NOT EXISTS alone needs the right to
 * create in the schema even when the table exists, which a role that only uses the tables
 * (solocron init-store made them) does not have. */
static const char setup_schema[] =
        "DO $solocron$ BEGIN\n"
        "IF to_regclass('solocron_firings') IS NULL OR to_regclass('solocron_paused') IS NULL\n"
        "   OR to_regclass('solocron_token') IS NULL THEN\n"
        SCHEMA
        "END IF;\n"
        "IF to_regclass('solocron_alarms') IS NULL THEN\n"
        "  BEGIN\n"
        SCHEMA_ALARMS
        "  EXCEPTION WHEN insufficient_privilege THEN NULL;\n"
        "  END;\n"
        "END IF;\n"
        "END $solocron$";

#define PK "prefix = $1 AND job = $2 AND scheduled = $3"
#define TTL(n) "now() + $" #n "::bigint * interval '1 millisecond'"

static const char *const statements[_STMT_MAX] = {
        /* prefix, job, scheduled, scheduled_at, holder, run, ttl ms, record, honour pause */
        [STMT_CLAIM] =
                "INSERT INTO solocron_firings (prefix, job, scheduled, scheduled_at, holder, "
                "run_id, token, state, expires_at, record) "
                "SELECT $1, $2, $3, $4::bigint, $5, $6, nextval('solocron_token'), 'running', "
                TTL(7) ", $8 WHERE NOT ($9::boolean AND EXISTS (SELECT 1 FROM solocron_paused "
                "WHERE prefix = $1 AND job = $2)) ON CONFLICT DO NOTHING RETURNING token",
        /* prefix, job, scheduled, honour pause → run, state, live, record, token, paused */
        [STMT_LOOK] =
                "SELECT f.run_id, f.state, f.expires_at > now(), f.record, f.token, "
                "($4::boolean AND EXISTS (SELECT 1 FROM solocron_paused p WHERE p.prefix = $1 "
                "AND p.job = $2)) FROM (SELECT 1) AS one LEFT JOIN solocron_firings f ON "
                "f.prefix = $1 AND f.job = $2 AND f.scheduled = $3",
        /* prefix, job, scheduled, holder, run, ttl ms, record */
        [STMT_TAKEOVER] =
                "UPDATE solocron_firings SET holder = $4, run_id = $5, "
                "token = nextval('solocron_token'), renewed_at = now(), expires_at = " TTL(6)
                ", record = $7 WHERE " PK " AND state = 'running' AND expires_at < now() "
                "RETURNING token",
        /* prefix, job, scheduled, run, ttl ms */
        [STMT_RENEW] =
                "UPDATE solocron_firings SET renewed_at = now(), expires_at = " TTL(5)
                " WHERE " PK " AND run_id = $4 AND state = 'running' RETURNING 1",
        /* prefix, job, scheduled, run, result, exit status, record */
        [STMT_FINAL] =
                "UPDATE solocron_firings SET state = $5, result = $5, exit_status = $6::integer, "
                "record = $7, finished_at = now(), expires_at = now() WHERE " PK
                " AND run_id = $4 RETURNING 1",
        /* prefix, job, scheduled, run */
        [STMT_RELEASE] =
                "UPDATE solocron_firings SET expires_at = now() WHERE " PK " AND run_id = $4 "
                "AND state = 'running'",
        /* prefix, job, scheduled → state, live */
        [STMT_WATCH] =
                "SELECT state, expires_at > now() FROM solocron_firings WHERE " PK,
        /* prefix, job, since, limit → record, token, state, live */
        [STMT_HISTORY] =
                "SELECT record, token, state, expires_at > now() FROM solocron_firings WHERE "
                "prefix = $1 AND job = $2 AND scheduled_at >= $3::bigint "
                "ORDER BY scheduled_at DESC LIMIT $4::bigint",
        /* prefix, oldest scheduled_at kept */
        [STMT_TRIM] =
                "DELETE FROM solocron_firings WHERE prefix = $1 AND scheduled_at < $2::bigint "
                "AND state <> 'running'",
        /* prefix, job, scheduled, raise, by, scheduled_at → state, raised (lease_pg_missed.c):
         * none, running, done, abandoned or paused; with raise and none or abandoned, the
         * alarm's row inserted once */
        [STMT_MISSED] =
                "WITH f AS (SELECT state, expires_at > now() AS live FROM solocron_firings "
                "WHERE " PK "), "
                "p AS (SELECT EXISTS (SELECT 1 FROM solocron_paused WHERE prefix = $1 AND "
                "job = $2) AS paused), "
                "st AS (SELECT CASE WHEN f.state IS NOT NULL AND f.state <> 'running' THEN 'done' "
                "WHEN f.live THEN 'running' WHEN p.paused THEN 'paused' "
                "WHEN f.state IS NULL THEN 'none' ELSE 'abandoned' END AS s "
                "FROM p LEFT JOIN f ON true), "
                "ins AS (INSERT INTO solocron_alarms (prefix, job, scheduled, scheduled_at, "
                "raised_by) SELECT $1, $2, $3, $6::bigint, $5 FROM st WHERE $4::boolean AND "
                "st.s IN ('none', 'abandoned') ON CONFLICT DO NOTHING RETURNING 1) "
                "SELECT st.s, EXISTS (SELECT 1 FROM ins) FROM st",
        /* prefix, oldest scheduled_at kept */
        [STMT_TRIM_ALARMS] =
                "DELETE FROM solocron_alarms WHERE prefix = $1 AND scheduled_at < $2::bigint",
        /* prefix, job, by */
        [STMT_PAUSE] =
                "INSERT INTO solocron_paused (prefix, job, paused_by) VALUES ($1, $2, $3) "
                "ON CONFLICT (prefix, job) DO UPDATE SET paused_by = $3, paused_at = now()",
        [STMT_RESUME] = "DELETE FROM solocron_paused WHERE prefix = $1 AND job = $2",
        [STMT_PAUSED] = "SELECT job FROM solocron_paused WHERE prefix = $1 ORDER BY job",
        [STMT_PING] = "SELECT 1",
};

static const char *const stmt_names[_STMT_MAX] = {
        "solocron_claim", "solocron_look", "solocron_takeover", "solocron_renew",
        "solocron_final", "solocron_release", "solocron_watch", "solocron_history",
        "solocron_trim", "solocron_pause", "solocron_resume", "solocron_paused",
        "solocron_ping", "solocron_missed", "solocron_trim_alarms",
};

/* ---- alarms: one uv timer per store ---- */

static void pg_on_timer(uv_timer_t *t);

static void alarms_rearm(PgStore *s) {
        uint64_t now = lease_pg_now_ms(s);

        if (!s->alarms || s->timer_closing)
                (void) uv_timer_stop(&s->timer);
        else
                (void) uv_timer_start(&s->timer, pg_on_timer,
                                      s->alarms->when > now ? s->alarms->when - now : 0, 0);
}

void lease_pg_alarm_disarm(PgStore *s, PgAlarm *a) {
        if (!a->armed)
                return;
        for (PgAlarm **p = &s->alarms; *p; p = &(*p)->next)
                if (*p == a) {
                        *p = a->next;
                        break;
                }
        a->next = NULL;
        a->armed = false;
        alarms_rearm(s);
}

void lease_pg_alarm_arm(PgStore *s, PgAlarm *a, uint64_t when, void (*fn)(PgAlarm *a)) {
        PgAlarm **p;

        lease_pg_alarm_disarm(s, a);
        a->when = when;
        a->fn = fn;
        for (p = &s->alarms; *p && (*p)->when <= when; p = &(*p)->next)
                ;
        a->next = *p;
        *p = a;
        a->armed = true;
        alarms_rearm(s);
}

static void pg_on_timer(uv_timer_t *t) {
        PgStore *s = container_of(t, PgStore, timer);
        uint64_t now = lease_pg_now_ms(s);

        while (s->alarms && s->alarms->when <= now) {
                PgAlarm *a = s->alarms;

                s->alarms = a->next;
                a->next = NULL;
                a->armed = false;
                a->fn(a);
        }
        alarms_rearm(s);
}

int64_t lease_pg_wall_sec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec;
}

const char *lease_pg_clean(const char *in, char *buf, size_t n) {
        size_t i = 0;

        for (; in && in[i] && i + 1 < n; i++)
                buf[i] = (unsigned char) in[i] < 0x20 || in[i] == 0x7f ? ' ' : in[i];
        while (i > 0 && buf[i - 1] == ' ')
                i--;
        buf[i] = 0;
        return buf;
}

/* ---- the connection's socket ---- */

struct PgPoll {                 /* freed when libuv has closed handle */
        uv_poll_t handle;
        PgStore *store;
        int fd;
};

static void conn_on_event(uv_poll_t *h, int status, int events);
static void conn_drop(PgStore *s, const char *fmt, ...) _printf_(2, 3);
static void conn_kick(PgStore *s);
static void conn_send_next(PgStore *s);

static void poll_on_close(uv_handle_t *h) {
        PgPoll *p = h->data;
        PgStore *s = p->store;

        free(p);
        s->n_polls--;
        lease_pg_store_maybe_closed(s);
}

static void poll_close(PgStore *s) {
        if (!s->poll)
                return;
        uv_close((uv_handle_t *) &s->poll->handle, poll_on_close);  /* stops it at once */
        s->poll = NULL;
}

/* Watch the connection's socket for events (it may change while connecting). */
static int poll_watch(PgStore *s, int events) {
        int fd = sym_PQsocket(s->conn), r;

        if (fd < 0)
                return -EBADF;
        if (s->poll && s->poll->fd != fd)
                poll_close(s);
        if (!s->poll) {
                PgPoll *p = calloc(1, sizeof(PgPoll));

                if (!p)
                        return -ENOMEM;
                r = uv_poll_init(s->loop, &p->handle, fd);
                if (r < 0) {
                        free(p);
                        return r;
                }
                uv_unref((uv_handle_t *) &p->handle);   /* calls' alarms keep the loop up */
                p->handle.data = p;
                p->store = s;
                p->fd = fd;
                s->poll = p;
                s->n_polls++;
        }
        return uv_poll_start(&s->poll->handle, events, conn_on_event);
}

/* ---- calls ---- */

static void call_release(PgCall *k) {       /* k is on no list */
        for (int i = 0; i < k->n_params; i++)
                free(k->params[i]);
        free(k);
}

static void call_free(PgCall *k) {
        PgStore *s = k->store;

        lease_pg_alarm_disarm(s, &k->alarm);
        LIST_UNLINK(s->calls, k);
        if (!k->cancelled)
                s->n_live--;
        call_release(k);
}

static void call_deliver(PgCall *k, const PGresult *res, int error) {
        PgStore *s = k->store;
        bool sent = k->sent;

        k->cancelled = true;
        s->n_live--;
        lease_pg_alarm_disarm(s, &k->alarm);
        /* done() may close the store, which frees the calls still listed and the one on the
         * connection: k is not read after it. One not sent is taken off the list first and
         * freed here; one on the connection goes with its answer, or with the store. */
        if (!sent)
                LIST_UNLINK(s->calls, k);
        k->done(k, res, error, k->owner);
        if (!sent)
                call_release(k);
        lease_pg_store_maybe_closed(s);
}

void lease_pg_call_failure(PgCall *k, int error, char *buf, size_t n) {
        if (error == -ETIMEDOUT)
                (void) snprintf(buf, n, "no answer from postgres within %" PRIu64 " ms: %s",
                                k->store->election_ms, k->why);
        else
                (void) snprintf(buf, n, "%s", k->why[0] ? k->why : strerror(-error));
}

static void call_on_deadline(PgAlarm *a) {
        PgCall *k = container_of(a, PgCall, alarm);
        PgStore *s = k->store;
        bool sent = k->sent;

        if (!k->why[0])
                (void) snprintf(k->why, sizeof(k->why), "%s",
                                sent ? "the server did not answer" :
                                s->why[0] ? s->why : "no connection to postgres");
        call_deliver(k, NULL, -ETIMEDOUT);
        if (sent)
                conn_drop(s, "postgres did not answer in time");
}

PgCall *lease_pg_call(PgStore *s, PgStmt stmt, const char *const *params, int n,
                      uint64_t deadline, lease_pg_call_done_cb done, void *owner) {
        PgCall *k;

        assert(n <= PG_PARAMS_MAX);
        k = calloc(1, sizeof(PgCall));
        if (!k)
                return NULL;
        for (int i = 0; i < n; i++)
                if (params[i] && !(k->params[i] = strdup(params[i]))) {
                        for (int j = 0; j < i; j++)
                                free(k->params[j]);
                        free(k);
                        return NULL;
                }
        k->store = s;
        k->stmt = stmt;
        k->n_params = n;
        k->deadline = deadline;
        k->done = done;
        k->owner = owner;
        LIST_PREPEND(s->calls, k);
        s->n_live++;
        lease_pg_alarm_arm(s, &k->alarm, deadline, call_on_deadline);
        if (s->state == PG_UP)
                conn_send_next(s);
        else
                conn_kick(s);
        return k;
}

void lease_pg_call_cancel(PgCall *k) {
        PgStore *s;

        if (!k || k->cancelled)
                return;
        s = k->store;
        k->cancelled = true;
        s->n_live--;
        lease_pg_alarm_disarm(s, &k->alarm);
        if (!k->sent)
                call_free(k);
}

/* ---- the connection ---- */

static void conn_on_alarm(PgAlarm *a);

/* Drop the connection (why): the call on the wire waits for the next one. */
static void conn_drop(PgStore *s, const char *fmt, ...) {
        PgCall *k = s->current;
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(s->why, sizeof(s->why), fmt, ap);
        va_end(ap);
        poll_close(s);
        if (s->conn)
                sym_PQfinish(s->conn);
        s->conn = NULL;
        s->state = PG_DOWN;
        if (s->result)
                sym_PQclear(s->result);
        s->result = NULL;
        s->current = NULL;
        if (k) {
                k->sent = false;
                if (k->cancelled)
                        call_free(k);
        }
        s->backoff = s->backoff ? s->backoff * 2 : PG_BACKOFF_MS;
        if (s->backoff > PG_BACKOFF_MAX_MS)
                s->backoff = PG_BACKOFF_MAX_MS;
        lease_pg_alarm_arm(s, &s->conn_alarm, lease_pg_now_ms(s) + s->backoff, conn_on_alarm);
        lease_pg_store_maybe_closed(s);
}

/* The last line of a libpq message, without its line ends. */
static const char *pq_message(const char *m, char *buf, size_t n) {
        return lease_pg_clean(m, buf, n);
}

/* Send the next thing: a setup step, or the oldest call waiting. */
static void conn_send_next(PgStore *s) {
        char m[PG_WHY_MAX];
        PgCall *k = NULL;
        int ok;

        if (s->current || (s->state != PG_SETUP && s->state != PG_UP))
                return;
        if (s->state == PG_SETUP) {
                ok = s->setup_step == 0 ? sym_PQsendQuery(s->conn, setup_schema) :
                     sym_PQsendPrepare(s->conn, stmt_names[s->setup_step - 1],
                                       statements[s->setup_step - 1], 0, NULL);
        } else {
                for (PgCall *i = s->calls; i; i = i->next)      /* newest first: the last */
                        if (!i->cancelled && !i->sent)
                                k = i;
                if (!k)
                        return;
                ok = sym_PQsendQueryPrepared(s->conn, stmt_names[k->stmt], k->n_params,
                                             (const char *const *) k->params, NULL, NULL, 0);
                if (ok) {
                        k->sent = true;
                        s->current = k;
                }
        }
        if (!ok) {
                conn_drop(s, "cannot send to postgres: %s",
                          pq_message(sym_PQerrorMessage(s->conn), m, sizeof(m)));
                return;
        }
        if (s->state == PG_SETUP)
                s->current = NULL;
        (void) poll_watch(s, UV_READABLE | (sym_PQflush(s->conn) == 1 ? UV_WRITABLE : 0));
}

/* A statement is complete: its last result is s->result. */
static void conn_on_complete(PgStore *s) {
        PGresult *res = s->result;
        ExecStatusType st = res ? sym_PQresultStatus(res) : PGRES_FATAL_ERROR;
        bool good = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
        char m[PG_WHY_MAX];
        PgCall *k = s->current;

        s->result = NULL;
        s->current = NULL;
        if (s->state == PG_SETUP) {
                /* The alarm's statements, the last ones, need solocron_alarms, which an older
                 * schema may lack: without them only check_missed() fails. */
                if (!good && s->setup_step > STMT_MISSED)
                        s->no_alarms = true;
                else if (!good) {
                        conn_drop(s, "postgres refused the %s: %s",
                                  s->setup_step == 0 ? "schema" : "statements",
                                  pq_message(res ? sym_PQresultErrorMessage(res) : "", m,
                                             sizeof(m)));
                        sym_PQclear(res);
                        return;
                }
                sym_PQclear(res);
                if (++s->setup_step > _STMT_MAX) {
                        s->state = PG_UP;
                        s->backoff = 0;
                        s->why[0] = 0;
                        lease_pg_alarm_disarm(s, &s->conn_alarm);
                }
                conn_send_next(s);
                return;
        }
        if (k) {
                k->sent = false;
                if (k->cancelled)
                        call_free(k);
                else if (good)
                        call_deliver(k, res, 0);
                else {
                        (void) snprintf(k->why, sizeof(k->why), "postgres: %s",
                                        pq_message(res ? sym_PQresultErrorMessage(res) : "", m,
                                                   sizeof(m)));
                        call_deliver(k, NULL, -EIO);
                }
        }
        sym_PQclear(res);
        if (s->state == PG_UP)
                conn_send_next(s);
        lease_pg_store_maybe_closed(s);
}

static void conn_on_connecting(PgStore *s) {
        PostgresPollingStatusType st = sym_PQconnectPoll(s->conn);
        char m[PG_WHY_MAX];

        if (st == PGRES_POLLING_FAILED) {
                conn_drop(s, "cannot connect to postgres: %s",
                          pq_message(sym_PQerrorMessage(s->conn), m, sizeof(m)));
                return;
        }
        if (st == PGRES_POLLING_OK) {
                if (sym_PQsetnonblocking(s->conn, 1) != 0) {
                        conn_drop(s, "postgres: cannot make the connection non-blocking");
                        return;
                }
                s->state = PG_SETUP;
                s->setup_step = 0;
                s->no_alarms = false;
                conn_send_next(s);
                return;
        }
        if (poll_watch(s, st == PGRES_POLLING_READING ? UV_READABLE : UV_WRITABLE) < 0)
                conn_drop(s, "cannot watch the postgres connection");
}

static void conn_on_event(uv_poll_t *h, int status, int events) {
        PgStore *s = ((PgPoll *) h->data)->store;
        char m[PG_WHY_MAX];

        if (s->state == PG_CONNECTING) {
                conn_on_connecting(s);
                return;
        }
        if (status < 0)
                events = UV_READABLE;
        if (events & UV_WRITABLE) {
                int f = sym_PQflush(s->conn);

                if (f < 0) {
                        conn_drop(s, "postgres: %s",
                                  pq_message(sym_PQerrorMessage(s->conn), m, sizeof(m)));
                        return;
                }
                (void) poll_watch(s, UV_READABLE | (f == 1 ? UV_WRITABLE : 0));
        }
        if (!(events & UV_READABLE))
                return;
        if (!sym_PQconsumeInput(s->conn)) {
                conn_drop(s, "the connection to postgres was lost: %s",
                          pq_message(sym_PQerrorMessage(s->conn), m, sizeof(m)));
                return;
        }
        while (s->conn && !sym_PQisBusy(s->conn)) {
                PGresult *res = sym_PQgetResult(s->conn);

                if (!res) {
                        if (s->result || s->current || s->state == PG_SETUP)
                                conn_on_complete(s);
                        break;
                }
                if (s->result)
                        sym_PQclear(s->result);
                s->result = res;
        }
}

/* libpq prints the server's notices on stderr: a library never logs. */
static void conn_on_notice(void *userdata, const char *message) {
        (void) userdata, (void) message;
}

static void conn_start(PgStore *s) {
        char m[PG_WHY_MAX];

        s->conn = sym_PQconnectStart(s->dsn);
        if (!s->conn) {
                conn_drop(s, "cannot connect to postgres: out of memory");
                return;
        }
        if (sym_PQstatus(s->conn) == CONNECTION_BAD) {
                conn_drop(s, "cannot connect to postgres: %s",
                          pq_message(sym_PQerrorMessage(s->conn), m, sizeof(m)));
                return;
        }
        (void) sym_PQsetNoticeProcessor(s->conn, conn_on_notice, NULL);
        s->state = PG_CONNECTING;
        lease_pg_alarm_arm(s, &s->conn_alarm, lease_pg_now_ms(s) + s->election_ms,
                           conn_on_alarm);
        if (poll_watch(s, UV_WRITABLE) < 0)
                conn_drop(s, "cannot watch the postgres connection");
}

static void conn_on_alarm(PgAlarm *a) {
        PgStore *s = container_of(a, PgStore, conn_alarm);

        if (s->state == PG_DOWN) {
                if (s->n_live > 0 && !s->closing)
                        conn_start(s);
                return;
        }
        if (s->state != PG_UP)
                conn_drop(s, "postgres did not accept the connection within %" PRIu64 " ms",
                          s->election_ms);
}

static void conn_kick(PgStore *s) {
        if (s->state != PG_DOWN || s->conn_alarm.armed || s->n_live == 0 || s->closing)
                return;
        lease_pg_alarm_arm(s, &s->conn_alarm, lease_pg_now_ms(s), conn_on_alarm);
}

/* ---- the store ---- */

static void store_free(PgStore *s) {
        free(s->prefix);
        if (s->dsn)
                explicit_bzero(s->dsn, strlen(s->dsn));
        free(s->dsn);
        free(s);
}

static void pg_on_timer_closed(uv_handle_t *h) {
        PgStore *s = container_of((uv_timer_t *) h, PgStore, timer);
        void (*done)(void *userdata) = s->close_done;
        void *userdata = s->close_userdata;

        store_free(s);
        if (done)
                done(userdata);
}

void lease_pg_store_maybe_closed(PgStore *s) {
        if (!s->closing || s->timer_closing || s->claims || s->queries || s->missed ||
            s->n_live > 0)
                return;
        if (s->conn || s->poll) {
                PgCall *k = s->current;

                lease_pg_alarm_disarm(s, &s->conn_alarm);
                poll_close(s);
                if (s->conn)
                        sym_PQfinish(s->conn);
                s->conn = NULL;
                s->state = PG_DOWN;
                if (s->result)
                        sym_PQclear(s->result);
                s->result = NULL;
                s->current = NULL;
                if (k)
                        call_free(k);   /* cancelled: nothing live is left */
        }
        while (s->calls)
                call_free(s->calls);
        if (s->n_polls > 0)
                return;                 /* poll_on_close() calls again */
        lease_pg_alarm_disarm(s, &s->conn_alarm);
        s->timer_closing = true;
        (void) uv_timer_stop(&s->timer);
        uv_close((uv_handle_t *) &s->timer, pg_on_timer_closed);
}

static void pg_close(LeaseStore *store, void (*done)(void *userdata), void *userdata) {
        PgStore *s = container_of(store, PgStore, store);
        LeaseClaim *c, *next;

        assert(!s->closing);
        s->closing = true;
        s->close_done = done;
        s->close_userdata = userdata;
        while (s->watches)
                lease_pg_unwatch(s->watches);
        lease_pg_queries_close(s);
        lease_pg_missed_close(s);
        for (c = s->claims; c; c = next) {
                next = c->next;
                if (c->state == PG_CLAIM_ELECT || c->state == PG_CLAIM_WON)
                        lease_pg_claim_release(c);
        }
        lease_pg_store_maybe_closed(s);
}

static const LeaseOps lease_pg_ops = {
        .name = "postgres",
        .claim = lease_pg_claim,
        .finish = lease_pg_finish,
        .cancel = lease_pg_cancel,
        .watch = lease_pg_watch,
        .unwatch = lease_pg_unwatch,
        .history = lease_pg_history,
        .set_paused = lease_pg_set_paused,
        .list_paused = lease_pg_list_paused,
        .check_missed = lease_pg_check_missed,
        .probe = lease_pg_probe,
        .close = pg_close,
};

/* The first line of path: the DSN (it may carry a password: others may not read it). */
int lease_pg_new(uv_loop_t *loop, const LeaseConfig *cfg, const char *hostname,
                 LeaseStore **ret, char **reterr_message) {
        PgStore *s;
        int r;

        assert(loop && cfg && ret);
        r = pqlib_load();
        if (r < 0)
                return reterr_printf(reterr_message, r, "the postgres lease backend needs "
                                     "libpq.so.5 (Debian: libpq5), which is not installed");
        s = calloc(1, sizeof(PgStore));
        if (!s)
                return -ENOMEM;
        s->store.ops = &lease_pg_ops;
        s->loop = loop;
        s->prefix = strdup(cfg->prefix ?: "solocron");
        if (!s->prefix) {
                store_free(s);
                return -ENOMEM;
        }
        if (cfg->dsn_file) {
                r = secret_file_read(cfg->dsn_file, "postgres dsn_file", &s->dsn, reterr_message);
                if (r < 0) {
                        store_free(s);
                        return r;
                }
        } else if (!(s->dsn = strdup(cfg->dsn ?: ""))) {
                store_free(s);
                return -ENOMEM;
        }
        for (size_t l = strlen(s->prefix); l > 0 && s->prefix[l - 1] == '/'; l--)
                s->prefix[l - 1] = 0;
        s->ttl_ms = cfg->ttl / USEC_PER_MSEC;
        s->history_ms = cfg->history / USEC_PER_MSEC > 0 ? cfg->history / USEC_PER_MSEC : 1000;
        s->election_ms = cfg->election_timeout / USEC_PER_MSEC > 0 ?
                         cfg->election_timeout / USEC_PER_MSEC : 1;
        (void) snprintf(s->hostname, sizeof(s->hostname), "%s", hostname ?: "localhost");
        s->pid = getpid();
        (void) uv_timer_init(loop, &s->timer);
        *ret = &s->store;
        return 0;
}
