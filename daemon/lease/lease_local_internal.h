/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by the local lease's two files only: lease_local.c (claims and their records) and
 * lease_local_fleet.c (what the API asks: the history, pauses, the probe). Its files, in
 * STATE_DIR/leases (0700; files 0600):
 *   job-NAME.lease             the newest firing's record (claims)
 *   job-NAME.history           the final records, one JSON object per line, appended
 *   manual/job-NAME@KEY.lease  a manual run's record
 *   paused/job-NAME            the pause marker: {"by": …, "at": …} */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "lease.h"

#define LEASE_RECORD_MAX 4096
#define LOCK_RETRY_FIRST_MSEC 1 /* the lock is taken: try again after this, doubling … */
#define LOCK_RETRY_MAX_MSEC 50  /* … up to this */

typedef struct LocalStore {
        LeaseStore store;
        uv_loop_t *loop;
        char *dir;
        char *holder_json;      /* the host name as a JSON string, quotes and escapes included */
        uint64_t timeout_msec;  /* election_timeout: how long a taken lock is waited for */
        usec_t history;         /* how long final records are kept */
        char detail[256];       /* the last HELD/UNAVAILABLE explanation */
        json_t *held;           /* the record of the last HELD answer (its LeaseRecord points
                                 * into it) */
        LeaseRecord held_record;
        LeaseClaim *waiting;    /* claims and final records waiting for a lock (list) */
        void (*closed)(void *userdata);  /* close(): called once nothing waits any more */
        void *closed_userdata;
        bool closing;
} LocalStore;

/* lease_local_fleet.c */
/* Is job paused? (A marker that cannot be read counts as none.) The marker's text in
 * ls->detail when it is. */
bool lease_local_paused(LocalStore *ls, const char *job);
/* Append a final record (text, size bytes, no newline) to job's history, trimming it to the
 * history period once it has grown. Errors are ignored: the record itself is written. */
void lease_local_history_append(LocalStore *ls, const char *job, const char *text, size_t size);
/* Unlink manual runs' records older than the history period. */
void lease_local_manual_prune(LocalStore *ls);
void lease_local_history(LeaseStore *s, const char *job, int64_t since, unsigned limit,
                         lease_records_cb done, void *userdata);
void lease_local_set_paused(LeaseStore *s, const char *job, bool paused, const char *by,
                            lease_done_cb done, void *userdata);
void lease_local_list_paused(LeaseStore *s, lease_jobs_cb done, void *userdata);
void lease_local_probe(LeaseStore *s, lease_done_cb done, void *userdata);
