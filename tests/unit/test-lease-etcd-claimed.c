/* SPDX-License-Identifier: MIT */
/* daemon/lease/etcd/lease_etcd_claimed.c: the table of firings other members claimed (from
 * the inbox's notes), and lease_etcd_alarm.c: the store's alarms, each on its own (no server
 * needed). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "lease_etcd_internal.h"
#include "tests.h"

/* The table of firings the inbox's notes told of (lease_etcd_claimed.c), without a server:
 * thousands of firings noted are all found, with their holder; a note deleted marks its
 * firing done and keeps the holder; a deletion of a note never seen adds nothing; an entry
 * older than a minute is no answer. */
TEST(claimed_table) {
        uv_loop_t loop;
        EtcdStore s = { .loop = &loop };
        json_t *running = json_pack("{s:s,s:{s:s,s:i}}", "status", "running", "holder",
                                    "hostname", "web-1", "pid", 42);
        json_t *other = json_pack("{s:s,s:{s:s,s:i}}", "status", "running", "holder",
                                  "hostname", "web-2", "pid", 7);
        char key[64];
        const EtcdClaimed *e;
        int n = 5000;

        ASSERT_OK(uv_loop_init(&loop));
        for (int i = 0; i < n; i++) {
                (void) snprintf(key, sizeof(key), "p/job%d/2026-11-23T06:00:00Z", i);
                lease_etcd_claimed_note(&s, key, strlen(key), i % 2 ? other : running);
        }
        ASSERT_TRUE(s.n_claimed == (size_t) n && s.claimed_cap >= 2 * (size_t) n);
        for (int i = 0; i < n; i += 3) {
                (void) snprintf(key, sizeof(key), "p/job%d/2026-11-23T06:00:00Z", i);
                lease_etcd_claimed_done(&s, key, strlen(key));
        }
        lease_etcd_claimed_done(&s, "p/never/2026-11-23T06:00:00Z", 28);
        ASSERT_TRUE(s.n_claimed == (size_t) n);
        for (int i = 0; i < n; i++) {
                (void) snprintf(key, sizeof(key), "p/job%d/2026-11-23T06:00:00Z", i);
                ASSERT_TRUE((e = lease_etcd_claimed_find(&s, key)));
                ASSERT_TRUE(e->done == (i % 3 == 0) && e->pid == (i % 2 ? 7 : 42));
                ASSERT_STREQ(lease_etcd_claimed_string(&s, e->host), i % 2 ? "web-2" : "web-1");
        }
        ASSERT_TRUE(s.n_claimed_strings == 2);  /* two hosts */
        ASSERT_TRUE(!lease_etcd_claimed_find(&s, "p/never/2026-11-23T06:00:00Z"));
        /* a minute on: no answer, and the next note sweeps them out instead of growing */
        loop.time += 60000;
        (void) snprintf(key, sizeof(key), "p/job1/2026-11-23T06:00:00Z");
        ASSERT_TRUE(!lease_etcd_claimed_find(&s, key));
        for (int i = 0; i < n; i++) {
                (void) snprintf(key, sizeof(key), "p/late%d/2026-11-23T06:00:00Z", i);
                lease_etcd_claimed_note(&s, key, strlen(key), running);
        }
        ASSERT_TRUE(s.n_claimed == (size_t) n && s.claimed_cap <= 8 * (size_t) n);
        ASSERT_TRUE((e = lease_etcd_claimed_find(&s, key)) && !e->done);
        lease_etcd_claimed_free(&s);
        json_decref(running);
        json_decref(other);
        ASSERT_OK(uv_loop_close(&loop));
}

/* ---- the store's alarms (lease_etcd_alarm.c) ---- */

#define N_ALARMS 3000

typedef struct TestAlarm {
        Alarm alarm;
        EtcdStore *store;
        int id;
        bool disarmed;          /* must not run */
        int runs;
} TestAlarm;

static TestAlarm alarms[N_ALARMS];
static uint64_t last_when, last_seq;
static int n_ran;
static bool out_of_order, early, chained;

static void on_alarm(Alarm *a) {
        TestAlarm *t = container_of(a, TestAlarm, alarm);
        EtcdStore *s = t->store;

        if (a->when < last_when || (a->when == last_when && a->seq < last_seq))
                out_of_order = true;
        if (uv_now(s->loop) < a->when)
                early = true;
        last_when = a->when;
        last_seq = a->seq;
        t->runs++;
        n_ran++;
        /* An alarm may arm others, and disarm later ones, from inside the timer's pass. */
        if (t->id == 10) {
                lease_etcd_alarm_arm(s, &alarms[N_ALARMS - 1].alarm, uv_now(s->loop), on_alarm);
                chained = true;
        }
        if (t->id % 97 == 0 && t->id + 1 < N_ALARMS - 1 && alarms[t->id + 1].alarm.armed) {
                lease_etcd_alarm_disarm(s, &alarms[t->id + 1].alarm);
                alarms[t->id + 1].disarmed = true;
        }
}

/* Thousands of alarms armed at random times within 40 ms, some disarmed and some armed
 * again (moved) before they are due: each armed one runs once, none early, in the order of
 * their times and, at one time, of their arming; a disarmed one never runs. */
TEST(alarms_run_in_order) {
        uv_loop_t loop;
        EtcdStore s = { .loop = &loop };
        uint32_t x = 12345;
        uint64_t now;
        int expected = 0;

        ASSERT_OK(uv_loop_init(&loop));
        ASSERT_OK(uv_timer_init(&loop, &s.timer));
        now = uv_now(&loop);
        for (int i = 0; i < N_ALARMS - 1; i++) {
                x = x * 1103515245U + 12345U;
                alarms[i] = (TestAlarm) { .store = &s, .id = i };
                lease_etcd_alarm_arm(&s, &alarms[i].alarm, now + 5 + (x >> 16) % 40, on_alarm);
        }
        alarms[N_ALARMS - 1] = (TestAlarm) { .store = &s, .id = N_ALARMS - 1 };
        for (int i = 3; i < N_ALARMS - 1; i += 5) {
                lease_etcd_alarm_disarm(&s, &alarms[i].alarm);
                alarms[i].disarmed = true;
        }
        for (int i = 4; i < N_ALARMS - 1; i += 7) {     /* moved (or armed again): later */
                lease_etcd_alarm_arm(&s, &alarms[i].alarm, now + 45 + i % 3, on_alarm);
                alarms[i].disarmed = false;
        }
        lease_etcd_alarm_disarm(&s, &alarms[3].alarm);  /* twice: no-op */
        (void) uv_run(&loop, UV_RUN_DEFAULT);           /* until no alarm is left */
        ASSERT_TRUE(!s.alarms);
        ASSERT_TRUE(!out_of_order && !early && chained);
        for (int i = 0; i < N_ALARMS; i++) {
                ASSERT_EQ(alarms[i].runs, (alarms[i].disarmed ? 0 : 1));
                expected += !alarms[i].disarmed;
        }
        ASSERT_EQ(n_ran, expected);
        uv_close((uv_handle_t *) &s.timer, NULL);
        (void) uv_run(&loop, UV_RUN_DEFAULT);
        ASSERT_OK(uv_loop_close(&loop));
}

TESTS_MAIN
