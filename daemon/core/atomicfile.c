/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "atomicfile.h"
#include "fdio.h"
#include "macro.h"

/* How many names to try when one exists already (planted, or left by a crash). */
#define ATOMICFILE_TRIES 16

/* Open a new temporary file next to path: "PATH.RANDOM.tmp". */
static int tmp_open(const char *path, mode_t mode, char **ret_tmp) {
        for (unsigned i = 0; i < ATOMICFILE_TRIES; i++) {
                uint64_t x;
                char *tmp;
                int fd;

                if (getrandom(&x, sizeof(x), 0) != (ssize_t) sizeof(x))
                        return -EIO;
                if (asprintf(&tmp, "%s.%016llx.tmp", path, (unsigned long long) x) < 0)
                        return -ENOMEM;
                fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
                if (fd >= 0) {
                        *ret_tmp = tmp;
                        return fd;
                }
                free(tmp);
                if (errno != EEXIST)
                        return -errno;
        }
        return -EEXIST;
}

static void fsync_dir_of(const char *path) {
        const char *slash = strrchr(path, '/');
        _cleanup_free_ char *dir = slash ? strndup(path, slash == path ? 1 : (size_t) (slash - path))
                                         : strdup(".");
        int fd;

        if (!dir)
                return;
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
                (void) fsync(fd);
                (void) close(fd);
        }
}

int atomicfile_write(const char *path, const void *data, size_t size, mode_t mode, bool durable) {
        _cleanup_free_ char *tmp = NULL;
        int fd, r;

        fd = tmp_open(path, mode, &tmp);
        if (fd < 0)
                return fd;
        r = write_all(fd, data, size);
        if (r == 0 && durable && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }
        if (durable)
                fsync_dir_of(path);
        return 0;
}
