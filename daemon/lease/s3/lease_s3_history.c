/* SPDX-License-Identifier: MIT */
/* Proof-of-run records are kept for `history` (default 30 days), then deleted by solocron
 * itself: after a final record of a job is written, at most once an hour per job, a pass
 * lists PREFIX/JOB/ with ListObjectsV2 one page at a time (keys sort by scheduled time, so the
 * oldest come first) and, after each page, deletes that page's records whose Last-Modified is
 * older than history by the server's clock (the page's Date), one DeleteObject each. Only
 * keys shaped PREFIX/JOB/TIMESTAMP are touched.
 *
 * The next page follows the page's NextContinuationToken, so a job with more records than a
 * page holds (an every-second job makes 3600 an hour) is cleaned up in full. A pass stops at
 * the first record scheduled less than history ago: it and every key after it are too young
 * (a later pass gets to them), so a pass reads the pages of old records plus one, not the
 * whole history. It also stops after LIST_PAGES_MAX pages; a backlog larger than that (after
 * history was shortened) is worked off at that rate, hour by hour.
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
#define LIST_MAX_KEYS           "1000"
#define LIST_PAGES_MAX          10U
#define LIST_BODY_MAX           (4U * 1024U * 1024U)

struct HistoryJob {                     /* one per job that finished a run here */
        HistoryJob *next;
        char *job;
        uint64_t last_ms;               /* uv_now() of its last pass */
        bool pending;
};

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
        if (s->history_running)
                s->history_running->pending = false;
        s->history_running = NULL;
        history_next(s);
}

static void list_page(S3Store *s);

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
                        pass_end(s);
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

/* The token of the page after r, into s->history_token; none when r is the last page. */
static int list_next_token(S3Store *s, const char *root, const char *end) {
        const char *p = root, *v;
        _cleanup_free_ char *truncated = NULL;
        size_t vlen;

        free(s->history_token);
        s->history_token = NULL;
        if (s3_xml_element(&p, end, "IsTruncated", &v, &vlen) != 1 ||
            s3_xml_text(v, vlen, &truncated) < 0 || strcmp(truncated, "true") != 0)
                return 0;
        p = root;
        if (s3_xml_element(&p, end, "NextContinuationToken", &v, &vlen) != 1 || vlen == 0)
                return -EBADMSG;        /* truncated without a way on */
        return s3_xml_text(v, vlen, &s->history_token);
}

/* The keys of our records older than history, from one ListObjectsV2 page, and the token of
 * the next page unless this one reached records scheduled within history. */
static int list_parse(S3Store *s, const S3Response *r, const char *prefix) {
        const char *p = r->body, *end = r->body + r->body_size, *inner, *root;
        size_t len, plen = strlen(prefix);
        bool young = false;
        int k;

        if (s3_xml_element(&p, end, "ListBucketResult", &root, &len) != 1)
                return -EBADMSG;
        p = root;
        end = root + len;
        k = list_next_token(s, root, end);
        if (k < 0)
                return k;
        while (!young && (k = s3_xml_element(&p, end, "Contents", &inner, &len)) == 1) {
                _cleanup_free_ char *key = NULL, *lm = NULL;
                const char *q = inner, *v;
                int64_t t, when;
                bool absolute;
                size_t vlen;
                char **a;

                if (s3_xml_element(&q, inner + len, "Key", &v, &vlen) != 1 ||
                    s3_xml_text(v, vlen, &key) < 0)
                        return -EBADMSG;
                q = inner;
                if (s3_xml_element(&q, inner + len, "LastModified", &v, &vlen) != 1 ||
                    s3_xml_text(v, vlen, &lm) < 0 || s3_parse_iso8601(lm, &t) < 0)
                        return -EBADMSG;
                if (strncmp(key, prefix, plen) != 0 ||
                    parse_timestamp(key + plen, &when, &absolute) < 0 || !absolute)
                        continue;
                if (r->date < when || (usec_t) (r->date - when) * USEC_PER_SEC <= s->history) {
                        young = true;   /* scheduled within history: so is every later key */
                        continue;
                }
                if (r->date < t || (usec_t) (r->date - t) * USEC_PER_SEC <= s->history)
                        continue;
                a = reallocarray(s->history_doomed, s->n_history_doomed + 1, sizeof(char *));
                if (!a)
                        return -ENOMEM;
                s->history_doomed = a;
                s->history_doomed[s->n_history_doomed++] = TAKE_PTR(key);
        }
        if (k < 0)
                return k;
        if (young) {
                free(s->history_token);
                s->history_token = NULL;
        }
        return 0;
}

static void lease_s3_on_listed(const S3Response *r, void *userdata) {
        S3Store *s = userdata;
        _cleanup_free_ char *prefix = NULL;

        s->history_op = NULL;
        if (!lease_s3_is_2xx(r) || r->date < 0 || !s->history_running ||
            asprintf(&prefix, "%s/%s/", s->prefix, s->history_running->job) < 0 ||
            list_parse(s, r, prefix) < 0) {
                pass_end(s);
                return;
        }
        /* Start the deletions as if a first one had just succeeded. */
        lease_s3_on_deleted(&(S3Response) { .status = 204, .code = "", .body = "" }, s);
}

/* The first page of the running pass, or the one s->history_token names. */
static void list_page(S3Store *s) {
        _cleanup_free_ char *prefix = NULL;
        SigV4Param query[4] = { { "list-type", "2" }, { "prefix", NULL },
                                { "max-keys", LIST_MAX_KEYS },
                                { "continuation-token", s->history_token } };

        if (asprintf(&prefix, "%s/%s/", s->prefix, s->history_running->job) < 0) {
                prefix = NULL;
                pass_end(s);
                return;
        }
        query[1].value = prefix;
        if (s3_request_start(s->s3, &(S3Request) {
                                     .method = HTTP_GET,
                                     .query = query,
                                     .n_query = s->history_token ? 4 : 3,
                                     .max_body = LIST_BODY_MAX,
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
