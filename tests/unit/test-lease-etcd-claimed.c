/* SPDX-License-Identifier: MIT */
/* daemon/lease/etcd/lease_etcd_claimed.c: the etcd session's table of firings other members
 * claimed, on its own (no server needed). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "lease_etcd_internal.h"
#include "tests.h"

/* The table of firings the session's watch saw claimed (lease_etcd_claimed.c), without a
 * server: thousands of firings noted are all found, with their holder; a forgotten one is
 * gone and the others stay (deletion moves entries within their probe runs); an entry older
 * than a minute is no answer. */
TEST(claimed_table) {
        uv_loop_t loop;
        EtcdStore s = { .loop = &loop };
        json_t *running = json_pack("{s:s,s:{s:s,s:i}}", "status", "running", "holder",
                                    "hostname", "web-1", "pid", 42);
        json_t *done = json_pack("{s:s,s:{s:s,s:i}}", "status", "succeeded", "holder",
                                 "hostname", "web-2", "pid", 7);
        char key[64];
        const EtcdClaimed *e;
        int n = 5000;

        ASSERT_OK(uv_loop_init(&loop));
        for (int i = 0; i < n; i++) {
                (void) snprintf(key, sizeof(key), "p/job%d/2026-11-23T06:00:00Z", i);
                lease_etcd_claimed_note(&s, key, strlen(key), i % 2 ? done : running);
        }
        ASSERT_TRUE(s.n_claimed == (size_t) n && s.claimed_cap >= 2 * (size_t) n);
        for (int i = 0; i < n; i++) {
                (void) snprintf(key, sizeof(key), "p/job%d/2026-11-23T06:00:00Z", i);
                ASSERT_TRUE((e = lease_etcd_claimed_find(&s, key)));
                ASSERT_TRUE(e->done == (i % 2 == 1) && e->pid == (i % 2 ? 7 : 42));
                ASSERT_STREQ(lease_etcd_claimed_string(&s, e->host), i % 2 ? "web-2" : "web-1");
        }
        ASSERT_TRUE(s.n_claimed_strings == 3);  /* two hosts and one status */
        for (int i = 0; i < n; i += 3) {
                (void) snprintf(key, sizeof(key), "p/job%d/2026-11-23T06:00:00Z", i);
                lease_etcd_claimed_forget(&s, key, strlen(key));
        }
        for (int i = 0; i < n; i++) {
                (void) snprintf(key, sizeof(key), "p/job%d/2026-11-23T06:00:00Z", i);
                ASSERT_TRUE(!lease_etcd_claimed_find(&s, key) == (i % 3 == 0));
        }
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
        json_decref(done);
        ASSERT_OK(uv_loop_close(&loop));
}

TESTS_MAIN
