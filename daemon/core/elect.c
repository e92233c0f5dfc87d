/* SPDX-License-Identifier: MIT */
/* The election of a run's firing through the lease backend: claim it (synchronously or
 * not), act on the answer (run, stand down, or apply on_store_down), report a lease lost
 * while the run goes on, and, with takeover:, hand a firing held by a live holder to the
 * takeover watches, so that one replica runs it again if that holder dies. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elect.h"
#include "log.h"
#include "macro.h"
#include "missed.h"
#include "rendezvous.h"
#include "takeover.h"
#include "wallclock.h"

const double lease_claim_buckets[LEASE_CLAIM_BUCKETS] = {
        0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5, 10,
};

static const char *const outcome_names[_ELECT_OUTCOME_MAX] = {
        [ELECT_PENDING] = "pending",
        [ELECT_NONE] = "none",
        [ELECT_WON] = "won",
        [ELECT_HELD] = "held",
        [ELECT_STORE_DOWN_RUN] = "store_down_run",
        [ELECT_STORE_DOWN_SKIP] = "store_down_skip",
        [ELECT_PAUSED] = "paused",
        [ELECT_PASSED] = "passed",
};

const char *elect_outcome_to_string(ElectOutcome o) {
        return o >= 0 && o < _ELECT_OUTCOME_MAX ? outcome_names[o] : "pending";
}

/* How long the store took to decide. */
static void elect_note_duration(Election *e) {
        LeaseClaimStats *st = &e->env->claim_stats;
        double sec = (double) (e->env->now_usec() - e->claim_start_usec) / 1e6;

        for (size_t i = 0; i < LEASE_CLAIM_BUCKETS; i++)
                if (sec <= lease_claim_buckets[i])
                        st->bucket[i]++;
        st->count++;
        st->sum += sec;
}

static const char *const run_lease_names[_RUN_LEASE_MAX] = {
        [RUN_LEASE_NONE] = "none",
        [RUN_LEASE_WON] = "won",
        [RUN_LEASE_UNAVAILABLE] = "unavailable",
};

const char *run_lease_to_string(RunLease l) {
        return l >= 0 && l < _RUN_LEASE_MAX ? run_lease_names[l] : "none";
}

static void elect_won(Election *e, const LeaseInfo *info, const char *utc) {
        LeaseStore *s = e->env->lease;

        free(e->lease_key);
        e->lease_key = strdup(info->key ? info->key : "");
        e->fencing_token = info->fencing_token;
        e->state = RUN_LEASE_WON;
        e->outcome = ELECT_WON;
        if (e->env->lease_degraded) {
                e->env->lease_degraded = false;
                log_event(LOG_NOTICE, "lease_recovered", e->job, e->run_id, NULL,
                          "the %s lease records claims again", s->ops->name);
        }
        if (e->takeover && !e->manual)  /* ours now: nothing to check */
                missed_forget(e->env->missed, e->job, e->firing.f.t);
        if (e->n_members > 0)
                log_event(s->ops->watch ? LOG_INFO : LOG_DEBUG, "firing_won", e->job, e->run_id,
                          NULL, "firing %s won (%s lease, rank %u of %u, fencing token %llu)",
                          utc, s->ops->name, e->rank, e->n_members,
                          (unsigned long long) info->fencing_token);
        else
                log_event(s->ops->watch ? LOG_INFO : LOG_DEBUG, "firing_won", e->job, e->run_id,
                          NULL, "firing %s won (%s lease, fencing token %llu)", utc,
                          s->ops->name, (unsigned long long) info->fencing_token);
}

static void elect_keep_record(Election *e, const LeaseRecord *rec) {
        ElectHeld *h = &e->held;

        *h = (ElectHeld) { .run_id = rec->run_id ? strdup(rec->run_id) : NULL,
                           .host = rec->host ? strdup(rec->host) : NULL,
                           .status = rec->status ? strdup(rec->status) : NULL,
                           .exit_status = rec->exit_status, .duration_msec = rec->duration_msec,
                           .scheduled = rec->scheduled };
}

/* Is the missed-firing check of a firing held elsewhere ours? One replica of those that
 * looked and found it held asks the store, not every one that lost (rendezvous_checker()):
 * where only rank 0 and the fallback look (looks_alone), the one of them that is not the
 * holder. Members or the holder not known (the local, redis and postgres stores; a record
 * without its host; a claim made before the members were known): every replica that lost
 * asks, or the first once the holder is left out, and the alarm's conditional create keeps
 * the raise to one. */
static bool elect_checks_missed(Election *e, const LeaseRecord *holder) {
        LeaseStore *s = e->env->lease;
        const char *const *ids, *self = NULL;
        char holder_id[256];
        size_t n;

        if (!holder || !holder->host || !s || !s->ops->members)
                return true;
        n = s->ops->members(s, &ids, &self);
        if (n == 0 || !self)
                return true;
        (void) snprintf(holder_id, sizeof(holder_id), "%s:%" PRIi64, holder->host, holder->pid);
        return rendezvous_checker(self, ids, n, holder_id, e->job, e->firing.f.t,
                                  e->env->lease_candidates ? e->env->lease_candidates : 1,
                                  s->ops->looks_alone && e->n_members > 0) != 0;
}

static void elect_held(Election *e, const LeaseInfo *info, const char *utc) {
        if (info->held == LEASE_HELD_PAUSED) {
                e->outcome = ELECT_PAUSED;
                log_event(LOG_INFO, "firing_paused", e->job, NULL, NULL, "firing %s not run: %s",
                          utc, info->detail ? info->detail : "the job is paused");
                if (!e->manual)
                        missed_expect(e->env->missed, e->cfg, &e->firing, MISSED_PAUSED);
                return;
        }
        e->outcome = ELECT_HELD;
        if (e->manual) {
                if (info->record)
                        elect_keep_record(e, info->record);
                log_event(LOG_INFO, "manual_held", e->job, NULL, NULL,
                          "manual run %s held by %s", e->manual,
                          info->detail ? info->detail : "another holder");
                return;
        }
        log_event(LOG_INFO, "firing_held", e->job, NULL, NULL, "firing %s@%s held by %s", e->job,
                  utc, info->detail ? info->detail : "another holder");
        /* A firing that has run needs no watch; one whose holder runs it (or ran it and
         * died) is watched, and taken over if the holder's lease goes. */
        if (e->cfg->policy->takeover && e->env->takeover && info->held != LEASE_HELD_DONE)
                takeover_watch(e->env->takeover, e->job, &e->firing, e->run_id, e->attempt);
        /* Did it run? The holder may die without a final record (missed.h). One replica
         * asks: the member ranked first for the firing once its holder is left out. */
        if (info->held == LEASE_HELD_DONE || elect_checks_missed(e, info->record))
                missed_expect(e->env->missed, e->cfg, &e->firing,
                              info->held == LEASE_HELD_DONE ? MISSED_HELD_DONE :
                              info->held == LEASE_HELD_ABANDONED ? MISSED_HELD_ABANDONED :
                              MISSED_HELD_RUNNING);
}

/* The store could not decide: true to run it anyway. */
static bool elect_unavailable(Election *e, const LeaseInfo *info, const char *utc) {
        const char *why = info->detail ? info->detail : "store unavailable";

        if (e->env->lease->ops->local) {
                /* A local lease that cannot write its record (a full or read-only state
                 * directory, a lock held by another process) is no outage of a shared store:
                 * skipping would lose every firing on the one host there is, so the firing
                 * runs, unrecorded. Said once, not per firing. */
                e->state = RUN_LEASE_UNAVAILABLE;
                e->outcome = ELECT_STORE_DOWN_RUN;
                if (!e->env->lease_degraded)
                        log_event(LOG_ERR, "lease_unavailable", e->job, e->run_id, NULL,
                                  "cannot record local claims (%s); firings run without a lease "
                                  "record until this is fixed", why);
                e->env->lease_degraded = true;
                return true;
        }
        if (e->cfg->policy->on_store_down == STORE_DOWN_RUN) {
                e->state = RUN_LEASE_UNAVAILABLE;
                e->outcome = ELECT_STORE_DOWN_RUN;
                log_event(LOG_WARNING, "lease_unavailable", e->job, e->run_id, NULL,
                          "cannot claim firing %s: %s; running it anyway (on_store_down: run)",
                          utc, why);
                return true;
        }
        e->outcome = ELECT_STORE_DOWN_SKIP;
        if (!e->manual)         /* another replica may have run it, or none */
                missed_expect(e->env->missed, e->cfg, &e->firing, MISSED_STORE_DOWN);
        log_event(LOG_WARNING, "lease_unavailable", e->job, NULL, NULL,
                  "cannot claim firing %s: %s; skipping it (on_store_down: skip)", utc, why);
        return false;
}

/* Act on the election's answer. true: run it now. */
static bool elect_decide(Election *e, LeaseResult res, const LeaseInfo *info) {
        char utc[RFC3339_UTC_MAX];

        elect_note_duration(e);
        store_health_note(&e->env->store_health, e->env->now_usec(),
                          res == LEASE_UNAVAILABLE && !e->env->lease->ops->local ?
                          (info->detail ? info->detail : "store unavailable") : NULL);
        format_rfc3339_utc(e->firing.f.t, utc);
        switch (res) {
        case LEASE_WON:
                elect_won(e, info, utc);
                return true;
        case LEASE_HELD:
                e->claim = NULL;
                elect_held(e, info, utc);
                return false;
        default:
                e->claim = NULL;
                return elect_unavailable(e, info, utc);
        }
}

static void elect_on_claimed(LeaseClaim *c, LeaseResult res, const LeaseInfo *info,
                             void *userdata) {
        Election *e = userdata;

        e->claim = res == LEASE_WON ? c : NULL;
        e->on_decided(e, elect_decide(e, res, info));
}

static void elect_on_lost(LeaseClaim *c, const char *why, void *userdata) {
        Election *e = userdata;

        (void) c;
        e->lost = true;
        e->on_lost(e, why);
}

/* The members a won claim tells (rendezvous_lookers()): the other ranks that look at the
 * firing, so that a backend that can leave them a note (etcd) spares them a request. None
 * for manual runs and takeovers, which nobody else waits on. */
static size_t elect_tell(Election *e, const char *ret[static 3]) {
        LeaseStore *s = e->env->lease;
        const char *const *ids = NULL;
        const char *self = NULL;
        size_t n;
        int k;

        if (e->manual || e->takeover || !s->ops->members || e->env->lease_stagger == 0)
                return 0;               /* stagger 0: every member claims at once */
        n = s->ops->members(s, &ids, &self);
        if (n == 0 || !self)
                return 0;
        k = rendezvous_lookers(self, ids, n, e->job, e->firing.f.t, e->env->lease_candidates,
                               ret);
        return k > 0 ? (size_t) k : 0;  /* out of memory: the others ask the store */
}

static void elect_on_turn_dropped(const char *error, void *userdata) {
        (void) error;           /* the note then goes with its sender's session */
        (void) userdata;
}

/* A stand-in that will send no claim (cancelled while it waits, or a claim the store
 * refused before sending it): its turn's note goes now, as its claim would have deleted it. */
static void elect_drop_turn(Election *e) {
        LeaseStore *s = e->env->lease;

        if (!e->turn_open)
                return;
        e->turn_open = false;
        if (s && s->ops->pass_turn)
                s->ops->pass_turn(s, NULL, &(LeaseTurn) { .job = e->job,
                                                          .scheduled = e->firing.f.t,
                                                          .rank = e->stand_in - 1 },
                                  true, elect_on_turn_dropped, NULL);
}

/* Send the claim. true: decided now, *ret_run says whether to run it. */
static bool elect_claim(Election *e, bool *ret_run) {
        LeaseStore *s = e->env->lease;
        LeaseInfo info = {};
        LeaseResult res;
        const char *tell[3];
        size_t n_tell = elect_tell(e, tell);

        e->lease_cb = (LeaseCallbacks) { .claimed = elect_on_claimed, .lost = elect_on_lost,
                                         .userdata = e };
        e->claim_start_usec = e->env->now_usec();
        res = s->ops->claim(s, &(LeaseRequest) { .job = e->job, .scheduled = e->firing.f.t,
                                                 .manual = e->manual,
                                                 .run_id = e->run_id, .attempt = e->attempt,
                                                 .takeover = e->takeover,
                                                 .late = e->rank > 0 || e->stand_in,
                                                 .stand_in = e->stand_in > 0,
                                                 .tell = tell, .n_tell = n_tell },
                            &e->lease_cb, &e->claim, &info);
        if (res == LEASE_UNAVAILABLE)
                elect_drop_turn(e);     /* refused before it was sent */
        e->turn_open = false;           /* else the claim deletes it */
        if (res == LEASE_PENDING)
                return false;           /* elect_on_claimed() follows */
        if (res != LEASE_WON)
                e->claim = NULL;
        *ret_run = elect_decide(e, res, &info);
        return true;
}

/* Is self among the members ids (a member that joined since the listing is not)? */
static bool elect_listed(const char *const *ids, size_t n, const char *self) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(ids[i], self) == 0)
                        return true;
        return false;
}

/* A stand-in claims at the turn of the rank it stands in for, counted from the firing's
 * instant (the turn was handed on then), as that rank would have: at once when that time
 * has passed. */
static uint64_t elect_stand_in_wait(Election *e, unsigned k, uint64_t stagger_ms) {
        LeaseStore *s = e->env->lease;
        int64_t due_ms = e->firing.f.t * 1000 +
                         (int64_t) (rendezvous_turn(e->stand_in - 1, k) * stagger_ms);
        int64_t now_ms = wallclock_now_usec() / 1000;
        uint64_t wait = due_ms > now_ms ? (uint64_t) (due_ms - now_ms) : 0;

        e->rank = e->stand_in - 1;
        if (wait > 0 && s->ops->claim_lag_ms)
                wait += s->ops->claim_lag_ms(s);
        return wait;
}

/* Rendezvous candidates: the members the store knows, ranked for this firing (rendezvous.c).
 * Rank 0 claims at once, rank r < candidates after r × stagger, the others after
 * candidates × stagger + stagger, so that a fleet whose candidates all died still runs it.
 * The conditional write stays the only arbiter: the ranking only decides who tries first.
 * Besides rank 0 only rank 1 and the fallback rank look (rendezvous_looks()), so that a
 * fleet sends as many requests per firing whatever its size: the winner tells them
 * (elect_tell(); etcd: a note in their inbox, so they stand down without a request), or,
 * where it cannot and a look asks the store (looks_alone; S3: a GET of the firing's
 * record), only the fallback looks (rendezvous_looks_alone()). A member not in the
 * listing it ranks with (it joined since) looks, as it cannot know its place. A lower
 * rank also waits for the store's claim lag (claim_lag_ms: a slow store's claims reach
 * the others late). Manual runs (asked of this replica) and takeovers (already a race
 * among watchers) claim at once. Returns the wait in ms; false in *ret_looks: this member
 * stands down without a request. */
static uint64_t elect_rank_wait(Election *e, bool *ret_looks) {
        LeaseStore *s = e->env->lease;
        const char *const *ids = NULL;
        const char *self = NULL;
        unsigned k = e->env->lease_candidates ? e->env->lease_candidates : 1;
        uint64_t stagger_ms = e->env->lease_stagger / USEC_PER_MSEC, wait;
        bool listed;
        size_t n;

        *ret_looks = true;
        if (e->manual || e->takeover || !s->ops->members || stagger_ms == 0)
                return 0;
        if (e->stand_in) {
                e->turn_open = true;
                return elect_stand_in_wait(e, k, stagger_ms);
        }
        n = s->ops->members(s, &ids, &self);
        if ((n == 0 || !self) && !e->rank_later) {
                /* Not known yet: the daemon has just started, its session or first listing
                 * is on its way. Claiming at once would have every replica of a fleet that
                 * started together claim every firing (a surge of requests that a loaded
                 * store may not get out of): wait the fallback's turn, then rank again. */
                e->rank_later = true;
                return rendezvous_turn(k, k) * stagger_ms;
        }
        if (n == 0 || !self)
                return 0;               /* still not known: claim, unranked */
        e->rank = rendezvous_rank(self, ids, n, e->job, e->firing.f.t);
        listed = elect_listed(ids, n, self);
        /* not listed (yet): ranked among them all */
        e->n_members = listed ? (unsigned) n : (unsigned) n + 1;
        if (listed)
                *ret_looks = s->ops->looks_alone ?
                             rendezvous_looks_alone(e->rank, e->n_members, k) :
                             rendezvous_looks(e->rank, e->n_members, k);
        wait = rendezvous_turn(e->rank, k) * stagger_ms;
        if (wait > 0 && s->ops->claim_lag_ms)
                wait += s->ops->claim_lag_ms(s);        /* a slow store: its claim is late */
        return wait;
}

/* Not this member's turn (elect_rank_wait()): the firing is left to the ranks that look. */
static void elect_pass(Election *e) {
        unsigned k = e->env->lease_candidates ? e->env->lease_candidates : 1;
        char utc[RFC3339_UTC_MAX];

        e->outcome = ELECT_PASSED;
        log_event(LOG_DEBUG, "firing_passed", e->job, NULL, NULL,
                  "firing %s@%s left to ranks 0%s and %u (this member is rank %u of %u; "
                  "the %s lease)", e->job, format_rfc3339_utc(e->firing.f.t, utc),
                  e->env->lease->ops->looks_alone ? "" : ", 1",
                  rendezvous_fallback(e->n_members, k),
                  e->rank, e->n_members, e->env->lease->ops->name);
}

bool elect_start(Election *e, bool *ret_run) {
        LeaseStore *s = e->env->lease;
        uint64_t wait;
        bool looks;

        /* @reboot belongs to each daemon's start, not to the fleet: every replica runs its
         * own (a manual run of the job is elected as any other). */
        if (e->cfg->policy->no_lease || !s || ((e->cfg->schedule.flags & CRON_REBOOT) && !e->manual)) {
                e->state = RUN_LEASE_NONE;
                e->outcome = ELECT_NONE;
                *ret_run = true;
                return true;
        }
        wait = elect_rank_wait(e, &looks);
        if (!looks) {
                elect_pass(e);
                *ret_run = false;
                return true;
        }
        if (wait > 0 && e->on_wait) {
                e->waiting = true;
                e->on_wait(e, wait);
                return false;           /* elect_resume(), then on_decided */
        }
        return elect_claim(e, ret_run);
}

void elect_resume(Election *e) {
        bool run, looks = true;

        if (!e->waiting)
                return;
        e->waiting = false;
        /* Ranked only now: its turn, whatever it is, has come (the fallback's was waited). */
        if (e->rank_later)
                (void) elect_rank_wait(e, &looks);
        if (!looks) {
                elect_pass(e);
                e->on_decided(e, false);
                return;
        }
        if (elect_claim(e, &run))
                e->on_decided(e, run);
}

void elect_cancel(Election *e) {
        elect_drop_turn(e);     /* a stand-in cancelled before it claimed */
        e->waiting = false;     /* the owner stops its timer */
        if (e->claim)
                e->env->lease->ops->cancel(e->claim);
        e->claim = NULL;
}

void elect_finish(Election *e, const LeaseEnd *end) {
        if (!e->claim)
                return;
        /* The proof of run: how it ended; then the lease is let go. */
        e->env->lease->ops->finish(e->claim, end);
        e->claim = NULL;
}

/* A hand-on's answer: only a failure is said (the firing then runs only if another member
 * that looks at it can). */
static void elect_on_handed(const char *error, void *userdata) {
        char *what = userdata;

        if (error)
                log_event(LOG_WARNING, "firing_hand_on_failed", NULL, NULL, NULL,
                          "cannot hand on the turn at %s: %s", what ? what : "a firing", error);
        free(what);
}

void elect_hand_on(CoreEnv *env, const JobConfig *cfg, const char *job, const JobFiring *f,
                   const LeaseTurn *stood_in) {
        LeaseStore *s = env->lease;
        unsigned k = env->lease_candidates ? env->lease_candidates : 1, rank = 0;
        const char *const *ids = NULL;
        const char *self = NULL, *to = NULL;
        char utc[RFC3339_UTC_MAX], *what = NULL;
        LeaseTurn turn;
        size_t n = 0;

        if (!s || !s->ops->pass_turn)
                return;                 /* no store can take a turn: S3, local, … */
        if (s->ops->members && env->lease_stagger > 0 && !cfg->policy->no_lease &&
            !(cfg->schedule.flags & CRON_REBOOT))
                n = s->ops->members(s, &ids, &self);
        if (n > 0 && self) {
                rank = rendezvous_rank(self, ids, n, job, f->f.t);
                if (!stood_in && !rendezvous_looks(rank, elect_listed(ids, n, self) ?
                                                   (unsigned) n : (unsigned) n + 1, k))
                        return;         /* not its turn anyway */
                if (rendezvous_successor(self, ids, n, job, f->f.t, k, &to) < 0)
                        to = NULL;
        } else if (!stood_in)
                return;                 /* unranked: every member claims (or nobody is told) */
        turn = stood_in ? *stood_in : (LeaseTurn) { .job = job, .scheduled = f->f.t,
                                                    .rank = rank };
        format_rfc3339_utc(f->f.t, utc);
        if (to)
                log_event(LOG_INFO, "firing_handed_on", job, NULL, NULL,
                          "firing %s: the turn of rank %u handed on to %s", utc, turn.rank, to);
        else if (stood_in)
                log_event(LOG_WARNING, "firing_not_handed_on", job, NULL, NULL,
                          "firing %s: stood in for rank %u, but %s", utc, turn.rank,
                          n > 0 ? "no member is left to hand the turn on to" :
                                  "the members are not known to hand the turn on");
        else
                return;                 /* no spares: a fleet of three or fewer */
        if (asprintf(&what, "%s@%s", job, utc) < 0)
                what = NULL;
        s->ops->pass_turn(s, to, &turn, stood_in != NULL, elect_on_handed, what);
}

void elect_done(Election *e) {
        free(e->lease_key);
        e->lease_key = NULL;
        free(e->held.run_id);
        free(e->held.host);
        free(e->held.status);
        e->held = (ElectHeld) {};
}
