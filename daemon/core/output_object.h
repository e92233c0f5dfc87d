/* SPDX-License-Identifier: MIT */
#pragma once

/* The object an output upload sends, and its key.
 *
 * The body: a run's captured output, at most max bytes. When the
 * run wrote more, the tail is kept and a first line says how much was cut:
 *   [solocron: 5242880 bytes cut, the last 1048509 follow]
 * The tail starts on a UTF-8 character (continuation bytes at the cut are cut too). Pure. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "capture.h"

/* A new buffer *ret of *ret_size bytes (<= max; empty when nothing was captured), and how
 * many bytes of the output were left out in *ret_cut. -ENOMEM. */
/* The key: PREFIX/JOB/SCHEDULED-UTC/output, a manual run's PREFIX/JOB/manual-KEY/output
 * (beside the S3 lease's record PREFIX/JOB/SCHEDULED-UTC), "output.gz" when gzipped; with a
 * host (a job every replica runs: lease: none) "output-HOST[.gz]". NULL: out of memory. */
char *output_object_key(const char *prefix, const char *job, int64_t scheduled,
                        const char *manual, const char *host, bool gzip);

int output_body_build(const Capture *c, size_t max, char **ret, size_t *ret_size,
                      uint64_t *ret_cut);
