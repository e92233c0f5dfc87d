/* SPDX-License-Identifier: MIT */
/* sd_notify for Type=notify units [sd: sd_notify(3), sd_watchdog_enabled(3)]. The watchdog is
 * a timer on our own loop, so a loop stuck in a callback stops pinging and systemd acts on it.
 * The timer exists only when a watchdog is configured: otherwise idle stays zero wakeups.
 * Non-logging: callers decide what a failure means. Built without libsystemd, all no-ops. */
#include "build-config.h"
#include "notify.h"

#if HAVE_SYSTEMD

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stdarg.h>
#include <stdio.h>

#include "sdlib.h"

/* systemd shows STATUS= in `systemctl status`; a line is plenty. */
#define NOTIFY_STATUS_MAX 256

static uv_timer_t notify_watchdog;
static bool notify_watchdog_open;               /* initialised and not yet closed */
static char notify_last_status[NOTIFY_STATUS_MAX];

/* One line of valid text: a newline in status would start a new assignment (a job name
 * must not be able to send "STOPPING=1"), and systemd ignores a STATUS= that is not
 * UTF-8 clean, so a cut never splits a character. */
static void notify_clean_status(const char *status, char ret[static NOTIFY_STATUS_MAX]) {
        size_t n = strnlen(status, NOTIFY_STATUS_MAX - 1);

        if (status[n] != 0)
                while (n > 0 && ((unsigned char) status[n] & 0xc0) == 0x80)
                        n--;
        for (size_t i = 0; i < n; i++)
                ret[i] = (unsigned char) status[i] < 0x20 || status[i] == 0x7f ? ' ' : status[i];
        ret[n] = 0;
}

/* sd_notify() through the lazily loaded library; nothing at all without a NOTIFY_SOCKET,
 * so the library is never loaded outside systemd. */
static void notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void notify_send(const char *fmt, ...) {
        char buf[NOTIFY_STATUS_MAX + 64];
        va_list ap;

        if (!getenv("NOTIFY_SOCKET"))
                return;
        va_start(ap, fmt);
        (void) vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        (void) sdlib_notify(buf);
}

static void notify_on_watchdog(uv_timer_t *t) {
        (void) t;
        notify_send("WATCHDOG=1");
}

int notify_setup(uv_loop_t *loop) {
        uint64_t usec = 0, msec;
        int r;

        /* No manager to ping: a timer would only cost wakeups. */
        if (!getenv("NOTIFY_SOCKET"))
                return 0;
        /* > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID is unset or ours. */
        r = sdlib_watchdog_enabled(&usec);
        if (r <= 0)
                return r;
        /* Half the interval, as sd_watchdog_enabled(3) advises; uv timers count in ms. */
        msec = usec / 2 / 1000;
        if (msec == 0)
                msec = 1;
        r = uv_timer_init(loop, &notify_watchdog);
        if (r < 0)
                return r;
        notify_watchdog_open = true;
        r = uv_timer_start(&notify_watchdog, notify_on_watchdog, msec, msec);
        if (r < 0) {
                notify_close();
                return r;
        }
        /* The pings never keep the loop alive: shutdown is decided elsewhere. */
        uv_unref((uv_handle_t *) &notify_watchdog);
        return 0;
}

void notify_ready(const char *status) {
        if (!status) {
                notify_send("READY=1");
                return;
        }
        notify_clean_status(status, notify_last_status);
        notify_send("READY=1\nSTATUS=%s", notify_last_status);
}

void notify_reloading(void) {
        struct timespec ts;

        /* systemd ≥ 253 wants the time of the request, to order it against its own. */
        if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
                abort();
        notify_send("RELOADING=1\nMONOTONIC_USEC=%llu",
                          (unsigned long long) ts.tv_sec * 1000000ULL +
                                  (unsigned long long) ts.tv_nsec / 1000ULL);
}

void notify_stopping(const char *status) {
        /* systemd stops enforcing the watchdog once it knows we are stopping. */
        if (notify_watchdog_open)
                (void) uv_timer_stop(&notify_watchdog);
        if (!status) {
                notify_send("STOPPING=1");
                return;
        }
        notify_clean_status(status, notify_last_status);
        notify_send("STOPPING=1\nSTATUS=%s", notify_last_status);
}

void notify_status(const char *status) {
        char clean[NOTIFY_STATUS_MAX];

        if (!status)
                return;
        notify_clean_status(status, clean);
        /* Called whenever the next firing may have changed: send only real changes. */
        if (strcmp(clean, notify_last_status) == 0)
                return;
        memcpy(notify_last_status, clean, sizeof(clean));
        notify_send("STATUS=%s", notify_last_status);
}

void notify_close(void) {
        if (!notify_watchdog_open)
                return;
        notify_watchdog_open = false;
        uv_close((uv_handle_t *) &notify_watchdog, NULL);
}

#else /* !HAVE_SYSTEMD */

int notify_setup(uv_loop_t *loop) {
        (void) loop;
        return 0;
}

void notify_ready(const char *status) {
        (void) status;
}

void notify_reloading(void) {
}

void notify_stopping(const char *status) {
        (void) status;
}

void notify_status(const char *status) {
        (void) status;
}

void notify_close(void) {
}

#endif
