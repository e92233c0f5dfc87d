/* SPDX-License-Identifier: MIT */
/* The notifier on its own: the webhooks' bodies, the signature, and the entry point the
 * missed-firing alarm calls (a hook run for real, a webhook to a port where nothing
 * listens). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "notifier_internal.h"
#include "reaper.h"
#include "spawner.h"
#include "tests.h"

static NotifyFacts facts(const char *output, size_t len) {
        NotifyFacts f = {
                .event = "failure", .job = "backup", .host = "h1", .run_id = "0123456789abcdef",
                .result = "failed", .exit_status = 3, .duration_usec = 1503000, .attempt = 2,
                .scheduled = 1764633600, .output = (char *) output, .output_len = len,
        };
        return f;
}

TEST(json_payload) {
        NotifyFacts f = facts("ok caf\xc3\xa9 \xff\n", 11);
        json_error_t e;
        size_t size;
        char *body = notify_payload_json(&f, &size);
        json_t *o;

        ASSERT_TRUE(body);
        o = json_loadb(body, size, 0, &e);
        ASSERT_TRUE(o);
        ASSERT_STREQ(json_string_value(json_object_get(o, "event")), "failure");
        ASSERT_STREQ(json_string_value(json_object_get(o, "job")), "backup");
        ASSERT_STREQ(json_string_value(json_object_get(o, "run_id")), "0123456789abcdef");
        ASSERT_STREQ(json_string_value(json_object_get(o, "result")), "failed");
        ASSERT_STREQ(json_string_value(json_object_get(o, "host")), "h1");
        ASSERT_EQ(json_integer_value(json_object_get(o, "exit_status")), 3);
        ASSERT_TRUE(json_is_null(json_object_get(o, "signal")));
        ASSERT_TRUE(json_real_value(json_object_get(o, "duration")) == 1.503);
        ASSERT_EQ(json_integer_value(json_object_get(o, "attempt")), 2);
        ASSERT_STREQ(json_string_value(json_object_get(o, "scheduled")), "2025-12-02T00:00:00Z");
        ASSERT_STREQ(json_string_value(json_object_get(o, "output")), "ok caf\xc3\xa9 \xef\xbf\xbd\n");
        ASSERT_TRUE(json_is_false(json_object_get(o, "output_truncated")));
        json_decref(o);
        free(body);

        /* missed: no run, no status */
        f = facts("", 0);
        f.event = "missed";
        f.result = "missed";
        f.run_id = NULL;
        f.exit_status = -1;
        f.attempt = 0;
        body = notify_payload_json(&f, &size);
        o = json_loadb(body, size, 0, &e);
        ASSERT_TRUE(o);
        ASSERT_TRUE(json_is_null(json_object_get(o, "run_id")));
        ASSERT_TRUE(json_is_null(json_object_get(o, "exit_status")));
        json_decref(o);
        free(body);
}

TEST(slack_payload) {
        NotifyFacts f = facts("", 0);
        json_error_t e;
        json_t *o, *blocks;
        size_t size;
        char *body;

        f.event = "missed";
        f.result = "missed";
        f.run_id = NULL;
        body = notify_payload_slack(&f, &size);
        o = json_loadb(body, size, 0, &e);
        ASSERT_TRUE(o);
        ASSERT_TRUE(strstr(json_string_value(json_object_get(o, "text")),
                           "job 'backup' was missed (no replica ran it) on h1"));
        blocks = json_object_get(o, "blocks");
        ASSERT_EQ(json_array_size(blocks), 1);     /* no fields without a run, no output */
        json_decref(o);
        free(body);
}

static char *write_secret(const char *text, mode_t mode) {
        char *path = strdup("/tmp/test-notify-secret-XXXXXX");
        int fd = mkstemp(path);

        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        ASSERT_OK(fchmod(fd, mode));
        (void) close(fd);
        return path;
}

/* RFC 4231, test case 2. */
TEST(signature) {
        static const char data[] = "what do ya want for nothing?";
        char *path = write_secret("Jefe\n", 0600), *error = NULL, buf[80];

        ASSERT_OK(notify_payload_sign(path, data, strlen(data), buf, &error));
        ASSERT_STREQ(buf, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        ASSERT_OK(chmod(path, 0644));
        ASSERT_EQ(notify_payload_sign(path, data, strlen(data), buf, &error), -EPERM);
        ASSERT_TRUE(error && strstr(error, "chmod 600"));
        free(error);
        (void) unlink(path);
        free(path);
}

static unsigned released;

static void on_release(void *hold) {
        ASSERT_TRUE(hold == &released);
        released++;
}

static Config *load(const char *yaml) {
        char path[] = "/tmp/test-notify-XXXXXX";
        int fd = mkstemp(path);
        ConfigDiags diags = {};
        Config *c = NULL;

        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, yaml, strlen(yaml)), (ssize_t) strlen(yaml));
        (void) close(fd);
        ASSERT_OK(config_load(path, NULL, &c, &diags));
        config_diags_done(&diags);
        (void) unlink(path);
        return c;
}

/* What the missed-firing alarm will call: on_failure runs with SOLOCRON_RESULT=missed, a
 * webhook with `missed` in its on: is tried (and fails: nothing listens), one without is
 * not, the hold is released once. */
TEST(missed_event) {
        char dir[] = "/tmp/test-notify-dir-XXXXXX", yaml[2048], path[4200], buf[8192];
        const NotifierStats *st;
        uv_loop_t loop;
        Notifier *n;
        Config *c;
        ssize_t k;
        int fd, log_fd;

        ASSERT_TRUE(mkdtemp(dir));
        (void) setenv("SOLOCRON_TEST_NOTIFY_BACKOFF_MS", "10", 1);
        ASSERT_OK(uv_loop_init(&loop));
        ASSERT_OK(reaper_setup(&loop));
        ASSERT_OK(spawn_setup());
        log_fd = memfd_create("log", MFD_CLOEXEC);
        ASSERT_TRUE(log_fd >= 0);
        log_setup(LOG_FORMAT_JSON, log_fd, LOG_DEBUG);
        (void) snprintf(yaml, sizeof(yaml),
                        "jobs:\n"
                        "  - name: nightly\n"
                        "    schedule: \"0 1 * * *\"\n"
                        "    command: \"true\"\n"
                        "    on_failure: 'env | grep ^SOLOCRON_ | sort > %s/env; echo hook says hi'\n"
                        "    notify:\n"
                        "      - {url: \"http://127.0.0.1:9/missed\", on: [missed]}\n"
                        "      - {url: \"http://127.0.0.1:9/failure\", on: [failure]}\n", dir);
        c = load(yaml);
        n = notifier_new(&loop, "h1", NULL);
        ASSERT_TRUE(n);
        ASSERT_EQ(notifier_capture_size(&c->jobs[0]), CAPTURE_NOTIFY_MAX);
        notifier_event(n, &c->jobs[0], &(NotifyEvent) {
                        .kind = NOTIFY_MISSED, .result = "missed", .exit_status = -1,
                        .scheduled = 1764633600, .hold = &released, .release = on_release });
        ASSERT_TRUE(notifier_busy(n));
        while (notifier_busy(n))
                (void) uv_run(&loop, UV_RUN_ONCE);
        ASSERT_EQ(released, 1);
        st = notifier_stats(n);
        ASSERT_EQ(st->delivered[NOTIFY_CHANNEL_HOOK], 1);
        ASSERT_EQ(st->failed[NOTIFY_CHANNEL_WEBHOOK], 1);   /* one webhook, given up */
        ASSERT_EQ(st->delivered[NOTIFY_CHANNEL_WEBHOOK], 0);
        ASSERT_EQ(st->failed[NOTIFY_CHANNEL_PING] + st->delivered[NOTIFY_CHANNEL_PING], 0);

        (void) snprintf(path, sizeof(path), "%s/env", dir);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        k = read(fd, buf, sizeof(buf) - 1);
        ASSERT_TRUE(k > 0);
        buf[k] = 0;
        (void) close(fd);
        ASSERT_TRUE(strstr(buf, "SOLOCRON_EVENT=missed\n"));
        ASSERT_TRUE(strstr(buf, "SOLOCRON_JOB=nightly\n"));
        ASSERT_TRUE(strstr(buf, "SOLOCRON_RESULT=missed\n"));
        ASSERT_TRUE(strstr(buf, "SOLOCRON_RUN_ID=\n"));
        ASSERT_TRUE(strstr(buf, "SOLOCRON_HOST=h1\n"));
        ASSERT_TRUE(strstr(buf, "SOLOCRON_SCHEDULED_TIME=2025-12-02T00:00:00Z\n"));
        (void) unlink(path);
        (void) rmdir(dir);

        log_flush();
        k = pread(log_fd, buf, sizeof(buf) - 1, 0);
        ASSERT_TRUE(k > 0);
        buf[k] = 0;
        ASSERT_TRUE(strstr(buf, "\"event\":\"notify_failed\""));
        ASSERT_TRUE(strstr(buf, "\"url\":\"http://127.0.0.1:9/…\""));
        ASSERT_TRUE(strstr(buf, "\"notification\":\"missed\""));
        ASSERT_TRUE(strstr(buf, "\"run\":\"on_failure\",\"stream\":\"stdout\""));
        ASSERT_TRUE(strstr(buf, "hook says hi"));

        notifier_close(n);
        reaper_close();
        ASSERT_OK(uv_run(&loop, UV_RUN_DEFAULT));
        ASSERT_OK(uv_loop_close(&loop));        /* every handle closed, the notifier freed */
        log_setup(LOG_FORMAT_TEXT, STDERR_FILENO, LOG_INFO);
        (void) close(log_fd);
        config_free(c);
}

TESTS_MAIN
