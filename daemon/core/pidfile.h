/* SPDX-License-Identifier: MIT */
#pragma once

/* The pid file that `solocron reload` reads. */

#include <sys/types.h>

/* The default path: $RUNTIME_DIRECTORY/solocron.pid under systemd, /run/solocron.pid for
 * root, else $XDG_RUNTIME_DIR/solocron.pid, else /tmp/solocron-UID/solocron.pid (that
 * directory made 0700 by pidfile_write(), and refused unless it is private). Caller frees. */
char *pidfile_default(void);

/* Write our pid to path. Refuses (-EEXIST, with *reterr_message) when the file names a live
 * solocron process. */
int pidfile_write(const char *path, char **reterr_message);
void pidfile_remove(const char *path);

/* The pid of the solocron named by path: -ENOENT (no file), -ESRCH (stale: no such process,
 * or not solocron), -EBADMSG (garbage). */
int pidfile_read(const char *path, pid_t *ret);
