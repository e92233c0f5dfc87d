/* SPDX-License-Identifier: MIT */
/* The core without the daemon: jobs, their runs and elections, driven on a real loop with
 * real processes (true, sh, sleep), an injected clock for durations, and a fake lease store.
 * TEST DOUBLE: FakeStore below stands in for a LeaseOps backend so that every election
 * outcome (won, held, store down, pending, lost, a holder dying) can be produced on demand;
 * the real backends are tested against real servers in test-lease-etcd, test-lease-s3 and
 * tests/integration/test_fleet.py. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "job.h"
#include "log.h"
#include "macro.h"
#include "reaper.h"
#include "rendezvous.h"
#include "spawner.h"
#include "takeover.h"
#include "tests.h"

/* --- the fake lease store (TEST DOUBLE) -------------------------------------------- */

struct LeaseClaim {
        LeaseCallbacks cb;
};

struct LeaseWatch {
        void (*ended)(bool holder_died, void *userdata);
        void *userdata;
};

typedef struct FakeStore {
        LeaseStore store;
        LeaseResult result;     /* what the next claim answers (PENDING: decided later) */
        LeaseHeld held;
        unsigned n_claims, n_cancels;
        LeaseClaim *last;       /* the last claim handed out (won or pending) */
        char finished[32];      /* the result of the last finish() */
        int64_t finished_status;
        LeaseWatch *watch;      /* the last watch */
        unsigned n_watches;
        char manual[80];        /* the last claim's manual key ("" for a firing) */
        const LeaseRecord *record; /* what a HELD claim found */
        bool late;              /* the last claim was a lower rank's */
        char tell[3][16];       /* the last claim's tell (members other than "me") */
        size_t n_tell;
        const char *const *members; /* what members() answers, with self "me" */
        size_t n_members;
        uint64_t claim_lag_ms;  /* what claim_lag_ms() answers */
        bool stand_in;          /* the last claim was a stand-in's */
        unsigned n_passes;      /* pass_turn() calls */
        char pass_to[16];       /* the last one's: to ("" for NULL), own, the turn's rank */
        bool pass_own;
        unsigned pass_rank;
} FakeStore;

static FakeStore fake;
static LeaseOps fake_ops;

static LeaseResult fake_claim(LeaseStore *s, const LeaseRequest *req, const LeaseCallbacks *cb,
                              LeaseClaim **ret_claim, LeaseInfo *ret_info) {
        (void) s;
        fake.n_claims++;
        fake.late = req->late;
        fake.stand_in = req->stand_in;
        fake.n_tell = req->n_tell;
        for (size_t i = 0; i < req->n_tell && i < 3; i++)
                (void) snprintf(fake.tell[i], sizeof(fake.tell[i]), "%s", req->tell[i]);
        (void) snprintf(fake.manual, sizeof(fake.manual), "%s", req->manual ?: "");
        *ret_info = (LeaseInfo) { .detail = "the fake store", .key = "fake/key", .held = fake.held,
                                  .fencing_token = 7, .record = fake.record };
        if (fake.result == LEASE_WON || fake.result == LEASE_PENDING) {
                fake.last = calloc(1, sizeof(LeaseClaim));
                ASSERT_TRUE(fake.last);
                fake.last->cb = *cb;
                *ret_claim = fake.last;
        }
        return fake.result;
}

/* Decide the pending claim now. */
static void fake_decide(LeaseResult res, LeaseHeld held) {
        LeaseClaim *c = fake.last;
        LeaseInfo info = { .detail = "the fake store", .key = "fake/key", .held = held,
                           .fencing_token = 8 };

        ASSERT_TRUE(c);
        if (res != LEASE_WON)
                fake.last = NULL;
        c->cb.claimed(c, res, &info, c->cb.userdata);
        if (res != LEASE_WON)
                free(c);
}

static void fake_finish(LeaseClaim *c, const LeaseEnd *end) {
        (void) snprintf(fake.finished, sizeof(fake.finished), "%s", end->result);
        fake.finished_status = end->exit_status;
        if (fake.last == c)
                fake.last = NULL;
        free(c);
}

static void fake_cancel(LeaseClaim *c) {
        fake.n_cancels++;
        if (fake.last == c)
                fake.last = NULL;
        free(c);
}

static int fake_watch(LeaseStore *s, const LeaseRequest *req, void (*ended)(bool, void *),
                      void *userdata, LeaseWatch **ret) {
        (void) s;
        (void) req;
        fake.watch = calloc(1, sizeof(LeaseWatch));
        ASSERT_TRUE(fake.watch);
        *fake.watch = (LeaseWatch) { .ended = ended, .userdata = userdata };
        fake.n_watches++;
        *ret = fake.watch;
        return 0;
}

static void fake_unwatch(LeaseWatch *w) {
        if (fake.watch == w)
                fake.watch = NULL;
        free(w);
}

static size_t fake_members(LeaseStore *s, const char *const **ret_ids, const char **ret_self) {
        (void) s;
        *ret_ids = fake.members;
        *ret_self = "me";
        return fake.n_members;
}

static void fake_pass_turn(LeaseStore *s, const char *to, const LeaseTurn *t, bool own,
                           lease_done_cb done, void *userdata) {
        (void) s;
        fake.n_passes++;
        (void) snprintf(fake.pass_to, sizeof(fake.pass_to), "%s", to ?: "");
        fake.pass_own = own;
        fake.pass_rank = t->rank;
        done(NULL, userdata);
}

static uint64_t fake_claim_lag_ms(LeaseStore *s) {
        (void) s;
        return fake.claim_lag_ms;
}

static void fake_reset(LeaseResult result, bool local) {
        fake = (FakeStore) { .result = result };
        fake_ops = (LeaseOps) { .name = "fake", .local = local, .claim = fake_claim,
                                .finish = fake_finish, .cancel = fake_cancel, .watch = fake_watch,
                                .unwatch = fake_unwatch };
        fake.store.ops = &fake_ops;
}

/* --- the harness ------------------------------------------------------------------- */

static int64_t clock_usec;              /* the injected clock */

static int64_t fake_now(void) {
        return clock_usec;
}

typedef struct Harness {
        uv_loop_t loop;
        CoreEnv env;
        Table *table;
        Job *job;
        JobOwner owner;
        char results[8][16];
        unsigned n_results;
        bool idle;
        int log_fd;
        unsigned n_died;
} Harness;

static Harness h;

static void on_run_finished(Job *j, const Run *r, const char *result, void *userdata) {
        (void) j;
        (void) r;
        (void) userdata;
        if (h.n_results < 8)
                (void) snprintf(h.results[h.n_results++], 16, "%s", result);
}

static void on_idle(Job *j, void *userdata) {
        (void) j;
        (void) userdata;
        h.idle = true;
}

static void on_died(const char *job, const JobFiring *f, void *userdata) {
        (void) f;
        (void) userdata;
        ASSERT_STREQ(job, "j");
        h.n_died++;
}

static Table *load(const char *yaml) {
        char path[] = "/tmp/test-core-XXXXXX";
        int fd = mkstemp(path);
        ConfigDiags diags = {};
        Config *c = NULL;

        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, yaml, strlen(yaml)), (ssize_t) strlen(yaml));
        (void) close(fd);
        ASSERT_OK(config_load(path, NULL, &c, &diags));
        config_diags_done(&diags);
        (void) unlink(path);
        return table_new(c);
}

/* A job "j" with these extra keys, a fake store answering `result`. */
static void setup(const char *extra, LeaseResult result, bool local) {
        char yaml[2048];

        fake_reset(result, local);
        h = (Harness) {};
        ASSERT_OK(uv_loop_init(&h.loop));
        ASSERT_OK(reaper_setup(&h.loop));
        h.log_fd = memfd_create("log", MFD_CLOEXEC);
        ASSERT_TRUE(h.log_fd >= 0);
        log_setup(LOG_FORMAT_JSON, h.log_fd, LOG_DEBUG);
        clock_usec = 1000000;
        h.env = (CoreEnv) { .loop = &h.loop, .lease = &fake.store, .now_usec = fake_now };
        h.env.takeover = takeover_new(&fake.store, on_died, NULL);
        h.owner = (JobOwner) { .env = &h.env, .run_finished = on_run_finished, .idle = on_idle };
        (void) snprintf(yaml, sizeof(yaml),
                        "jobs:\n  - name: j\n    schedule: \"* * * * * *\"\n    kill_after: 1s\n%s",
                        extra);
        h.table = load(yaml);
        h.job = job_new(&h.owner, h.table, &h.table->config->jobs[0]);
        ASSERT_TRUE(h.job);
}

static void teardown(void) {
        h.env.takeover = takeover_free(h.env.takeover);
        h.job = job_free(h.job);
        h.table = table_unref(h.table);
        reaper_close();
        ASSERT_OK(uv_run(&h.loop, UV_RUN_DEFAULT));
        ASSERT_OK(uv_loop_close(&h.loop));      /* every handle closed */
        log_setup(LOG_FORMAT_TEXT, STDERR_FILENO, LOG_INFO);
        (void) close(h.log_fd);
        ASSERT_TRUE(!fake.last);                /* every claim finished or cancelled */
}

/* Everything logged so far. */
static const char *logged(void) {
        static char buf[65536];
        ssize_t n;

        log_flush();
        n = pread(h.log_fd, buf, sizeof(buf) - 1, 0);
        buf[n > 0 ? n : 0] = 0;
        return buf;
}

static void fire(int64_t t) {
        JobFiring f = {};

        f.f.t = t;
        job_fire(h.job, &f, false, false);
}

/* Run the loop until the job has no run (or give up after a while). */
static void run_until_idle(void) {
        for (unsigned i = 0; i < 2000 && (h.job->n_runs > 0 || !h.idle); i++)
                (void) uv_run(&h.loop, UV_RUN_ONCE);
        ASSERT_EQ(h.job->n_runs, 0);
}

/* --- elections --------------------------------------------------------------------- */

TEST(won_runs_and_records_the_proof) {
        setup("    command: 'echo \"lease=$SOLOCRON_LEASE $SOLOCRON_LEASE_KEY "
              "$SOLOCRON_FENCING_TOKEN\"'\n", LEASE_WON, false);
        fire(1795392000);
        clock_usec += 2500000;          /* the run's duration on the injected clock */
        run_until_idle();
        ASSERT_EQ(h.n_results, 1);
        ASSERT_STREQ(h.results[0], "succeeded");
        ASSERT_STREQ(fake.finished, "succeeded");
        ASSERT_EQ(fake.finished_status, 0);
        ASSERT_TRUE(strstr(logged(), "\"line\":\"lease=won fake/key 7\""));
        ASSERT_TRUE(strstr(logged(), "\"duration\":\"2.500s\""));
        teardown();
}

TEST(held_by_a_live_holder_stands_down_and_watches) {
        setup("    command: [\"true\"]\n    takeover: true\n", LEASE_HELD, false);
        fake.held = LEASE_HELD_RUNNING;
        fire(1795392000);
        run_until_idle();
        ASSERT_EQ(h.n_results, 0);              /* dropped: no summary */
        ASSERT_TRUE(strstr(logged(), "\"event\":\"firing_held\""));
        ASSERT_TRUE(!strstr(logged(), "run_started"));
        ASSERT_EQ(fake.n_watches, 1);
        /* The holder dies: the owner is told once, and the watch is gone. */
        fake.watch->ended(true, fake.watch->userdata);
        ASSERT_EQ(h.n_died, 1);
        ASSERT_TRUE(!fake.watch);
        teardown();
}

TEST(takeover_runs_it_again_as_attempt_2) {
        JobFiring f = { .f.t = 1795392000 };

        setup("    command: 'echo \"attempt=$SOLOCRON_ATTEMPT\"'\n    takeover: true\n",
              LEASE_WON, false);
        job_fire(h.job, &f, false, true);       /* what the daemon does when told on_died */
        run_until_idle();
        ASSERT_STREQ(h.results[0], "succeeded");
        ASSERT_TRUE(strstr(logged(), "\"line\":\"attempt=2\""));
        teardown();
}

TEST(held_after_it_ran_needs_no_watch) {
        setup("    command: [\"true\"]\n    takeover: true\n", LEASE_HELD, false);
        fake.held = LEASE_HELD_DONE;
        fire(1795392000);
        run_until_idle();
        ASSERT_EQ(fake.n_watches, 0);
        teardown();
}

TEST(store_down_skip) {
        setup("    command: [\"true\"]\n", LEASE_UNAVAILABLE, false);
        fire(1795392000);
        run_until_idle();
        ASSERT_EQ(h.n_results, 0);
        ASSERT_TRUE(strstr(logged(), "skipping it (on_store_down: skip)"));
        teardown();
}

TEST(store_down_run) {
        setup("    command: 'echo \"lease=$SOLOCRON_LEASE token=$SOLOCRON_FENCING_TOKEN\"'\n"
              "    on_store_down: run\n", LEASE_UNAVAILABLE, false);
        fire(1795392000);
        run_until_idle();
        ASSERT_STREQ(h.results[0], "succeeded");
        ASSERT_TRUE(strstr(logged(), "running it anyway (on_store_down: run)"));
        ASSERT_TRUE(strstr(logged(), "\"line\":\"lease=unavailable token=\""));
        teardown();
}

TEST(local_store_that_cannot_write_runs_and_says_so_once) {
        setup("    command: [\"true\"]\n    overlap: allow\n", LEASE_UNAVAILABLE, true);
        fire(1795392000);
        fire(1795392001);
        run_until_idle();
        ASSERT_EQ(h.n_results, 2);
        ASSERT_TRUE(h.env.lease_degraded);
        ASSERT_TRUE(strstr(logged(), "cannot record local claims"));
        ASSERT_TRUE(!strstr(strstr(logged(), "cannot record local claims") + 1,
                            "cannot record local claims"));
        teardown();
}

/* A firing for which "me" ranks `rank` among me and other. */
/* The first firing from `from` on (step 1) or back (step -1) where "me" has rank `rank`. */
static int64_t firing_ranked_from(const char *const *ids, size_t n, unsigned rank,
                                  int64_t from, int step) {
        for (int64_t t = from;; t += step)
                if (rendezvous_rank("me", ids, n, "j", t) == rank)
                        return t;
}

static int64_t firing_ranked(const char *const *ids, size_t n, unsigned rank) {
        return firing_ranked_from(ids, n, rank, 1795392000, 1);
}

/* A fleet of n ranked members (ids, "me" among them; NULL and 0: not known yet), whose
 * store finds every firing held by a running holder; candidates 3. */
static void setup_ranked(const char *const *ids, size_t n, unsigned stagger_ms) {
        setup("    command: [\"true\"]\n    overlap: allow\n", LEASE_HELD, false);
        fake_ops.members = fake_members;
        fake.members = ids;
        fake.n_members = n;
        fake.held = LEASE_HELD_RUNNING;
        h.env.lease_stagger = stagger_ms * USEC_PER_MSEC;
        h.env.lease_candidates = 3;
}

/* Rendezvous candidates: rank 0 claims at once; rank 1 waits one stagger, then claims as a
 * lower rank (late: the store may know it is claimed); with candidates: 1, rank 1 is no
 * candidate and waits (candidates + 1) x stagger; a run terminated while it waits never
 * claims. */
TEST(ranked_claims_wait_their_turn) {
        static const char *const ids[] = { "me", "other", "third" };
        uint64_t t0;

        setup_ranked(ids, 3, 60);
        fire(firing_ranked(ids, 3, 0));
        ASSERT_EQ(fake.n_claims, 1);            /* at once */
        ASSERT_TRUE(!fake.late);
        uv_update_time(&h.loop);
        t0 = uv_now(&h.loop);
        fire(firing_ranked(ids, 3, 1));
        ASSERT_EQ(fake.n_claims, 1);            /* not yet */
        run_until_idle();
        ASSERT_EQ(fake.n_claims, 2);
        ASSERT_TRUE(fake.late);
        ASSERT_TRUE(uv_now(&h.loop) - t0 >= 60);
        ASSERT_EQ(h.n_results, 0);              /* held: stood down */

        h.env.lease_candidates = 1;             /* rank 1 is no candidate now */
        uv_update_time(&h.loop);
        t0 = uv_now(&h.loop);
        h.idle = false;
        fire(firing_ranked(ids, 3, 1));
        run_until_idle();
        ASSERT_EQ(fake.n_claims, 3);
        ASSERT_TRUE(uv_now(&h.loop) - t0 >= 120);

        /* terminated while it waits: no claim, nothing left */
        h.env.lease_candidates = 3;             /* rank 2 is a candidate again */
        h.idle = false;
        fire(firing_ranked(ids, 3, 2));
        job_terminate(h.job, SIGTERM, USEC_INFINITY);
        run_until_idle();
        ASSERT_EQ(fake.n_claims, 3);
        ASSERT_EQ(fake.n_cancels, 0);
        teardown();
}

/* A slow store (etcd: its claim lag, twice its recent round trip): rank 0 still claims at
 * once, a lower rank waits its turn plus the lag before it looks. */
TEST(lower_ranks_wait_for_a_slow_store) {
        static const char *const ids[] = { "me", "other", "third" };
        uint64_t t0;

        setup_ranked(ids, 3, 60);
        fake_ops.claim_lag_ms = fake_claim_lag_ms;
        fake.claim_lag_ms = 150;
        fire(firing_ranked(ids, 3, 0));
        ASSERT_EQ(fake.n_claims, 1);            /* at once, lag or not */
        uv_update_time(&h.loop);
        t0 = uv_now(&h.loop);
        fire(firing_ranked(ids, 3, 1));
        run_until_idle();
        ASSERT_EQ(fake.n_claims, 2);
        ASSERT_TRUE(fake.late);
        ASSERT_TRUE(uv_now(&h.loop) - t0 >= 60 + 150);
        teardown();
}

/* Only ranks 0, 1 and candidates look (a look may cost a request: S3's GET, etcd's txn):
 * in a fleet of six with candidates: 3, rank 2 and rank 4 stand down at once (no claim,
 * outcome "passed", no missed-firing check); rank 3 waits (candidates + 1) x stagger and
 * looks. A member not in the listing (joined since) looks as before, in its turn. */
TEST(ranked_s3_only_three_ranks_look) {
        static const char *const ids[] = { "me", "b", "c", "d", "e", "f" };
        static const char *const without_me[] = { "b", "c", "d", "e", "f" };
        uint64_t t0;

        setup_ranked(ids, 6, 40);
        fire(firing_ranked(ids, 6, 2));
        run_until_idle();
        ASSERT_EQ(fake.n_claims, 0);
        ASSERT_EQ(h.n_results, 0);
        ASSERT_EQ(h.job->stats->elections[ELECT_PASSED], 1);
        ASSERT_TRUE(strstr(logged(), "left to ranks 0, 1 and 3 (this member is rank 2 of 6"));
        h.idle = false;
        fire(firing_ranked(ids, 6, 4));
        run_until_idle();
        ASSERT_EQ(fake.n_claims, 0);
        ASSERT_EQ(h.job->stats->elections[ELECT_PASSED], 2);
        ASSERT_TRUE(!strstr(logged(), "firing_held"));  /* nor a missed-firing check */

        uv_update_time(&h.loop);
        t0 = uv_now(&h.loop);
        h.idle = false;
        fire(firing_ranked(ids, 6, 3));
        run_until_idle();
        ASSERT_EQ(fake.n_claims, 1);
        ASSERT_TRUE(fake.late);
        ASSERT_TRUE(uv_now(&h.loop) - t0 >= 160);
        h.idle = false;
        fire(firing_ranked(ids, 6, 1));
        run_until_idle();
        ASSERT_EQ(fake.n_claims, 2);
        /* a claim tells the other ranks that look: 0 and 3 here */
        ASSERT_EQ(fake.n_tell, 2);
        {
                int64_t t = firing_ranked(ids, 6, 1);
                const char *const others[] = { "me", "b", "c", "d", "e", "f" };

                for (size_t i = 0; i < 2; i++) {
                        unsigned r = rendezvous_rank(fake.tell[i], others, 6, "j", t);

                        ASSERT_TRUE(strcmp(fake.tell[i], "me") != 0);
                        ASSERT_TRUE(r == 0 || r == 3);
                }
        }

        /* not listed (yet): rank 2 of the five others plus itself, and it looks */
        fake.members = without_me;
        fake.n_members = 5;
        h.idle = false;
        fire(firing_ranked(without_me, 5, 2));
        run_until_idle();
        ASSERT_EQ(fake.n_claims, 3);
        ASSERT_EQ(h.job->stats->elections[ELECT_PASSED], 2);
        teardown();
}

/* A looker still running the job's previous run (overlap: skip) hands its turn on to its
 * spare (the members that do not look, in rank order: the i-th looker's is spare i); a
 * member that does not look does not. A turn handed to this member: taken when it can run
 * it (a stand-in's claim, in the turn of the rank it stands in for); handed on down its lane
 * when busy too, or dropped when the lane ends there; dropped when it is long past. */
TEST(busy_lookers_hand_their_turn_on) {
        static const char *const ids[] = { "me", "b", "c", "d", "e", "f" };
        const char *spare;
        int64_t now = time(NULL), t;

        setup("    command: 'sleep 0.3'\n", LEASE_WON, false);
        fake_ops.members = fake_members;
        fake_ops.pass_turn = fake_pass_turn;
        fake.members = ids;
        fake.n_members = 6;
        h.env.lease_stagger = 30 * USEC_PER_MSEC;
        h.env.lease_candidates = 3;
        fire(firing_ranked(ids, 6, 0));
        ASSERT_EQ(fake.n_claims, 1);            /* won: it runs for 0.3 s */
        t = firing_ranked(ids, 6, 1);
        fire(t);
        ASSERT_TRUE(strstr(logged(), "SKIPPED (still running)"));
        ASSERT_EQ(fake.n_passes, 1);
        ASSERT_EQ(rendezvous_successor("me", ids, 6, "j", t, 3, &spare), 1);
        ASSERT_STREQ(fake.pass_to, spare);
        ASSERT_EQ(rendezvous_rank(spare, ids, 6, "j", t), 4);  /* looker 1's: spare 1 */
        ASSERT_EQ(fake.pass_rank, 1);
        ASSERT_TRUE(!fake.pass_own);
        fire(firing_ranked(ids, 6, 2));         /* a spare: not its turn anyway */
        ASSERT_EQ(fake.n_passes, 1);

        /* handed a turn while busy: rank 2 is spare 0, whose lane ends (3 spares) */
        t = firing_ranked_from(ids, 6, 2, now, -1);
        ASSERT_TRUE(job_stand_in(h.job, &(LeaseTurn) { .job = "j", .scheduled = t, .rank = 0,
                                                       .from = "b" }));
        ASSERT_EQ(fake.n_passes, 2);
        ASSERT_STREQ(fake.pass_to, "");        /* only its own note goes */
        ASSERT_TRUE(fake.pass_own);
        ASSERT_EQ(fake.pass_rank, 0);
        ASSERT_TRUE(strstr(logged(), "stood in for rank 0, but no member is left"));
        run_until_idle();

        /* free: it stands in, claiming as rank 1 would (late), and says so */
        t = firing_ranked_from(ids, 6, 2, now, -1);
        h.idle = false;
        ASSERT_TRUE(job_stand_in(h.job, &(LeaseTurn) { .job = "j", .scheduled = t, .rank = 1,
                                                       .from = "b" }));
        ASSERT_TRUE(!job_stand_in(h.job, &(LeaseTurn) { .job = "j", .scheduled = t,
                                                        .rank = 1, .from = "b" }));
        run_until_idle();
        ASSERT_EQ(fake.n_claims, 2);
        ASSERT_TRUE(fake.stand_in && fake.late);
        ASSERT_TRUE(strstr(logged(), "handed on the turn of rank 1"));
        ASSERT_EQ(h.n_results, 2);

        /* long past: not taken */
        ASSERT_TRUE(!job_stand_in(h.job, &(LeaseTurn) { .job = "j", .scheduled = now - 120,
                                                        .rank = 0, .from = "b" }));
        ASSERT_EQ(fake.n_claims, 2);
        teardown();
}

static const char *const known_later[] = { "me", "b", "c", "d", "e", "f" };

static void on_members_known(uv_timer_t *t) {
        (void) t;
        fake.members = known_later;
        fake.n_members = 6;
}

/* The members not known yet (a daemon that has just started): no claim at once, which would
 * have every replica of a fleet started together claim every firing; after the fallback's
 * turn ((candidates + 1) x stagger) it ranks again: not a looker now, it passes; still not
 * known, it claims unranked. */
TEST(members_not_known_yet_wait_the_fallbacks_turn) {
        uv_timer_t known;
        uint64_t t0;

        setup_ranked(NULL, 0, 30);
        uv_update_time(&h.loop);
        t0 = uv_now(&h.loop);
        fire(firing_ranked(known_later, 6, 2));
        ASSERT_EQ(fake.n_claims, 0);            /* not at once */
        ASSERT_OK(uv_timer_init(&h.loop, &known));
        ASSERT_OK(uv_timer_start(&known, on_members_known, 20, 0));
        run_until_idle();
        ASSERT_TRUE(uv_now(&h.loop) - t0 >= 120);
        ASSERT_EQ(fake.n_claims, 0);            /* rank 2 of 6: not a looker */
        ASSERT_EQ(h.job->stats->elections[ELECT_PASSED], 1);

        fake.members = NULL;                    /* never known: claims, unranked */
        fake.n_members = 0;
        uv_update_time(&h.loop);
        t0 = uv_now(&h.loop);
        h.idle = false;
        fire(firing_ranked(known_later, 6, 2));
        run_until_idle();
        ASSERT_TRUE(uv_now(&h.loop) - t0 >= 120);
        ASSERT_EQ(fake.n_claims, 1);
        ASSERT_TRUE(!fake.late);
        uv_close((uv_handle_t *) &known, NULL);
        teardown();
}

TEST(pending_then_won) {
        setup("    command: [\"true\"]\n", LEASE_PENDING, false);
        fire(1795392000);
        ASSERT_EQ(h.job->n_runs, 1);
        (void) uv_run(&h.loop, UV_RUN_NOWAIT);
        ASSERT_TRUE(!strstr(logged(), "run_started"));  /* waits for the answer */
        fake_decide(LEASE_WON, 0);
        run_until_idle();
        ASSERT_STREQ(h.results[0], "succeeded");
        ASSERT_STREQ(fake.finished, "succeeded");
        teardown();
}

TEST(pending_then_held) {
        setup("    command: [\"true\"]\n", LEASE_PENDING, false);
        fire(1795392000);
        fake_decide(LEASE_HELD, LEASE_HELD_RUNNING);
        run_until_idle();
        ASSERT_EQ(h.n_results, 0);
        teardown();
}

/* --- elected ahead (lease.elect_ahead) ----------------------------------------------- */

/* The daemon elects the firing at t ahead of it: the instant is ahead_key. */
static void fire_ahead(int64_t t) {
        JobFiring f = {};

        f.f.t = t;
        h.env.ahead_key = t;
        job_fire_ahead(h.job, &f);
}

TEST(elected_ahead_it_waits_for_its_firing) {
        int64_t t = time(NULL) + 3600;  /* the backstop timer is an hour away */

        setup("    command: [\"true\"]\n", LEASE_WON, false);
        fire_ahead(t);
        ASSERT_EQ(fake.n_claims, 1);
        ASSERT_EQ(h.job->n_runs, 1);
        for (int i = 0; i < 20; i++)
                (void) uv_run(&h.loop, UV_RUN_NOWAIT);
        ASSERT_TRUE(!strstr(logged(), "run_started"));  /* won, not due */
        fire(t);                                        /* due: it starts, no second claim */
        run_until_idle();
        ASSERT_EQ(fake.n_claims, 1);
        ASSERT_STREQ(h.results[0], "succeeded");
        teardown();
}

TEST(elected_ahead_and_won_late_starts_at_once) {
        int64_t t = time(NULL) + 3600;

        setup("    command: [\"true\"]\n", LEASE_PENDING, false);
        fire_ahead(t);
        fire(t);                        /* due while the store has not answered */
        ASSERT_EQ(h.job->n_runs, 1);
        fake_decide(LEASE_WON, 0);
        run_until_idle();
        ASSERT_EQ(fake.n_claims, 1);
        ASSERT_STREQ(h.results[0], "succeeded");
        teardown();
}

TEST(elected_ahead_and_held_is_not_claimed_again_but_taken_over) {
        JobFiring f = {};
        int64_t t = time(NULL) + 3600;

        setup("    command: [\"true\"]\n    takeover: true\n", LEASE_HELD, false);
        fake.held = LEASE_HELD_RUNNING;
        fire_ahead(t);
        fire(t);
        run_until_idle();
        ASSERT_EQ(fake.n_claims, 1);
        ASSERT_EQ(h.n_results, 0);
        /* Its holder died: the takeover is not mistaken for the firing elected ahead. */
        fake.held = 0;
        fake.result = LEASE_WON;
        f.f.t = t;
        job_fire(h.job, &f, false, true);
        run_until_idle();
        ASSERT_EQ(fake.n_claims, 2);
        ASSERT_STREQ(h.results[0], "succeeded");
        teardown();
}

TEST(a_job_still_running_is_not_elected_ahead) {
        int64_t t = time(NULL) + 3600;

        setup("    command: 'sleep 0.3'\n", LEASE_WON, false);
        fire(t - 1);
        fire_ahead(t);                  /* its run is still going: decided at t */
        ASSERT_EQ(fake.n_claims, 1);
        ASSERT_EQ(h.job->n_runs, 1);
        fire(t);                        /* overlap: skip, as without elect_ahead */
        ASSERT_TRUE(strstr(logged(), "SKIPPED (still running)"));
        run_until_idle();
        ASSERT_EQ(h.n_results, 1);
        teardown();
}

TEST(lost_kill_terminates_the_run) {
        setup("    command: 'echo up; exec sleep 30'\n", LEASE_WON, false);
        fire(1795392000);
        while (!strstr(logged(), "\"line\":\"up\""))
                (void) uv_run(&h.loop, UV_RUN_ONCE);
        fake.last->cb.lost(fake.last, "the store says so", fake.last->cb.userdata);
        run_until_idle();
        ASSERT_STREQ(h.results[0], "terminated");
        ASSERT_TRUE(strstr(logged(), "LEASE LOST (the store says so); terminating the run"));
        teardown();
}

TEST(lost_continue_lets_it_finish) {
        setup("    command: 'echo up; sleep 0.2'\n    on_lease_lost: continue\n", LEASE_WON, false);
        fire(1795392000);
        while (!strstr(logged(), "\"line\":\"up\""))
                (void) uv_run(&h.loop, UV_RUN_ONCE);
        fake.last->cb.lost(fake.last, "the store says so", fake.last->cb.userdata);
        run_until_idle();
        ASSERT_STREQ(h.results[0], "succeeded");
        ASSERT_TRUE(strstr(logged(), "the run goes on (on_lease_lost: continue)"));
        teardown();
}

TEST(no_lease_is_not_elected) {
        setup("    command: 'echo \"lease=$SOLOCRON_LEASE\"'\n    lease: none\n", LEASE_HELD, false);
        fire(1795392000);
        run_until_idle();
        ASSERT_EQ(fake.n_claims, 0);
        ASSERT_TRUE(strstr(logged(), "\"line\":\"lease=none\""));
        teardown();
}

/* --- a run ------------------------------------------------------------------------- */

TEST(retries_then_fails) {
        setup("    command: 'exit 3'\n    retry: {attempts: 2, backoff: 10ms}\n", LEASE_WON, false);
        fire(1795392000);
        run_until_idle();
        ASSERT_STREQ(h.results[0], "failed");
        ASSERT_STREQ(fake.finished, "failed");
        ASSERT_EQ(fake.finished_status, 3);
        ASSERT_TRUE(strstr(logged(), "attempt 1 failed (status 3)"));
        ASSERT_TRUE(strstr(logged(), "\"attempts\":\"2\""));
        teardown();
}

TEST(timeout_kills_the_group) {
        setup("    command: 'sleep 30'\n    timeout: 100ms\n", LEASE_WON, false);
        fire(1795392000);
        run_until_idle();
        ASSERT_STREQ(h.results[0], "timed_out");
        teardown();
}

/* --- overlap ----------------------------------------------------------------------- */

/* Fire twice; the first run lasts until it is told otherwise. */
static void fire_twice(void) {
        fire(1795392000);
        while (!strstr(logged(), "\"line\":\"up\""))
                (void) uv_run(&h.loop, UV_RUN_ONCE);
        fire(1795392001);
}

TEST(overlap_skip) {
        setup("    command: 'echo up; sleep 0.3'\n", LEASE_WON, false);
        fire_twice();
        ASSERT_TRUE(strstr(logged(), "SKIPPED (still running)"));
        run_until_idle();
        ASSERT_EQ(h.n_results, 1);
        teardown();
}

TEST(overlap_queue) {
        setup("    command: 'echo up; sleep 0.2'\n    overlap: queue\n", LEASE_WON, false);
        fire_twice();
        ASSERT_TRUE(h.job->queued != NULL);
        run_until_idle();
        ASSERT_EQ(h.n_results, 2);
        ASSERT_EQ(fake.n_claims, 2);
        teardown();
}

TEST(overlap_replace) {
        setup("    command: 'echo up; exec sleep 30'\n    overlap: replace\n", LEASE_WON, false);
        fire_twice();
        /* The first is terminated; the second starts once it is gone, then is stopped here. */
        while (fake.n_claims < 2)
                (void) uv_run(&h.loop, UV_RUN_ONCE);
        job_terminate(h.job, SIGKILL, USEC_INFINITY);
        run_until_idle();
        ASSERT_EQ(h.n_results, 2);
        ASSERT_STREQ(h.results[0], "terminated");
        teardown();
}

TEST(overlap_allow) {
        setup("    command: 'echo up; sleep 0.2'\n    overlap: allow\n", LEASE_WON, false);
        fire_twice();
        ASSERT_EQ(h.job->n_runs, 2);
        run_until_idle();
        ASSERT_EQ(h.n_results, 2);
        teardown();
}

TEST(stopping_fires_nothing_and_retries_nothing) {
        setup("    command: 'exit 1'\n    retry: {attempts: 3, backoff: 10ms}\n", LEASE_WON, false);
        h.env.stopping = true;
        fire(1795392000);
        ASSERT_EQ(h.job->n_runs, 0);
        h.env.stopping = false;
        fire(1795392001);
        h.env.stopping = true;
        run_until_idle();
        ASSERT_TRUE(strstr(logged(), "\"attempts\":\"1\""));
        teardown();
}

/* --- pauses, manual runs -------------------------------------------------------- */

TEST(paused_fleet_wide_stands_down_and_is_remembered) {
        setup("    command: [\"true\"]\n    takeover: true\n", LEASE_HELD, false);
        fake.held = LEASE_HELD_PAUSED;
        fire(1795392000);
        run_until_idle();
        ASSERT_EQ(h.n_results, 0);
        ASSERT_EQ(fake.n_watches, 0);           /* nothing to take over */
        ASSERT_TRUE(h.job->paused);
        ASSERT_EQ(h.job->stats->elections[ELECT_PAUSED], 1);
        ASSERT_TRUE(strstr(logged(), "\"event\":\"firing_paused\""));
        fake.result = LEASE_WON;                /* resumed elsewhere: the next one runs */
        fire(1795392001);
        run_until_idle();
        ASSERT_EQ(h.n_results, 1);
        ASSERT_TRUE(!h.job->paused);
        teardown();
}

static char watched[128];

static void on_decided(Run *r, bool here, void *userdata) {
        (void) userdata;
        (void) snprintf(watched + strlen(watched), sizeof(watched) - strlen(watched),
                        "decided(%d,%s) ", here, r->election.held.run_id ?: "-");
}

static void on_finished(Run *r, const char *result, void *userdata) {
        (void) r;
        (void) userdata;
        (void) snprintf(watched + strlen(watched), sizeof(watched) - strlen(watched),
                        "finished(%s) ", result);
}

static void on_ended(Run *r, void *userdata) {
        (void) r;
        (void) userdata;
        (void) snprintf(watched + strlen(watched), sizeof(watched) - strlen(watched), "ended");
}

static const RunWatch watch = { on_decided, on_finished, on_ended, NULL };

TEST(a_manual_run_is_elected_under_its_key_and_runs_while_suspended) {
        Run *r;

        setup("    command: 'echo \"key=$SOLOCRON_MANUAL_KEY\"; sleep 0.1'\n    suspend: true\n",
              LEASE_WON, false);
        fire(1795392000);                       /* suspended: not even elected */
        ASSERT_EQ(fake.n_claims, 0);
        watched[0] = 0;
        ASSERT_OK(job_run_manual(h.job, "k1", 1795392000, &watch, &r));
        ASSERT_STREQ(fake.manual, "k1");
        /* overlap: skip (the default): no second run while this one goes on. */
        ASSERT_EQ(job_run_manual(h.job, "k2", 1795392000, &watch, &r), -EBUSY);
        run_until_idle();
        ASSERT_STREQ(watched, "decided(1,-) finished(succeeded) ended");
        ASSERT_TRUE(strstr(logged(), "\"line\":\"key=k1\""));
        ASSERT_EQ(h.job->stats->recent[0].manual, true);
        teardown();
}

TEST(a_manual_run_held_elsewhere_answers_with_that_run) {
        LeaseRecord rec = { .job = "j", .scheduled = 1795392000, .manual = "k1", .host = "r1",
                            .run_id = "abc", .status = "failed", .exit_status = 3 };
        Run *r;

        setup("    command: [\"true\"]\n", LEASE_HELD, false);
        fake.held = LEASE_HELD_DONE;
        fake.record = &rec;
        watched[0] = 0;
        ASSERT_OK(job_run_manual(h.job, "k1", 1795392005, &watch, &r));
        run_until_idle();
        ASSERT_STREQ(watched, "decided(0,abc) ended");
        ASSERT_EQ(h.n_results, 0);
        teardown();
}

static void setup_once(void) __attribute__((constructor(101)));
static void setup_once(void) {
        ASSERT_OK(spawn_setup());
}

TESTS_MAIN
