/* SPDX-License-Identifier: MIT */
/* What the API asks of the etcd lease backend (see lease_etcd.c for the design): the fleet's
 * history of a job, the pause markers, the probe. Each question is a query on the store's
 * list, one EtcdCall at a time within the election timeout, answered exactly once; close()
 * answers the ones still waiting.
 *
 *   pause    PREFIX/:paused/JOB holds {"by": …, "at": …}, on no lease: it stays until the
 *            job is resumed (kv/deleterange). ':' is in no job name, so no firing's key is
 *            a marker's, and one range over PREFIX/:paused/ lists them all. Claims of the
 *            job's firings compare the marker's version with 0 (lease_etcd_claim.c).
 *   history  A job's keys are PREFIX/JOB/SCHEDULED-UTC, which sort by time, their markers
 *            (KEY/claimed, beside them), and PREFIX/JOB/manual-KEY, which sort after every
 *            date. The firings are read newest first in windows of time going back: the
 *            last ten minutes, then each window sixteen times as long, until the windows
 *            hold enough records or nothing older is left (a count of the keys before the
 *            window, which etcd answers from its index, says so; when they all fit, the
 *            next window reaches back to `since`). A sorted range makes etcd read all of it
 *            before it sorts and cuts it, so each window costs what it holds, not the whole
 *            history. The manual runs come with the first window, newest created first. A
 *            marker without its key is a run whose holder's lease went while it ran: the
 *            history calls it abandoned. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lease_etcd_internal.h"
#include "lease_record.h"
#include "list.h"
#include "macro.h"
#include "strv.h"
#include "timeutil.h"

#define HISTORY_MAX             1000U   /* records a history answers at most */
#define HISTORY_WINDOW_FIRST_S  600     /* the first window of time: the last ten minutes */
#define HISTORY_WINDOW_GROWTH   16      /* each further one reaches this much further back */
/* A history reply: up to 2 * HISTORY_MAX + 2 keys of firings and as many of manual runs */
#define HISTORY_REPLY_MAX       (16U * 1024U * 1024U)
#define PAUSED_MAX              10000   /* pause markers listed at most */
#define PAUSED_REPLY_MAX        (4U * 1024U * 1024U)
#define KEY_MAX                 4096    /* a key read back */
#define MARK_SUFFIX             "/claimed"

static const char store_closing[] = "the etcd lease store is closing";

typedef struct History {
        EtcdQuery q;
        char *dir;              /* PREFIX/JOB/ */
        char *job;
        int64_t since;          /* >= 0 */
        int64_t lo;             /* the window asked for last begins here (Unix seconds) */
        int64_t span;           /* and reaches back this far (seconds) */
        unsigned limit;
        unsigned windows;       /* read so far */
        size_t room;            /* keys of firings still to read */
        size_t firings;         /* their records found */
        json_t *found;          /* the records found, firings' and manual runs' */
} History;

/* ---- queries ---- */

/* Answer a query (q, or one that could not start) with why it has no answer. */
static void answer_error(QueryKind kind, QueryCallback cb, void *userdata, const char *why) {
        switch (kind) {
        case QUERY_HISTORY:
                cb.records(NULL, 0, why, userdata);
                break;
        case QUERY_LIST_PAUSED:
                cb.jobs(NULL, 0, why, userdata);
                break;
        case QUERY_SET_PAUSED:
        case QUERY_PROBE:
        case QUERY_PASS_TURN:
                cb.done(why, userdata);
                break;
        }
}

/* A query of size bytes (an EtcdQuery first), on the store's list; NULL when the store is
 * closing or out of memory: then it has been answered. */
static void *query_new(EtcdStore *s, QueryKind kind, size_t size, QueryCallback cb,
                       void *userdata) {
        EtcdQuery *q = s->closing ? NULL : calloc(1, size);

        if (!q) {
                answer_error(kind, cb, userdata, s->closing ? store_closing : "out of memory");
                return NULL;
        }
        *q = (EtcdQuery) { .store = s, .kind = kind, .cb = cb, .userdata = userdata,
                           .deadline = lease_etcd_now_ms(s) + s->election_ms };
        LIST_PREPEND(s->queries, q);
        return q;
}

/* Off the store's list before its answer, so that close() cannot answer it again. */
static void query_forget(EtcdQuery *q) {
        LIST_UNLINK(q->store->queries, q);
        lease_etcd_call_cancel(q->call);        /* safe from inside the call's done() */
        q->call = NULL;
}

/* After its answer. */
static void query_free(EtcdQuery *q) {
        EtcdStore *s = q->store;

        if (q->kind == QUERY_HISTORY) {
                History *h = container_of(q, History, q);

                free(h->dir);
                free(h->job);
                json_decref(h->found);
        }
        free(q);
        lease_etcd_store_maybe_closed(s);
}

static void query_fail(EtcdQuery *q, const char *why) {
        query_forget(q);
        answer_error(q->kind, q->cb, q->userdata, why);
        query_free(q);
}

/* The call k gave up (error): say why, as a claim would. */
static void query_fail_call(EtcdQuery *q, EtcdCall *k, int error) {
        char why[ETCD_WHY_MAX + 64];

        lease_etcd_call_failure(q->store, k, error, why, sizeof(why));
        query_fail(q, why);
}

/* Send q's request (body: consumed; NULL: out of memory). */
static void query_start(EtcdQuery *q, const char *path, json_t *body, size_t reply_max,
                        lease_etcd_call_done_cb done) {
        q->call = lease_etcd_call_start(q->store, path, body, q->deadline, done, q);
        if (!q->call) {
                query_fail(q, "out of memory");
                return;
        }
        q->call->reply_max = reply_max;
}

/* A done() query (set_paused, probe): any answer will do. */
static int query_on_answer(EtcdCall *k, json_t *reply, int error, void *owner) {
        EtcdQuery *q = owner;

        q->call = NULL;
        if (!reply) {
                query_fail_call(q, k, error);
                return 0;
        }
        query_forget(q);
        q->cb.done(NULL, q->userdata);
        query_free(q);
        return 0;
}

void lease_etcd_queries_close(EtcdStore *s) {
        while (s->queries)
                query_fail(s->queries, store_closing);
}

/* ---- keys and requests ---- */

static char *key64_printf(const char *fmt, ...) _printf_(1, 2);
static char *key64_printf(const char *fmt, ...) {
        _cleanup_free_ char *key = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&key, fmt, ap);
        va_end(ap);
        if (r < 0) {
                key = NULL;             /* undefined after a failure */
                return NULL;
        }
        return lease_etcd_b64_encode(key, strlen(key));
}

char *lease_etcd_pause_key64(const EtcdStore *s, const char *job) {
        return key64_printf("%s/:paused/%s", s->prefix, job);
}

/* A range request [key, end) (end NULL: the one key), ready for more fields. */
static json_t *range_new(const char *key64, const char *end64) {
        json_t *r = json_pack("{s:s}", "key", key64);

        if (r && end64)
                (void) json_object_set_new(r, "range_end", json_string(end64));
        return r;
}

static void range_limit(json_t *r, size_t limit) {
        char buf[24];

        (void) snprintf(buf, sizeof(buf), "%zu", limit);
        (void) json_object_set_new(r, "limit", json_string(buf));
}

/* Keys only: [key, end) (end NULL: the one key), at most limit. */
static json_t *range_keys_only(const char *key64, const char *end64, size_t limit) {
        json_t *r = range_new(key64, end64);

        if (r) {
                (void) json_object_set_new(r, "keys_only", json_true());
                range_limit(r, limit);
        }
        return r;
}

/* Newest first: by key (the time in it), or by creation (manual runs). */
static void range_newest(json_t *r, const char *target, size_t limit) {
        (void) json_object_set_new(r, "sort_order", json_string("DESCEND"));
        (void) json_object_set_new(r, "sort_target", json_string(target));
        range_limit(r, limit);
}

/* A range's kvs' keys, decoded (a strv). -EAGAIN after filling k->why when one is not. */
static int range_keys(EtcdCall *k, const json_t *kvs, char ***ret) {
        _cleanup_strv_free_ char **keys = NULL;
        const json_t *kv;
        size_t i, n = 0;

        json_array_foreach(kvs, i, kv) {
                const char *k64 = json_string_value(json_object_get(kv, "key"));
                char *key = NULL;
                size_t size;

                if (!k64 || lease_etcd_b64_decode(k64, KEY_MAX, &key, &size) < 0 ||
                    strlen(key) != size) {
                        free(key);
                        lease_etcd_call_why(k, "malformed kv in reply: bad key");
                        return -EAGAIN;
                }
                if (strv_push(&keys, &n, key) < 0) {
                        lease_etcd_call_why(k, "out of memory");
                        return -EAGAIN;
                }
        }
        if (!keys && !(keys = strv_copy(NULL))) {      /* none: an empty vector */
                lease_etcd_call_why(k, "out of memory");
                return -EAGAIN;
        }
        *ret = TAKE_PTR(keys);
        return 0;
}

/* ---- the history ---- */

static bool is_mark(const char *key) {
        size_t n = strlen(key), m = strlen(MARK_SUFFIX);

        return n > m && strcmp(key + n - m, MARK_SUFFIX) == 0;
}

static bool is_mark_of(const char *mark, const char *key) {
        size_t n = strlen(key);

        return strncmp(mark, key, n) == 0 && strcmp(mark + n, MARK_SUFFIX) == 0;
}

/* The records of a range's kvs appended to into (each with its fencing token). A marker is
 * beside its key in either order (newest first by key, or by creation: a key and its marker
 * are created together): then it is a copy of the running record. A marker without its key
 * is a run whose holder's lease went: abandoned, unless the range was cut right after it
 * (its key may be beyond). Returns the records added, or -EAGAIN after filling k->why when
 * the range is malformed; *ret_kvs: the kvs read, *ret_more: the range was cut. */
static int history_take(EtcdCall *k, const json_t *range, json_t *into, size_t *ret_kvs,
                        bool *ret_more) {
        const json_t *kvs = json_object_get(range, "kvs");
        bool more = json_is_true(json_object_get(range, "more"));
        _cleanup_strv_free_ char **keys = NULL;
        size_t n = json_array_size(kvs);
        int added = 0;

        if (range_keys(k, kvs, &keys) < 0)
                return -EAGAIN;
        for (size_t i = 0; i < n; i++) {
                bool mark = is_mark(keys[i]);
                const char *what;
                Kv kv;

                if (lease_etcd_kv_parse(json_array_get(kvs, i), &kv, &what) < 0) {
                        lease_etcd_call_why(k, "malformed kv in reply: %s", what);
                        return -EAGAIN;
                }
                if (!kv.record || (mark && ((i > 0 && is_mark_of(keys[i], keys[i - 1])) ||
                                            (i + 1 < n && is_mark_of(keys[i], keys[i + 1])) ||
                                            (more && i + 1 == n)))) {
                        json_decref(kv.record);
                        continue;
                }
                if (mark && lease_etcd_record_is_running(kv.record))
                        (void) json_object_set_new(kv.record, "status", json_string("abandoned"));
                if (!json_object_get(kv.record, "fencing_token"))
                        (void) json_object_set_new(kv.record, "fencing_token",
                                                   json_integer((json_int_t) kv.mod_revision));
                (void) json_array_append_new(into, kv.record);
                added++;
        }
        *ret_kvs = n;
        *ret_more = more;
        return added;
}

/* The records found, in the API's order. */
static void history_answer(History *h) {
        size_t n = json_array_size(h->found), kept = 0;
        _cleanup_free_ LeaseRecord *records = calloc(n ?: 1, sizeof(LeaseRecord));

        if (!records) {
                query_fail(&h->q, "out of memory");
                return;
        }
        for (size_t i = 0; i < n; i++)
                if (lease_record_from_json(json_array_get(h->found, i), &records[kept]) &&
                    strcmp(records[kept].job, h->job) == 0)
                        kept++;
        kept = lease_records_select(records, kept, h->since, h->limit);
        query_forget(&h->q);
        h->q.cb.records(records, kept, NULL, h->q.userdata);
        query_free(&h->q);
}

static int history_on_reply(EtcdCall *k, json_t *reply, int error, void *owner);

static json_t *op_range(json_t *range) {
        return range ? json_pack("{s:o}", "request_range", range) : NULL;
}

/* The requests of the next window, [lo, the last window's beginning): its firings newest
 * first, a count of the keys before it, and with the first window the manual runs. */
static json_t *history_ops(History *h, int64_t lo) {
        char t[RFC3339_UTC_MAX];
        _cleanup_free_ char *lo64 = lo > 0 ? key64_printf("%s%s", h->dir, format_rfc3339_utc(lo, t))
                                           : key64_printf("%s", h->dir);
        /* ':' follows the digits: the first window ends before the manual runs' keys */
        _cleanup_free_ char *hi64 = h->windows == 0 ? key64_printf("%s:", h->dir) :
                                    key64_printf("%s%s", h->dir, format_rfc3339_utc(h->lo, t));
        _cleanup_free_ char *since64 = h->since > 0 ?
                key64_printf("%s%s", h->dir, format_rfc3339_utc(h->since, t)) :
                key64_printf("%s", h->dir);
        _cleanup_free_ char *manual64 = key64_printf("%smanual-", h->dir);
        _cleanup_free_ char *end64 = key64_printf("%smanual.", h->dir);   /* '.' follows '-' */
        json_t *ops = json_array(), *r;

        if (!ops || !lo64 || !hi64 || !since64 || !manual64 || !end64)
                return json_decref(ops), NULL;
        r = range_new(lo64, hi64);
        if (r)
                range_newest(r, "KEY", h->room);
        if (json_array_append_new(ops, op_range(r)) < 0)
                return json_decref(ops), NULL;
        if (lo > h->since) {
                r = range_new(since64, lo64);
                if (r)
                        (void) json_object_set_new(r, "count_only", json_true());
                if (json_array_append_new(ops, op_range(r)) < 0)
                        return json_decref(ops), NULL;
        }
        if (h->windows == 0) {
                r = range_new(manual64, end64);
                if (r)
                        range_newest(r, "CREATE", 2 * (size_t) h->limit + 2);
                if (json_array_append_new(ops, op_range(r)) < 0)
                        return json_decref(ops), NULL;
        }
        return ops;
}

/* Ask for the window back to lo (since at the earliest). */
static void history_ask(History *h, int64_t lo) {
        json_t *ops;

        if (lo < h->since)
                lo = h->since;
        ops = history_ops(h, lo);
        if (!ops) {
                query_fail(&h->q, "out of memory");
                return;
        }
        h->lo = lo;
        query_start(&h->q, "/v3/kv/txn", json_pack("{s:o}", "success", ops), HISTORY_REPLY_MAX,
                    history_on_reply);
}

static const json_t *response_range(const json_t *reply, size_t i) {
        const json_t *r = json_object_get(json_array_get(json_object_get(reply, "responses"), i),
                                          "response_range");

        return json_is_object(r) ? r : NULL;
}

/* A window's answer: enough records, or nothing older left? Else the next window, further
 * back (or, when all that is older fits, back to since). */
static int history_on_reply(EtcdCall *k, json_t *reply, int error, void *owner) {
        History *h = container_of((EtcdQuery *) owner, History, q);
        bool first = h->windows == 0, older = h->lo > h->since, more = false, more_manual;
        const json_t *window = response_range(reply, 0);
        const json_t *count = older ? response_range(reply, 1) : NULL;
        const json_t *manual = first ? response_range(reply, older ? 2 : 1) : NULL;
        size_t kvs = 0, manual_kvs;
        uint64_t n_older = 0;
        json_t *got;
        int n, m = 0;

        if (!reply) {
                h->q.call = NULL;
                query_fail_call(&h->q, k, error);
                return 0;
        }
        if (!window || (older && !count) || (first && !manual) ||
            (count && lease_etcd_json_u64(count, "count", &n_older) == -EBADMSG)) {
                lease_etcd_call_why(k, "malformed reply to a history txn");
                return -EAGAIN;
        }
        got = json_array();
        n = got ? history_take(k, window, got, &kvs, &more) : -ENOMEM;
        if (n >= 0 && manual)
                m = history_take(k, manual, got, &manual_kvs, &more_manual);
        if (n < 0 || m < 0 || json_array_extend(h->found, got) < 0) {
                json_decref(got);
                if (n == -EAGAIN || m == -EAGAIN)
                        return -EAGAIN;
                h->q.call = NULL;
                query_fail(&h->q, "out of memory");
                return 0;
        }
        json_decref(got);
        h->q.call = NULL;
        h->windows++;
        h->room -= kvs < h->room ? kvs : h->room;
        h->firings += (size_t) n;
        if (more || h->firings >= h->limit || !older || n_older == 0 || h->room == 0)
                history_answer(h);
        else if (n_older <= h->room)
                history_ask(h, h->since);
        else {
                h->span *= HISTORY_WINDOW_GROWTH;
                history_ask(h, h->lo - h->span);
        }
        return 0;
}

void lease_etcd_history(LeaseStore *store, const char *job, int64_t since, unsigned limit,
                        lease_records_cb done, void *userdata) {
        EtcdStore *s = container_of(store, EtcdStore, store);
        History *h;

        if (limit == 0) {
                done(NULL, 0, NULL, userdata);
                return;
        }
        h = query_new(s, QUERY_HISTORY, sizeof(History), (QueryCallback) { .records = done },
                      userdata);
        if (!h)
                return;                 /* answered */
        h->since = since > 0 ? since : 0;
        h->limit = limit < HISTORY_MAX ? limit : HISTORY_MAX;
        h->room = 2 * (size_t) h->limit + 2;     /* a record is one key, or two while it runs */
        h->span = HISTORY_WINDOW_FIRST_S;
        h->job = strdup(job);
        h->found = json_array();
        if (asprintf(&h->dir, "%s/%s/", s->prefix, job) < 0)
                h->dir = NULL;
        if (!h->job || !h->found || !h->dir) {
                query_fail(&h->q, "out of memory");
                return;
        }
        history_ask(h, lease_etcd_wall_sec() - h->span);
}

/* ---- pause markers ---- */

void lease_etcd_pause_describe(const Kv *marker, char *buf, size_t n) {
        const char *by = json_string_value(json_object_get(marker->record, "by"));
        const char *at = json_string_value(json_object_get(marker->record, "at"));
        char b[128], a[RFC3339_UTC_MAX];

        if (by && at)
                (void) snprintf(buf, n, "the job is paused (by %s at %s)",
                                lease_etcd_clean(by, b, sizeof(b)),
                                lease_etcd_clean(at, a, sizeof(a)));
        else
                (void) snprintf(buf, n, "the job is paused");
}

void lease_etcd_set_paused(LeaseStore *store, const char *job, bool paused, const char *by,
                           lease_done_cb done, void *userdata) {
        EtcdStore *s = container_of(store, EtcdStore, store);
        _cleanup_free_ char *key64 = NULL, *value64 = NULL;
        char at[RFC3339_UTC_MAX];
        json_t *marker, *body = NULL;
        EtcdQuery *q;

        q = query_new(s, QUERY_SET_PAUSED, sizeof(EtcdQuery), (QueryCallback) { .done = done },
                      userdata);
        if (!q)
                return;                 /* answered */
        key64 = lease_etcd_pause_key64(s, job);
        marker = json_pack("{s:s,s:s}", "by", by ?: "", "at",
                           format_rfc3339_utc(lease_etcd_wall_sec(), at));
        value64 = marker ? lease_etcd_record_to_base64(marker) : NULL;
        json_decref(marker);
        /* On no lease: the marker stays until the job is resumed. */
        if (key64 && value64)
                body = paused ? json_pack("{s:s,s:s}", "key", key64, "value", value64) :
                                json_pack("{s:s}", "key", key64);
        query_start(q, paused ? "/v3/kv/put" : "/v3/kv/deleterange", body, 0, query_on_answer);
}

/* The markers' keys, PREFIX/:paused/JOB, give the jobs' names. */
static int paused_on_range(EtcdCall *k, json_t *reply, int error, void *owner) {
        EtcdQuery *q = owner;
        _cleanup_strv_free_ char **keys = NULL, **jobs = NULL;
        _cleanup_free_ char *dir = NULL;
        size_t n = 0, len;

        if (!reply) {
                q->call = NULL;
                query_fail_call(q, k, error);
                return 0;
        }
        if (range_keys(k, json_object_get(reply, "kvs"), &keys) < 0)
                return -EAGAIN;
        q->call = NULL;
        if (asprintf(&dir, "%s/:paused/", q->store->prefix) < 0) {
                dir = NULL;
                query_fail(q, "out of memory");
                return 0;
        }
        len = strlen(dir);
        for (char **key = keys; *key; key++)
                if (strncmp(*key, dir, len) == 0 && (*key)[len] &&
                    strv_push(&jobs, &n, strdup(*key + len)) < 0) {
                        query_fail(q, "out of memory");
                        return 0;
                }
        query_forget(q);
        q->cb.jobs(jobs, n, NULL, q->userdata);
        query_free(q);
        return 0;
}

void lease_etcd_list_paused(LeaseStore *store, lease_jobs_cb done, void *userdata) {
        EtcdStore *s = container_of(store, EtcdStore, store);
        _cleanup_free_ char *key64 = NULL, *end64 = NULL;
        json_t *body;
        EtcdQuery *q;

        q = query_new(s, QUERY_LIST_PAUSED, sizeof(EtcdQuery), (QueryCallback) { .jobs = done },
                      userdata);
        if (!q)
                return;                 /* answered */
        key64 = key64_printf("%s/:paused/", s->prefix);
        end64 = key64_printf("%s/:paused0", s->prefix);        /* '0' follows '/' */
        body = key64 && end64 ? range_keys_only(key64, end64, PAUSED_MAX) : NULL;
        query_start(q, "/v3/kv/range", body, PAUSED_REPLY_MAX, paused_on_range);
}

/* ---- the probe ---- */

/* A linearizable read of one key (the pause markers' folder, usually missing): etcd answers
 * it only with a leader, as it would a claim. */
void lease_etcd_probe(LeaseStore *store, lease_done_cb done, void *userdata) {
        EtcdStore *s = container_of(store, EtcdStore, store);
        _cleanup_free_ char *key64 = NULL;
        json_t *body;
        EtcdQuery *q;

        q = query_new(s, QUERY_PROBE, sizeof(EtcdQuery), (QueryCallback) { .done = done },
                      userdata);
        if (!q)
                return;                 /* answered */
        key64 = key64_printf("%s/:paused/", s->prefix);
        body = key64 ? range_keys_only(key64, NULL, 1) : NULL;
        query_start(q, "/v3/kv/range", body, 0, query_on_answer);
}

/* ---- turns handed on ---- */

char *lease_etcd_turn_key(const EtcdStore *s, const char *to, const char *job,
                          int64_t scheduled) {
        char when[RFC3339_UTC_MAX];
        char *key;

        if (asprintf(&key, "%s/:inbox/%s/:turn/%s/%s", s->prefix, to, job,
                     format_rfc3339_utc(scheduled, when)) < 0)
                return NULL;
        return key;
}

static char *turn_key64(const EtcdStore *s, const char *to, const LeaseTurn *t) {
        _cleanup_free_ char *key = lease_etcd_turn_key(s, to, t->job, t->scheduled);

        return key ? lease_etcd_b64_encode(key, strlen(key)) : NULL;
}

/* One txn: the note in to's inbox, on our session (it goes with us), and our own deleted. */
void lease_etcd_pass_turn(LeaseStore *store, const char *to, const LeaseTurn *t, bool own,
                          lease_done_cb done, void *userdata) {
        EtcdStore *s = container_of(store, EtcdStore, store);
        _cleanup_free_ char *to64 = NULL, *own64 = NULL, *value64 = NULL;
        json_t *ops, *note, *body = NULL;
        char lease[21];
        EtcdQuery *q;

        q = query_new(s, QUERY_PASS_TURN, sizeof(EtcdQuery), (QueryCallback) { .done = done },
                      userdata);
        if (!q)
                return;                 /* answered */
        if (to && !s->session_ready) {
                query_fail(q, "no etcd session yet");
                return;
        }
        (void) snprintf(lease, sizeof(lease), "%" PRIu64, s->session);
        note = json_pack("{s:s,s:I,s:I,s:s}", "job", t->job, "scheduled",
                         (json_int_t) t->scheduled, "rank", (json_int_t) t->rank,
                         "from", s->member_id);
        value64 = note ? lease_etcd_record_to_base64(note) : NULL;
        json_decref(note);
        to64 = to ? turn_key64(s, to, t) : NULL;
        own64 = own ? turn_key64(s, s->member_id, t) : NULL;
        ops = json_array();
        if (ops && to && to64 && value64)
                (void) json_array_append_new(ops, json_pack("{s:{s:s,s:s,s:s}}", "request_put",
                                                            "key", to64, "value", value64,
                                                            "lease", lease));
        if (ops && own && own64)
                (void) json_array_append_new(ops, json_pack("{s:{s:s}}", "request_delete_range",
                                                            "key", own64));
        if (ops && json_array_size(ops) == (size_t) (to != NULL) + (size_t) own)
                body = json_pack("{s:O}", "success", ops);
        json_decref(ops);
        query_start(q, "/v3/kv/txn", body, 0, query_on_answer);
}
