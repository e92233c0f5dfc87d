/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "tests.h"

static char *dup_all(const Capture *c) {
        char *s;

        ASSERT_OK(capture_dup(c, SIZE_MAX, &s, NULL));
        return s;
}

TEST(empty_costs_nothing) {
        Capture c;
        CapturePiece p[2];
        char *s;

        capture_init(&c, 16);
        ASSERT_OK(capture_append(&c, "", 0));
        ASSERT_TRUE(c.buf == NULL);
        ASSERT_EQ(capture_pieces(&c, SIZE_MAX, p), 0);
        capture_mark_attempt(&c, 2);            /* nothing captured: no marker */
        ASSERT_EQ(c.len, 0);
        s = dup_all(&c);
        ASSERT_STREQ(s, "");
        free(s);
        capture_done(&c);
        capture_done(&c);                       /* twice is fine */
}

TEST(off_keeps_nothing) {
        Capture c;

        capture_init(&c, 0);
        ASSERT_OK(capture_append(&c, "abc", 3));
        ASSERT_TRUE(c.buf == NULL);
        ASSERT_EQ(c.len, 0);
        capture_done(&c);
}

TEST(fits) {
        Capture c;
        CapturePiece p[2];
        char *s;

        capture_init(&c, 16);
        ASSERT_OK(capture_append(&c, "hello ", 6));
        ASSERT_OK(capture_append(&c, "world", 5));
        ASSERT_EQ(capture_pieces(&c, SIZE_MAX, p), 1);
        ASSERT_EQ(p[0].len, 11);
        ASSERT_EQ(c.dropped, 0);
        s = dup_all(&c);
        ASSERT_STREQ(s, "hello world");
        free(s);
        capture_done(&c);
}

TEST(wraps_around) {
        Capture c;
        CapturePiece p[2];
        char out[16], *s;

        capture_init(&c, 8);
        ASSERT_OK(capture_append(&c, "abcdef", 6));
        ASSERT_OK(capture_append(&c, "ghij", 4));      /* "cdefghij", head at 2 */
        ASSERT_EQ(c.dropped, 2);
        ASSERT_EQ(capture_pieces(&c, SIZE_MAX, p), 2);
        ASSERT_EQ(p[0].len, 6);
        ASSERT_EQ(p[1].len, 2);
        ASSERT_TRUE(memcmp(p[0].data, "cdefgh", 6) == 0);
        ASSERT_TRUE(memcmp(p[1].data, "ij", 2) == 0);
        s = dup_all(&c);
        ASSERT_STREQ(s, "cdefghij");
        free(s);
        /* A smaller tail of a wrapped ring: one piece or two. */
        ASSERT_EQ(capture_pieces(&c, 2, p), 1);
        ASSERT_TRUE(memcmp(p[0].data, "ij", 2) == 0);
        ASSERT_EQ(capture_pieces(&c, 3, p), 2);
        ASSERT_EQ(capture_copy(&c, 3, out), 3);
        ASSERT_TRUE(memcmp(out, "hij", 3) == 0);
        /* Many small writes around the ring, checked against the plain tail. */
        {
                char all[4096];
                size_t n = 0;

                for (int i = 0; i < 1000; i++) {
                        char b[5];
                        size_t k = (size_t) (i % 5) + 1;

                        for (size_t j = 0; j < k; j++)
                                b[j] = (char) ('a' + (i + (int) j) % 26);
                        ASSERT_OK(capture_append(&c, b, k));
                        memcpy(all + n, b, k);
                        n += k;
                }
                ASSERT_EQ(capture_copy(&c, SIZE_MAX, out), 8);
                ASSERT_TRUE(memcmp(out, all + n - 8, 8) == 0);
                ASSERT_EQ(c.dropped + c.len, n + 10);
        }
        capture_done(&c);
}

TEST(huge_write) {
        Capture c;
        size_t n = 1 << 20;
        char *big = malloc(n), *s;

        ASSERT_TRUE(big);
        for (size_t i = 0; i < n; i++)
                big[i] = (char) ('A' + i % 26);
        capture_init(&c, CAPTURE_NOTIFY_MAX);
        ASSERT_OK(capture_append(&c, "head", 4));
        ASSERT_OK(capture_append(&c, big, n));
        ASSERT_EQ(c.len, CAPTURE_NOTIFY_MAX);
        ASSERT_EQ(c.dropped, 4 + n - CAPTURE_NOTIFY_MAX);
        s = dup_all(&c);
        ASSERT_TRUE(memcmp(s, big + n - CAPTURE_NOTIFY_MAX, CAPTURE_NOTIFY_MAX) == 0);
        free(s);
        /* Exactly cap bytes, after a wrap. */
        ASSERT_OK(capture_append(&c, "xyz", 3));
        ASSERT_OK(capture_append(&c, big, CAPTURE_NOTIFY_MAX));
        s = dup_all(&c);
        ASSERT_TRUE(memcmp(s, big, CAPTURE_NOTIFY_MAX) == 0);
        free(s);
        free(big);
        capture_done(&c);
}

TEST(attempt_marker) {
        Capture c;
        char *s;

        capture_init(&c, 128);
        ASSERT_OK(capture_append(&c, "one", 3));
        capture_mark_attempt(&c, 2);
        ASSERT_OK(capture_append(&c, "two\n", 4));
        capture_mark_attempt(&c, 3);
        s = dup_all(&c);
        ASSERT_STREQ(s, "one\n--- solocron: attempt 2 ---\ntwo\n--- solocron: attempt 3 ---\n");
        free(s);
        capture_done(&c);
}

TESTS_MAIN
