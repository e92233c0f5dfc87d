/* SPDX-License-Identifier: MIT */
#pragma once

/* Starting the helper servers of the unit tests (etcd, the Python HTTP and S3 stand-ins). */

#include <stdbool.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <signal.h>
#include <unistd.h>

#include "tests.h"

#define TEST_PYTHON "/usr/bin/python3"

/* tests/unit/http_server.py: $TEST_HTTP_SERVER, else beside the test data, else relative to
 * the source tree. */
static inline const char *test_http_server_script(void) {
        static char path[4096];
        const char *e = getenv("TEST_HTTP_SERVER"), *data = getenv("TEST_DATA");

        if (e)
                return e;
        if (data) {
                (void) snprintf(path, sizeof(path), "%s/../unit/http_server.py", data);
                if (access(path, R_OK) == 0)
                        return path;
        }
        return "tests/unit/http_server.py";
}

/* Talk to 127.0.0.1 directly whatever the environment says. */
static inline void test_no_proxy(void) {
        static const char *const names[] = { "http_proxy", "https_proxy", "HTTP_PROXY",
                                             "HTTPS_PROXY", "ALL_PROXY", "all_proxy" };

        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                (void) unsetenv(names[i]);
}

/* Start path with argv, its stdout (and with also_stderr its stderr) on out_fd; the child
 * dies with us, even if an assertion aborts the test. Returns its pid. */
static inline pid_t test_spawn(const char *path, char *const argv[], int out_fd, bool also_stderr) {
        pid_t parent = getpid(), pid = fork();

        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent || dup2(out_fd, STDOUT_FILENO) < 0 ||
                    (also_stderr && dup2(out_fd, STDERR_FILENO) < 0))
                        _exit(127);
                execv(path, argv);
                _exit(127);
        }
        return pid;
}
