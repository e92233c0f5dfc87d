/* SPDX-License-Identifier: MIT */
/* Listing keys (ListObjectsV2, one page a request; also for lease_s3_fleet.c), and deleting
 * old records with it.
 *
 * Proof-of-run records are kept for `history` (default 30 days), then deleted by solocron
 * itself: after a final record of a job is written, at most once an hour per job, a pass
 * lists PREFIX/JOB/ with ListObjectsV2 one page at a time (keys sort by scheduled time, so the
 * oldest come first) and, after each page, deletes that page's records whose Last-Modified is
 * older than history by the server's clock (the page's Date), one DeleteObject each. Only
 * keys shaped PREFIX/JOB/TIMESTAMP (and runs' outputs under them, PREFIX/JOB/TIMESTAMP/output)
 * are touched; then manual runs' records, PREFIX/JOB/manual-KEY (and their outputs), whose
 * Last-Modified is older than history, listed the same way (their keys say nothing of time,
 * so every page of them is read).
 *
 * The next page follows the page's NextContinuationToken, so a job with more records than a
 * page holds (an every-second job makes 3600 an hour) is cleaned up in full. The pass over the
 * firings stops at the first record scheduled less than history ago: it and every key after it
 * are too young (a later pass gets to them), so it reads the pages of old records plus one,
 * not the whole history. Each part stops after LIST_PAGES_MAX pages; a backlog larger than
 * that (after history was shortened) is worked off at that rate, hour by hour.
 *
 * One pass runs at a time; failures wait for the next pass. A bucket lifecycle rule can do the
 * same job instead (see the man page). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lease_s3_internal.h"
#include "macro.h"
#include "parse.h"

#define PASS_INTERVAL_MS        (3600U * 1000U)
#define LIST_PAGES_MAX          10U
#define LIST_BODY_MAX           (4U * 1024U * 1024U)

struct HistoryJob {                     /* one per job that finished a run here */
        HistoryJob *next;
        char *job;
        uint64_t last_ms;               /* uv_now() of its last pass */
        bool pending;
};

/* ---- listing ---- */

int lease_s3_list(S3Store *s, const LeaseS3List *l, S3Op **ret_op) {
        SigV4Param query[4] = { { "list-type", "2" }, { "prefix", l->prefix },
                                { "max-keys", l->max_keys ?: "1000" } };
        size_t n = 3;

        /* S3 ignores start-after when a continuation token is given: one or the other. */
        if (l->token)
                query[n++] = (SigV4Param) { "continuation-token", l->token };
        else if (l->start_after)
                query[n++] = (SigV4Param) { "start-after", l->start_after };
        return s3_request_start(s->s3, &(S3Request) {
                                        .method = HTTP_GET,
                                        .query = query,
                                        .n_query = n,
                                        .max_body = LIST_BODY_MAX,
                                        .timeout_ms = l->timeout_ms,
                                        .done = l->done,
                                        .userdata = l->userdata,
                                }, ret_op);
}

/* The continuation token of the page after this one; NULL when this is the last page. */
static int list_next_token(const char *root, const char *end, char **ret) {
        const char *p = root, *v;
        _cleanup_free_ char *truncated = NULL;
        size_t vlen;

        *ret = NULL;
        if (s3_xml_element(&p, end, "IsTruncated", &v, &vlen) != 1 ||
            s3_xml_text(v, vlen, &truncated) < 0 || strcmp(truncated, "true") != 0)
                return 0;
        p = root;
        if (s3_xml_element(&p, end, "NextContinuationToken", &v, &vlen) != 1 || vlen == 0)
                return -EBADMSG;        /* truncated without a way on */
        return s3_xml_text(v, vlen, ret);
}

/* One <Contents>: its key and Last-Modified. */
static int list_entry(const char *inner, size_t len, char **ret_key, int64_t *ret_lm) {
        _cleanup_free_ char *key = NULL, *lm = NULL;
        const char *q = inner, *v;
        size_t vlen;

        if (s3_xml_element(&q, inner + len, "Key", &v, &vlen) != 1 ||
            s3_xml_text(v, vlen, &key) < 0)
                return -EBADMSG;
        q = inner;
        if (s3_xml_element(&q, inner + len, "LastModified", &v, &vlen) != 1 ||
            s3_xml_text(v, vlen, &lm) < 0 || s3_parse_iso8601(lm, ret_lm) < 0)
                return -EBADMSG;
        *ret_key = TAKE_PTR(key);
        return 0;
}

int lease_s3_list_parse(const S3Response *r, lease_s3_list_each_cb each, void *userdata,
                        char **ret_token) {
        const char *p = r->body, *end = r->body + r->body_size, *inner, *root;
        _cleanup_free_ char *token = NULL;
        size_t len;
        int k, stop = 0;

        if (s3_xml_element(&p, end, "ListBucketResult", &root, &len) != 1)
                return -EBADMSG;
        p = root;
        end = root + len;
        k = list_next_token(root, end, &token);
        if (k < 0)
                return k;
        while (stop == 0 && (k = s3_xml_element(&p, end, "Contents", &inner, &len)) == 1) {
                _cleanup_free_ char *key = NULL;
                int64_t lm;

                k = list_entry(inner, len, &key, &lm);
                if (k < 0)
                        return k;
                stop = each(key, lm, userdata);
                if (stop < 0)
                        return stop;
        }
        if (k < 0)
                return k;
        *ret_token = TAKE_PTR(token);
        return stop;
}

/* ---- deleting old records ---- */

typedef struct PageScan {               /* one page of the pass, as it is read */
        S3Store *s;
        const char *prefix;
        size_t plen;
        int64_t date;                   /* the page's Date: the server's clock */
} PageScan;

static void history_next(S3Store *s);

static void doomed_free(S3Store *s) {
        for (size_t i = 0; i < s->n_history_doomed; i++)
                free(s->history_doomed[i]);
        free(s->history_doomed);
        s->history_doomed = NULL;
        s->n_history_doomed = s->i_history_doomed = 0;
}

static void pass_end(S3Store *s) {
        doomed_free(s);
        free(s->history_token);
        s->history_token = NULL;
        s->history_op = NULL;
        s->history_manual = false;
        if (s->history_running)
                s->history_running->pending = false;
        s->history_running = NULL;
        history_next(s);
}

static void list_page(S3Store *s);

/* The firings' part of the pass is over: the manual runs' part, or the end. */
static void part_end(S3Store *s) {
        doomed_free(s);
        free(s->history_token);
        s->history_token = NULL;
        if (s->history_manual) {
                pass_end(s);
                return;
        }
        s->history_manual = true;
        s->history_pages = 0;
        list_page(s);
}

static void lease_s3_on_deleted(const S3Response *r, void *userdata) {
        S3Store *s = userdata;

        s->history_op = NULL;
        if (!lease_s3_is_2xx(r)) {
                pass_end(s);
                return;
        }
        if (s->i_history_doomed >= s->n_history_doomed) {
                /* This page is done: the next one, if there is one to look at. */
                doomed_free(s);
                if (s->history_token && ++s->history_pages < LIST_PAGES_MAX)
                        list_page(s);
                else
                        part_end(s);
                return;
        }
        if (s3_request_start(s->s3, &(S3Request) {
                                     .method = HTTP_DELETE,
                                     .key = s->history_doomed[s->i_history_doomed++],
                                     .timeout_ms = LEASE_S3_TIMEOUT_MAX_MS,
                                     .done = lease_s3_on_deleted,
                                     .userdata = s,
                             }, &s->history_op) < 0)
                pass_end(s);
}

static bool older_than_history(const S3Store *s, int64_t date, int64_t t) {
        return date >= t && (usec_t) (date - t) * USEC_PER_SEC > s->history;
}

static int doom(S3Store *s, const char *key) {
        char **a = reallocarray(s->history_doomed, s->n_history_doomed + 1, sizeof(char *));

        if (!a)
                return -ENOMEM;
        s->history_doomed = a;
        a[s->n_history_doomed] = strdup(key);
        if (!a[s->n_history_doomed])
                return -ENOMEM;
        s->n_history_doomed++;
        return 0;
}

/* A key of the pass: doomed when last written longer than history ago. Of the firings'
 * part, only keys of a firing, and 1 (stop) at the first one scheduled within history: so is
 * every later key. */
static int history_on_key(const char *key, int64_t last_modified, void *userdata) {
        PageScan *p = userdata;
        char stamp[RFC3339_UTC_MAX];
        const char *rest = key + p->plen;
        size_t n = strcspn(rest, "/");
        int64_t when;
        bool absolute;

        if (strncmp(key, p->prefix, p->plen) != 0)
                return 0;
        if (p->s->history_manual)
                return older_than_history(p->s, p->date, last_modified) ? doom(p->s, key) : 0;
        /* A firing's record, PREFIX/JOB/TIMESTAMP, or an object under it: its run's output
         * (PREFIX/JOB/TIMESTAMP/output, output: {s3: …} in the same bucket and prefix), which
         * goes with the record. */
        if (n >= sizeof(stamp))
                return 0;
        memcpy(stamp, rest, n);
        stamp[n] = 0;
        if (parse_timestamp(stamp, &when, &absolute) < 0 || !absolute)
                return 0;
        if (!older_than_history(p->s, p->date, when))
                return 1;
        return older_than_history(p->s, p->date, last_modified) ? doom(p->s, key) : 0;
}

/* The part's prefix: PREFIX/JOB/, or PREFIX/JOB/manual- */
static char *pass_prefix(const S3Store *s) {
        char *p;

        if (asprintf(&p, "%s/%s/%s", s->prefix, s->history_running->job,
                     s->history_manual ? "manual-" : "") < 0)
                return NULL;
        return p;
}

static void lease_s3_on_listed(const S3Response *r, void *userdata) {
        S3Store *s = userdata;
        _cleanup_free_ char *prefix = NULL;
        int k;

        s->history_op = NULL;
        if (!lease_s3_is_2xx(r) || r->date < 0 || !s->history_running ||
            !(prefix = pass_prefix(s))) {
                pass_end(s);
                return;
        }
        free(s->history_token);
        s->history_token = NULL;
        k = lease_s3_list_parse(r, history_on_key, &(PageScan) { .s = s, .prefix = prefix,
                                                                 .plen = strlen(prefix),
                                                                 .date = r->date },
                                &s->history_token);
        if (k < 0) {
                pass_end(s);
                return;
        }
        if (k > 0) {                    /* reached the young records: the last page */
                free(s->history_token);
                s->history_token = NULL;
        }
        /* Start the deletions as if a first one had just succeeded. */
        lease_s3_on_deleted(&(S3Response) { .status = 204, .code = "", .body = "" }, s);
}

/* The first page of the running part, or the one s->history_token names. */
static void list_page(S3Store *s) {
        _cleanup_free_ char *prefix = pass_prefix(s);

        if (!prefix || lease_s3_list(s, &(LeaseS3List) {
                                             .prefix = prefix,
                                             .token = s->history_token,
                                             .timeout_ms = LEASE_S3_TIMEOUT_MAX_MS,
                                             .done = lease_s3_on_listed,
                                             .userdata = s,
                                     }, &s->history_op) < 0) {
                s->history_op = NULL;
                pass_end(s);
        }
}

static void history_next(S3Store *s) {
        HistoryJob *j = s->history_jobs;

        if (s->history_running || s->closing)
                return;
        while (j && !j->pending)
                j = j->next;
        if (!j)
                return;
        s->history_running = j;
        s->history_pages = 0;
        s->history_manual = false;
        list_page(s);
}

void lease_s3_history_note(S3Store *s, const char *job) {
        uint64_t n = lease_s3_now_ms(s);
        HistoryJob *j = s->history_jobs;

        while (j && strcmp(j->job, job) != 0)
                j = j->next;
        if (!j) {
                j = calloc(1, sizeof(HistoryJob));
                if (!j || !(j->job = strdup(job))) {
                        free(j);
                        return;
                }
                j->next = s->history_jobs;
                s->history_jobs = j;
        } else if (n - j->last_ms < PASS_INTERVAL_MS)
                return;
        j->last_ms = n;
        j->pending = true;
        history_next(s);
}

void lease_s3_history_stop(S3Store *s) {
        s3_request_cancel(s->history_op);
        s->history_op = NULL;
        s->history_running = NULL;
        doomed_free(s);
        free(s->history_token);
        s->history_token = NULL;
}

void lease_s3_history_free(S3Store *s) {
        doomed_free(s);
        free(s->history_token);
        s->history_token = NULL;
        while (s->history_jobs) {
                HistoryJob *j = s->history_jobs;

                s->history_jobs = j->next;
                free(j->job);
                free(j);
        }
}
