/* SPDX-License-Identifier: MIT */
/* The local lease's records: one file, STATE_DIR/leases/jobs.lease, opened once, with a slot
 * of SLOT_SIZE bytes per job (the newest firing's record, padded with spaces, ending in a
 * newline). A claim locks its job's slot with an open file description lock (F_OFD_SETLK:
 * per open file, so two daemons sharing the directory exclude each other, and POSIX record
 * locks of other processes conflict with it too), reads it and writes it in place: no file
 * is created or opened per firing (a file per job cost an inode allocation at each job's
 * first firing, most of a 1000-job burst's CPU: bench/).
 *
 * Which slot is whose: each record starts with {"job":"NAME". Slots are only ever added, at
 * the end of the file, under a lock on a byte beyond any slot (ALLOC_LOCK_OFFSET), after
 * reading what other daemons added since. The index in memory holds a hash of the name and
 * the slot (no name): a slot found through it is checked against the name when it is read.
 * Jobs that have never fired have no slot and no index entry. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hash.h"
#include "lease_local_internal.h"
#include "macro.h"

#define ALLOC_LOCK_OFFSET ((off_t) 1 << 40)
#define SLOTS_FILE "jobs.lease"

struct SlotEntry {
        uint64_t hash;
        uint32_t slot_plus1;    /* 0: empty */
};

/* The slot the index has for job, or -1. */
static int64_t index_find(const LocalStore *ls, const char *job) {
        uint64_t h = fnv1a64(FNV1A64_OFFSET, job, strlen(job));

        if (ls->n_index == 0)
                return -1;
        for (size_t i = h & (ls->index_cap - 1);; i = (i + 1) & (ls->index_cap - 1)) {
                if (ls->index[i].slot_plus1 == 0)
                        return -1;
                if (ls->index[i].hash == h)
                        return (int64_t) ls->index[i].slot_plus1 - 1;
        }
}

static int index_add(LocalStore *ls, const char *job, size_t len, uint32_t slot) {
        uint64_t h = fnv1a64(FNV1A64_OFFSET, job, len);

        if (2 * (ls->n_index + 1) > ls->index_cap) {
                size_t cap = ls->index_cap ? 2 * ls->index_cap : 64;
                SlotEntry *n = calloc(cap, sizeof(SlotEntry));

                if (!n)
                        return -ENOMEM;
                for (size_t i = 0; i < ls->index_cap; i++)
                        if (ls->index[i].slot_plus1) {
                                size_t k = ls->index[i].hash & (cap - 1);

                                while (n[k].slot_plus1)
                                        k = (k + 1) & (cap - 1);
                                n[k] = ls->index[i];
                        }
                free(ls->index);
                ls->index = n;
                ls->index_cap = cap;
        }
        for (size_t i = h & (ls->index_cap - 1);; i = (i + 1) & (ls->index_cap - 1))
                if (ls->index[i].slot_plus1 == 0 || ls->index[i].hash == h) {
                        /* Same hash: the newer slot wins (two names with one hash share an
                         * entry; the name check on read sends the other to a scan). */
                        ls->n_index += ls->index[i].slot_plus1 == 0;
                        ls->index[i] = (SlotEntry) { h, slot + 1 };
                        return 0;
                }
}

int lease_local_slots_open(LocalStore *ls) {
        _cleanup_free_ char *path = NULL;
        /* No atime update: each firing reads the slot after the last one wrote it, so
         * relatime would dirty the inode every time (only the file's owner may ask). */
        int flags = O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOATIME, fd;

        if (ls->slots_fd >= 0)
                return 0;
        if (asprintf(&path, "%s/" SLOTS_FILE, ls->dir) < 0)
                return -ENOMEM;
        fd = open(path, flags, 0600);
        if (fd < 0 && errno == EPERM)
                fd = open(path, flags & ~O_NOATIME, 0600);
        if (fd < 0) {
                (void) snprintf(ls->detail, sizeof(ls->detail), "cannot open '%s': %s", path,
                                strerror(errno));
                return -errno;
        }
        ls->slots_fd = fd;
        ls->scanned = 0;
        return 0;
}

void lease_local_slots_close(LocalStore *ls) {
        if (ls->slots_fd >= 0)
                (void) close(ls->slots_fd);
        ls->slots_fd = -1;
        ls->index = mfree(ls->index);
        ls->n_index = ls->index_cap = 0;
        ls->memo = mfree(ls->memo);
        ls->n_memo = 0;
        ls->scanned = 0;
}

/* F_OFD_SETLK of [offset, offset + len): 0, -EWOULDBLOCK when another holds it, -errno. */
static int range_lock(int fd, off_t offset, off_t len, short type) {
        struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = offset, .l_len = len };

        while (fcntl(fd, F_OFD_SETLK, &fl) < 0)
                if (errno != EINTR)
                        return errno == EAGAIN || errno == EACCES ? -EWOULDBLOCK : -errno;
        return 0;
}

static int read_failed(LocalStore *ls, int r) {
        (void) snprintf(ls->detail, sizeof(ls->detail), "cannot read '%s/" SLOTS_FILE "': %s",
                        ls->dir, r == -ENOENT ? "a record is not where its index says" : strerror(-r));
        return r;
}

static int lock_failed(LocalStore *ls, const char *job, int r) {
        (void) snprintf(ls->detail, sizeof(ls->detail), "cannot lock the record of '%s' in '%s/"
                        SLOTS_FILE "': %s", job, ls->dir,
                        r == -EWOULDBLOCK ? "another process holds its lock" : strerror(-r));
        return r;
}

/* The job name a slot's record starts with, or NULL; *ret_len its length. */
static const char *slot_name(const char *buf, size_t size, size_t *ret_len) {
        static const char prefix[] = "{\"job\":\"";
        const char *end;

        if (size < sizeof(prefix) || memcmp(buf, prefix, sizeof(prefix) - 1) != 0)
                return NULL;
        buf += sizeof(prefix) - 1;
        end = memchr(buf, '"', size - (sizeof(prefix) - 1));
        if (!end)
                return NULL;
        *ret_len = (size_t) (end - buf);
        return buf;
}

static bool slot_is(const char *buf, size_t size, const char *job) {
        size_t len;
        const char *name = slot_name(buf, size, &len);

        return name && len == strlen(job) && memcmp(name, job, len) == 0;
}

/* Index the whole slots other daemons (or our earlier runs) wrote since the last scan, 8
 * at a time (a bigger buffer would stay resident in the loop's stack). */
static int slots_scan(LocalStore *ls) {
        char buf[8 * SLOT_SIZE];
        struct stat st;

        if (fstat(ls->slots_fd, &st) < 0)
                return -errno;
        while (ls->scanned + SLOT_SIZE <= st.st_size) {
                ssize_t n = pread(ls->slots_fd, buf, sizeof(buf), ls->scanned);

                if (n < 0)
                        return -errno;
                if (n < SLOT_SIZE)
                        break;
                for (ssize_t k = 0; k + SLOT_SIZE <= n; k += SLOT_SIZE) {
                        size_t len;
                        const char *name = slot_name(buf + k, SLOT_SIZE, &len);
                        int r = name ? index_add(ls, name, len, (uint32_t) (ls->scanned / SLOT_SIZE)) : 0;

                        if (r < 0)
                                return r;
                        ls->scanned += SLOT_SIZE;
                }
        }
        return 0;
}

/* An older solocron's job-NAME.lease: its record goes into the new slot (the fencing token
 * goes on counting, a firing it claimed stays claimed), and the file goes. */
static size_t import_old_record(LocalStore *ls, const char *job, char *buf) {
        _cleanup_free_ char *path = NULL;
        ssize_t n = -1;
        int fd;

        if (asprintf(&path, "%s/job-%s.lease", ls->dir, job) < 0)
                return 0;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return 0;
        n = read(fd, buf, SLOT_SIZE - 1);
        (void) close(fd);
        (void) unlink(path);
        lease_local_history_import(ls, job);
        return n > 0 ? (size_t) n : 0;
}

/* job's slot: from the index, else once what was added since is indexed; -ENOENT: none. */
static int64_t slot_find(LocalStore *ls, const char *job) {
        int64_t slot;
        int r = lease_local_slots_open(ls);

        if (r < 0)
                return r;
        slot = index_find(ls, job);
        if (slot >= 0)
                return slot;
        r = slots_scan(ls);
        if (r < 0)
                return read_failed(ls, r);
        slot = index_find(ls, job);
        return slot >= 0 ? slot : -ENOENT;
}

int lease_local_slot_lock(LocalStore *ls, const char *job, bool create, off_t *ret_offset,
                          char *buf, size_t *ret_size) {
        int64_t slot = slot_find(ls, job);
        ssize_t n;
        int r;

        if (slot >= 0) {
                /* Slots never move: the name check guards against two names with one hash. */
                r = range_lock(ls->slots_fd, (off_t) slot * SLOT_SIZE, SLOT_SIZE, F_WRLCK);
                if (r < 0)
                        return lock_failed(ls, job, r);
                n = pread(ls->slots_fd, buf, SLOT_SIZE, (off_t) slot * SLOT_SIZE);
                if (n == SLOT_SIZE && slot_is(buf, SLOT_SIZE, job)) {
                        *ret_offset = (off_t) slot * SLOT_SIZE;
                        *ret_size = SLOT_SIZE;
                        return 0;
                }
                r = n < 0 ? -errno : -ENOENT;
                (void) range_lock(ls->slots_fd, (off_t) slot * SLOT_SIZE, SLOT_SIZE, F_UNLCK);
                return read_failed(ls, r);
        }
        if (slot != -ENOENT)
                return (int) slot;      /* ls->detail says why */
        if (!create)
                return read_failed(ls, -ENOENT);

        /* A new slot at the end, under the allocation lock, once nobody added it meanwhile. */
        r = range_lock(ls->slots_fd, ALLOC_LOCK_OFFSET, 1, F_WRLCK);
        if (r < 0)
                return lock_failed(ls, job, r);
        r = slots_scan(ls);
        if (r >= 0 && index_find(ls, job) >= 0) {
                (void) range_lock(ls->slots_fd, ALLOC_LOCK_OFFSET, 1, F_UNLCK);
                return lease_local_slot_lock(ls, job, false, ret_offset, buf, ret_size);
        }
        /* A slot half written (a full disk) belongs to nobody: it is written over. */
        slot = ls->scanned / SLOT_SIZE;
        if (r >= 0)
                r = range_lock(ls->slots_fd, (off_t) slot * SLOT_SIZE, SLOT_SIZE, F_WRLCK);
        if (r >= 0) {
                *ret_offset = (off_t) slot * SLOT_SIZE;
                *ret_size = import_old_record(ls, job, buf);
                /* Kept until the record is written (lease_local_slot_unlock()): another daemon
                 * must not take the same slot for another job meanwhile. */
                ls->alloc_locked = true;
                return 0;
        }
        (void) range_lock(ls->slots_fd, ALLOC_LOCK_OFFSET, 1, F_UNLCK);
        return lock_failed(ls, job, r);
}

void lease_local_slot_unlock(LocalStore *ls, const char *job, off_t offset, bool written) {
        if (ls->alloc_locked) {
                if (written && offset / SLOT_SIZE >= ls->scanned / SLOT_SIZE) {
                        (void) index_add(ls, job, strlen(job), (uint32_t) (offset / SLOT_SIZE));
                        ls->scanned = offset + SLOT_SIZE;
                }
                ls->alloc_locked = false;
                (void) range_lock(ls->slots_fd, ALLOC_LOCK_OFFSET, 1, F_UNLCK);
        }
        (void) range_lock(ls->slots_fd, offset, SLOT_SIZE, F_UNLCK);
}

int lease_local_slot_read(LocalStore *ls, const char *job, char *buf) {
        int64_t slot = slot_find(ls, job);
        ssize_t n;

        if (slot < 0)
                return (int) slot;
        n = pread(ls->slots_fd, buf, SLOT_SIZE, (off_t) slot * SLOT_SIZE);
        if (n < 0)
                return -errno;
        if (n != SLOT_SIZE || !slot_is(buf, SLOT_SIZE, job))
                return -ENOENT;
        buf[SLOT_SIZE] = 0;
        return 0;
}
