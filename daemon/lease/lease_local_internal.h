/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by the local lease's files only: lease_local.c (claims and their records),
 * lease_local_slots.c (the file of records, one slot per job) and lease_local_fleet.c (what
 * the API asks: the history, pauses, the probe). Its files, in STATE_DIR/leases (0700;
 * files 0600):
 *   jobs.lease                 the newest firing's record of each job, SLOT_SIZE bytes each
 *   history                    the final records of every job, one JSON object per line
 *   manual/job-NAME@KEY.lease  a manual run's record
 *   paused/job-NAME            the pause marker: {"by": …, "at": …}
 * (An older solocron's job-NAME.lease and job-NAME.history are taken over at the job's next
 * firing.) */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include <uv.h>

#include "lease.h"

#define LEASE_RECORD_MAX 4096
#define SLOT_SIZE 1024          /* a record in jobs.lease: at most SLOT_SIZE - 1 bytes and a newline */

typedef struct SlotEntry SlotEntry;

/* What this daemon last wrote in a slot, so that the slot's next claim need not parse it back
 * (a tenth of a firing's CPU): a hash of the record's bytes, its firing and fencing token. */
typedef struct SlotMemo {
        uint64_t hash;          /* 0: nothing known */
        int64_t scheduled;
        uint64_t token;
} SlotMemo;
#define LOCK_RETRY_FIRST_MSEC 1 /* the lock is taken: try again after this, doubling … */
#define LOCK_RETRY_MAX_MSEC 50  /* … up to this */
#define NEVER UINT64_MAX        /* history_seen, markers_seen: look again */

typedef struct LocalStore {
        LeaseStore store;
        uv_loop_t *loop;
        char *dir;
        char *holder_json;      /* the host name as a JSON string, quotes and escapes included;
                                 * NULL until the first record (holder_json()) */
        pid_t pid;              /* ours, in every record (read once: the daemon never forks) */
        uint64_t timeout_msec;  /* election_timeout: how long a taken lock is waited for */
        usec_t history;         /* how long final records are kept */
        char detail[256];       /* the last HELD/UNAVAILABLE explanation */
        json_t *held;           /* the record of the last HELD answer (its LeaseRecord points
                                 * into it) */
        LeaseRecord held_record;
        LeaseClaim *waiting;    /* claims and final records waiting for a lock (list) */
        unsigned timers;        /* claims' timers not yet closed: close() waits for them too */
        int slots_fd;           /* jobs.lease, opened on first use; -1 before */
        SlotEntry *index;       /* hash of a job's name → its slot (open addressing) */
        size_t n_index, index_cap;
        off_t scanned;          /* the part of jobs.lease indexed */
        SlotMemo *memo;         /* by slot, n_memo of them (grown as slots are written) */
        size_t n_memo;
        bool alloc_locked;      /* a new slot is being written: the allocation lock is ours */
        int history_fd;         /* history, opened on first use (O_APPEND); -1 before */
        unsigned history_appends; /* its size is looked at every 256 appends */
        uint64_t history_seen;  /* loop time (ms) at which history_fd was last seen to be the
                                 * file's name (not renamed over by a trim); NEVER: not yet */
        uint64_t markers_seen;  /* loop time (ms) of the last look at paused/ … */
        bool markers_maybe;     /* … whether it may hold a marker then */
        struct timespec markers_empty_mtime; /* paused/'s mtime when it was last seen empty */
        ino_t markers_empty_ino;
        void (*closed)(void *userdata);  /* close(): called once nothing waits any more */
        void *closed_userdata;
        bool closing;
} LocalStore;

/* lease_local_slots.c */
int lease_local_slots_open(LocalStore *ls);
void lease_local_slots_close(LocalStore *ls);
/* Lock job's slot and read it into buf (SLOT_SIZE bytes): 0 with *ret_offset and *ret_size
 * (0 for a new slot, unless an older solocron's record was taken over); -EWOULDBLOCK when
 * another process holds the lock; -ENOENT when the job has no slot and not create; another
 * -errno. The reason is in ls->detail. */
int lease_local_slot_lock(LocalStore *ls, const char *job, bool create, off_t *ret_offset,
                          char *buf, size_t *ret_size);
/* Unlock the slot at offset (written: a new slot's record is there). */
void lease_local_slot_unlock(LocalStore *ls, const char *job, off_t offset, bool written);
/* job's record, unlocked, NUL-terminated in buf (SLOT_SIZE + 1 bytes); -ENOENT when none. */
int lease_local_slot_read(LocalStore *ls, const char *job, char *buf);

/* lease_local_fleet.c */
/* Is job paused? (A marker that cannot be read counts as none.) The marker's text in
 * ls->detail when it is. */
bool lease_local_paused(LocalStore *ls, const char *job);
/* Append a final record (text, size bytes, no newline) to the history, trimming it once it
 * has grown. Errors are ignored: the record itself is written. */
void lease_local_history_append(LocalStore *ls, const char *text, size_t size);
/* An older solocron's job-NAME.history: appended to the history, and removed. */
void lease_local_history_import(LocalStore *ls, const char *job);
void lease_local_history_close(LocalStore *ls);
/* Unlink manual runs' records older than the history period. */
void lease_local_manual_prune(LocalStore *ls);
void lease_local_history(LeaseStore *s, const char *job, int64_t since, unsigned limit,
                         lease_records_cb done, void *userdata);
void lease_local_set_paused(LeaseStore *s, const char *job, bool paused, const char *by,
                            lease_done_cb done, void *userdata);
void lease_local_list_paused(LeaseStore *s, lease_jobs_cb done, void *userdata);
void lease_local_probe(LeaseStore *s, lease_done_cb done, void *userdata);
