/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "wallclock.h"

int64_t wallclock_now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void wallclock_on_poll(uv_poll_t *p, int status, int events) {
        WallClock *w = p->data;
        uint64_t expirations;
        ssize_t k;

        (void) status;
        (void) events;
        k = read(w->fd, &expirations, sizeof(expirations));
        if (k < 0 && errno == EAGAIN)
                return;                 /* spurious: the timer was re-armed meanwhile */
        /* ECANCELED: the clock was set (settimeofday, NTP step, a resumed VM); the timer
         * stays cancelled until re-armed, which the callback does. */
        w->cb(w, k < 0 && errno == ECANCELED);
}

int wallclock_init(uv_loop_t *loop, WallClock *w, wallclock_cb cb, void *userdata) {
        int r;

        *w = (WallClock) { .cb = cb, .userdata = userdata };
        w->fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
        if (w->fd < 0)
                return -errno;
        r = uv_poll_init(loop, &w->poll, w->fd);
        if (r < 0) {
                (void) close(w->fd);
                return r;
        }
        w->poll.data = w;
        return uv_poll_start(&w->poll, UV_READABLE, wallclock_on_poll);
}

int wallclock_arm_usec(WallClock *w, int64_t at_usec) {
        struct itimerspec its = {};

        if (at_usec != INT64_MAX && at_usec > 0) {
                its.it_value.tv_sec = (time_t) (at_usec / 1000000);
                its.it_value.tv_nsec = (long) (at_usec % 1000000) * 1000;
        }
        if (at_usec != INT64_MAX && its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
                its.it_value.tv_nsec = 1;       /* all zero would disarm */
        if (timerfd_settime(w->fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL) < 0)
                return -errno;
        return 0;
}

static void wallclock_on_close(uv_handle_t *h) {
        WallClock *w = h->data;

        (void) close(w->fd);
        w->fd = -1;
        if (w->close_cb)
                w->close_cb(h);
}

void wallclock_close(WallClock *w, uv_close_cb cb) {
        w->close_cb = cb;
        uv_close((uv_handle_t *) &w->poll, wallclock_on_close);
}
