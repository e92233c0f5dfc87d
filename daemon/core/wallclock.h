/* SPDX-License-Identifier: MIT */
#pragma once

/* A one-shot timer on the wall clock: a CLOCK_REALTIME timerfd armed at an absolute instant
 * with TFD_TIMER_CANCEL_ON_SET, watched by a uv_poll. It wakes exactly at the instant, also
 * after a suspend, and a clock step wakes it at once with clock_changed set, so the
 * schedule is re-planned. Disarmed, it makes no wakeups at all. */

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

typedef struct WallClock WallClock;
typedef void (*wallclock_cb)(WallClock *w, bool clock_changed);

struct WallClock {
        uv_poll_t poll;         /* owned; handle.data is free for the owner */
        int fd;
        wallclock_cb cb;
        void *userdata;
        uv_close_cb close_cb;
};

int wallclock_init(uv_loop_t *loop, WallClock *w, wallclock_cb cb, void *userdata);
/* Wake at `at_usec`, microseconds since the epoch (INT64_MAX: disarm). */
int wallclock_arm_usec(WallClock *w, int64_t at_usec);
void wallclock_close(WallClock *w, uv_close_cb cb);

/* The wall clock now, in microseconds since the epoch. */
int64_t wallclock_now_usec(void);
