/* SPDX-License-Identifier: MIT */
/* The local lease: DIR/job-NAME.lease per job, locked with flock() while a run of that job
 * is in progress, holding a small JSON record of the newest firing claimed. A second daemon
 * on the same host (same state directory) finds the lock taken, or the record naming this
 * firing already, and stands down. The kernel drops the lock when a holder dies. */
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
        char hostname[256];
        char detail[256];       /* the last HELD/UNAVAILABLE explanation */
} LocalStore;

struct LeaseClaim {
        LocalStore *store;
        int fd;                 /* locked */
        char *job, *run_id;
        int64_t scheduled;
        unsigned attempt;
};

/* The record in fd, or NULL when empty or not ours to understand. */
static json_t *record_read(int fd) {
        char buf[LEASE_RECORD_MAX + 1];
        ssize_t n = pread(fd, buf, LEASE_RECORD_MAX, 0);

        if (n <= 0)
                return NULL;
        buf[n] = 0;
        return json_loads(buf, 0, NULL);
}

static int record_write(const LeaseClaim *c, const char *status, int64_t exit_status) {
        char sched[RFC3339_UTC_MAX];
        _cleanup_free_ char *text = NULL;
        json_t *rec;
        size_t len;

        rec = json_pack("{s:s,s:s,s:s,s:I,s:s,s:i,s:s}", "job", c->job, "scheduled",
                        format_rfc3339_utc(c->scheduled, sched), "holder", c->store->hostname,
                        "pid", (json_int_t) getpid(), "run", c->run_id, "attempt", (int) c->attempt,
                        "status", status);
        if (!rec)
                return -ENOMEM;
        if (exit_status >= 0)
                (void) json_object_set_new(rec, "exit_status", json_integer(exit_status));
        text = json_dumps(rec, JSON_COMPACT);
        json_decref(rec);
        if (!text)
                return -ENOMEM;
        len = strlen(text);
        if (ftruncate(c->fd, 0) < 0 || pwrite(c->fd, text, len, 0) != (ssize_t) len)
                return -errno;
        return 0;
}

static void claim_free(LeaseClaim *c) {
        if (c->fd >= 0)
                (void) close(c->fd);    /* releases the lock */
        free(c->job);
        free(c->run_id);
        free(c);
}

static LeaseResult local_claim(LeaseStore *s, const LeaseRequest *req, lease_claim_cb cb,
                               void *userdata, LeaseClaim **ret_claim, const char **ret_detail) {
        LocalStore *ls = container_of(s, LocalStore, store);
        _cleanup_free_ char *path = NULL;
        LeaseClaim *c;
        json_t *rec;
        int fd;

        (void) cb;
        (void) userdata;
        *ret_detail = ls->detail;
        if (asprintf(&path, "%s/job-%s.lease", ls->dir, req->job) < 0)
                return LEASE_UNAVAILABLE;
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0) {
                (void) snprintf(ls->detail, sizeof(ls->detail), "cannot open '%s': %s", path,
                                strerror(errno));
                return LEASE_UNAVAILABLE;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                int e = errno;

                rec = record_read(fd);
                (void) close(fd);
                if (e != EWOULDBLOCK) {
                        json_decref(rec);
                        (void) snprintf(ls->detail, sizeof(ls->detail), "cannot lock '%s': %s",
                                        path, strerror(e));
                        return LEASE_UNAVAILABLE;
                }
                (void) snprintf(ls->detail, sizeof(ls->detail), "pid %lld on %s",
                                (long long) json_integer_value(json_object_get(rec, "pid")),
                                json_string_value(json_object_get(rec, "holder")) ?: "this host");
                json_decref(rec);
                return LEASE_HELD;
        }

        /* Locked: has another daemon already run this firing (and let go)? */
        rec = record_read(fd);
        if (rec) {
                const char *when = json_string_value(json_object_get(rec, "scheduled"));
                int64_t t;
                bool abs;

                if (when && parse_timestamp(when, &t, &abs) == 0 && abs && t >= req->scheduled) {
                        (void) snprintf(ls->detail, sizeof(ls->detail),
                                        "already run by pid %lld (%s)",
                                        (long long) json_integer_value(json_object_get(rec, "pid")),
                                        json_string_value(json_object_get(rec, "status")) ?: "?");
                        json_decref(rec);
                        (void) close(fd);
                        return LEASE_HELD;
                }
                json_decref(rec);
        }

        c = calloc(1, sizeof(LeaseClaim));
        if (!c) {
                (void) close(fd);
                (void) snprintf(ls->detail, sizeof(ls->detail), "out of memory");
                return LEASE_UNAVAILABLE;
        }
        *c = (LeaseClaim) { .store = ls, .fd = fd, .scheduled = req->scheduled, .attempt = req->attempt,
                            .job = strdup(req->job), .run_id = strdup(req->run_id) };
        if (!c->job || !c->run_id || record_write(c, "running", -1) < 0) {
                claim_free(c);
                (void) snprintf(ls->detail, sizeof(ls->detail), "cannot write '%s'", path);
                return LEASE_UNAVAILABLE;
        }
        *ret_claim = c;
        return LEASE_WON;
}

static void local_finish(LeaseClaim *c, const char *result, int64_t exit_status) {
        (void) record_write(c, result, exit_status);
        claim_free(c);
}

static void local_free(LeaseStore *s) {
        LocalStore *ls = container_of(s, LocalStore, store);

        free(ls->dir);
        free(ls);
}

static const LeaseOps lease_local_ops = {
        .name = "local",
        .claim = local_claim,
        .finish = local_finish,
        .free = local_free,
};

int lease_local_new(const char *dir, LeaseStore **ret, char **reterr_message) {
        LocalStore *ls = calloc(1, sizeof(LocalStore));

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
                local_free(&ls->store);
                return r;
        }
        if (gethostname(ls->hostname, sizeof(ls->hostname) - 1) < 0)
                (void) snprintf(ls->hostname, sizeof(ls->hostname), "localhost");
        *ret = &ls->store;
        return 0;
}
