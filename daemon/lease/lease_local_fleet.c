/* SPDX-License-Identifier: MIT */
/* The local lease's answers to the API: the history (job-NAME.history, the final records one
 * per line, plus the newest record while it runs), pause markers (paused/job-NAME), manual
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
#include "strv.h"
#include "timeutil.h"

/* A history file is trimmed to the history period once it is this big; and never read
 * beyond this much (its newest records are at the end). */
#define HISTORY_TRIM_SIZE       (256 * 1024)
#define HISTORY_READ_MAX        (2 * HISTORY_TRIM_SIZE)

/* ---- pause markers ---- */

static char *marker_path(const LocalStore *ls, const char *job) {
        char *p;

        return asprintf(&p, "%s/paused/job-%s", ls->dir, job) < 0 ? NULL : p;
}

bool lease_local_paused(LocalStore *ls, const char *job) {
        _cleanup_free_ char *path = marker_path(ls, job);
        char text[200];
        ssize_t n;
        int fd;

        if (!path)
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

void lease_local_history_append(LocalStore *ls, const char *job, const char *text, size_t size) {
        _cleanup_free_ char *path = NULL;
        struct stat st;
        int fd;

        if (asprintf(&path, "%s/job-%s.history", ls->dir, job) < 0)
                return;
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return;
        /* One write of the line with its newline: appends do not interleave. */
        {
                char line[LEASE_RECORD_MAX + 1];

                if (size >= sizeof(line)) {
                        (void) close(fd);
                        return;
                }
                memcpy(line, text, size);
                line[size] = '\n';
                (void) write(fd, line, size + 1);
        }
        if (fstat(fd, &st) == 0 && st.st_size > HISTORY_TRIM_SIZE &&
            flock(fd, LOCK_EX | LOCK_NB) == 0) {
                /* Trim: keep the records of the history period, in a new file renamed over
                 * the old one. A record another daemon appends meanwhile may be lost: this
                 * is the history, not the election. */
                _cleanup_free_ char *data = NULL, *tmp = NULL;
                int64_t cutoff = time(NULL) - (int64_t) (ls->history / USEC_PER_SEC);
                FILE *in = fopen(path, "re"), *out = NULL;
                size_t cap = 0;
                ssize_t n;

                if (in && asprintf(&tmp, "%s.tmp", path) >= 0)
                        out = fopen(tmp, "we");
                while (in && out && (n = getline(&data, &cap, in)) > 0) {
                        json_t *rec = json_loadb(data, (size_t) n, 0, NULL);
                        LeaseRecord r;

                        if (rec && lease_record_from_json(rec, &r) && r.scheduled >= cutoff)
                                (void) fwrite(data, 1, (size_t) n, out);
                        json_decref(rec);
                }
                if (in)
                        (void) fclose(in);
                if (out && fclose(out) == 0)
                        (void) rename(tmp, path);
                else if (tmp)
                        (void) unlink(tmp);
        }
        (void) close(fd);
}

/* The file's last HISTORY_READ_MAX bytes, whole lines only. */
static char *history_read(const char *path, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        off_t from;
        ssize_t n;
        char *nl;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return NULL;
        if (fstat(fd, &st) < 0 || !(buf = malloc(HISTORY_READ_MAX + 1))) {
                (void) close(fd);
                return NULL;
        }
        from = st.st_size > HISTORY_READ_MAX ? st.st_size - HISTORY_READ_MAX : 0;
        n = pread(fd, buf, HISTORY_READ_MAX, from);
        (void) close(fd);
        if (n < 0)
                return NULL;
        buf[n] = 0;
        if (from > 0 && (nl = strchr(buf, '\n'))) {     /* a cut first line */
                size_t skip = (size_t) (nl + 1 - buf);

                memmove(buf, nl + 1, (size_t) n - skip + 1);
                n -= (ssize_t) skip;
        }
        *ret_size = (size_t) n;
        return TAKE_PTR(buf);
}

/* The record in dir_fd/name, to all when it says running. */
static void append_if_running(json_t *all, int dir_fd, const char *name) {
        char buf[LEASE_RECORD_MAX + 1];
        int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        ssize_t k = fd >= 0 ? read(fd, buf, LEASE_RECORD_MAX) : -1;
        const char *status;
        json_t *rec;

        if (fd >= 0)
                (void) close(fd);
        buf[k > 0 ? k : 0] = 0;
        rec = k > 0 ? json_loads(buf, 0, NULL) : NULL;
        status = json_string_value(json_object_get(rec, "status"));
        if (status && strcmp(status, "running") == 0)
                (void) json_array_append_new(all, rec);
        else
                json_decref(rec);
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
        _cleanup_free_ char *path = NULL, *lease = NULL, *data = NULL;
        _cleanup_free_ LeaseRecord *records = NULL;
        json_t *all = json_array();     /* keeps the records' strings */
        size_t size = 0, n = 0, cap = 0;

        if (!all || asprintf(&path, "%s/job-%s.history", ls->dir, job) < 0 ||
            asprintf(&lease, "%s/job-%s.lease", ls->dir, job) < 0) {
                json_decref(all);
                done(NULL, 0, "out of memory", userdata);
                return;
        }
        data = history_read(path, &size);
        for (char *line = data, *end; line && *line; line = end) {
                end = strchrnul(line, '\n');
                if (*end)
                        *end++ = 0;
                (void) json_array_append_new(all, json_loads(line, 0, NULL));
        }
        /* What runs now (final records are in the history): the newest firing, and the
         * manual runs. */
        append_if_running(all, AT_FDCWD, lease);
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
