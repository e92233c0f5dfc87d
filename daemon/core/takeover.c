/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "list.h"
#include "log.h"
#include "macro.h"
#include "takeover.h"

typedef struct FiringWatch {
        Takeover *owner;
        char *job;              /* the owner looks it up again: a reload may have removed it */
        JobFiring firing;
        LeaseWatch *watch;
        struct FiringWatch *prev, *next;
} FiringWatch;

struct Takeover {
        LeaseStore *store;      /* borrowed */
        takeover_cb on_died;
        void *userdata;
        FiringWatch *watches;
};

Takeover *takeover_new(LeaseStore *s, takeover_cb on_died, void *userdata) {
        Takeover *t = calloc(1, sizeof(Takeover));

        if (t)
                *t = (Takeover) { .store = s, .on_died = on_died, .userdata = userdata };
        return t;
}

static void watch_free(FiringWatch *w) {
        Takeover *t = w->owner;

        LIST_UNLINK(t->watches, w);
        t->store->ops->unwatch(w->watch);
        free(w->job);
        free(w);
}

/* The watch is over: the holder died (take the firing over), or the firing ended (forget
 * the watch, or one would pile up per held firing). */
static void takeover_on_ended(bool holder_died, void *userdata) {
        FiringWatch *w = userdata;
        Takeover *t = w->owner;

        if (holder_died)
                t->on_died(w->job, &w->firing, t->userdata);
        watch_free(w);
}

void takeover_watch(Takeover *t, const char *job, const JobFiring *f, const char *run_id,
                    unsigned attempt) {
        FiringWatch *w;
        int r;

        if (!t->store->ops->watch)
                return;
        w = calloc(1, sizeof(FiringWatch));
        if (!w || !(w->job = strdup(job))) {
                free(w);
                return;
        }
        w->owner = t;
        w->firing = *f;
        r = t->store->ops->watch(t->store,
                                 &(LeaseRequest) { .job = job, .scheduled = f->f.t,
                                                   .run_id = run_id, .attempt = attempt },
                                 takeover_on_ended, w, &w->watch);
        if (r < 0) {
                log_event(LOG_WARNING, "lease_watch_failed", job, NULL, NULL,
                          "cannot watch the firing for takeover, ignoring: %s", strerror(-r));
                free(w->job);
                free(w);
                return;
        }
        LIST_PREPEND(t->watches, w);
}

void takeover_stop_all(Takeover *t) {
        while (t && t->watches)
                watch_free(t->watches);
}

Takeover *takeover_free(Takeover *t) {
        takeover_stop_all(t);
        free(t);
        return NULL;
}
