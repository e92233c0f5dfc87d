/* SPDX-License-Identifier: MIT */
/* The local lease's answers to the API: the history (the file `history`: every job's final
 * records, one per line, plus the job's newest record while it runs), pause markers (paused/job-NAME), manual
 * runs' records (manual/, pruned after the history period) and the probe. All synchronous:
 * each is a few system calls on local files, and done() runs before the call returns. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lease_local_internal.h"
#include "lease_record.h"
#include "macro.h"
#include "parse.h"
#include "testhook.h"
#include "strv.h"
#include "timeutil.h"

/* The history file is trimmed once it is this big, to the records of the history period
 * among its newest half (16 MiB: some 50 000 runs of all jobs). A job's history is
 * read from the end, a window growing fourfold from HISTORY_READ_FIRST, until it holds
 * enough of the job's records (or the whole file). */
#define HISTORY_TRIM_SIZE       (32 * 1024 * 1024)
#define HISTORY_READ_FIRST      (256 * 1024)

/* The trim size; the tests set a small one (SOLOCRON_TEST_HISTORY_TRIM, bytes). */
static off_t history_trim_size(void) {
        const char *v = test_hook_getenv("SOLOCRON_TEST_HISTORY_TRIM");
        uint64_t n;

        return v && parse_uint64(v, HISTORY_TRIM_SIZE, &n) == 0 && n > 0 ? (off_t) n : HISTORY_TRIM_SIZE;
}

/* ---- pause markers ---- */

static char *marker_path(const LocalStore *ls, const char *job) {
        char *p;

        return asprintf(&p, "%s/paused/job-%s", ls->dir, job) < 0 ? NULL : p;
}

static bool dir_empty(const char *path) {
        DIR *d = opendir(path);
        struct dirent *e;
        bool empty = true;

        if (!d)
                return errno == ENOENT;
        while (empty && (e = readdir(d)))
                empty = e->d_name[0] == '.';    /* markers are job-NAME */
        (void) closedir(d);
        return empty;
}

/* Whether paused/ may hold a marker: one look per loop millisecond (a burst claims hundreds
 * of firings in one), instead of an open() of the job's marker per firing. No directory, or
 * one whose mtime has not changed since it was listed empty, holds none. That mtime is
 * remembered only when it is over a second old, so that a change after the listing always
 * gives another (file times are coarse). A pause of our own looks again at once. */
static bool markers_maybe(LocalStore *ls) {
        _cleanup_free_ char *dir = NULL;
        uint64_t now = uv_now(ls->loop);
        struct stat st;
        bool empty;

        if (ls->markers_seen == now)
                return ls->markers_maybe;
        if (asprintf(&dir, "%s/paused", ls->dir) < 0)
                return true;
        ls->markers_seen = now;
        if (stat(dir, &st) < 0)
                return ls->markers_maybe = errno != ENOENT;
        if (st.st_ino == ls->markers_empty_ino &&
            st.st_mtim.tv_sec == ls->markers_empty_mtime.tv_sec &&
            st.st_mtim.tv_nsec == ls->markers_empty_mtime.tv_nsec)
                return ls->markers_maybe = false;
        empty = dir_empty(dir);
        if (empty && st.st_mtim.tv_sec + 1 < time(NULL)) {
                ls->markers_empty_ino = st.st_ino;
                ls->markers_empty_mtime = st.st_mtim;
        }
        return ls->markers_maybe = !empty;
}

bool lease_local_paused(LocalStore *ls, const char *job) {
        _cleanup_free_ char *path = NULL;
        char text[200];
        ssize_t n;
        int fd;

        if (!markers_maybe(ls) || !(path = marker_path(ls, job)))
                return false;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return false;
        n = read(fd, text, sizeof(text) - 1);
        (void) close(fd);
        text[n > 0 ? n : 0] = 0;
        text[strcspn(text, "\n")] = 0;
        (void) snprintf(ls->detail, sizeof(ls->detail), "the job is paused (%s)", text);
        return true;
}

void lease_local_set_paused(LeaseStore *s, const char *job, bool paused, const char *by,
                            lease_done_cb done, void *userdata) {
        LocalStore *ls = container_of(s, LocalStore, store);
        _cleanup_free_ char *path = marker_path(ls, job), *dir = NULL, *text = NULL;
        char when[RFC3339_UTC_MAX], why[300];
        json_t *marker;
        int fd;

        ls->markers_seen = NEVER;       /* ours counts from now on */
        if (!path || asprintf(&dir, "%s/paused", ls->dir) < 0) {
                done("out of memory", userdata);
                return;
        }
        if (!paused) {
                if (unlink(path) < 0 && errno != ENOENT) {
                        (void) snprintf(why, sizeof(why), "cannot remove '%s': %m", path);
                        done(why, userdata);
                        return;
                }
                done(NULL, userdata);
                return;
        }
        marker = json_pack("{s:s,s:s}", "by", by, "at", format_rfc3339_utc(time(NULL), when));
        text = marker ? json_dumps(marker, JSON_COMPACT) : NULL;
        json_decref(marker);
        if (!text) {
                done("out of memory", userdata);
                return;
        }
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
                (void) snprintf(why, sizeof(why), "cannot create '%s': %m", dir);
                done(why, userdata);
                return;
        }
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t) strlen(text)) {
                (void) snprintf(why, sizeof(why), "cannot write '%s': %m", path);
                if (fd >= 0) {
                        (void) close(fd);
                        (void) unlink(path);    /* no half marker */
                }
                done(why, userdata);
                return;
        }
        (void) close(fd);
        done(NULL, userdata);
}

void lease_local_list_paused(LeaseStore *s, lease_jobs_cb done, void *userdata) {
        LocalStore *ls = container_of(s, LocalStore, store);
        _cleanup_free_ char *dir = NULL;
        _cleanup_strv_free_ char **jobs = NULL;
        size_t n = 0;
        struct dirent *e;
        DIR *d;

        if (asprintf(&dir, "%s/paused", ls->dir) < 0) {
                done(NULL, 0, "out of memory", userdata);
                return;
        }
        d = opendir(dir);
        if (!d) {
                done(NULL, 0, errno == ENOENT ? NULL : "cannot read the pause markers", userdata);
                return;
        }
        while ((e = readdir(d)))
                if (strncmp(e->d_name, "job-", 4) == 0 && e->d_name[4] &&
                    strv_push(&jobs, &n, strdup(e->d_name + 4)) < 0) {
                        (void) closedir(d);
                        done(NULL, 0, "out of memory", userdata);
                        return;
                }
        (void) closedir(d);
        done(jobs, n, NULL, userdata);
}

/* ---- the history ---- */

static int history_open(LocalStore *ls) {
        _cleanup_free_ char *path = NULL;
        uint64_t now = uv_now(ls->loop);
        struct stat st;

        /* Renamed over by another daemon's trim: ours is the old file; open the new one.
         * Looked at once per loop millisecond: a burst appends hundreds of records in one. */
        if (ls->history_fd >= 0 && ls->history_seen == now)
                return ls->history_fd;
        if (ls->history_fd >= 0 && fstat(ls->history_fd, &st) == 0 && st.st_nlink > 0) {
                ls->history_seen = now;
                return ls->history_fd;
        }
        lease_local_history_close(ls);
        if (asprintf(&path, "%s/history", ls->dir) < 0)
                return -ENOMEM;
        ls->history_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (ls->history_fd < 0)
                return -errno;
        ls->history_seen = now;
        return ls->history_fd;
}

void lease_local_history_close(LocalStore *ls) {
        if (ls->history_fd >= 0)
                (void) close(ls->history_fd);
        ls->history_fd = -1;
}

/* The "scheduled" instant of a record's line (no JSON parse: records are ours). */
static bool line_scheduled(const char *line, int64_t *ret) {
        static const char key[] = "\"scheduled\":\"";
        const char *p = strstr(line, key);
        char when[RFC3339_UTC_MAX];
        bool absolute;
        size_t len;

        if (!p)
                return false;
        p += sizeof(key) - 1;
        len = strcspn(p, "\"\n");
        if (len >= sizeof(when))
                return false;
        memcpy(when, p, len);
        when[len] = 0;
        return parse_timestamp(when, ret, &absolute) == 0 && absolute;
}

/* Keep the records of the history period among the newest half, in a new file
 * renamed over the old one. A record another daemon appends meanwhile may be lost: this is
 * the history, not the election. */
static void history_trim_locked(LocalStore *ls, off_t size) {
        _cleanup_free_ char *path = NULL, *tmp = NULL, *data = NULL;
        int64_t cutoff = time(NULL) - (int64_t) (ls->history / USEC_PER_SEC);
        off_t keep = history_trim_size() / 2, from = size > keep ? size - keep : 0;
        int rfd, out = -1;
        ssize_t n = -1;
        char *p, *end;

        if (asprintf(&path, "%s/history", ls->dir) < 0 || asprintf(&tmp, "%s.tmp", path) < 0 ||
            !(data = malloc((size_t) (size - from) + 1)))
                return;
        rfd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (rfd >= 0) {
                n = pread(rfd, data, (size_t) (size - from), from);
                (void) close(rfd);
        }
        if (n < 0)
                return;
        data[n] = 0;
        p = from > 0 ? strchrnul(data, '\n') : data;   /* a cut first line */
        if (*p == '\n')
                p++;
        out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (out < 0)
                return;
        for (; *p; p = end) {
                int64_t t;

                end = strchrnul(p, '\n');
                if (*end)
                        end++;
                if (line_scheduled(p, &t) && t >= cutoff &&
                    write(out, p, (size_t) (end - p)) != end - p)
                        break;
        }
        if (*p == 0 && close(out) == 0) {
                (void) rename(tmp, path);       /* ours is reopened at the next append */
        } else {
                if (*p)
                        (void) close(out);
                (void) unlink(tmp);
        }
}

/* One daemon at a time (flock() on the file; another's trim is not waited for). */
static void history_trim(LocalStore *ls, int fd, off_t size) {
        if (flock(fd, LOCK_EX | LOCK_NB) < 0)
                return;
        history_trim_locked(ls, size);
        ls->history_seen = NEVER;       /* renamed over: reopened at the next append */
        (void) flock(fd, LOCK_UN);
}

void lease_local_history_append(LocalStore *ls, const char *text, size_t size) {
        char line[LEASE_RECORD_MAX + 1];
        struct stat st;
        int fd = history_open(ls);

        if (fd < 0 || size >= sizeof(line))
                return;
        /* One write of the line with its newline: appends do not interleave. */
        memcpy(line, text, size);
        line[size] = '\n';
        if (write(fd, line, size + 1) == (ssize_t) size + 1 &&
            (++ls->history_appends % 256 == 0 ||        /* the size, now and then */
             history_trim_size() < HISTORY_TRIM_SIZE) &&
            fstat(fd, &st) == 0 && st.st_size > history_trim_size())
                history_trim(ls, fd, st.st_size);
}

void lease_local_history_import(LocalStore *ls, const char *job) {
        _cleanup_free_ char *path = NULL, *data = NULL;
        size_t size = 0;
        FILE *f;
        int fd;

        if (asprintf(&path, "%s/job-%s.history", ls->dir, job) < 0)
                return;
        f = fopen(path, "re");
        if (!f)
                return;
        fd = history_open(ls);
        /* Appended whole: its lines are older than what the history holds. */
        for (ssize_t n; fd >= 0 && (n = getline(&data, &size, f)) > 0;)
                if (write(fd, data, (size_t) n) != n)
                        break;
        (void) fclose(f);
        (void) unlink(path);
}

/* The newest lines of the history that are job's records, at least limit of them when
 * there are that many (0: all), NUL-separated in the returned buffer; *ret_n lines. */
static char *history_read(LocalStore *ls, const char *job, unsigned limit, size_t *ret_n) {
        _cleanup_free_ char *path = NULL, *prefix = NULL;
        char *buf = NULL;
        struct stat st;
        size_t window = HISTORY_READ_FIRST;
        int fd;

        *ret_n = 0;
        if (asprintf(&path, "%s/history", ls->dir) < 0 || asprintf(&prefix, "{\"job\":\"%s\"", job) < 0)
                return NULL;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return NULL;
        if (fstat(fd, &st) < 0) {
                (void) close(fd);
                return NULL;
        }
        for (;;) {
                off_t from = (off_t) window < st.st_size ? st.st_size - (off_t) window : 0;
                size_t n = 0, k = 0;
                ssize_t got;
                char *p, *end;

                free(buf);
                buf = malloc((size_t) (st.st_size - from) + 1);
                got = buf ? pread(fd, buf, (size_t) (st.st_size - from), from) : -1;
                if (got < 0)
                        break;
                buf[got] = 0;
                p = from > 0 ? strchrnul(buf, '\n') : buf;     /* a cut first line */
                if (*p == '\n')
                        p++;
                /* Keep the job's lines, packed at the start of buf, NUL-terminated. */
                for (; *p; p = end) {
                        size_t len;

                        end = strchrnul(p, '\n');
                        len = (size_t) (end - p);
                        if (*end)
                                end++;
                        if (strncmp(p, prefix, strlen(prefix)) != 0)
                                continue;
                        memmove(buf + k, p, len);
                        buf[k + len] = 0;
                        k += len + 1;
                        n++;
                }
                if ((limit > 0 && n >= limit) || from == 0 || window >= HISTORY_TRIM_SIZE) {
                        (void) close(fd);
                        *ret_n = n;
                        return buf;
                }
                window *= 4;
        }
        (void) close(fd);
        free(buf);
        return NULL;
}

/* A record's text, to all when it says running. */
static void append_text_if_running(json_t *all, const char *text) {
        json_t *rec = json_loads(text, 0, NULL);
        const char *status = json_string_value(json_object_get(rec, "status"));

        if (status && strcmp(status, "running") == 0)
                (void) json_array_append_new(all, rec);
        else
                json_decref(rec);
}

/* The record in dir_fd/name, to all when it says running. */
static void append_if_running(json_t *all, int dir_fd, const char *name) {
        char buf[LEASE_RECORD_MAX + 1];
        int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        ssize_t k = fd >= 0 ? read(fd, buf, LEASE_RECORD_MAX) : -1;

        if (fd >= 0)
                (void) close(fd);
        buf[k > 0 ? k : 0] = 0;
        if (k > 0)
                append_text_if_running(all, buf);
}

/* job's manual runs that run now (manual/job-NAME@KEY.lease). */
static void manual_running(LocalStore *ls, const char *job, json_t *all) {
        _cleanup_free_ char *dir = NULL, *prefix = NULL;
        struct dirent *e;
        DIR *d;

        if (asprintf(&dir, "%s/manual", ls->dir) < 0 || asprintf(&prefix, "job-%s@", job) < 0)
                return;
        d = opendir(dir);
        if (!d)
                return;
        while ((e = readdir(d)))
                if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
                        append_if_running(all, dirfd(d), e->d_name);
        (void) closedir(d);
}

void lease_local_history(LeaseStore *s, const char *job, int64_t since, unsigned limit,
                         lease_records_cb done, void *userdata) {
        LocalStore *ls = container_of(s, LocalStore, store);
        _cleanup_free_ char *data = NULL;
        _cleanup_free_ LeaseRecord *records = NULL;
        json_t *all = json_array();     /* keeps the records' strings */
        char slot[SLOT_SIZE + 1];
        size_t n_lines = 0, n = 0, cap = 0;

        if (!all) {
                done(NULL, 0, "out of memory", userdata);
                return;
        }
        data = history_read(ls, job, limit, &n_lines);
        for (char *line = data; n_lines > 0; line += strlen(line) + 1, n_lines--)
                (void) json_array_append_new(all, json_loads(line, 0, NULL));
        /* What runs now (final records are in the history): the newest firing, and the
         * manual runs. */
        if (lease_local_slot_read(ls, job, slot) == 0)
                append_text_if_running(all, slot);
        manual_running(ls, job, all);
        for (size_t i = 0; i < json_array_size(all); i++) {
                LeaseRecord r;

                if (!lease_record_from_json(json_array_get(all, i), &r) || strcmp(r.job, job) != 0)
                        continue;
                if (n == cap) {
                        LeaseRecord *p = reallocarray(records, cap ? cap * 2 : 64, sizeof(LeaseRecord));

                        if (!p)
                                break;
                        records = p;
                        cap = cap ? cap * 2 : 64;
                }
                records[n++] = r;
        }
        n = lease_records_select(records, n, since, limit);
        done(records, n, NULL, userdata);
        json_decref(all);
}

/* ---- manual runs, the probe ---- */

void lease_local_manual_prune(LocalStore *ls) {
        _cleanup_free_ char *dir = NULL;
        time_t cutoff = time(NULL) - (time_t) (ls->history / USEC_PER_SEC);
        struct dirent *e;
        struct stat st;
        DIR *d;

        if (asprintf(&dir, "%s/manual", ls->dir) < 0)
                return;
        if (mkdir(dir, 0700) == 0)
                return;                 /* new: nothing to prune */
        d = opendir(dir);
        if (!d)
                return;
        while ((e = readdir(d)))
                if (e->d_name[0] != '.' && fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                    st.st_mtime < cutoff)
                        (void) unlinkat(dirfd(d), e->d_name, 0);
        (void) closedir(d);
}

void lease_local_probe(LeaseStore *s, lease_done_cb done, void *userdata) {
        LocalStore *ls = container_of(s, LocalStore, store);
        char why[300];

        if (access(ls->dir, W_OK | X_OK) < 0) {
                (void) snprintf(why, sizeof(why), "cannot write '%s': %m", ls->dir);
                done(why, userdata);
                return;
        }
        done(NULL, userdata);
}
