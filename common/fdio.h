/* SPDX-License-Identifier: MIT */
#pragma once

/* Whole reads and writes through a descriptor, retried on EINTR and short counts; a
 * descriptor closed at the end of its scope. */

#include <stddef.h>
#include <sys/types.h>
#include <unistd.h>

/* For _cleanup_(closep) int fd = -1. */
static inline void closep(int *fd) {
        if (*fd >= 0)
                (void) close(*fd);
}

/* Reads until size bytes or end of file: the count read, or a negative errno. */
ssize_t read_full(int fd, void *buf, size_t size);
/* Writes all size bytes: 0, or a negative errno (-EIO if write() wrote nothing). */
int write_all(int fd, const void *buf, size_t size);
