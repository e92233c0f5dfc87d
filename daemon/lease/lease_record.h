/* SPDX-License-Identifier: MIT */
#pragma once

/* What every backend's records have in common, for the history and for HELD answers: a
 * record's JSON read into a LeaseRecord, and a list of them put in the API's order. The
 * backends write the same fields: job, scheduled, manual (manual runs), holder (a host name,
 * or {hostname, pid}), pid, run, attempt, status, token or fencing_token, started, finished,
 * exit_status and duration_ms (final records), and output (where the run's output is kept,
 * output: {s3: …}). */

#include <jansson.h>
#include <stdbool.h>

#include "lease.h"

/* rec read as a record, pointing into rec (valid while rec is). false: not one (no job, no
 * valid scheduled instant). */
bool lease_record_from_json(json_t *rec, LeaseRecord *ret);
/* Sort records newest first, drop those scheduled before since, keep at most limit: the
 * number kept. */
size_t lease_records_select(LeaseRecord *records, size_t n, int64_t since, unsigned limit);
/* A firing's state as the missed-firing scripts and statements name it ("none", "running",
 * "done", "abandoned", "paused"). false: no such name. */
bool lease_firing_state_from_name(const char *name, LeaseFiringState *ret);
/* A manual run's key: [A-Za-z0-9_.-]{1,64}. */
bool lease_manual_key_valid(const char *key);
