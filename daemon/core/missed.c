/* SPDX-License-Identifier: MIT */
/* The fleet-wide missed-firing alarm (see missed.h). A check per firing this replica has a
 * reason to look at, due at its instant + missed_after, on one timer armed only while checks
 * wait (no wakeup when there are none). A check asks the store once (check_missed):
 *
 *   DONE, PAUSED          nothing to say: forgotten
 *   RUNNING               the holder still runs it: watched (LeaseOps.watch); a final record
 *                         ends the check, the holder's expiry checks again at once
 *   NONE, ABANDONED       takeover: false (or nobody ever claimed it): check again raising:
 *                         the store's conditional write of the alarm marker picks the one
 *                         replica that raises it. takeover: true and ABANDONED: a replica may
 *                         be taking it over: check again raising after ttl + election_timeout
 *                         + the margin, and a takeover that ran by then (RUNNING, DONE) is
 *                         no miss
 *   NONE, before start    a firing before this daemon's start (NOT_UP) that nobody claimed
 *                         is raised only if the fleet had run the job's firing before that
 *                         window (asked once per job: a new fleet or job raises nothing)
 *   an error              tried again after election_timeout, MISSED_TRIES times in all
 *
 * With `takeover: false` the first request already raises (check_missed with raise set),
 * except for a firing before this daemon's start.
 * What this costs is in solocron.yaml(5), missed_after. */
#include <errno.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "list.h"
#include "log.h"
#include "macro.h"
#include "missed.h"
#include "rendezvous.h"

#define MISSED_MARGIN_SEC       5       /* added to jitter + election_timeout by default */
#define MISSED_TRIES            3       /* requests a check makes when the store fails */
#define MISSED_STARTED_MAX      64      /* firings per job checked at start-up, at most */
#define MISSED_UNRANKED_SEC     10      /* a check waits this long at most for the members */

typedef struct Check {
        Missed *owner;
        struct Check *prev, *next;
        char *job;              /* the owner looks it up again: a reload may have removed it */
        JobFiring firing;
        int64_t due;            /* wall clock, Unix seconds: when to ask the store */
        bool takeover;          /* the job's takeover: at the time of its firing */
        bool raise;             /* ask the store to raise it when nobody has it */
        bool in_flight;         /* check_missed() has not answered yet */
        bool ranked;            /* whose it is was decided (check_whose) */
        unsigned postponed;     /* seconds waited for the members to be known */
        MissedReason why;
        struct Window *window;  /* NOT_UP: the start window it is in */
        bool asking;            /* the request asks about the window's `before`, not c */
        unsigned tries;         /* failed requests so far */
        LeaseWatch *watch;      /* RUNNING: the holder is watched */
} Check;

/* The firings of a job in the window before this daemon's start (MISSED_NOT_UP) share
 * what the store says of the job's last firing before them: one of them that nobody claimed
 * is a miss only if the fleet had run that one (else the fleet, or the job, is new, and
 * nothing ran it because nothing was there). Asked once, freed with the last check. */
typedef enum Seen {
        SEEN_UNKNOWN,
        SEEN_RAN,               /* claimed: done, running, abandoned or paused */
        SEEN_NONE,              /* nobody claimed it, or there is none */
} Seen;

typedef struct Window {
        unsigned refs;
        int64_t before;         /* 0: no firing before (in 800 days) */
        Seen seen;
} Window;

struct Missed {
        LeaseStore *store;      /* borrowed */
        uv_timer_t timer;       /* the earliest waiting check; armed only while one waits */
        int64_t election_timeout_sec, ttl_sec;
        missed_raised_cb on_raised;
        void *userdata;
        Check *waiting;         /* by due, earliest first */
        Check *busy;            /* in flight or watching */
        size_t n;
        bool stopped, closed;
};

static int64_t wall_now(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec;
}

static void missed_on_closed(uv_handle_t *h) {
        Missed *m = container_of((uv_timer_t *) h, Missed, timer);

        m->closed = true;
}

Missed *missed_new(uv_loop_t *loop, LeaseStore *s, const LeaseConfig *lc,
                   missed_raised_cb on_raised, void *userdata) {
        Missed *m = calloc(1, sizeof(Missed));

        if (!m)
                return NULL;
        *m = (Missed) { .store = s, .on_raised = on_raised, .userdata = userdata,
                        .election_timeout_sec = (int64_t) ((lc->election_timeout + USEC_PER_SEC - 1) /
                                                           USEC_PER_SEC),
                        .ttl_sec = (int64_t) ((lc->ttl + USEC_PER_SEC - 1) / USEC_PER_SEC) };
        (void) uv_timer_init(loop, &m->timer);
        return m;
}

bool missed_should_check(const Missed *m, const JobConfig *cfg, MissedReason why) {
        /* Who among the replicas with a reason asks: the member ranked first for the firing
         * (elect.c for a held firing, check_whose() for the others); the alarm marker's
         * conditional write keeps the raise to one whatever the members believe. */
        if (!m || m->stopped || !m->store || !m->store->ops->check_missed)
                return false;
        if (cfg->policy->no_lease || !cfg->enabled || cfg->suspend ||
            (cfg->schedule.flags & CRON_REBOOT) || missed_after_sec(m, cfg) == 0)
                return false;
        switch (why) {
        case MISSED_HELD_RUNNING:
        case MISSED_HELD_ABANDONED:
        case MISSED_STORE_DOWN:
        case MISSED_NOT_UP:
                return true;
        default:                /* its own run, one that ran, a pause: nothing to check */
                return false;
        }
}

int64_t missed_after_sec(const Missed *m, const JobConfig *cfg) {
        uint32_t a = cfg->policy->missed_after_sec;

        if (a == MISSED_AFTER_NONE)
                return 0;
        if (a > 0)
                return a;
        return (int64_t) ((cfg->policy->jitter + USEC_PER_SEC - 1) / USEC_PER_SEC) +
               m->election_timeout_sec + MISSED_MARGIN_SEC;
}

static void missed_on_timer(uv_timer_t *t);

/* The timer at the earliest waiting check (50 ms into its second: whole seconds against the
 * timer's milliseconds), or stopped when none waits. */
static void missed_arm(Missed *m) {
        int64_t now = wall_now();

        if (m->stopped)
                return;
        if (!m->waiting) {
                (void) uv_timer_stop(&m->timer);
                return;
        }
        (void) uv_timer_start(&m->timer, missed_on_timer,
                              m->waiting->due > now ? (uint64_t) (m->waiting->due - now) * 1000 + 50 : 0,
                              0);
}

static void check_free(Check *c) {
        Missed *m = c->owner;

        if (c->watch)
                m->store->ops->unwatch(c->watch);
        if (c->in_flight)
                return;                 /* check_missed()'s answer frees it */
        if (c->window && --c->window->refs == 0)
                free(c->window);
        free(c->job);
        free(c);
        m->n--;
}

/* c (on no list) waits until due. */
static void check_wait(Check *c, int64_t due) {
        Missed *m = c->owner;
        Check *p, *last = NULL;

        c->due = due;
        for (p = m->waiting; p && p->due <= due; p = p->next)
                last = p;
        if (!last)
                LIST_PREPEND(m->waiting, c);
        else {
                c->prev = last;
                c->next = last->next;
                if (last->next)
                        last->next->prev = c;
                last->next = c;
        }
        missed_arm(m);
}

static void check_ask(Check *c);

/* A check without a holder to leave out (NOT_UP, STORE_DOWN) is asked by the member ranked
 * first for the firing among the members the store knows (rendezvous.h), not by every
 * replica that has the reason: one request for the fleet. 1: ours, 0: another member's,
 * -EAGAIN: the members are not known yet (the daemon has just started: the first of its
 * start-up checks are due at once, and every replica of a fleet started together would ask
 * them all). */
static int check_whose(const Check *c) {
        LeaseStore *s = c->owner->store;
        const char *const *ids = NULL;
        const char *self = NULL;
        size_t n;

        if ((c->why != MISSED_NOT_UP && c->why != MISSED_STORE_DOWN) || !s->ops->members)
                return 1;
        n = s->ops->members(s, &ids, &self);
        if (n == 0 || !self)
                return -EAGAIN;
        return rendezvous_rank(self, ids, n, c->job, c->firing.f.t) == 0;
}

/* Nobody claimed c's firing, which happened before this daemon started: had the fleet run
 * the job's firing before the window? (Asked of the store once per window.) */
static void check_gate(Check *c) {
        Window *w = c->window;
        char utc[RFC3339_UTC_MAX];

        switch (w->seen) {
        case SEEN_UNKNOWN:
                c->asking = true;
                check_ask(c);
                return;
        case SEEN_RAN:
                c->raise = true;
                check_wait(c, wall_now());
                return;
        default:
                log_debug("missed_check", c->job, NULL, "firing %s: nobody claimed it, and the "
                          "fleet had not run the job before: a new fleet or job, no miss",
                          format_rfc3339_utc(c->firing.f.t, utc));
                check_free(c);
                return;
        }
}

static void check_on_ended(bool holder_died, void *userdata) {
        Check *c = userdata;
        Missed *m = c->owner;

        m->store->ops->unwatch(c->watch);
        c->watch = NULL;
        LIST_UNLINK(m->busy, c);
        log_debug("missed_check", c->job, NULL, "firing %s: %s",
                  format_rfc3339_utc(c->firing.f.t, (char[RFC3339_UTC_MAX]) {}),
                  holder_died ? "its holder died without a final record" : "it ran");
        if (!holder_died) {             /* it ended with a final record: it ran */
                check_free(c);
                return;
        }
        /* Its holder died. Without takeover it is missed unless someone else has raised it;
         * with takeover, give the watchers time to take it over, then look again. */
        c->raise = true;
        check_wait(c, c->takeover ? wall_now() + m->ttl_sec + m->election_timeout_sec +
                                    MISSED_MARGIN_SEC : wall_now());
}

static void check_on_answer(LeaseFiringState state, bool raised, const char *error,
                            void *userdata) {
        Check *c = userdata;
        Missed *m = c->owner;
        char utc[RFC3339_UTC_MAX];
        int r;

        c->in_flight = false;
        LIST_UNLINK(m->busy, c);
        if (m->stopped) {
                check_free(c);
                return;
        }
        format_rfc3339_utc(c->firing.f.t, utc);
        if (error) {
                if (++c->tries >= MISSED_TRIES) {
                        log_event(LOG_WARNING, "missed_check_failed", c->job, NULL, NULL,
                                  "cannot tell whether firing %s ran: %s", utc, error);
                        check_free(c);
                        return;
                }
                check_wait(c, wall_now() + m->election_timeout_sec);
                return;
        }
        if (c->asking) {                /* the job's firing before the start window */
                c->window->seen = state == LEASE_FIRING_NONE ? SEEN_NONE : SEEN_RAN;
                c->asking = false;
                c->tries = 0;
                check_gate(c);
                return;
        }
        if (raised) {
                m->on_raised(c->job, &c->firing, state, m->userdata);
                check_free(c);
                return;
        }
        switch (state) {
        case LEASE_FIRING_RUNNING:
                r = m->store->ops->watch ?
                    m->store->ops->watch(m->store, &(LeaseRequest) { .job = c->job,
                                                                     .scheduled = c->firing.f.t,
                                                                     .attempt = 1 },
                                         check_on_ended, c, &c->watch) : -EOPNOTSUPP;
                if (r < 0) {
                        c->watch = NULL;
                        log_event(LOG_WARNING, "missed_check_failed", c->job, NULL, NULL,
                                  "cannot watch firing %s for the missed alarm, ignoring: %s",
                                  utc, strerror(-r));
                        check_free(c);
                        return;
                }
                log_debug("missed_check", c->job, NULL, "firing %s: still running, watching "
                          "its holder", utc);
                LIST_PREPEND(m->busy, c);
                return;
        case LEASE_FIRING_NONE:
        case LEASE_FIRING_ABANDONED:
                if (state == LEASE_FIRING_NONE && c->why == MISSED_NOT_UP && !c->raise) {
                        check_gate(c);
                        return;
                }
                if (c->raise) {
                        log_debug("missed_check", c->job, NULL, "firing %s: ran nowhere, "
                                  "raised by another replica", utc);
                        check_free(c);
                        return;
                }
                c->raise = true;
                check_wait(c, state == LEASE_FIRING_ABANDONED && c->takeover ?
                              wall_now() + m->ttl_sec + m->election_timeout_sec +
                              MISSED_MARGIN_SEC : wall_now());
                return;
        default:                        /* DONE, PAUSED */
                log_debug("missed_check", c->job, NULL, "firing %s: %s", utc,
                          state == LEASE_FIRING_PAUSED ? "the job is paused" : "it ran");
                check_free(c);
                return;
        }
}

static void check_ask(Check *c) {
        Missed *m = c->owner;

        LIST_PREPEND(m->busy, c);
        c->in_flight = true;
        m->store->ops->check_missed(m->store, &(LeaseRequest) { .job = c->job,
                                                                .scheduled = c->asking ?
                                                                             c->window->before :
                                                                             c->firing.f.t,
                                                                .attempt = 1 },
                                    c->raise && !c->asking, check_on_answer, c);
}

static void missed_on_timer(uv_timer_t *t) {
        Missed *m = container_of(t, Missed, timer);
        int64_t now = wall_now();
        Check *c;

        while ((c = m->waiting) && c->due <= now && !m->stopped) {
                LIST_UNLINK(m->waiting, c);
                if (!c->ranked) {       /* the members as they are now, at its due time */
                        int r = check_whose(c);

                        if (r == -EAGAIN && c->postponed < MISSED_UNRANKED_SEC) {
                                c->postponed++; /* not known yet: a second later */
                                check_wait(c, now + 1);
                                continue;
                        }
                        c->ranked = true;       /* still not known: ours */
                        if (r == 0) {
                                check_free(c);
                                continue;
                        }
                }
                check_ask(c);           /* may answer at once, and requeue c */
        }
        missed_arm(m);
}

static Check *check_find(Missed *m, const char *job, int64_t scheduled) {
        for (Check *l = m->waiting; l; l = l->next)
                if (l->firing.f.t == scheduled && strcmp(l->job, job) == 0)
                        return l;
        for (Check *l = m->busy; l; l = l->next)
                if (l->firing.f.t == scheduled && strcmp(l->job, job) == 0)
                        return l;
        return NULL;
}

/* A check of f, due at its instant + missed_after; w: see Check. */
static void check_add(Missed *m, const JobConfig *cfg, const JobFiring *f, MissedReason why,
                      Window *w) {
        Check *c;

        if (!missed_should_check(m, cfg, why) || check_find(m, cfg->name, f->f.t))
                return;
        c = calloc(1, sizeof(Check));
        if (!c || !(c->job = strdup(cfg->name))) {
                free(c);
                return;                 /* out of memory: one alarm fewer, never a crash */
        }
        c->owner = m;
        c->firing = *f;
        c->why = why;
        if (w) {
                c->window = w;
                w->refs++;
        }
        c->takeover = cfg->policy->takeover;
        /* A holder that lost its lease without a final record: takeover: false means no one
         * runs it again, so the first request may raise. A firing before this daemon's start
         * is raised only once the fleet is known to have run the job before (check_gate). */
        c->raise = !c->takeover && why != MISSED_NOT_UP;
        m->n++;
        check_wait(c, f->f.t + missed_after_sec(m, cfg));
}

void missed_expect(Missed *m, const JobConfig *cfg, const JobFiring *f, MissedReason why) {
        check_add(m, cfg, f, why, NULL);
}

/* The instant of cfg's last firing before t, or 0 when there is none in the 800 days
 * before (looked for in windows four times longer each time: a firing every second finds
 * one in the first, a yearly one in the last). */
static int64_t firing_before(const JobConfig *cfg, int64_t t) {
        JobFiring f;

        for (int64_t w = 64; w <= 800 * 86400; w *= 4) {
                int64_t last = 0;

                for (int64_t from = t - w - 1;; from = f.f.t) {
                        if (firing_next_runnable(cfg, from, &f) < 0 || f.f.t >= t)
                                break;
                        last = f.f.t;
                }
                if (last)
                        return last;
        }
        return 0;
}

void missed_expect_started(Missed *m, const JobConfig *cfg, int64_t now) {
        int64_t after;
        JobFiring f;
        unsigned k = 0;
        Window *w;

        if (!missed_should_check(m, cfg, MISSED_NOT_UP) || !(w = calloc(1, sizeof(Window))))
                return;
        after = missed_after_sec(m, cfg);
        /* The firings in [now - missed_after, now): due before this daemon was up, their
         * check still ahead. Those at now or later are this daemon's own elections. */
        for (int64_t t = now - after; k < MISSED_STARTED_MAX; t = f.f.t, k++) {
                if (firing_next_runnable(cfg, t, &f) < 0 || f.f.t >= now)
                        break;
                if (k == 0 && !(w->before = firing_before(cfg, f.f.t)))
                        w->seen = SEEN_NONE;
                check_add(m, cfg, &f, MISSED_NOT_UP, w);
        }
        if (w->refs == 0)               /* no check took it */
                free(w);
}

void missed_forget(Missed *m, const char *job, int64_t scheduled) {
        Check *c = m ? check_find(m, job, scheduled) : NULL;

        char utc[RFC3339_UTC_MAX];

        if (!c || c->in_flight)
                return;
        log_debug("missed_check", job, NULL, "firing %s: taken over here, nothing to check",
                  format_rfc3339_utc(scheduled, utc));
        if (c->watch)
                LIST_UNLINK(m->busy, c);
        else
                LIST_UNLINK(m->waiting, c);
        check_free(c);
        missed_arm(m);
}

size_t missed_pending(const Missed *m) {
        return m ? m->n : 0;
}

void missed_stop(Missed *m) {
        if (!m || m->stopped)
                return;
        m->stopped = true;
        while (m->waiting) {
                Check *c = m->waiting;

                LIST_UNLINK(m->waiting, c);
                check_free(c);
        }
        /* In flight: the store answers them when it closes (check_on_answer frees them). */
        for (Check *c = m->busy, *next; c; c = next) {
                next = c->next;
                if (!c->in_flight) {
                        LIST_UNLINK(m->busy, c);
                        check_free(c);
                }
        }
        uv_close((uv_handle_t *) &m->timer, missed_on_closed);
}

Missed *missed_free(Missed *m) {
        if (!m)
                return NULL;
        missed_stop(m);
        /* Checks still in flight are answered by the store's close(), after this: they must
         * not find m gone. The daemon closes the store before it frees m. */
        free(m);
        return NULL;
}
