/* SPDX-License-Identifier: MIT */
/* A job's environment (daemon/proc/spawn_env.c): the daemon's, less the service manager's
 * variables and the withheld secrets, then the user's, env: and the extra variables, a later
 * entry of a name replacing an earlier one in its own place. */
#include <stdio.h>
#include <string.h>

#include "spawner.h"
#include "tests.h"

extern char **environ;

static void assert_env(char **got, const char *const *want) {
        size_t i = 0;

        for (; got[i] && want[i]; i++)
                if (strcmp(got[i], want[i]) != 0)
                        TEST_FAIL("entry %zu: '%s', expected '%s'", i, got[i], want[i]);
        if (got[i] || want[i])
                TEST_FAIL("%s entries: '%s' at %zu", got[i] ? "more" : "fewer",
                          got[i] ? got[i] : want[i], i);
}

TEST(later_entries_replace_earlier_ones_in_their_place) {
        char *daemon_env[] = { "A=1", "NOTIFY_SOCKET=/run/notify", "B=1", "A=3", "SECRET=s",
                               "KEEP=k", "FOO", "WATCHDOG_USEC=1000", NULL };
        char *keep[] = { "KEEP", NULL }, *withheld[] = { "SECRET", "KEEP", NULL };
        char *job_env[] = { "B=2", "HOME=/custom", NULL };
        char *extra[] = { "SOLOCRON_JOB=j", "B=3", "FOO=x", NULL };
        JobPolicy policy = { .env_keep = keep };
        JobConfig cfg = { .env = job_env, .policy = &policy };
        SpawnCreds creds = { .name = "nobody", .home = "/nonexistent" };
        static const char *const want[] = { "A=3", "KEEP=k", "FOO", "USER=nobody",
                                            "LOGNAME=nobody", "HOME=/custom", "SOLOCRON_JOB=j",
                                            "B=3", "FOO=x", NULL };
        char **saved = environ, **env;

        environ = daemon_env;
        ASSERT_OK(spawn_build_env(&cfg, &creds, withheld, extra, &env));
        environ = saved;
        assert_env(env, want);
        free(env);
}

TEST(a_changed_environment_is_read_again) {
        char *first[] = { "X=1", "Y=1", NULL }, *second[] = { "X=2", NULL };
        JobPolicy policy = { 0 };
        JobConfig cfg = { .policy = &policy };
        char **saved = environ, **env;

        environ = first;
        ASSERT_OK(spawn_build_env(&cfg, NULL, NULL, NULL, &env));
        assert_env(env, (const char *const[]) { "X=1", "Y=1", NULL });
        free(env);
        first[1] = "Z=1";       /* the same array, an entry replaced (as setenv() does) */
        ASSERT_OK(spawn_build_env(&cfg, NULL, NULL, NULL, &env));
        assert_env(env, (const char *const[]) { "X=1", "Z=1", NULL });
        free(env);
        environ = second;       /* another array (setenv() of a new name) */
        ASSERT_OK(spawn_build_env(&cfg, NULL, NULL, NULL, &env));
        assert_env(env, (const char *const[]) { "X=2", NULL });
        free(env);
        environ = saved;
}

TEST(large_environments_and_many_job_variables) {
        /* More names than the hash sets' stack room (256 and 64 slots). */
        static char daemon_vars[400][16], job_vars[100][16];
        char *daemon_env[401], *job_env[101];
        const char *want[401];
        JobPolicy policy = { 0 };
        JobConfig cfg = { .env = job_env, .policy = &policy };
        char **saved = environ, **env;
        size_t n = 0;

        for (int i = 0; i < 400; i++) {         /* V0..V199 twice: the second one wins */
                (void) snprintf(daemon_vars[i], sizeof(daemon_vars[i]), "V%d=%d", i % 200, i);
                daemon_env[i] = daemon_vars[i];
        }
        daemon_env[400] = NULL;
        for (int i = 0; i < 100; i++) {         /* V0..V49 replaced, W0..W49 added */
                (void) snprintf(job_vars[i], sizeof(job_vars[i]), "%c%d=job", i < 50 ? 'V' : 'W',
                                i % 50);
                job_env[i] = job_vars[i];
        }
        job_env[100] = NULL;
        for (int i = 250; i < 400; i++)
                want[n++] = daemon_vars[i];
        for (int i = 0; i < 100; i++)
                want[n++] = job_vars[i];
        want[n] = NULL;
        environ = daemon_env;
        ASSERT_OK(spawn_build_env(&cfg, NULL, NULL, NULL, &env));
        environ = saved;
        assert_env(env, want);
        free(env);
}

TESTS_MAIN
