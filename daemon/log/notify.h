/* SPDX-License-Identifier: MIT */
#pragma once

/* Service-manager notifications (sd_notify): READY, RELOADING, STOPPING, STATUS, and the
 * watchdog pinged from the event loop at half of WATCHDOG_USEC, so a stuck loop is caught.
 * Everything is a no-op when not started by systemd (no NOTIFY_SOCKET) or when built
 * without libsystemd. */

#include <uv.h>

/* Start the watchdog timer if WATCHDOG_USEC asks for one (for our pid). */
int notify_setup(uv_loop_t *loop);
/* READY=1 with STATUS=status (status may be NULL). */
void notify_ready(const char *status);
/* RELOADING=1 with MONOTONIC_USEC=now. READY=1 follows with notify_ready(). */
void notify_reloading(void);
/* STOPPING=1 (and stops the watchdog timer: the loop is winding down). */
void notify_stopping(const char *status);
/* STATUS=status */
void notify_status(const char *status);
/* Close the watchdog timer handle. */
void notify_close(void);
