/* SPDX-License-Identifier: MIT */
#pragma once

/* Replacing a file atomically without following planted symlinks: the new contents go to a
 * temporary file in the same directory with an unpredictable name, created with
 * O_EXCL|O_NOFOLLOW (a symlink or file planted at the name cannot redirect the write), then
 * fsync() and rename() over path; with `durable`, the directory is fsync()ed too. */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Returns 0 or a negative errno; the temporary file never outlives a failure. */
int atomicfile_write(const char *path, const void *data, size_t size, mode_t mode, bool durable);
