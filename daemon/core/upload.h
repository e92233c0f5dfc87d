/* SPDX-License-Identifier: MIT */
#pragma once

/* Runs' output kept in S3 (output: {s3: …}): each upload is one PUT of an object
 * (output_object.h) through daemon/aws (SigV4, the credential chain), on the loop, with
 *   - gzip, when asked, in a libuv worker (never on the loop);
 *   - UPLOAD_TRIES tries, 1 s, 2 s, 4 s apart, for what may pass (no answer, 5xx, 408, 429,
 *     throttling); then, or at once for a refusal (403, 404 NoSuchBucket), the upload is
 *     given up: logged (output_upload_failed) and counted;
 *   - at most UPLOADS_MAX at once (each holds its object, at most max_size): more are
 *     given up at once;
 *   - one S3 client per distinct bucket and connection settings, made at its first upload.
 * A run never waits for its upload: the run is over when it is handed here. Logs its own
 * events (output_uploaded, output_upload_retry, output_upload_failed,
 * output_upload_abandoned). */

#include <stdint.h>
#include <uv.h>

#include "config.h"

#define UPLOAD_TRIES            4
#define UPLOADS_MAX             64
#define UPLOAD_TIMEOUT_MS       30000U  /* one PUT */
#define UPLOAD_GRACE_MAX_MS     5000U   /* at shutdown, for what is in flight */

typedef struct Uploads Uploads;

typedef struct UploadStats {            /* since the daemon started */
        uint64_t uploaded, failed, abandoned;   /* uploads, by how they ended */
        uint64_t retries;
        uint64_t bytes;                 /* of the objects uploaded */
} UploadStats;

typedef struct UploadRequest {
        const OutputS3Config *cfg;      /* borrowed during the call */
        const char *job, *run_id;
        const char *key;
        char *body;                     /* taken: freed by the upload */
        size_t size;
        uint64_t cut;                   /* bytes of the output left out, for the log */
        bool gzip;                      /* compress body first */
} UploadRequest;

Uploads *uploads_new(uv_loop_t *loop);
/* Hand over a run's output; the upload runs on its own from here. Never fails the caller:
 * what cannot start is logged and counted. */
void uploads_submit(Uploads *u, const UploadRequest *req);
/* Is gzip to be had (zlib loads)? Said once in the log when it is not. */
bool uploads_gzip_available(void);
const UploadStats *uploads_stats(const Uploads *u);
/* Shutdown: no new try starts; what is in flight gets min(grace, UPLOAD_GRACE_MAX_MS), then
 * is given up (output_upload_abandoned); then the clients close and u is freed. The loop
 * must run until then (the handles keep it alive). NULL: nothing. */
void uploads_close(Uploads *u, usec_t grace);
