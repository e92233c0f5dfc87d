/* SPDX-License-Identifier: MIT */
#pragma once

/* libsystemd, loaded with dlopen() the first time it is needed (under systemd: a
 * NOTIFY_SOCKET, or the journal log format). A container or a plain VM shell never maps it,
 * which keeps the idle daemon small: libsystemd and what it pulls in (libgcrypt, lz4, zstd,
 * …) are about 0.9 MiB of resident pages. Each wrapper returns -EOPNOTSUPP when the library
 * is not available (not built with systemd, or not installed). */

#include <stdint.h>
#include <sys/uio.h>

int sdlib_notify(const char *state);
int sdlib_watchdog_enabled(uint64_t *ret_usec);
int sdlib_journal_sendv(const struct iovec *iov, int n);
