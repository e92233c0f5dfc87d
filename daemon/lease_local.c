/* SPDX-License-Identifier: MIT */
/* The local lease: DIR/job-NAME.lease per job, a small JSON record of the newest firing
 * claimed for that job (who, which run, how it ended). Claiming is a short critical section
 * under flock(): read the record; if it names this firing (or a later one), another daemon
 * on this host has it: stand down; else write our claim. So two daemons sharing a state
 * directory run each firing once, while one daemon may still run several firings of a job at
 * once (overlap: allow). The lock is held for microseconds, so waiting for it in the loop is
 * harmless; the kernel drops it if a holder dies. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lease.h"
#include "macro.h"
#include "parse.h"
#include "timeutil.h"

#define LEASE_RECORD_MAX 4096

typedef struct LocalStore {
        LeaseStore store;
        char *dir;
        char *holder_json;      /* the host name as a JSON string, quotes and escapes included */
        char detail[256];       /* the last HELD/UNAVAILABLE explanation */
        char key[512];          /* the last key claimed */
} LocalStore;

struct LeaseClaim {
        LocalStore *store;
        char *path, *job, *run_id;
        int64_t scheduled;
        unsigned attempt;
        uint64_t token;
        char *written;          /* the claim's record, byte for byte as written */
        size_t written_size;
};

/* The record in fd, or NULL when empty or not ours to understand; *ret_size: the bytes read. */
static json_t *record_read(int fd, size_t *ret_size) {
        char buf[LEASE_RECORD_MAX + 1];
        ssize_t n = pread(fd, buf, LEASE_RECORD_MAX, 0);

        *ret_size = n > 0 ? (size_t) n : 0;
        if (n <= 0)
                return NULL;
        buf[n] = 0;
        return json_loads(buf, 0, NULL);
}

/* Overwrite the record in place, padded with spaces (JSON allows them) to the old size: no
 * truncation, because on ext4 a file truncated to zero and rewritten is flushed to disk at
 * close (auto_da_alloc), which made each firing wait for the block device (bench/). The
 * record is formatted directly: job names are letters, digits, '_', '.' and '-', run ids
 * hex, and the host name was escaped once (jansson building and dumping an object cost a
 * tenth of a firing). With ret_text, the bytes written are returned (*ret_size long). */
static int record_write(int fd, size_t old_size, const LeaseClaim *c, const char *status,
                        int64_t exit_status, char **ret_text, size_t *ret_size) {
        char sched[RFC3339_UTC_MAX], tail[48] = "", text[LEASE_RECORD_MAX];
        size_t len;
        ssize_t n;
        int k;

        if (exit_status >= 0)
                (void) snprintf(tail, sizeof(tail), ",\"exit_status\":%lld", (long long) exit_status);
        k = snprintf(text, sizeof(text),
                     "{\"job\":\"%s\",\"scheduled\":\"%s\",\"holder\":%s,\"pid\":%lld,\"run\":\"%s\","
                     "\"attempt\":%u,\"status\":\"%s\",\"token\":%llu%s}",
                     c->job, format_rfc3339_utc(c->scheduled, sched), c->store->holder_json,
                     (long long) getpid(), c->run_id, c->attempt, status,
                     (unsigned long long) c->token, tail);
        if (k < 0 || (size_t) k >= sizeof(text))
                return -ENAMETOOLONG;
        len = (size_t) k;
        if (len < old_size) {
                /* Only a record longer than ours can be there: old_size <= LEASE_RECORD_MAX. */
                memset(text + len, ' ', old_size - len);
                len = old_size;
        }
        n = pwrite(fd, text, len, 0);
        if (n < 0)
                return -errno;
        if (n != (ssize_t) len)
                return -EIO;
        /* A file longer than a record (not written by us: we never exceed the cap) would keep
         * its tail after ours: cut it, in this rare case only. */
        if (old_size >= LEASE_RECORD_MAX) {
                struct stat st;

                if (fstat(fd, &st) == 0 && (size_t) st.st_size > len && ftruncate(fd, (off_t) len) < 0)
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
 * ls->detail. */
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
                fd = open(path, flags | O_CREAT, 0644);
        if (fd < 0) {
                (void) snprintf(ls->detail, sizeof(ls->detail), "cannot open '%s': %s", path,
                                strerror(errno));
                return -errno;
        }
        while (flock(fd, LOCK_EX) < 0)
                if (errno != EINTR) {
                        int r = -errno;

                        (void) snprintf(ls->detail, sizeof(ls->detail), "cannot lock '%s': %s", path,
                                        strerror(-r));
                        (void) close(fd);
                        return r;
                }
        return fd;
}

static void claim_free(LeaseClaim *c) {
        free(c->written);
        free(c->path);
        free(c->job);
        free(c->run_id);
        free(c);
}

static LeaseResult local_claim(LeaseStore *s, const LeaseRequest *req, const LeaseCallbacks *cb,
                               LeaseClaim **ret_claim, LeaseInfo *ret_info) {
        LocalStore *ls = container_of(s, LocalStore, store);
        char sched[RFC3339_UTC_MAX];
        _cleanup_free_ char *path = NULL;
        uint64_t token = 1;
        LeaseClaim *c;
        size_t size;
        json_t *rec;
        int fd, r;

        (void) cb;              /* synchronous, and a local claim cannot be lost */
        (void) snprintf(ls->key, sizeof(ls->key), "%s/job-%s.lease#%s", ls->dir, req->job,
                        format_rfc3339_utc(req->scheduled, sched));
        *ret_info = (LeaseInfo) { .detail = ls->detail, .key = ls->key };
        if (asprintf(&path, "%s/job-%s.lease", ls->dir, req->job) < 0)
                return LEASE_UNAVAILABLE;
        fd = lock_open(ls, path);
        if (fd < 0)
                return LEASE_UNAVAILABLE;

        rec = record_read(fd, &size);
        if (rec) {
                const char *when = json_string_value(json_object_get(rec, "scheduled"));
                int64_t t;
                bool abs;

                /* The fencing token counts the firings claimed through this file. */
                token = (uint64_t) json_integer_value(json_object_get(rec, "token")) + 1;
                if (when && parse_timestamp(when, &t, &abs) == 0 && abs && t >= req->scheduled) {
                        (void) snprintf(ls->detail, sizeof(ls->detail), "pid %lld on %s (%s)",
                                        (long long) json_integer_value(json_object_get(rec, "pid")),
                                        json_string_value(json_object_get(rec, "holder")) ?: "this host",
                                        json_string_value(json_object_get(rec, "status")) ?: "?");
                        json_decref(rec);
                        (void) close(fd);
                        return LEASE_HELD;
                }
                json_decref(rec);
        }

        c = calloc(1, sizeof(LeaseClaim));
        if (c)
                *c = (LeaseClaim) { .store = ls, .scheduled = req->scheduled, .attempt = req->attempt,
                                    .path = TAKE_PTR(path), .job = strdup(req->job),
                                    .run_id = strdup(req->run_id), .token = token };
        r = c && c->job && c->run_id ?
                record_write(fd, size, c, "running", -1, &c->written, &c->written_size) : -ENOMEM;
        (void) close(fd);       /* unlocks */
        if (r < 0) {
                (void) snprintf(ls->detail, sizeof(ls->detail), "cannot record the claim: %s",
                                strerror(-r));
                if (c)
                        claim_free(c);
                return LEASE_UNAVAILABLE;
        }
        *ret_claim = c;
        ret_info->fencing_token = token;
        return LEASE_WON;
}

/* Write the final status, if the record is still this claim's: byte for byte what the claim
 * wrote (a later firing may have been claimed meanwhile: its record stays). */
static void local_record_end(LeaseClaim *c, const char *result, int64_t exit_status) {
        char buf[LEASE_RECORD_MAX];
        int fd = lock_open(c->store, c->path);
        ssize_t n;

        if (fd < 0)
                return;
        n = pread(fd, buf, sizeof(buf), 0);
        if (n > 0 && (size_t) n == c->written_size && memcmp(buf, c->written, c->written_size) == 0)
                (void) record_write(fd, (size_t) n, c, result, exit_status, NULL, NULL);
        (void) close(fd);
}

static void local_finish(LeaseClaim *c, const char *result, int64_t exit_status) {
        local_record_end(c, result, exit_status);
        claim_free(c);
}

static void local_cancel(LeaseClaim *c) {
        local_record_end(c, "abandoned", -1);
        claim_free(c);
}

static void local_free(LocalStore *ls) {
        free(ls->holder_json);
        free(ls->dir);
        free(ls);
}

static void local_close(LeaseStore *s, void (*done)(void *userdata), void *userdata) {
        /* Nothing is ever in flight. */
        local_free(container_of(s, LocalStore, store));
        if (done)
                done(userdata);
}

static const LeaseOps lease_local_ops = {
        .name = "local",
        .claim = local_claim,
        .finish = local_finish,
        .cancel = local_cancel,
        .close = local_close,
};

int lease_local_new(uv_loop_t *loop, const char *dir, LeaseStore **ret, char **reterr_message) {
        LocalStore *ls = calloc(1, sizeof(LocalStore));
        char hostname[256] = "";
        json_t *holder;

        (void) loop;
        if (!ls)
                return -ENOMEM;
        ls->store.ops = &lease_local_ops;
        if (asprintf(&ls->dir, "%s/leases", dir) < 0) {
                free(ls);
                return -ENOMEM;
        }
        if (mkdir(ls->dir, 0755) < 0 && errno != EEXIST) {
                int r = -errno;

                if (asprintf(reterr_message, "cannot create '%s': %s", ls->dir, strerror(-r)) < 0)
                        *reterr_message = NULL;
                local_free(ls);
                return r;
        }
        if (gethostname(hostname, sizeof(hostname) - 1) < 0)
                (void) snprintf(hostname, sizeof(hostname), "localhost");
        holder = json_string(hostname);
        ls->holder_json = holder ? json_dumps(holder, JSON_ENCODE_ANY) : NULL;
        json_decref(holder);
        if (!ls->holder_json) {
                local_free(ls);
                return -ENOMEM;
        }
        *ret = &ls->store;
        return 0;
}
