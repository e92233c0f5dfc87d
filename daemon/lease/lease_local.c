/* SPDX-License-Identifier: MIT */
/* The local lease: per job, a small JSON record of the newest firing claimed for that job
 * (who, which run, how it ended), in its slot of DIR/jobs.lease (lease_local_slots.c); a
 * manual run's in a file of its own. Claiming is a short critical section under the slot's
 * lock (a manual run's file: flock()): read the record; if it names this firing (or a later
 * one), another daemon on this host has it: stand down; else write our claim. So two daemons
 * sharing a state directory run each firing once, while one daemon may still run several
 * firings of a job at once (overlap: allow).
 *
 * The lock is never waited for in the loop: a daemon holds it for microseconds, but any
 * process that can open the file could hold it for ever (a watchdog restart loop under
 * systemd). LOCK_NB, and while the lock is taken the claim (or the final record) is tried
 * again on a timer, a few milliseconds apart, until election_timeout: then the claim is
 * UNAVAILABLE. The directory is 0700 and the files 0600, so only the daemon's user can. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hash.h"
#include "jsonlib.h"
#include "lease_local_internal.h"
#include "lease_record.h"
#include "list.h"
#include "macro.h"
#include "numfmt.h"
#include "reterr.h"
#include "parse.h"
#include "timeutil.h"

typedef enum ClaimStep {
        STEP_CLAIM,             /* PENDING: the claim waits for the lock */
        STEP_HELD,              /* won: the daemon holds c until finish() or cancel() */
        STEP_END,               /* the final record waits for the lock; the daemon forgot c */
} ClaimStep;

struct LeaseClaim {
        LocalStore *store;
        char *path, *job, *run_id;      /* path: a manual run's file; NULL: a slot */
        char *key;              /* SOLOCRON_LEASE_KEY: "DIR/jobs.lease#NAME@SCHEDULED", or a
                                 * manual run's path */
        char *manual;           /* a manual run's key, or NULL */
        int64_t scheduled;
        int64_t started;        /* the claim's wall clock time */
        unsigned attempt;
        uint64_t token;
        char *written;          /* the claim's record, byte for byte as written */
        size_t written_size;
        ClaimStep step;
        LeaseCallbacks cb;
        uv_timer_t timer;       /* waiting for the lock (initialised only then) */
        bool timer_open;
        bool waiting;           /* on LocalStore.waiting, its timer armed */
        uint64_t retry_msec, deadline;  /* loop time, msec */
        char *end_result;       /* STEP_END: what to record */
        int64_t end_status, end_duration_msec, end_time;
        LeaseClaim *prev, *next;        /* LocalStore.waiting */
};

static int lock_open(LocalStore *ls, const char *path);

/* Where a claim's record is, locked: its slot in jobs.lease, or a manual run's own file. */
typedef struct Place {
        int fd;
        off_t offset;
        bool slot;
        char buf[LEASE_RECORD_MAX + 1]; /* what was there */
        size_t size;
} Place;

/* Lock c's place and read it: 0, -EWOULDBLOCK when another process holds the lock, or
 * another -errno with the reason in ls->detail. */
static int place_lock(LeaseClaim *c, bool create, Place *p) {
        LocalStore *ls = c->store;
        int r;

        if (c->path) {
                ssize_t n;

                r = lock_open(ls, c->path);
                if (r < 0)
                        return r;
                *p = (Place) { .fd = r };
                n = pread(p->fd, p->buf, LEASE_RECORD_MAX, 0);
                p->size = n > 0 ? (size_t) n : 0;
                return 0;
        }
        p->slot = true;
        p->fd = ls->slots_fd;
        r = lease_local_slot_lock(ls, c->job, create, &p->offset, p->buf, &p->size);
        p->fd = ls->slots_fd;
        return r;
}

static void place_unlock(LeaseClaim *c, Place *p, bool written) {
        if (p->slot)
                lease_local_slot_unlock(c->store, c->job, p->offset, written);
        else
                (void) close(p->fd);    /* unlocks */
}

/* A new slot that got an older solocron's record (and stands down): keep that record there. */
static bool place_keep(Place *p) {
        if (!p->slot || p->size == 0 || p->size >= SLOT_SIZE || !p->buf[0])
                return false;
        memset(p->buf + p->size, ' ', SLOT_SIZE - 1 - p->size);
        p->buf[SLOT_SIZE - 1] = '\n';
        return pwrite(p->fd, p->buf, SLOT_SIZE, p->offset) == SLOT_SIZE;
}

/* The length of buf[0..size) without the padding (spaces, and a slot's newline): a slot is
 * a record and some 700 spaces, skipped eight at a time (byte by byte, they were a tenth of
 * the user time of a firing). */
static size_t unpadded(const char *buf, size_t size) {
        static const char spaces[8] = "        ";

        if (size > 0 && buf[size - 1] == '\n')
                size--;
        while (size >= 8 && memcmp(buf + size - 8, spaces, 8) == 0)
                size -= 8;
        while (size > 0 && (buf[size - 1] == ' ' || buf[size - 1] == '\n'))
                size--;
        return size;
}

/* The record read, or NULL when empty or not ours to understand. Without the padding, which
 * the JSON reader would take one by one. */
static json_t *record_parse(Place *p) {
        size_t n = unpadded(p->buf, p->size);

        return n > 0 ? json_loadb(p->buf, n, 0, NULL) : NULL;
}

/* A record being formatted: text appended at at, never past end (full: it did not fit). */
typedef struct Text {
        char *at, *end;
        bool full;
} Text;

static void put(Text *t, const char *s) {
        size_t n = strlen(s);

        if (t->full || (size_t) (t->end - t->at) < n) {
                t->full = true;
                return;
        }
        memcpy(t->at, s, n);
        t->at += n;
}

static void put_int(Text *t, long long v) {
        char digits[FMT_INT_MAX];

        (void) fmt_int(digits, v);
        put(t, digits);
}

static void put_uint(Text *t, unsigned long long u) {
        char digits[FMT_INT_MAX];

        (void) fmt_uint(digits, u);
        put(t, digits);
}

/* The host name as a JSON string, escaped on the first record written (not at start-up: a
 * daemon that has run nothing does not load jansson, daemon/dlopen/jsonlib.c); NULL when
 * out of memory. */
static const char *holder_json(LocalStore *ls) {
        char hostname[256] = "";
        json_t *holder;

        if (ls->holder_json)
                return ls->holder_json;
        if (gethostname(hostname, sizeof(hostname) - 1) < 0)
                (void) snprintf(hostname, sizeof(hostname), "localhost");
        holder = json_string(hostname);
        ls->holder_json = holder ? json_dumps(holder, JSON_ENCODE_ANY) : NULL;
        json_decref(holder);
        return ls->holder_json;
}

/* Overwrite the record in place, padded with spaces (JSON allows them) to the old size: no
 * truncation, because on ext4 a file truncated to zero and rewritten is flushed to disk at
 * close (auto_da_alloc), which made each firing wait for the block device (bench/). The
 * record is formatted directly: job names are letters, digits, '_', '.' and '-', run ids
 * hex, and the host name was escaped once (jansson building and dumping an object cost a
 * tenth of a firing, and snprintf() most of the rest). With ret_text, the bytes written are
 * returned (*ret_size long). */
static int record_write(const Place *p, const LeaseClaim *c, bool final,
                        char **ret_text, size_t *ret_size) {
        size_t old_size = p->slot ? SLOT_SIZE - 1 : p->size;
        char when[RFC3339_UTC_MAX], text[LEASE_RECORD_MAX];
        Text t = { .at = text, .end = text + sizeof(text) - 1 };
        const char *holder = holder_json(c->store);
        size_t len;
        ssize_t n;

        if (!holder)
                return -ENOMEM;
        put(&t, "{\"job\":\"");
        put(&t, c->job);
        put(&t, "\",\"scheduled\":\"");
        put(&t, format_rfc3339_utc(c->scheduled, when));
        put(&t, "\"");
        if (c->manual) {        /* [A-Za-z0-9_.-]: nothing to escape */
                put(&t, ",\"manual\":\"");
                put(&t, c->manual);
                put(&t, "\"");
        }
        put(&t, ",\"holder\":");
        put(&t, holder);
        put(&t, ",\"pid\":");
        put_int(&t, c->store->pid);
        put(&t, ",\"run\":\"");
        put(&t, c->run_id);
        put(&t, "\",\"attempt\":");
        put_uint(&t, c->attempt);
        put(&t, ",\"status\":\"");
        put(&t, final ? c->end_result : "running");
        put(&t, "\",\"token\":");
        put_uint(&t, c->token);
        put(&t, ",\"started\":\"");
        put(&t, format_rfc3339_utc(c->started, when));
        put(&t, "\"");
        if (final) {
                put(&t, ",\"finished\":\"");
                put(&t, format_rfc3339_utc(c->end_time, when));
                put(&t, "\",\"duration_ms\":");
                put_int(&t, c->end_duration_msec);
                if (c->end_status >= 0) {
                        put(&t, ",\"exit_status\":");
                        put_int(&t, c->end_status);
                }
        }
        put(&t, "}");
        if (t.full || (p->slot && (size_t) (t.at - text) > old_size))
                return -ENAMETOOLONG;
        len = (size_t) (t.at - text);
        if (len < old_size) {
                /* Only a record longer than ours can be there: old_size <= LEASE_RECORD_MAX. */
                memset(text + len, ' ', old_size - len);
                len = old_size;
        }
        if (p->slot)
                text[len++] = '\n';    /* a slot: SLOT_SIZE bytes, one line */
        n = pwrite(p->fd, text, len, p->offset);
        if (n < 0)
                return -errno;
        if (n != (ssize_t) len)
                return -ENOSPC;         /* a short write: the disk is full */
        /* A file longer than a record (not written by us: we never exceed the cap) would keep
         * its tail after ours: cut it, in this rare case only. */
        if (!p->slot && old_size >= LEASE_RECORD_MAX) {
                struct stat st;

                if (fstat(p->fd, &st) == 0 && (size_t) st.st_size > len && ftruncate(p->fd, (off_t) len) < 0)
                        return -errno;
        }
        if (ret_text) {
                *ret_text = malloc(len);
                if (!*ret_text)
                        return -ENOMEM;
                memcpy(*ret_text, text, len);
                *ret_size = len;
        }
        return 0;
}

/* Open (creating it the first time) and lock the job's file; -errno with the reason in
 * ls->detail; -EWOULDBLOCK when another process holds the lock. */
static int lock_open(LocalStore *ls, const char *path) {
        /* Without O_CREAT first: the file exists after a job's first firing, and O_CREAT
         * takes the directory's lock even then. No atime update: each firing reads the file
         * after the last one wrote it, so relatime would dirty the inode every time (only
         * the file's owner may ask). The file is not kept open from the claim to the end:
         * while 1000 jobs run, one more descriptor each makes every spawn copy a larger
         * descriptor table (bench/). */
        int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOATIME, fd;

        fd = open(path, flags);
        if (fd < 0 && errno == EPERM) {
                flags &= ~O_NOATIME;
                fd = open(path, flags);
        }
        if (fd < 0 && errno == ENOENT)
                fd = open(path, flags | O_CREAT, 0600);
        if (fd < 0) {
                (void) snprintf(ls->detail, sizeof(ls->detail), "cannot open '%s': %s", path,
                                strerror(errno));
                return -errno;
        }
        while (flock(fd, LOCK_EX | LOCK_NB) < 0)
                if (errno != EINTR) {
                        int r = -errno;

                        (void) snprintf(ls->detail, sizeof(ls->detail), "cannot lock '%s': %s", path,
                                        r == -EWOULDBLOCK ? "another process holds its lock"
                                                          : strerror(-r));
                        (void) close(fd);
                        return r;
                }
        return fd;
}

static void claim_free(LeaseClaim *c) {
        free(c->key);
        free(c->manual);
        free(c->end_result);
        free(c->written);
        free(c->path);
        free(c->job);
        free(c->run_id);
        free(c);
}

static void local_maybe_closed(LocalStore *ls);

static void claim_on_timer_closed(uv_handle_t *h) {
        LeaseClaim *c = h->data;
        LocalStore *ls = c->store;

        claim_free(c);
        ls->timers--;
        local_maybe_closed(ls);
}

/* Done with c: at once, or once its timer has closed. */
static void claim_release(LeaseClaim *c) {
        if (c->waiting) {
                LIST_UNLINK(c->store->waiting, c);
                c->waiting = false;
        }
        if (!c->timer_open) {
                claim_free(c);
                return;
        }
        c->timer_open = false;
        uv_close((uv_handle_t *) &c->timer, claim_on_timer_closed);
}

static void claim_on_retry(uv_timer_t *t);

/* The lock is taken: try again soon, unless the deadline has passed (false). */
static bool claim_wait(LeaseClaim *c) {
        LocalStore *ls = c->store;
        uint64_t now;

        if (!c->timer_open) {
                if (uv_timer_init(ls->loop, &c->timer) < 0)
                        return false;
                c->timer.data = c;
                c->timer_open = true;
                ls->timers++;
        }
        uv_update_time(ls->loop);
        now = uv_now(ls->loop);
        if (!c->waiting) {              /* a new wait: the claim's, or the final record's */
                c->waiting = true;
                c->retry_msec = LOCK_RETRY_FIRST_MSEC;
                c->deadline = now + ls->timeout_msec;
                LIST_PREPEND(ls->waiting, c);
        } else if (c->retry_msec < LOCK_RETRY_MAX_MSEC)
                c->retry_msec *= 2;
        if (now >= c->deadline || ls->closing)
                return false;
        (void) uv_timer_start(&c->timer, claim_on_retry,
                              c->retry_msec < c->deadline - now ? c->retry_msec : c->deadline - now, 0);
        return true;
}

/* Where c's record is, for messages. */
static const char *place_name(const LeaseClaim *c) {
        return c->path ?: c->key;
}

/* FNV-1a of a record's bytes without the padding (never 0). */
static uint64_t record_hash(const char *buf, size_t size) {
        uint64_t h = fnv1a64(FNV1A64_OFFSET, buf, unpadded(buf, size));

        return h ?: 1;
}

/* The slot's memo when p holds what this daemon last wrote there, or NULL. */
static const SlotMemo *memo_find(const LocalStore *ls, const Place *p) {
        size_t slot = (size_t) (p->offset / SLOT_SIZE);

        if (!p->slot || slot >= ls->n_memo || ls->memo[slot].hash == 0 ||
            ls->memo[slot].hash != record_hash(p->buf, p->size))
                return NULL;
        return &ls->memo[slot];
}

/* Remember the final record c wrote in its slot at p (nothing, when out of memory). */
static void memo_keep(LocalStore *ls, const Place *p, const LeaseClaim *c, const char *text,
                      size_t size) {
        size_t slot = (size_t) (p->offset / SLOT_SIZE);

        if (slot >= ls->n_memo) {
                size_t n = slot < 32 ? 64 : 2 * slot;
                SlotMemo *m = realloc(ls->memo, n * sizeof(SlotMemo));

                if (!m)
                        return;
                memset(m + ls->n_memo, 0, (n - ls->n_memo) * sizeof(SlotMemo));
                ls->memo = m;
                ls->n_memo = n;
        }
        ls->memo[slot] = (SlotMemo) { .hash = record_hash(text, size), .scheduled = c->scheduled,
                                      .token = c->token };
}

/* One try at the claim, under the lock. PENDING: the lock is taken (try again later). */
static LeaseResult claim_try(LeaseClaim *c, LeaseInfo *ret_info) {
        LocalStore *ls = c->store;
        const SlotMemo *memo;
        uint64_t token = 1;
        json_t *rec;
        Place p;
        int r;

        if (!c->manual && lease_local_paused(ls, c->job)) {
                ret_info->held = LEASE_HELD_PAUSED;
                return LEASE_HELD;
        }
        /* Before the lock: the first record's host name loads jansson. */
        if (!holder_json(ls)) {
                r = jsonlib_load() < 0 ? -ELIBACC : -ENOMEM;
                (void) snprintf(ls->detail, sizeof(ls->detail),
                                "cannot record the claim in '%s': %s", place_name(c), strerror(-r));
                return LEASE_UNAVAILABLE;
        }
        r = place_lock(c, true, &p);
        if (r == -EWOULDBLOCK)
                return LEASE_PENDING;
        if (r < 0)
                return LEASE_UNAVAILABLE;

        memo = memo_find(ls, &p);
        if (memo && memo->scheduled < c->scheduled) {
                /* Our own final record of an earlier firing, as we left it: nothing to parse. */
                token = memo->token + 1;
                rec = NULL;
        } else
                rec = record_parse(&p);
        if (rec) {
                LeaseRecord *held = &ls->held_record;

                /* The fencing token counts the firings claimed through this record; a manual
                 * run's file is its own, once. */
                token = (uint64_t) json_integer_value(json_object_get(rec, "token")) + 1;
                if (lease_record_from_json(rec, held) &&
                    (c->manual || held->scheduled >= c->scheduled)) {
                        (void) snprintf(ls->detail, sizeof(ls->detail), "pid %lld on %s (%s)",
                                        (long long) held->pid, held->host ?: "this host",
                                        held->status ?: "?");
                        ret_info->held = held->status && strcmp(held->status, "running") == 0 ?
                                         LEASE_HELD_RUNNING : LEASE_HELD_DONE;
                        ret_info->record = held;
                        json_decref(ls->held);
                        ls->held = rec;         /* held points into it */
                        place_unlock(c, &p, ls->alloc_locked && place_keep(&p));
                        return LEASE_HELD;
                }
                json_decref(rec);
        }
        c->token = token;
        c->started = lease_started_at(c->scheduled, c->manual, time(NULL));
        r = record_write(&p, c, false, &c->written, &c->written_size);
        place_unlock(c, &p, r >= 0);
        if (r < 0) {
                (void) snprintf(ls->detail, sizeof(ls->detail), "cannot record the claim in '%s': %s",
                                place_name(c), strerror(-r));
                return LEASE_UNAVAILABLE;
        }
        ret_info->fencing_token = token;
        return LEASE_WON;
}

/* Write the final status, if the record is still this claim's: byte for byte what the claim
 * wrote (a later firing may have been claimed meanwhile: its record stays). -EWOULDBLOCK:
 * the lock is taken. */
static int record_end(LeaseClaim *c) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        Place p;
        int r = place_lock(c, false, &p);

        if (r < 0)
                return r;
        if (p.size == c->written_size && memcmp(p.buf, c->written, c->written_size) == 0 &&
            record_write(&p, c, true, &text, &size) == 0 && p.slot)
                memo_keep(c->store, &p, c, text, size);
        place_unlock(c, &p, false);
        /* Its line in the history: without the padding (a record is overwritten in place,
         * padded to its slot or to the old record's size). */
        size = unpadded(text, size);
        if (size > 0)
                lease_local_history_append(c->store, text, size);
        return 0;
}

static void claim_on_retry(uv_timer_t *t) {
        LeaseClaim *c = t->data;
        LocalStore *ls = c->store;
        LeaseInfo info = { .detail = ls->detail, .key = c->key };
        LeaseResult res;

        if (c->step == STEP_END) {
                if (record_end(c) == -EWOULDBLOCK && claim_wait(c))
                        return;
                claim_release(c);       /* written, or given up: the record says running */
                return;
        }
        res = claim_try(c, &info);
        if (res == LEASE_PENDING) {
                if (claim_wait(c))
                        return;
                res = LEASE_UNAVAILABLE;
        }
        LIST_UNLINK(ls->waiting, c);
        c->waiting = false;
        if (res == LEASE_WON) {
                c->step = STEP_HELD;
                c->cb.claimed(c, res, &info, c->cb.userdata);
                return;
        }
        c->cb.claimed(c, res, &info, c->cb.userdata);
        claim_release(c);
}

static LeaseResult local_claim(LeaseStore *s, const LeaseRequest *req, const LeaseCallbacks *cb,
                               LeaseClaim **ret_claim, LeaseInfo *ret_info) {
        LocalStore *ls = container_of(s, LocalStore, store);
        char sched[RFC3339_UTC_MAX];
        LeaseClaim *c;
        LeaseResult res;

        *ret_info = (LeaseInfo) { .detail = ls->detail };
        c = calloc(1, sizeof(LeaseClaim));
        if (!c)
                return LEASE_UNAVAILABLE;
        *c = (LeaseClaim) { .store = ls, .scheduled = req->scheduled, .attempt = req->attempt,
                            .job = strdup(req->job), .run_id = strdup(req->run_id), .cb = *cb };
        if (req->manual) {
                /* A manual run's record is a file of its own (the key was checked). */
                lease_local_manual_prune(ls);
                c->manual = strdup(req->manual);
                if (!c->manual || !c->job || !c->run_id ||
                    asprintf(&c->path, "%s/manual/job-%s@%s.lease", ls->dir, req->job,
                             req->manual) < 0)
                        c->path = NULL;
                else
                        c->key = strdup(c->path);
        } else if (!c->job || !c->run_id ||
                   asprintf(&c->key, "%s/jobs.lease#%s@%s", ls->dir, req->job,
                            format_rfc3339_utc(req->scheduled, sched)) < 0)
                c->key = NULL;
        if (!c->key) {
                (void) snprintf(ls->detail, sizeof(ls->detail), "out of memory");
                claim_free(c);
                return LEASE_UNAVAILABLE;
        }
        ret_info->key = c->key;
        res = claim_try(c, ret_info);
        if (res == LEASE_PENDING && !claim_wait(c))
                res = LEASE_UNAVAILABLE;
        switch (res) {
        case LEASE_PENDING:
                *ret_claim = c;         /* claim_on_retry() decides */
                return res;
        case LEASE_WON:
                c->step = STEP_HELD;
                *ret_claim = c;
                return res;
        default:
                claim_release(c);
                return res;
        }
}

/* The final record, now or once the lock is free; the daemon forgets c at once. */
static void local_end(LeaseClaim *c, const LeaseEnd *end) {
        c->step = STEP_END;
        c->end_status = end->exit_status;
        c->end_duration_msec = end->duration_msec;
        c->end_time = time(NULL);
        c->end_result = strdup(end->result);
        if (c->end_result && record_end(c) == -EWOULDBLOCK && claim_wait(c))
                return;
        claim_release(c);
}

static void local_finish(LeaseClaim *c, const LeaseEnd *end) {
        local_end(c, end);
}

static void local_cancel(LeaseClaim *c) {
        if (c->step == STEP_CLAIM) {    /* still waiting for the lock: forget it */
                claim_release(c);
                return;
        }
        local_end(c, &(LeaseEnd) { .result = "abandoned", .exit_status = -1,
                                   .duration_msec = (time(NULL) - c->started) * 1000 });
}

static void local_free(LocalStore *ls) {
        lease_local_slots_close(ls);
        lease_local_history_close(ls);
        json_decref(ls->held);
        free(ls->holder_json);
        free(ls->dir);
        free(ls);
}

static void local_maybe_closed(LocalStore *ls) {
        void (*done)(void *userdata) = ls->closed;
        void *userdata = ls->closed_userdata;

        if (!ls->closing || ls->waiting || ls->timers)
                return;
        local_free(ls);
        if (done)
                done(userdata);
}

static void local_close(LeaseStore *s, void (*done)(void *userdata), void *userdata) {
        LocalStore *ls = container_of(s, LocalStore, store);

        ls->closing = true;
        ls->closed = done;
        ls->closed_userdata = userdata;
        /* Final records still waiting for a lock get one last try each. */
        while (ls->waiting) {
                LeaseClaim *c = ls->waiting;

                if (c->step == STEP_END)
                        (void) record_end(c);
                claim_release(c);       /* unlinks it */
        }
        local_maybe_closed(ls);
}

static const LeaseOps lease_local_ops = {
        .name = "local",
        .local = true,
        .claim = local_claim,
        .finish = local_finish,
        .cancel = local_cancel,
        .history = lease_local_history,
        .set_paused = lease_local_set_paused,
        .list_paused = lease_local_list_paused,
        .probe = lease_local_probe,
        .close = local_close,
};

int lease_local_new(uv_loop_t *loop, const char *dir, usec_t timeout, usec_t history,
                    LeaseStore **ret, char **reterr_message) {
        LocalStore *ls = calloc(1, sizeof(LocalStore));
        int fd;

        if (!ls)
                return -ENOMEM;
        ls->store.ops = &lease_local_ops;
        ls->loop = loop;
        ls->slots_fd = ls->history_fd = -1;
        ls->history_seen = ls->markers_seen = NEVER;
        ls->timeout_msec = timeout / 1000;
        ls->history = history;
        if (asprintf(&ls->dir, "%s/leases", dir) < 0) {
                free(ls);
                return -ENOMEM;
        }
        /* Ours alone: a process that can open a lease file can hold its lock. A directory
         * made by an older solocron (0755) is made private too. */
        if (mkdir(ls->dir, 0700) < 0 && errno != EEXIST)
                fd = -errno;
        else {
                fd = open(ls->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        fd = -errno;
                else if (fchmod(fd, 0700) < 0 && errno != EPERM) {
                        (void) close(fd);
                        fd = -errno;
                }
        }
        if (fd < 0) {
                (void) reterr_printf(reterr_message, fd, "cannot create '%s': %s", ls->dir,
                                     strerror(-fd));
                local_free(ls);
                return fd;
        }
        (void) close(fd);
        ls->pid = getpid();
        *ret = &ls->store;
        return 0;
}
