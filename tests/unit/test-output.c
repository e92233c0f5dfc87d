/* SPDX-License-Identifier: MIT */
/* core/output_object.c: the object an output upload sends (the cap, the cut line, UTF-8 at
 * the cut) and its key; core/gziplib.c: gzip through zlib loaded at run time. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gziplib.h"
#include "output_object.h"
#include "tests.h"

static void fill(Capture *c, size_t cap, const char *s) {
        capture_init(c, cap);
        ASSERT_OK(capture_append(c, s, strlen(s)));
}

TEST(small_output_is_kept_whole) {
        Capture c;
        uint64_t cut = 99;
        size_t n;
        char *b;

        fill(&c, 4096, "hello\nworld\n");
        ASSERT_OK(output_body_build(&c, 4096, &b, &n, &cut));
        ASSERT_EQ(n, 12);
        ASSERT_STREQ(b, "hello\nworld\n");
        ASSERT_EQ(cut, 0);
        free(b);
        capture_done(&c);
}

TEST(nothing_captured_is_an_empty_object) {
        Capture c;
        uint64_t cut;
        size_t n = 1;
        char *b;

        capture_init(&c, 4096);
        ASSERT_OK(output_body_build(&c, 4096, &b, &n, &cut));
        ASSERT_EQ(n, 0);
        ASSERT_EQ(cut, 0);
        free(b);
        capture_done(&c);
}

/* 1000 bytes "0123456789…" into a ring of cap, an object of at most max. */
static void check_cut(size_t cap, size_t max) {
        char in[1001], *b, *nl;
        unsigned long long cutn;
        size_t n, kept;
        uint64_t cut;
        Capture c;

        for (size_t i = 0; i < 1000; i++)
                in[i] = (char) ('0' + i % 10);
        in[1000] = 0;
        fill(&c, cap, in);
        ASSERT_OK(output_body_build(&c, max, &b, &n, &cut));
        ASSERT_TRUE(n <= max);
        nl = strchr(b, '\n');
        ASSERT_TRUE(nl);
        ASSERT_EQ(sscanf(b, "[solocron: %llu bytes cut, the last %zu follow]", &cutn, &kept), 2);
        ASSERT_EQ(cutn, cut);
        ASSERT_EQ(kept, n - (size_t) (nl + 1 - b));
        ASSERT_EQ(cut + kept, 1000);
        ASSERT_TRUE(memcmp(nl + 1, in + 1000 - kept, kept) == 0);
        /* As much as fits: the line plus the tail fill the object. */
        ASSERT_TRUE(n + 1 >= max || kept == c.len);
        free(b);
        capture_done(&c);
}

TEST(the_tail_is_kept_and_the_cut_said) {
        check_cut(1000, 100);           /* the ring holds everything: the object cuts */
        check_cut(100, 100);            /* the ring dropped 900 already */
        check_cut(64, 100);             /* the ring holds less than the object could */
        check_cut(1000, 999);
        check_cut(1000, 60);            /* the line's own digits shrink as it grows */
}

TEST(the_tail_starts_on_a_character) {
        /* "é" is c3 a9: cut between them, the a9 goes too. */
        char in[128] = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\xc3\xa9tail\n";
        Capture c;
        uint64_t cut;
        size_t n, len = strlen(in);
        char *b, *nl;
        bool hit = false;

        fill(&c, 128, in);
        /* The line is "[solocron: C bytes cut, the last K follow]\n": find a max that keeps
         * exactly "\xa9tail\n" (6 bytes) before the fix-up. */
        for (size_t max = 50; max < 100; max++) {
                ASSERT_OK(output_body_build(&c, max, &b, &n, &cut));
                nl = strchr(b, '\n');
                ASSERT_TRUE(n <= max);
                if (nl && cut > 0)
                        ASSERT_TRUE(((unsigned char) nl[1] & 0xc0) != 0x80);
                if (nl && cut > 0 && strcmp(nl + 1, "tail\n") == 0) {
                        ASSERT_EQ(cut, len - 5);
                        hit = true;
                }
                free(b);
        }
        ASSERT_TRUE(hit);
        capture_done(&c);
}

TEST(keys) {
        char *k;

        k = output_object_key("solocron", "nightly", 1764655200, NULL, NULL, false);
        ASSERT_STREQ(k, "solocron/nightly/2025-12-02T06:00:00Z/output");
        free(k);
        k = output_object_key("a/b", "nightly", 1764655200, NULL, NULL, true);
        ASSERT_STREQ(k, "a/b/nightly/2025-12-02T06:00:00Z/output.gz");
        free(k);
        k = output_object_key("p", "j", 0, "2026-12-02", NULL, false);
        ASSERT_STREQ(k, "p/j/manual-2026-12-02/output");
        free(k);
        k = output_object_key("p", "j", 1764655200, NULL, "web-1", true);
        ASSERT_STREQ(k, "p/j/2025-12-02T06:00:00Z/output-web-1.gz");
        free(k);
}

TEST(gzip_has_its_header) {
        static const char text[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n";
        size_t n;
        char *z;
        int r = gzip_compress(text, sizeof(text) - 1, &z, &n);

        if (r == -EOPNOTSUPP)
                return;                 /* no zlib here: the daemon uploads uncompressed */
        ASSERT_OK(r);
        ASSERT_TRUE(n > 18 && n < sizeof(text));
        ASSERT_EQ((unsigned char) z[0], 0x1f);
        ASSERT_EQ((unsigned char) z[1], 0x8b);
        /* The trailer's ISIZE: the input's length, little-endian. */
        ASSERT_EQ((unsigned char) z[n - 4], sizeof(text) - 1);
        free(z);
}

TESTS_MAIN
