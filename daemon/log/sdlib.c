/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "build-config.h"
#include "sdlib.h"

#if HAVE_SYSTEMD

/* The symbols we use; the prototypes come from libsystemd's own headers, so a mismatch
 * fails to compile. */
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#include "dlib.h"
#include "macro.h"

DLIB_ELF_NOTE(systemd, "sd_notify, the watchdog and the journal log format", "suggested",
              "libsystemd.so.0");

static __typeof__(sd_notify) *sym_sd_notify;
static __typeof__(sd_watchdog_enabled) *sym_sd_watchdog_enabled;
static __typeof__(sd_journal_sendv) *sym_sd_journal_sendv;

static int sdlib_load(void) {
        static Dlib lib;
        static const DlibSym syms[] = {
                DLIB_SYM(sym_sd_notify, "sd_notify"),
                DLIB_SYM(sym_sd_watchdog_enabled, "sd_watchdog_enabled"),
                DLIB_SYM(sym_sd_journal_sendv, "sd_journal_sendv"),
        };

        return dlib_load(&lib, "libsystemd.so.0", syms, ELEMENTSOF(syms));
}

int sdlib_notify(const char *state) {
        int r = sdlib_load();

        return r < 0 ? r : sym_sd_notify(0, state);
}

int sdlib_watchdog_enabled(uint64_t *ret_usec) {
        int r = sdlib_load();

        return r < 0 ? r : sym_sd_watchdog_enabled(0, ret_usec);
}

int sdlib_journal_sendv(const struct iovec *iov, int n) {
        int r = sdlib_load();

        return r < 0 ? r : sym_sd_journal_sendv(iov, n);
}

#else /* !HAVE_SYSTEMD */

int sdlib_notify(const char *state) {
        (void) state;
        return -EOPNOTSUPP;
}

int sdlib_watchdog_enabled(uint64_t *ret_usec) {
        (void) ret_usec;
        return -EOPNOTSUPP;
}

int sdlib_journal_sendv(const struct iovec *iov, int n) {
        (void) iov;
        (void) n;
        return -EOPNOTSUPP;
}

#endif
