/* SPDX-License-Identifier: MIT */
/* Runs' output uploads (upload.h). One upload goes:
 *
 *   uploads_submit ─gzip?─> worker: compress ─> PUT ─2xx──────────────> uploaded
 *                     └──────────────────────────↗ ├─transient, tries left─> backoff ─> PUT
 *                                                  └─else─────────────────> failed
 *   uploads_close: backoffs given up now; PUTs in flight get the grace, then given up.
 *
 * An upload's memory is its object (at most max_size, or its gzip) and a few names; it is
 * freed from its timer's close callback (or the worker's end, when it compresses). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gziplib.h"
#include "list.h"
#include "log.h"
#include "macro.h"
#include "parse.h"
#include "s3.h"
#include "testhook.h"
#include "upload.h"

#define UPLOAD_BACKOFF_FIRST_MS 1000U

typedef struct UpClient UpClient;
struct UpClient {                       /* one per bucket and connection settings */
        UpClient *prev, *next;
        S3Client *s3;
        char *bucket, *endpoint, *region, *ca_file;
        bool path_style;
};

typedef enum UploadState {
        UP_COMPRESSING,                 /* the worker has the body */
        UP_SENDING,                     /* op runs */
        UP_BACKOFF,                     /* the timer runs */
        UP_GONE,                        /* over: the timer closes */
} UploadState;

typedef struct Upload Upload;
struct Upload {
        Uploads *u;
        Upload *prev, *next;
        UpClient *client;
        UploadState state;
        uv_timer_t timer;
        uv_work_t work;
        S3Op *op;
        char *job, *key, *where;        /* where: "s3://BUCKET/KEY", for the log */
        char run[17];
        char *body;
        size_t size;
        uint64_t cut;
        int gzip_error;                 /* the worker's */
        bool gzip;
        bool ended_while_compressing;   /* given up: the worker's end frees it */
        unsigned tries;
        uint64_t started_ms;
};

struct Uploads {
        uv_loop_t *loop;
        Upload *uploads;
        size_t n_uploads;
        UpClient *clients;
        UploadStats stats;
        uv_timer_t grace;
        uint32_t timeout_ms, backoff_ms;
        unsigned n_closing;             /* handles and clients still closing */
        bool closing, grace_over;
};

static uint32_t hook_ms(const char *name, uint32_t dflt) {
        const char *v = test_hook_getenv(name);
        uint64_t n;

        return v && parse_uint64(v, UINT32_MAX, &n) == 0 && n > 0 ? (uint32_t) n : dflt;
}

Uploads *uploads_new(uv_loop_t *loop) {
        Uploads *u = calloc(1, sizeof(Uploads));

        if (!u)
                return NULL;
        u->loop = loop;
        /* Tests only: a server that never answers is given up in seconds, not minutes. */
        u->timeout_ms = hook_ms("SOLOCRON_TEST_OUTPUT_TIMEOUT_MS", UPLOAD_TIMEOUT_MS);
        u->backoff_ms = hook_ms("SOLOCRON_TEST_OUTPUT_BACKOFF_MS", UPLOAD_BACKOFF_FIRST_MS);
        return u;
}

const UploadStats *uploads_stats(const Uploads *u) {
        static const UploadStats none;

        return u ? &u->stats : &none;
}

bool uploads_gzip_available(void) {
        static bool said;
        int r = gzip_load();

        if (r < 0 && !said) {
                said = true;
                log_event(LOG_WARNING, "output_upload", NULL, NULL, NULL,
                          "output.s3.gzip: zlib (libz.so.1) cannot be loaded (%s); outputs are "
                          "uploaded uncompressed", strerror(-r));
        }
        return r >= 0;
}

/* ---- clients ---- */

static bool str_equal(const char *a, const char *b) {
        return a == b || (a && b && strcmp(a, b) == 0);
}

static UpClient *client_free(UpClient *c) {
        free(c->bucket);
        free(c->endpoint);
        free(c->region);
        free(c->ca_file);
        free(c);
        return NULL;
}

/* The client for cfg's bucket, made at its first upload. NULL: *ret_error says why. */
static UpClient *client_get(Uploads *u, const OutputS3Config *cfg, char **ret_error) {
        UpClient *c;
        int r;

        for (c = u->clients; c; c = c->next)
                if (str_equal(c->bucket, cfg->bucket) && str_equal(c->endpoint, cfg->endpoint) &&
                    str_equal(c->region, cfg->region) && str_equal(c->ca_file, cfg->ca_file) &&
                    c->path_style == cfg->path_style)
                        return c;
        c = calloc(1, sizeof(UpClient));
        if (!c || !(c->bucket = strdup(cfg->bucket)) ||
            (cfg->endpoint && !(c->endpoint = strdup(cfg->endpoint))) ||
            (cfg->region && !(c->region = strdup(cfg->region))) ||
            (cfg->ca_file && !(c->ca_file = strdup(cfg->ca_file)))) {
                if (c)
                        client_free(c);
                *ret_error = strdup("out of memory");
                return NULL;
        }
        c->path_style = cfg->path_style;
        r = s3_client_new(u->loop, &(S3ClientConfig) {
                                  .bucket = c->bucket, .endpoint = c->endpoint,
                                  .region = c->region, .path_style = c->path_style,
                                  .ca_file = c->ca_file,
                          }, &c->s3, ret_error);
        if (r < 0) {
                if (!*ret_error)
                        *ret_error = strdup(strerror(-r));
                return client_free(c);
        }
        LIST_PREPEND(u->clients, c);
        return c;
}

/* ---- one upload ---- */

static void uploads_maybe_freed(Uploads *u);

static void upload_free(Upload *up) {
        Uploads *u = up->u;

        free(up->job);
        free(up->key);
        free(up->where);
        free(up->body);
        free(up);
        u->n_closing--;
        uploads_maybe_freed(u);
}

static void upload_on_timer_closed(uv_handle_t *h) {
        upload_free(h->data);
}

typedef enum UploadEnd {
        END_UPLOADED,
        END_FAILED,
        END_ABANDONED,
} UploadEnd;

/* Over: logged, counted, forgotten. */
static void upload_end(Upload *up, UploadEnd how, const char *why) {
        Uploads *u = up->u;
        char bytes[24], cut[24], tries[12], dur[32];
        uint64_t ms = uv_now(u->loop) - up->started_ms;

        (void) snprintf(bytes, sizeof(bytes), "%zu", up->size);
        (void) snprintf(cut, sizeof(cut), "%llu", (unsigned long long) up->cut);
        (void) snprintf(tries, sizeof(tries), "%u", up->tries);
        (void) snprintf(dur, sizeof(dur), "%llu.%03llus", (unsigned long long) (ms / 1000),
                        (unsigned long long) (ms % 1000));
        switch (how) {
        case END_UPLOADED:
                u->stats.uploaded++;
                u->stats.bytes += up->size;
                log_event(LOG_INFO, "output_uploaded", up->job, up->run,
                          (LogKV[]) { { "object", up->where }, { "bytes", bytes },
                                      { "cut", cut }, { "tries", tries }, {} },
                          "output uploaded to %s (%s bytes%s, %s)", up->where, bytes,
                          up->gzip ? " gzipped" : "", dur);
                break;
        case END_FAILED:
                u->stats.failed++;
                log_event(LOG_ERR, "output_upload_failed", up->job, up->run,
                          (LogKV[]) { { "object", up->where }, { "tries", tries }, {} },
                          "OUTPUT NOT KEPT: cannot upload %s after %u tr%s: %s", up->where,
                          up->tries, up->tries == 1 ? "y" : "ies", why);
                break;
        case END_ABANDONED:
                u->stats.abandoned++;
                log_event(LOG_WARNING, "output_upload_abandoned", up->job, up->run,
                          (LogKV[]) { { "object", up->where }, { "tries", tries }, {} },
                          "OUTPUT NOT KEPT: shutting down, giving up the upload of %s (%s)",
                          up->where, why);
                break;
        }
        s3_request_cancel(up->op);
        up->op = NULL;
        LIST_UNLINK(u->uploads, up);
        u->n_uploads--;
        u->n_closing++;
        if (up->state == UP_COMPRESSING) {
                up->ended_while_compressing = true;
                return;
        }
        up->state = UP_GONE;
        uv_close((uv_handle_t *) &up->timer, upload_on_timer_closed);
}

static bool transient(const S3Response *r) {
        static const char *const codes[] = { "SlowDown", "RequestTimeout", "InternalError",
                                             "ExpiredToken", "RequestTimeTooSkewed",
                                             "OperationAborted" };

        if (r->error < 0)
                return r->error != -EPROTO && r->error != -EINVAL && r->error != -ENOKEY &&
                       r->error != -ENOMEM && r->error != -EBADMSG;
        if (r->status >= 500 || r->status == 408 || r->status == 409 || r->status == 429)
                return true;
        for (size_t i = 0; i < ELEMENTSOF(codes); i++)
                if (strcmp(r->code, codes[i]) == 0)
                        return true;
        return false;
}

static void upload_put(Upload *up);

static void upload_on_backoff(uv_timer_t *t) {
        upload_put(t->data);
}

static void upload_on_put(const S3Response *r, void *userdata) {
        Upload *up = userdata;
        Uploads *u = up->u;
        uint64_t wait;

        up->op = NULL;
        if (r->error == 0 && r->status >= 200 && r->status < 300) {
                upload_end(up, END_UPLOADED, NULL);
                return;
        }
        if (!transient(r) || up->tries >= UPLOAD_TRIES || u->closing) {
                upload_end(up, u->closing && transient(r) ? END_ABANDONED : END_FAILED,
                           r->message ?: "no answer");
                return;
        }
        wait = (uint64_t) u->backoff_ms << (up->tries - 1);
        u->stats.retries++;
        log_event(LOG_WARNING, "output_upload_retry", up->job, up->run, NULL,
                  "upload of %s failed (try %u of %u: %s); again in %llu ms", up->where,
                  up->tries, UPLOAD_TRIES, r->message ?: "no answer", (unsigned long long) wait);
        up->state = UP_BACKOFF;
        (void) uv_timer_start(&up->timer, upload_on_backoff, wait, 0);
}

static void upload_put(Upload *up) {
        int r;

        up->state = UP_SENDING;
        up->tries++;
        r = s3_request_start(up->client->s3, &(S3Request) {
                                     .method = HTTP_PUT,
                                     .key = up->key,
                                     .body = up->body,
                                     .body_size = up->size,
                                     .body_borrowed = true,
                                     .content_type = "text/plain; charset=utf-8",
                                     .content_encoding = up->gzip ? "gzip" : NULL,
                                     .timeout_ms = up->u->timeout_ms,
                                     .done = upload_on_put,
                                     .userdata = up,
                             }, &up->op);
        if (r < 0) {
                up->op = NULL;
                upload_end(up, END_FAILED, strerror(-r));
        }
}

static void upload_work(uv_work_t *w) {
        Upload *up = container_of(w, Upload, work);
        char *z = NULL;
        size_t n = 0;

        up->gzip_error = gzip_compress(up->body, up->size, &z, &n);
        if (up->gzip_error < 0)
                return;
        free(up->body);
        up->body = z;
        up->size = n;
}

static void upload_after_work(uv_work_t *w, int status) {
        Upload *up = container_of(w, Upload, work);

        if (up->ended_while_compressing) {
                up->state = UP_GONE;
                uv_close((uv_handle_t *) &up->timer, upload_on_timer_closed);
                return;
        }
        if (status < 0 || up->gzip_error < 0) {
                upload_end(up, END_FAILED, status < 0 ? "cancelled" :
                           "cannot gzip the output (out of memory)");
                return;
        }
        upload_put(up);
}

void uploads_submit(Uploads *u, const UploadRequest *req) {
        _cleanup_free_ char *error = NULL;
        Upload *up;
        int r;

        up = calloc(1, sizeof(Upload));
        if (!up || !(up->job = strdup(req->job)) || !(up->key = strdup(req->key)) ||
            asprintf(&up->where, "s3://%s/%s", req->cfg->bucket, req->key) < 0) {
                log_event(LOG_ERR, "output_upload_failed", req->job, req->run_id, NULL,
                          "OUTPUT NOT KEPT: out of memory");
                if (up) {
                        free(up->job);
                        free(up->key);
                }
                free(up);
                free(req->body);
                u->stats.failed++;
                return;
        }
        *up = (Upload) { .u = u, .job = up->job, .key = up->key, .where = up->where,
                         .body = req->body, .size = req->size, .cut = req->cut,
                         .gzip = req->gzip, .started_ms = uv_now(u->loop) };
        (void) snprintf(up->run, sizeof(up->run), "%s", req->run_id);
        (void) uv_timer_init(u->loop, &up->timer);
        up->timer.data = up;
        up->state = UP_BACKOFF;         /* nothing in flight yet */
        LIST_PREPEND(u->uploads, up);
        u->n_uploads++;

        if (u->closing) {
                upload_end(up, END_ABANDONED, "the daemon is stopping");
                return;
        }
        if (u->n_uploads > UPLOADS_MAX) {
                upload_end(up, END_FAILED, "too many uploads in progress: S3 is slow or does "
                           "not answer");
                return;
        }
        up->client = client_get(u, req->cfg, &error);
        if (!up->client) {
                upload_end(up, END_FAILED, error ?: "cannot make an S3 client");
                return;
        }
        if (!up->gzip) {
                upload_put(up);
                return;
        }
        up->state = UP_COMPRESSING;
        r = uv_queue_work(u->loop, &up->work, upload_work, upload_after_work);
        if (r < 0) {
                up->state = UP_BACKOFF;
                upload_end(up, END_FAILED, uv_strerror(r));
        }
}

/* ---- closing ---- */

static void uploads_on_client_closed(void *userdata) {
        Uploads *u = userdata;

        u->n_closing--;
        uploads_maybe_freed(u);
}

static void uploads_on_grace_closed(uv_handle_t *h) {
        Uploads *u = h->data;

        u->n_closing--;
        uploads_maybe_freed(u);
}

/* Every upload over: close the clients, then free u. */
static void uploads_maybe_freed(Uploads *u) {
        if (!u->closing || u->uploads)
                return;
        if (!u->grace_over) {
                u->grace_over = true;
                u->n_closing++;
                uv_close((uv_handle_t *) &u->grace, uploads_on_grace_closed);
                for (UpClient *c = u->clients, *next; c; c = next) {
                        next = c->next;
                        LIST_UNLINK(u->clients, c);
                        u->n_closing++;
                        s3_client_close(c->s3, uploads_on_client_closed, u);
                        client_free(c);
                }
        }
        if (u->n_closing == 0)
                free(u);
}

static void uploads_on_grace(uv_timer_t *t) {
        Uploads *u = t->data;

        for (Upload *up = u->uploads, *next; up; up = next) {
                next = up->next;
                upload_end(up, END_ABANDONED, "the shutdown grace is over");
        }
        uploads_maybe_freed(u);
}

void uploads_close(Uploads *u, usec_t grace) {
        uint64_t ms = grace / 1000 < UPLOAD_GRACE_MAX_MS ? grace / 1000 : UPLOAD_GRACE_MAX_MS;

        if (!u || u->closing)
                return;
        u->closing = true;
        (void) uv_timer_init(u->loop, &u->grace);
        u->grace.data = u;
        for (Upload *up = u->uploads, *next; up; up = next) {
                next = up->next;
                if (up->state == UP_BACKOFF)
                        upload_end(up, END_ABANDONED, "the daemon is stopping");
        }
        if (u->uploads) {
                log_event(LOG_INFO, "output_upload", NULL, NULL, NULL,
                          "stopping: %zu output upload%s in flight, waiting up to %llu ms",
                          u->n_uploads, u->n_uploads == 1 ? "" : "s", (unsigned long long) ms);
                (void) uv_timer_start(&u->grace, uploads_on_grace, ms, 0);
        }
        uploads_maybe_freed(u);
}
