/* SPDX-License-Identifier: MIT */
/* What the API asks of the S3 lease (lease.h): a job's records, its pause marker, the paused
 * jobs, a probe. Each is a query (S3Query) answered exactly once: from the loop when its last
 * request answers, at once when it cannot start, or with "the store is closing" from close().
 * Its requests end by its deadline, election_timeout after it began, and none starts later.
 * Failures are not retried: the API's caller may ask again. Queries need not wait for the
 * start-up probe of conditional writes: they write nothing that elects.
 *
 * Pause markers: PREFIX/:paused/JOB, holding {"by": …, "at": …}. No job name has a ':', so no
 * firing's key is a marker's, and one listing of PREFIX/:paused/ finds them all. A claim of a
 * firing looks for the marker before its conditional PUT (lease_s3_claim.c: in the fleet's
 * listing, lease_s3_members.c, or by a GET) and stands down when it is there (HELD, paused);
 * a manual run does not look. A pause is answered once every replica's look sees it: the
 * listing's window after the PUT. S3 writes no two keys in one transaction, so a claim that
 * looked just before that still runs its firing: the pause holds for every election that
 * starts after it was answered, while one already past its look then may still win (its
 * retries too): the race is bounded to the firings being elected at that moment, each
 * election over within election_timeout.
 *
 * The history: keys sort by scheduled time, but a listing only runs forward (start-after), so
 * the newest firings are found in windows of time back from now: [now - 1m, ∞), then the 3m
 * before, then 12m, each reaching four times as far back, until they hold `limit` firings or
 * reach since (or the history period plus a day: older records are deleted). Manual runs'
 * keys (PREFIX/JOB/manual-KEY) sort after every date and say nothing of time: they are
 * listed on their own, ranked by Last-Modified (their records' last write, which their run
 * cannot have been asked for after). Then the records are read, newest first, FETCH_PARALLEL
 * GETs at a time, until `limit` are read, and then any ranked after a later instant than the
 * limit-th newest read (a manual run ranked by a late write hides no newer firing): one that
 * cannot be read is left out (the next one is read instead), and the answer is an error only
 * when failures left none. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lease_record.h"
#include "lease_s3_internal.h"
#include "list.h"
#include "macro.h"
#include "parse.h"
#include "strv.h"

#define QUERY_PAGES_MAX         20U     /* listing pages of one kind a query reads at most */
#define FETCH_PARALLEL          8U      /* the history's GETs at once */
#define HISTORY_LIMIT_MAX       1000U
#define WINDOW_FIRST_SEC        60      /* the history's first window, then 4x each time */
#define WINDOWS_MAX             20U
#define MARKER_BODY_MAX         4096U
#define CLOSING                 "the S3 lease store is closing"

typedef enum QueryKind {
        QUERY_HISTORY,
        QUERY_PAUSE,                    /* set_paused */
        QUERY_PAUSED,                   /* list_paused */
        QUERY_PROBE,
} QueryKind;

typedef struct Candidate {              /* a record the history may read */
        char *key;
        int64_t t;                      /* scheduled (from its key); a manual run's:
                                         * Last-Modified */
        int64_t scheduled;              /* once read: its record's instant, when it is one
                                         * the answer counts (the job's, since since);
                                         * INT64_MIN otherwise */
} Candidate;

typedef struct Fetch {                  /* one of the history's GETs */
        S3Query *q;
        S3Op *op;
        size_t i;                       /* its candidate */
} Fetch;

struct S3Query {                        /* owned by the store until answered */
        S3Store *store;
        S3Query *prev, *next;
        QueryKind kind;
        union {
                lease_records_cb records;
                lease_jobs_cb jobs;
                lease_done_cb done;
        } cb;
        void *userdata;
        uint64_t deadline_ms;
        S3Op *op;                       /* the listing, PUT or DELETE in flight */
        char *prefix, *after, *token;   /* the listing's: prefix, start-after, next page */
        unsigned pages;
        char **jobs;                    /* list_paused's answer */
        size_t n_jobs;
        uv_timer_t *settle;             /* set_paused: the wait until every replica knows */
        bool pause;                     /* set_paused: pause (else resume) */
        char *job;                      /* the history's, set_paused's: */
        int64_t since, now, lo, hi, floor;
        unsigned limit, window;
        bool manual;                    /* listing manual runs */
        Candidate *cand;
        size_t n_cand, n_cand_max;
        size_t n_before;                /* the candidates of earlier windows */
        json_t **got;                   /* the records read, by candidate */
        size_t i_fetch, n_answered, n_read, n_failed;   /* GETs started, answered, … */
        Fetch fetch[FETCH_PARALLEL];
        char error[LEASE_S3_DETAIL_MAX]; /* why the last GET failed */
};

/* ---- queries ---- */

static S3Query *query_new(S3Store *s, QueryKind kind, void *userdata) {
        S3Query *q;

        if (s->closing)
                return NULL;
        q = calloc(1, sizeof(S3Query));
        if (!q)
                return NULL;
        q->store = s;
        q->kind = kind;
        q->userdata = userdata;
        q->deadline_ms = lease_s3_now_ms(s) + MSEC(s->election_timeout);
        for (size_t i = 0; i < FETCH_PARALLEL; i++)
                q->fetch[i].q = q;
        LIST_PREPEND(s->queries, q);
        return q;
}

static const char *query_new_failed(const S3Store *s) {
        return s->closing ? CLOSING : "out of memory";
}

static void on_settle_closed(uv_handle_t *h) {
        S3Store *s = h->data;

        free(h);
        s->n_handles--;
        lease_s3_maybe_closed(s);
}

static void query_free(S3Query *q) {
        if (q->settle) {
                q->settle->data = q->store;
                q->store->n_handles++;
                uv_close((uv_handle_t *) q->settle, on_settle_closed);
        }
        free(q->prefix);
        free(q->after);
        free(q->token);
        strv_free(q->jobs);
        free(q->job);
        for (size_t i = 0; i < q->n_cand; i++) {
                free(q->cand[i].key);
                if (q->got)
                        json_decref(q->got[i]);
        }
        free(q->cand);
        free(q->got);
        free(q);
}

/* The records read, in the API's order: the answer of a history. */
static void history_answer(S3Query *q, const char *error) {
        _cleanup_free_ LeaseRecord *records = NULL;
        size_t n = 0;

        if (!error && !(records = calloc(q->i_fetch ?: 1, sizeof(LeaseRecord))))
                error = "out of memory";
        for (size_t i = 0; !error && i < q->i_fetch; i++)
                if (q->got[i] && lease_record_from_json(q->got[i], &records[n]) &&
                    strcmp(records[n].job, q->job) == 0)
                        n++;
        if (!error)
                n = lease_records_select(records, n, q->since, q->limit);
        q->cb.records(error ? NULL : records, error ? 0 : n, error, q->userdata);
}

/* Answer q (error NULL: with what it found) and free it. Its requests are cancelled first,
 * and the callback runs last: it may start queries, or close the store. */
static void query_end(S3Query *q, const char *error) {
        LIST_UNLINK(q->store->queries, q);
        s3_request_cancel(q->op);
        q->op = NULL;
        for (size_t i = 0; i < FETCH_PARALLEL; i++) {
                s3_request_cancel(q->fetch[i].op);
                q->fetch[i].op = NULL;
        }
        switch (q->kind) {
        case QUERY_HISTORY:
                history_answer(q, error);
                break;
        case QUERY_PAUSED:
                q->cb.jobs(error ? NULL : q->jobs, error ? 0 : q->n_jobs, error, q->userdata);
                break;
        default:
                q->cb.done(error, q->userdata);
                break;
        }
        query_free(q);
}

void lease_s3_fleet_stop(S3Store *s) {
        while (s->queries)
                query_end(s->queries, CLOSING);
}

/* Past the deadline: q is answered with an error (true), and gone. */
static bool query_late(S3Query *q) {
        char why[128];

        if (lease_s3_now_ms(q->store) < q->deadline_ms)
                return false;
        (void) snprintf(why, sizeof(why), "the S3 lease store gave no answer within %llu ms",
                        (unsigned long long) MSEC(q->store->election_timeout));
        query_end(q, why);
        return true;
}

static uint32_t query_timeout_ms(const S3Query *q) {
        return lease_s3_timeout_until(q->store, q->deadline_ms);
}

static void lease_s3_on_query_listed(const S3Response *r, void *userdata);

/* The next page of q's listing: q->token's, or the first (after q->after). */
static void query_list(S3Query *q, const char *max_keys) {
        int r;

        if (query_late(q))
                return;
        r = lease_s3_list(q->store, &(LeaseS3List) {
                                          .prefix = q->prefix,
                                          .start_after = q->after,
                                          .token = q->token,
                                          .max_keys = max_keys,
                                          .timeout_ms = query_timeout_ms(q),
                                          .done = lease_s3_on_query_listed,
                                          .userdata = q,
                                  }, &q->op);
        if (r < 0) {
                q->op = NULL;
                query_end(q, strerror(-r));
        }
}

/* Parse a page of q's listing with each(); then its next page is q->token (NULL: none, or
 * each() stopped). false: q was answered (unreadable). */
static bool query_page(S3Query *q, const S3Response *r, lease_s3_list_each_cb each) {
        char *token = NULL;
        int k;

        k = lease_s3_list_parse(r, each, q, &token);
        if (k < 0) {
                query_end(q, k == -ENOMEM ? "out of memory" :
                          "S3 answered the listing with a body solocron cannot read");
                return false;
        }
        free(q->token);
        q->token = k == 0 ? token : NULL;
        if (k > 0)
                free(token);
        return true;
}

/* ---- pause markers ---- */

static char *marker_key(const S3Store *s, const char *job) {
        char *key;

        return asprintf(&key, "%s/:paused/%s", s->prefix, job) < 0 ? NULL : key;
}

int lease_s3_marker_get(S3Store *s, const char *job, uint32_t timeout_ms, s3_done_cb done,
                        void *userdata, S3Op **ret_op) {
        _cleanup_free_ char *key = marker_key(s, job);

        if (!key)
                return -ENOMEM;
        return s3_request_start(s->s3, &(S3Request) {
                                        .method = HTTP_GET,
                                        .key = key,
                                        .max_body = MARKER_BODY_MAX,
                                        .timeout_ms = timeout_ms,
                                        .done = done,
                                        .userdata = userdata,
                                }, ret_op);
}

void lease_s3_marker_describe(const S3Response *r, char *buf, size_t size) {
        json_t *m = json_loadb(r->body, r->body_size, 0, NULL);
        const char *by = json_string_value(json_object_get(m, "by"));
        const char *at = json_string_value(json_object_get(m, "at"));

        if (by && at)
                (void) snprintf(buf, size, "the job is paused (by %.100s, at %.40s)", by, at);
        else
                (void) snprintf(buf, size, "the job is paused (a marker solocron cannot read)");
        json_decref(m);
}

static void on_settled(uv_timer_t *t) {
        query_end(t->data, NULL);
}

/* The marker was written: this replica knows at once, the others from their next listing
 * (lease_s3_members.c), which every claim has asked for within the window from now on; a
 * pause is answered once that window is over, so that when the API says "paused", no
 * replica starts the job. A resume takes at once: a listing that shows the marker has it
 * read. */
static void lease_s3_on_marker_written(const S3Response *r, void *userdata) {
        S3Query *q = userdata;
        S3Store *s = q->store;

        q->op = NULL;
        /* A marker already gone is resumed: AWS answers 204 anyway, some clones 404. */
        if (!lease_s3_is_2xx(r) && !lease_s3_is_no_such_key(r)) {
                query_end(q, r->message);
                return;
        }
        lease_s3_paused_note(s, q->job, q->pause);
        if (!q->pause || !(q->settle = malloc(sizeof(uv_timer_t)))) {
                query_end(q, NULL);
                return;
        }
        (void) uv_timer_init(s->loop, q->settle);
        q->settle->data = q;
        (void) uv_timer_start(q->settle, on_settled, lease_s3_listing_window_ms(s), 0);
}

/* The marker's body: who paused the job, and when (by the server's clock). */
static char *marker_body(const S3Store *s, const char *by) {
        char at[RFC3339_UTC_MAX];
        json_t *m = json_pack("{s:s, s:s}", "by", by ?: "?",
                              "at", format_rfc3339_utc(s3_client_now(s->s3), at));
        char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;

        json_decref(m);
        return text;
}

void lease_s3_set_paused(LeaseStore *store, const char *job, bool paused, const char *by,
                         lease_done_cb done, void *userdata) {
        S3Store *s = container_of(store, S3Store, store);
        _cleanup_free_ char *key = NULL, *body = NULL;
        S3Query *q;
        int r;

        if (!lease_s3_job_valid(job)) {
                done("invalid job name for an S3 key", userdata);
                return;
        }
        q = query_new(s, QUERY_PAUSE, userdata);
        if (!q) {
                done(query_new_failed(s), userdata);
                return;
        }
        q->cb.done = done;
        q->pause = paused;
        q->job = strdup(job);
        key = marker_key(s, job);
        body = paused ? marker_body(s, by) : NULL;
        if (!q->job || !key || (paused && !body)) {
                query_end(q, "out of memory");
                return;
        }
        r = s3_request_start(s->s3, &(S3Request) {
                                     .method = paused ? HTTP_PUT : HTTP_DELETE,
                                     .key = key,
                                     .body = body,
                                     .body_size = body ? strlen(body) : 0,
                                     .content_type = body ? "application/json" : NULL,
                                     .timeout_ms = query_timeout_ms(q),
                                     .done = lease_s3_on_marker_written,
                                     .userdata = q,
                             }, &q->op);
        if (r < 0) {
                q->op = NULL;
                query_end(q, strerror(-r));
        }
}

static int paused_on_key(const char *key, int64_t last_modified, void *userdata) {
        S3Query *q = userdata;
        size_t plen = strlen(q->prefix);
        const char *name = key + plen;

        (void) last_modified;
        if (strncmp(key, q->prefix, plen) != 0 || !*name || strchr(name, '/'))
                return 0;
        return strv_push(&q->jobs, &q->n_jobs, strdup(name));
}

/* A page of markers: their jobs, then the next page (at most QUERY_PAGES_MAX). */
static void paused_page(S3Query *q, const S3Response *r) {
        if (!query_page(q, r, paused_on_key))
                return;
        if (q->token && ++q->pages < QUERY_PAGES_MAX)
                query_list(q, NULL);
        else
                query_end(q, NULL);
}

/* A query that lists the markers: list_paused, or the probe (one key is enough). */
static void markers_list(LeaseStore *store, QueryKind kind, void *userdata,
                         lease_jobs_cb jobs, lease_done_cb done) {
        S3Store *s = container_of(store, S3Store, store);
        S3Query *q = query_new(s, kind, userdata);

        if (!q) {
                if (jobs)
                        jobs(NULL, 0, query_new_failed(s), userdata);
                else
                        done(query_new_failed(s), userdata);
                return;
        }
        if (jobs)
                q->cb.jobs = jobs;
        else
                q->cb.done = done;
        if (asprintf(&q->prefix, "%s/:paused/", s->prefix) < 0) {
                q->prefix = NULL;
                query_end(q, "out of memory");
                return;
        }
        query_list(q, kind == QUERY_PROBE ? "1" : NULL);
}

void lease_s3_list_paused(LeaseStore *store, lease_jobs_cb done, void *userdata) {
        markers_list(store, QUERY_PAUSED, userdata, done, NULL);
}

/* One listing of the markers shows that the bucket answers, with our credentials. A store
 * whose endpoint ignores conditional writes cannot elect: that is its answer. */
void lease_s3_probe(LeaseStore *store, lease_done_cb done, void *userdata) {
        S3Store *s = container_of(store, S3Store, store);

        if (s->probe == PROBE_REFUSED) {
                done(s->probe_error, userdata);
                return;
        }
        markers_list(store, QUERY_PROBE, userdata, NULL, done);
}

/* ---- the history ---- */

static void fetch_start(S3Query *q);

static int candidate_add(S3Query *q, const char *key, int64_t t) {
        if (q->n_cand == q->n_cand_max) {
                size_t n = q->n_cand_max ? 2 * q->n_cand_max : 64;
                Candidate *a = reallocarray(q->cand, n, sizeof(Candidate));

                if (!a)
                        return -ENOMEM;
                q->cand = a;
                q->n_cand_max = n;
        }
        q->cand[q->n_cand].key = strdup(key);
        if (!q->cand[q->n_cand].key)
                return -ENOMEM;
        q->cand[q->n_cand++].t = t;
        return 0;
}

/* Drop the candidates from n on. */
static void candidates_trim(S3Query *q, size_t n) {
        while (q->n_cand > n)
                free(q->cand[--q->n_cand].key);
}

/* A key of the window [lo, hi): a firing's record. Stops past the window, or past the dates
 * (manual runs' keys and anything else sort after them). */
static int firing_on_key(const char *key, int64_t last_modified, void *userdata) {
        S3Query *q = userdata;
        size_t plen = strlen(q->prefix);
        const char *rest = key + plen;
        int64_t t;
        bool absolute;

        (void) last_modified;
        if (strncmp(key, q->prefix, plen) != 0 || *rest < '0')
                return 0;
        if (*rest > '9')
                return 1;
        if (parse_timestamp(rest, &t, &absolute) < 0 || !absolute || t < q->lo)
                return 0;
        return t >= q->hi ? 1 : candidate_add(q, key, t);
}

static int manual_on_key(const char *key, int64_t last_modified, void *userdata) {
        S3Query *q = userdata;

        /* PREFIX/JOB/manual-KEY/output: a run's output (output: {s3: …}), not a record. */
        if (strncmp(key, q->prefix, strlen(q->prefix)) != 0 || strchr(key + strlen(q->prefix), '/'))
                return 0;

        /* Asked for before it was last written: one written before since was asked for
         * before since too. */
        return last_modified < q->since ? 0 : candidate_add(q, key, last_modified);
}

/* The firings of the next window back in time. */
static void window_list(S3Query *q) {
        int64_t width = (int64_t) WINDOW_FIRST_SEC << (2 * q->window);
        char after[RFC3339_UTC_MAX];

        q->lo = q->now - width > q->floor ? q->now - width : q->floor;
        q->n_before = q->n_cand;
        q->pages = 0;
        free(q->after);
        free(q->token);
        q->token = NULL;
        /* start-after is exclusive: the key of a second before lo. */
        if (asprintf(&q->after, "%s%s", q->prefix, format_rfc3339_utc(q->lo - 1, after)) < 0) {
                q->after = NULL;
                query_end(q, "out of memory");
                return;
        }
        query_list(q, NULL);
}

static void manual_list(S3Query *q) {
        free(q->prefix);
        free(q->after);
        free(q->token);
        q->after = q->token = NULL;
        q->manual = true;
        q->pages = 0;
        if (asprintf(&q->prefix, "%s/%s/manual-", q->store->prefix, q->job) < 0) {
                q->prefix = NULL;
                query_end(q, "out of memory");
                return;
        }
        query_list(q, NULL);
}

/* A window's page: the next page, or the next window, or the manual runs. */
static void window_page(S3Query *q, const S3Response *r) {
        if (!query_page(q, r, firing_on_key))
                return;
        if (q->token && ++q->pages < QUERY_PAGES_MAX) {
                query_list(q, NULL);
                return;
        }
        if (q->token) {
                /* Too many to read: what this window holds is left out, as the newest
                 * firings of it may be among the unread ones. */
                candidates_trim(q, q->n_before);
                manual_list(q);
                return;
        }
        if (q->n_cand >= q->limit || q->lo <= q->floor || q->window + 1 >= WINDOWS_MAX) {
                manual_list(q);
                return;
        }
        q->hi = q->lo;
        q->window++;
        window_list(q);
}

static void manual_page(S3Query *q, const S3Response *r) {
        if (!query_page(q, r, manual_on_key))
                return;
        if (q->token && ++q->pages < QUERY_PAGES_MAX)
                query_list(q, NULL);
        else
                fetch_start(q);
}

static void lease_s3_on_query_listed(const S3Response *r, void *userdata) {
        S3Query *q = userdata;

        q->op = NULL;
        if (!lease_s3_is_2xx(r)) {
                query_end(q, r->message);
                return;
        }
        switch (q->kind) {
        case QUERY_PROBE:
                query_end(q, NULL);
                return;
        case QUERY_PAUSED:
                paused_page(q, r);
                return;
        default:
                if (q->manual)
                        manual_page(q, r);
                else
                        window_page(q, r);
                return;
        }
}

static void lease_s3_on_fetched(const S3Response *r, void *userdata);

static int newest_first_t(const void *a, const void *b) {
        int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;

        return x < y ? 1 : x > y ? -1 : 0;
}

/* The scheduled instant of the limit-th newest record read that the answer counts, or
 * INT64_MIN while fewer are read. Each record's instant was kept when it arrived
 * (lease_s3_on_fetched()): nothing is parsed again here. */
static int64_t read_cutoff(const S3Query *q) {
        _cleanup_free_ int64_t *t = calloc(q->i_fetch ?: 1, sizeof(int64_t));
        size_t n = 0;

        if (!t)
                return INT64_MAX;       /* no more reading: the answer says out of memory */
        for (size_t i = 0; i < q->i_fetch; i++)
                if (q->got[i] && q->cand[i].scheduled != INT64_MIN)
                        t[n++] = q->cand[i].scheduled;
        if (n < q->limit)
                return INT64_MIN;
        qsort(t, n, sizeof(int64_t), newest_first_t);
        return t[q->limit - 1];
}

/* Another GET to start: the newest candidates are read until limit records are read or on
 * their way, or none is left. Then, once none is in flight, those ranked after a newer instant
 * than the limit-th newest read: a manual run's rank (its last write) is later than its
 * instant (when it was asked for), so a firing ranked after it may be newer. */
static bool fetch_more(const S3Query *q) {
        if (q->i_fetch >= q->n_cand)
                return false;
        if (q->n_read + (q->i_fetch - q->n_answered) < q->limit)
                return true;
        return q->i_fetch == q->n_answered && q->cand[q->i_fetch].t > read_cutoff(q);
}

static void fetch_failed(S3Query *q, const char *why) {
        (void) snprintf(q->error, sizeof(q->error), "%s", why);
        q->n_failed++;
        q->n_answered++;
}

/* The next candidate's GET in slot f (or its failure to start, counted). */
static void fetch_one(Fetch *f) {
        S3Query *q = f->q;
        int r;

        f->i = q->i_fetch++;
        r = s3_request_start(q->store->s3, &(S3Request) {
                                     .method = HTTP_GET,
                                     .key = q->cand[f->i].key,
                                     .max_body = LEASE_S3_RECORD_MAX,
                                     .timeout_ms = query_timeout_ms(q),
                                     .done = lease_s3_on_fetched,
                                     .userdata = f,
                             }, &f->op);
        if (r < 0) {
                f->op = NULL;
                fetch_failed(q, strerror(-r));
        }
}

/* GETs in the idle slots while there is more to read; once none is in flight, the answer
 * (an error only when failures left no record). */
static void fetch_fill(S3Query *q) {
        size_t i = 0;

        while (fetch_more(q)) {
                while (i < FETCH_PARALLEL && q->fetch[i].op)
                        i++;
                if (i == FETCH_PARALLEL || query_late(q))
                        return;
                fetch_one(&q->fetch[i]);
        }
        if (q->n_answered == q->i_fetch)
                query_end(q, q->n_read == 0 && q->n_failed > 0 ? q->error : NULL);
}

static void lease_s3_on_fetched(const S3Response *r, void *userdata) {
        Fetch *f = userdata;
        S3Query *q = f->q;
        json_t *rec;

        f->op = NULL;
        if (lease_s3_is_2xx(r)) {
                rec = json_loadb(r->body, r->body_size, 0, NULL);
                if (json_is_object(rec)) {
                        LeaseRecord lr;

                        q->got[f->i] = rec;
                        q->cand[f->i].scheduled =
                                lease_record_from_json(rec, &lr) && strcmp(lr.job, q->job) == 0 &&
                                lr.scheduled >= q->since ? lr.scheduled : INT64_MIN;
                        q->n_read++;
                } else
                        json_decref(rec);       /* not a record: left out */
                q->n_answered++;
        } else if (lease_s3_is_no_such_key(r))
                q->n_answered++;                /* deleted meanwhile */
        else
                fetch_failed(q, r->message);
        fetch_fill(q);
}

static int newest_first(const void *a, const void *b) {
        const Candidate *x = a, *y = b;

        return x->t < y->t ? 1 : x->t > y->t ? -1 : 0;
}

/* Read the candidates, newest first, FETCH_PARALLEL at a time. */
static void fetch_start(S3Query *q) {
        if (q->n_cand > 1)
                qsort(q->cand, q->n_cand, sizeof(Candidate), newest_first);
        q->got = calloc(q->n_cand ?: 1, sizeof(json_t *));
        if (!q->got) {
                query_end(q, "out of memory");
                return;
        }
        fetch_fill(q);
}

void lease_s3_history_query(LeaseStore *store, const char *job, int64_t since, unsigned limit,
                            lease_records_cb done, void *userdata) {
        S3Store *s = container_of(store, S3Store, store);
        int64_t oldest;
        S3Query *q;

        if (!lease_s3_job_valid(job)) {
                done(NULL, 0, "invalid job name for an S3 key", userdata);
                return;
        }
        q = query_new(s, QUERY_HISTORY, userdata);
        if (!q) {
                done(NULL, 0, query_new_failed(s), userdata);
                return;
        }
        q->cb.records = done;
        q->since = since;
        q->limit = limit < HISTORY_LIMIT_MAX ? limit : HISTORY_LIMIT_MAX;
        q->now = s3_client_now(s->s3);
        q->hi = INT64_MAX;
        oldest = q->now - (int64_t) (s->history / USEC_PER_SEC) - 86400;
        q->floor = since > oldest ? since : oldest;
        q->job = strdup(job);
        if (!q->job || asprintf(&q->prefix, "%s/%s/", s->prefix, job) < 0) {
                q->prefix = NULL;
                query_end(q, "out of memory");
                return;
        }
        if (q->limit == 0) {
                query_end(q, NULL);
                return;
        }
        window_list(q);
}
