/* SPDX-License-Identifier: MIT */
#pragma once

/* A tiny test harness: TEST(name) { ... } registers itself; ASSERT_* print both sides and
 * the place, then abort the test binary. Exit 77 means "skipped" to meson. */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct TestCase {
        const char *name;
        void (*fn)(void);
} TestCase;

#define TESTS_MAX 512
extern TestCase tests_registry[TESTS_MAX];
extern int tests_count;

#define TEST(name)                                                               \
        static void test_##name(void);                                           \
        __attribute__((constructor)) static void test_register_##name(void) {    \
                if (tests_count < TESTS_MAX)                                      \
                        tests_registry[tests_count++] = (TestCase) { #name, test_##name }; \
        }                                                                        \
        static void test_##name(void)

#define TEST_FAIL(...)                                                           \
        do {                                                                     \
                fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                  \
                fprintf(stderr, __VA_ARGS__);                                    \
                fputc('\n', stderr);                                             \
                abort();                                                         \
        } while (0)

#define ASSERT_TRUE(e)                                                           \
        do {                                                                     \
                if (!(e))                                                        \
                        TEST_FAIL("assertion failed: %s", #e);                   \
        } while (0)

#define ASSERT_EQ(a, b)                                                          \
        do {                                                                     \
                intmax_t _a = (intmax_t) (a), _b = (intmax_t) (b);               \
                if (_a != _b)                                                    \
                        TEST_FAIL("%s == %s: %jd != %jd", #a, #b, _a, _b);         \
        } while (0)

#define ASSERT_OK(e)                                                             \
        do {                                                                     \
                intmax_t _r = (intmax_t) (e);                                    \
                if (_r < 0)                                                      \
                        TEST_FAIL("%s failed: %jd (%s)", #e, _r, strerror((int) -_r)); \
        } while (0)

#define ASSERT_STREQ(a, b)                                                       \
        do {                                                                     \
                const char *_a = (a), *_b = (b);                                 \
                if (!_a || !_b || strcmp(_a, _b) != 0)                           \
                        TEST_FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b,            \
                                  _a ? _a : "(null)", _b ? _b : "(null)");       \
        } while (0)

/* Put TESTS_MAIN once in each test file. A test name may be given on the command line. */
#define TESTS_MAIN                                                               \
        TestCase tests_registry[TESTS_MAX];                                      \
        int tests_count;                                                         \
        int main(int argc, char **argv) {                                        \
                int ran = 0;                                                     \
                for (int i = 0; i < tests_count; i++) {                          \
                        if (argc > 1 && strcmp(argv[1], tests_registry[i].name) != 0) \
                                continue;                                        \
                        fprintf(stderr, "test %s ...\n", tests_registry[i].name); \
                        tests_registry[i].fn();                                  \
                        ran++;                                                   \
                }                                                                \
                fprintf(stderr, "%d tests ok\n", ran);                           \
                return ran > 0 ? 0 : 77;                                         \
        }
