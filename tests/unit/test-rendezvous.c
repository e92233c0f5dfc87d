/* SPDX-License-Identifier: MIT */
/* common/rendezvous.c: the ranking of a firing over a fleet's members. */
#include <stdio.h>

#include "rendezvous.h"
#include "tests.h"

#define T0 INT64_C(1795413600)          /* 2026-11-23T06:00:00Z */

/* A known value: the weight is part of the protocol (every member must compute the same). */
TEST(weight_is_stable) {
        ASSERT_EQ(rendezvous_weight("web-1:4242", "refresh", T0),
                  rendezvous_weight("web-1:4242", "refresh", T0));
        ASSERT_TRUE(rendezvous_weight("web-1:4242", "refresh", T0) !=
                    rendezvous_weight("web-1:4242", "refresh", T0 + 1));
        ASSERT_TRUE(rendezvous_weight("web-1:4242", "refresh", T0) !=
                    rendezvous_weight("web-1:4243", "refresh", T0));
        /* "ab" + "c" is not "a" + "bc": the ids are NUL-terminated in the hash */
        ASSERT_TRUE(rendezvous_weight("ab", "c", T0) != rendezvous_weight("a", "bc", T0));
        ASSERT_EQ(rendezvous_weight("m0", "job", 0), UINT64_C(0xc05a80827263e870));
}

/* Every member computes its own rank from the same list: the ranks of a firing are 0 … n-1,
 * each once, whatever order each member lists the others in. */
TEST(ranks_are_a_permutation) {
        const char *m[7] = { "a", "b", "web-1:10", "web-2:10", "10.0.0.7:999", "x", "y" };
        const char *rev[7];

        for (size_t i = 0; i < 7; i++)
                rev[i] = m[6 - i];
        for (int64_t t = T0; t < T0 + 500; t++) {
                unsigned seen = 0;

                for (size_t i = 0; i < 7; i++) {
                        unsigned r = rendezvous_rank(m[i], m, 7, "job", t);

                        ASSERT_TRUE(r < 7);
                        ASSERT_EQ(rendezvous_rank(m[i], rev, 7, "job", t), r);
                        ASSERT_TRUE(!(seen & 1U << r));
                        seen |= 1U << r;
                }
                ASSERT_EQ(seen, 0x7f);
        }
        /* alone, or not in the list yet: rank among the others */
        ASSERT_EQ(rendezvous_rank("a", NULL, 0, "job", T0), 0);
        ASSERT_EQ(rendezvous_rank("a", (const char *[]) { "a" }, 1, "job", T0), 0);
}

/* Spread: 20 members, 2000 firings of a few jobs a second apart: each ranks first 100 ± 30
 * times (the bench's target); and a member that leaves moves only the firings it had. */
TEST(uniform_enough_and_stable_under_churn) {
        char names[20][32];
        const char *m[20];
        unsigned first[20] = {}, moved = 0, had = 0;

        for (size_t i = 0; i < 20; i++) {
                (void) snprintf(names[i], sizeof(names[i]), "host-%zu:%zu", i, 1000 + 7 * i);
                m[i] = names[i];
        }
        for (int64_t k = 0; k < 2000; k++) {
                const char *job = k % 3 == 0 ? "a" : k % 3 == 1 ? "backup" : "report";
                size_t winner = 20, winner19 = 20;

                for (size_t i = 0; i < 20; i++) {
                        if (rendezvous_rank(m[i], m, 20, job, T0 + k) == 0)
                                winner = i;
                        /* the fleet without member 5 */
                        if (i != 5 && rendezvous_rank(m[i], (const char *const *) m, 5, job,
                                                      T0 + k) +
                                      rendezvous_rank(m[i], m + 6, 14, job, T0 + k) == 0)
                                winner19 = i;
                }
                ASSERT_TRUE(winner < 20 && winner19 < 20);
                first[winner]++;
                if (winner == 5)
                        had++;
                else if (winner19 != winner)
                        moved++;
        }
        for (size_t i = 0; i < 20; i++) {
                if (first[i] < 70 || first[i] > 130)
                        TEST_FAIL("member %zu ranks first %u times of 2000", i, first[i]);
        }
        ASSERT_TRUE(had > 0);
        ASSERT_EQ(moved, 0);
}

/* The turns: rank 0 at once, rank r < candidates after r staggers, the rest after
 * candidates + 1. */
TEST(turns) {
        ASSERT_EQ(rendezvous_turn(0, 3), 0);
        ASSERT_EQ(rendezvous_turn(1, 3), 1);
        ASSERT_EQ(rendezvous_turn(2, 3), 2);
        ASSERT_EQ(rendezvous_turn(3, 3), 4);
        ASSERT_EQ(rendezvous_turn(19, 3), 4);
        ASSERT_EQ(rendezvous_turn(0, 1), 0);
        ASSERT_EQ(rendezvous_turn(1, 1), 2);
}

/* Who looks where a look costs a request: ranks 0, 1 and the fallback, whatever the size of
 * the fleet, so a firing costs the same with 6 members as with 100. */
TEST(three_ranks_look_whatever_the_fleet) {
        for (unsigned n = 1; n <= 100; n++) {
                unsigned lookers = 0;

                for (unsigned r = 0; r < n; r++)
                        lookers += rendezvous_looks(r, n, 3);
                if (lookers != (n < 3 ? n : 3))
                        TEST_FAIL("%u members: %u look", n, lookers);
        }
        /* candidates 3: rank 1 (the backup), rank 3 (the first non-candidate) */
        ASSERT_TRUE(rendezvous_looks(0, 6, 3));
        ASSERT_TRUE(rendezvous_looks(1, 6, 3));
        ASSERT_TRUE(!rendezvous_looks(2, 6, 3));
        ASSERT_TRUE(rendezvous_looks(3, 6, 3));
        ASSERT_TRUE(!rendezvous_looks(4, 6, 3));
        ASSERT_TRUE(!rendezvous_looks(5, 6, 3));
        ASSERT_EQ(rendezvous_fallback(6, 3), 3);
        /* a fleet no larger than its candidates: the last rank is the fallback */
        ASSERT_EQ(rendezvous_fallback(3, 3), 2);
        ASSERT_TRUE(rendezvous_looks(2, 3, 3));
        ASSERT_EQ(rendezvous_fallback(3, 5), 2);
        ASSERT_TRUE(rendezvous_looks(2, 3, 5));
        /* candidates 1: rank 1 is backup and fallback both */
        ASSERT_EQ(rendezvous_fallback(6, 1), 1);
        ASSERT_TRUE(rendezvous_looks(1, 6, 1));
        ASSERT_TRUE(!rendezvous_looks(2, 6, 1));
        /* candidates 10 in a fleet of 20: rank 10 */
        ASSERT_TRUE(!rendezvous_looks(9, 20, 10));
        ASSERT_TRUE(rendezvous_looks(10, 20, 10));
        ASSERT_TRUE(!rendezvous_looks(11, 20, 10));
}

/* Where nobody can be told and a look costs a request (S3): rank 0 and the fallback only,
 * two members whatever the fleet's size (one when it has one member). */
TEST(two_ranks_look_alone_whatever_the_fleet) {
        for (unsigned n = 1; n <= 100; n++) {
                unsigned lookers = 0;

                for (unsigned r = 0; r < n; r++)
                        lookers += rendezvous_looks_alone(r, n, 3);
                if (lookers != (n < 2 ? n : 2))
                        TEST_FAIL("%u members: %u look alone", n, lookers);
        }
        ASSERT_TRUE(rendezvous_looks_alone(0, 6, 3));
        ASSERT_TRUE(!rendezvous_looks_alone(1, 6, 3));
        ASSERT_TRUE(!rendezvous_looks_alone(2, 6, 3));
        ASSERT_TRUE(rendezvous_looks_alone(3, 6, 3));
        ASSERT_TRUE(!rendezvous_looks_alone(4, 6, 3));
        /* two members: rank 1 is the fallback */
        ASSERT_TRUE(rendezvous_looks_alone(1, 2, 3));
        /* three members, candidates 3: rank 2, not rank 1 */
        ASSERT_TRUE(!rendezvous_looks_alone(1, 3, 3));
        ASSERT_TRUE(rendezvous_looks_alone(2, 3, 3));
}

/* Whom a winner tells: the members that look (ranks 0, 1 and the fallback) other than
 * itself, as each of them ranks itself; whether or not the winner is in the list. */
TEST(lookers_are_the_ranks_that_look) {
        char ids[20][16];
        const char *members[20], *got[3];

        for (unsigned i = 0; i < 20; i++) {
                (void) snprintf(ids[i], sizeof(ids[i]), "web-%u:1", i);
                members[i] = ids[i];
        }
        for (int64_t t = T0; t < T0 + 200; t++)
                for (unsigned n = 1; n <= 20; n += 3)
                        for (unsigned self = 0; self < n; self++) {
                                int k = rendezvous_lookers(members[self], members, n, "job", t,
                                                           3, got);
                                unsigned want = 0, found = 0;

                                ASSERT_TRUE(k >= 0 && k <= 3);
                                for (unsigned i = 0; i < n; i++) {
                                        unsigned r = rendezvous_rank(members[i], members, n,
                                                                     "job", t);
                                        bool told = false;

                                        for (int j = 0; j < k; j++)
                                                told |= got[j] == members[i];
                                        if (i != self && rendezvous_looks(r, n, 3))
                                                want++;
                                        if (told) {
                                                ASSERT_TRUE(i != self);
                                                ASSERT_TRUE(rendezvous_looks(r, n, 3));
                                                found++;
                                        }
                                }
                                ASSERT_EQ(found, want);
                                ASSERT_EQ((unsigned) k, want);
                        }
        /* a winner not listed (it joined since) tells the lookers of the list with it */
        ASSERT_EQ(rendezvous_lookers("new:1", members, 1, "job", T0, 3, got), 1);
        ASSERT_TRUE(got[0] == members[0]);
        ASSERT_EQ(rendezvous_lookers("new:1", members, 0, "job", T0, 3, got), 0);
}

static void check_successors(const char *const *members, unsigned n, int64_t t, unsigned c) {
        const char *by_rank[20], *to;
        unsigned lookers = 0, spares = 0, spare_rank[20];
        unsigned l = n < 3 ? n : c == 1 ? 2 : 3;        /* how many look */

        for (unsigned i = 0; i < n; i++)
                by_rank[rendezvous_rank(members[i], members, n, "job", t)] = members[i];
        for (unsigned r = 0; r < n; r++)
                if (!rendezvous_looks(r, n, c))
                        spare_rank[spares++] = r;
        for (unsigned r = 0; r < n; r++) {
                int k = rendezvous_successor(by_rank[r], members, n, "job", t, c, &to);

                if (rendezvous_looks(r, n, c)) {
                        ASSERT_EQ(k, lookers < spares);
                        if (k)
                                ASSERT_TRUE(to == by_rank[spare_rank[lookers]]);
                        lookers++;
                        continue;
                }
                for (unsigned j = 0; j < spares; j++)
                        if (spare_rank[j] == r) {
                                ASSERT_EQ(k, j + l < spares);
                                if (k)
                                        ASSERT_TRUE(to == by_rank[spare_rank[j + l]]);
                        }
        }
        ASSERT_EQ(lookers, l);
}

/* Whom a busy member hands its turn: the i-th looker to spare i, spare j to spare j + L
 * (L lookers): lanes that never meet, and end. */
TEST(successors_are_the_spares_in_rank_order) {
        char ids[20][16];
        const char *members[20], *to;

        for (unsigned i = 0; i < 20; i++) {
                (void) snprintf(ids[i], sizeof(ids[i]), "web-%u:1", i);
                members[i] = ids[i];
        }
        for (unsigned c = 1; c <= 3; c += 2)    /* candidates 1 (two lookers) and 3 */
                for (int64_t t = T0; t < T0 + 100; t++)
                        for (unsigned n = 1; n <= 20; n++)
                                check_successors(members, n, t, c);
        /* alone: nobody to hand it to */
        ASSERT_EQ(rendezvous_successor("x:1", members, 0, "job", T0, 3, &to), 0);
        ASSERT_TRUE(to == NULL);
}

/* Who checks whether a held firing ran: exactly one member other than the holder, and one
 * that looked at the firing. With looks_alone the holder may be rank 0 or the fallback
 * (both claim at once when the members were not known at the firing): the other one. */
TEST(one_looker_checks_a_held_firing) {
        char ids[20][16];
        const char *members[20];

        for (unsigned i = 0; i < 20; i++) {
                (void) snprintf(ids[i], sizeof(ids[i]), "web-%u:1", i);
                members[i] = ids[i];
        }
        for (int alone = 0; alone <= 1; alone++)
                for (unsigned c = 1; c <= 3; c += 2)
                        for (int64_t t = T0; t < T0 + 50; t++)
                                for (unsigned n = 2; n <= 20; n += 3)
                                        for (unsigned h = 0; h < n; h++) {
                                                unsigned checkers = 0;

                                                for (unsigned i = 0; i < n; i++) {
                                                        unsigned r = rendezvous_rank(members[i],
                                                                                     members, n,
                                                                                     "job", t);
                                                        int k = rendezvous_checker(
                                                                members[i], members, n,
                                                                members[h], "job", t, c, alone);

                                                        ASSERT_TRUE(k == 0 || k == 1);
                                                        if (i == h || !k)
                                                                continue;
                                                        checkers++;
                                                        ASSERT_TRUE(alone ?
                                                                    rendezvous_looks_alone(r, n, c) :
                                                                    rendezvous_looks(r, n, c));
                                                }
                                                ASSERT_EQ(checkers, 1u);
                                        }
        /* the holder of rank 0 is checked by the fallback, the fallback by rank 0 */
        {
                const char *by_rank[5];
                unsigned f = rendezvous_fallback(5, 2);

                for (unsigned i = 0; i < 5; i++)
                        by_rank[rendezvous_rank(members[i], members, 5, "job", T0)] = members[i];
                ASSERT_EQ(rendezvous_checker(by_rank[f], members, 5, by_rank[0], "job", T0, 2,
                                             true), 1);
                ASSERT_EQ(rendezvous_checker(by_rank[0], members, 5, by_rank[f], "job", T0, 2,
                                             true), 1);
                ASSERT_EQ(rendezvous_checker(by_rank[0], members, 5, by_rank[1], "job", T0, 2,
                                             true), 0);
                ASSERT_EQ(rendezvous_checker(by_rank[1], members, 5, by_rank[0], "job", T0, 2,
                                             false), 1);
        }
        /* a holder not among the members: every member that found it held checks */
        ASSERT_EQ(rendezvous_checker(members[3], members, 5, "gone:7", "job", T0, 2, true), 1);
        ASSERT_EQ(rendezvous_checker(members[3], members, 5, "gone:7", "job", T0, 2, false), 1);
}

TESTS_MAIN
