/* SPDX-License-Identifier: MIT */
#pragma once

/* The captured tail of one run's output: the last `cap` bytes of its stdout and stderr
 * together, in the order they were read, in a ring allocated on the first byte (a silent run
 * costs nothing) and freed with the run. What fell off the front is counted. Fed by Output
 * beside its line relay; read by notifications (pings, hooks, webhooks) and the output
 * upload. Attempts accumulate: a run's capture spans all its attempts, and every attempt
 * after the first begins with a marker line (capture_mark_attempt()). Pure: no loop, no log. */

#include <stddef.h>
#include <stdint.h>

#define CAPTURE_NOTIFY_MAX (10 * 1024)  /* what pings and hooks get: the last 10 KiB */

typedef struct Capture {        /* embedded in its owner (a Run); cap 0: capture off */
        char *buf;              /* cap bytes, owned; NULL until the first byte */
        size_t cap;             /* the most it holds */
        size_t head;            /* index of the oldest byte held */
        size_t len;             /* bytes held, <= cap */
        uint64_t dropped;       /* bytes that fell off the front (or that could not be held) */
} Capture;

typedef struct CapturePiece {
        const char *data;       /* borrowed from the Capture: valid until its next change */
        size_t len;
} CapturePiece;

/* cap 0 turns capture off (every append is a no-op). */
void capture_init(Capture *c, size_t cap);
void capture_done(Capture *c);
/* Keep the last cap bytes of what was held plus p[0..n). -ENOMEM when the ring cannot be
 * allocated (the bytes are counted as dropped). */
int capture_append(Capture *c, const void *p, size_t n);
/* Before attempt n (n >= 2): "--- solocron: attempt N ---\n", after a newline if the tail
 * does not end with one. Nothing while nothing was captured. */
void capture_mark_attempt(Capture *c, unsigned attempt);
/* The last min(max, len) bytes as one or two contiguous pieces, oldest first; returns how
 * many (0 when empty). SIZE_MAX: all of it. */
size_t capture_pieces(const Capture *c, size_t max, CapturePiece ret[static 2]);
/* Copy the last min(max, len) bytes, linearised, to dst; returns how many. */
size_t capture_copy(const Capture *c, size_t max, char *dst);
/* The same as a new NUL-terminated string (*ret_len without the NUL); -ENOMEM. */
int capture_dup(const Capture *c, size_t max, char **ret, size_t *ret_len);
