/* SPDX-License-Identifier: MIT */
/* daemon/lease_s3.c (with daemon/s3.c, daemon/s3_creds.c and daemon/http.c) against servers
 * started here on 127.0.0.1:
 *   - tests/integration/helpers/s3_double.py, a labelled S3 test double that enforces
 *     conditional writes as AWS documents them (no installable emulator does), for the
 *     election, renewal, takeover, clock skew, history, errors, the credential endpoints and
 *     the API's queries (pause markers, manual runs, a job's records);
 *   - s3rver@3.7.1 from npm under node, a real S3 emulator, for SigV4 round trips, error XML,
 *     the probe that must refuse it (it ignores If-None-Match) and the queries, which need
 *     no conditional writes. Its tests print "skipping" and return when node or the package
 *     is missing (SOLOCRON_TEST_REQUIRE_S3RVER=1 makes that a failure); run alone, such a
 *     test exits 77.
 * Nothing here talks to a non-loopback address: the ECS and IMDS base URLs are overridden. */

#include <curl/curl.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "lease.h"
#include "lease_s3.h"
#include "parse.h"
#include "s3.h"
#include "s3_creds.h"
#include "test-spawn.h"
#include "tests.h"

#define SECRET "sEcReT/do-not-print+1"
#define T0 INT64_C(1795413600)          /* 2026-11-23T06:00:00Z */

static bool single_test;

/* ---- servers ---- */

typedef struct Server {
        pid_t pid;
        int port;
        char url[128];
        char dir[64];                   /* s3rver's data directory, "" otherwise */
} Server;

static const char *double_script(void) {
        static char path[4096];
        const char *data = getenv("TEST_DATA");

        if (getenv("TEST_S3_DOUBLE"))
                return getenv("TEST_S3_DOUBLE");
        if (data) {
                (void) snprintf(path, sizeof(path), "%s/../integration/helpers/s3_double.py", data);
                if (access(path, R_OK) == 0)
                        return path;
        }
        return "tests/integration/helpers/s3_double.py";
}

/* Start argv; the port is the first number after the last ':' of the first stdout line
 * that has one (s3rver: "S3rver listening on 127.0.0.1:PORT"; the double: "PORT"). */
static void server_spawn(Server *s, const char *path, char *const argv[]) {
        char buf[512] = {};
        size_t len = 0;
        int pfd[2];

        ASSERT_OK(pipe2(pfd, O_CLOEXEC));
        s->pid = test_spawn(path, argv, pfd[1], false);
        close(pfd[1]);
        for (size_t done = 0; s->port == 0;) {
                struct pollfd p = { .fd = pfd[0], .events = POLLIN };
                char *nl, *colon;
                ssize_t n;

                if (poll(&p, 1, 20000) <= 0)
                        TEST_FAIL("server %s did not start: '%s'", argv[1], buf);
                n = read(pfd[0], buf + len, sizeof(buf) - 1 - len);
                if (n <= 0)
                        TEST_FAIL("server %s exited: '%s'", argv[1], buf);
                len += (size_t) n;
                buf[len] = 0;
                while (s->port == 0 && (nl = strchr(buf + done, '\n'))) {
                        *nl = 0;
                        colon = strrchr(buf + done, ':');
                        colon = colon ? colon + 1 : buf + done;
                        if (parse_int(colon, 1, 65535, &s->port) < 0)
                                s->port = 0;
                        done = (size_t) (nl - buf) + 1;
                }
                if (s->port == 0 && len >= sizeof(buf) - 1)
                        TEST_FAIL("no port from %s", argv[1]);
        }
        close(pfd[0]);
        (void) snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d", s->port);
}

static void double_start(Server *s, const char *const *extra) {
        char *argv[32] = { (char *) "python3", (char *) double_script() };
        size_t n = 2;

        *s = (Server) {};
        if (access(TEST_PYTHON, X_OK) < 0 || access(argv[1], R_OK) < 0) {
                fprintf(stderr, "skipping: need %s and %s\n", TEST_PYTHON, argv[1]);
                exit(77);
        }
        for (; extra && *extra && n < 30; extra++)
                argv[n++] = (char *) *extra;
        server_spawn(s, TEST_PYTHON, argv);
}

static const char *s3rver_script(void) {
        static char path[4096];
        const char *e = getenv("SOLOCRON_TEST_S3RVER"), *data = getenv("TEST_DATA");

        if (e)
                return access(e, R_OK) == 0 ? e : NULL;
        if (access("/opt/solocron-test-deps/node_modules/s3rver/bin/s3rver.js", R_OK) == 0)
                return "/opt/solocron-test-deps/node_modules/s3rver/bin/s3rver.js";
        if (data) {
                (void) snprintf(path, sizeof(path),
                                "%s/../.deps/node_modules/s3rver/bin/s3rver.js", data);
                if (access(path, R_OK) == 0)
                        return path;
        }
        return NULL;
}

/* false (after saying so) when node or s3rver is not installed. */
static bool s3rver_start(Server *s) {
        const char *script = s3rver_script();
        const char *node = access("/usr/bin/node", X_OK) == 0 ? "/usr/bin/node" :
                           access("/usr/local/bin/node", X_OK) == 0 ? "/usr/local/bin/node" : NULL;

        *s = (Server) {};
        if (!script || !node) {
                if (getenv("SOLOCRON_TEST_REQUIRE_S3RVER"))
                        TEST_FAIL("s3rver@3.7.1 or node is not installed");
                fprintf(stderr, "skipping: need node and s3rver@3.7.1 (npm install --prefix "
                        "/opt/solocron-test-deps s3rver@3.7.1, or SOLOCRON_TEST_S3RVER)\n");
                if (single_test)
                        exit(77);
                return false;
        }
        (void) snprintf(s->dir, sizeof(s->dir), "/tmp/test-s3rver-XXXXXX");
        ASSERT_TRUE(mkdtemp(s->dir));
        /* s3rver's continuation tokens are DES-encrypted: OpenSSL 3 keeps DES in its legacy
         * provider, which node loads only when asked. */
        server_spawn(s, node, (char *[]) { (char *) "node", (char *) "--openssl-legacy-provider",
                                           (char *) script, (char *) "-d",
                                           s->dir, (char *) "-a", (char *) "127.0.0.1",
                                           (char *) "-p", (char *) "0", (char *) "-s",
                                           (char *) "--configure-bucket",
                                           (char *) "test-bucket", NULL });
        return true;
}

/* A server that is not there: a loopback port nobody listens on. */
static void nobody_listens(Server *s) {
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ASSERT_OK(fd);
        ASSERT_OK(bind(fd, (struct sockaddr *) &sa, sizeof(sa)));
        ASSERT_OK(getsockname(fd, (struct sockaddr *) &sa, &len));
        *s = (Server) {};
        (void) snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d", ntohs(sa.sin_port));
        close(fd);
}

static void server_stop(Server *s) {
        if (s->pid > 0) {
                (void) kill(s->pid, SIGKILL);
                (void) waitpid(s->pid, NULL, 0);
        }
        if (s->dir[0]) {
                char cmd[128];

                (void) snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
                (void) system(cmd);
        }
        *s = (Server) {};
}

/* ---- control requests to the double (blocking libcurl; only for test set-up) ---- */

static size_t collect(char *data, size_t size, size_t n, void *userdata) {
        char **buf = userdata;
        size_t old = *buf ? strlen(*buf) : 0;
        char *p = realloc(*buf, old + size * n + 1);

        ASSERT_TRUE(p);
        memcpy(p + old, data, size * n);
        p[old + size * n] = 0;
        *buf = p;
        return size * n;
}

static json_t *ctl(const Server *s, const char *method, const char *path, const char *body) {
        char url[512], *out = NULL;
        CURL *e = curl_easy_init();
        long status = 0;
        json_t *j;

        (void) snprintf(url, sizeof(url), "%s/_double/%s", s->url, path);
        ASSERT_TRUE(e);
        (void) curl_easy_setopt(e, CURLOPT_URL, url);
        (void) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
        (void) curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
        if (body)
                (void) curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        (void) curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
        (void) curl_easy_setopt(e, CURLOPT_WRITEDATA, &out);
        ASSERT_EQ(curl_easy_perform(e), CURLE_OK);
        (void) curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(e);
        if (status == 404) {
                free(out);
                return NULL;
        }
        ASSERT_EQ(status, 200);
        j = json_loads(out ?: "{}", 0, NULL);
        free(out);
        ASSERT_TRUE(j);
        return j;
}

static void ctl_do(const Server *s, const char *method, const char *path, const char *body) {
        json_decref(ctl(s, method, path, body));
}

/* The stored record at key, parsed; NULL if absent. */
static json_t *record_get(const Server *s, const char *key, json_int_t *ret_lm, char *ret_etag) {
        char path[512];
        json_t *o, *rec;

        (void) snprintf(path, sizeof(path), "object?key=%s", key);
        o = ctl(s, "GET", path, NULL);
        if (!o)
                return NULL;
        rec = json_loads(json_string_value(json_object_get(o, "body")), 0, NULL);
        if (ret_lm)
                *ret_lm = json_integer_value(json_object_get(o, "last_modified"));
        if (ret_etag)
                (void) snprintf(ret_etag, 64, "%s", json_string_value(json_object_get(o, "etag")));
        json_decref(o);
        return rec;
}

static json_int_t stat_count(const Server *s, const char *method) {
        json_t *j = ctl(s, "GET", "stats", NULL);
        json_int_t n = method ? json_integer_value(json_object_get(json_object_get(j, "requests"),
                                                                   method)) :
                       json_integer_value(json_object_get(j, "total"));

        json_decref(j);
        return n;
}

static json_int_t stat_of(const Server *s, const char *what, const char *name) {
        json_t *j = ctl(s, "GET", "stats", NULL);
        json_t *v = name ? json_object_get(json_object_get(j, what), name) :
                           json_object_get(j, what);
        json_int_t n = json_integer_value(v);

        json_decref(j);
        return n;
}

/* ---- environment and loop ---- */

static void env_reset(void) {
        static const char *const names[] = {
                "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_EC2_METADATA_DISABLED",
                "SOLOCRON_TEST_CLOCK_OFFSET",
        };

        test_no_proxy();
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                (void) unsetenv(names[i]);
        /* Never 169.254.x: a closed loopback port if anything falls through to them. */
        (void) setenv("SOLOCRON_TEST_IMDS_ENDPOINT", "http://127.0.0.1:9", 1);
        (void) setenv("SOLOCRON_TEST_ECS_ENDPOINT", "http://127.0.0.1:9", 1);
        (void) setenv("HOME", "/nonexistent-solocron-test-home", 1);
        (void) setenv("AWS_ACCESS_KEY_ID", "AKIDDOUBLE", 1);
        (void) setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
}

static void on_tick(uv_timer_t *t) {
        (void) t;
}

/* Run the loop until *flag (or timeout_ms passed); returns the milliseconds it took. */
static uint64_t run_until(uv_loop_t *loop, const volatile bool *flag, uint64_t timeout_ms) {
        uv_timer_t tick;
        uint64_t start;

        uv_update_time(loop);
        start = uv_now(loop);
        ASSERT_OK(uv_timer_init(loop, &tick));
        ASSERT_OK(uv_timer_start(&tick, on_tick, 5, 5));
        while ((!flag || !*flag) && uv_now(loop) - start < timeout_ms) {
                (void) uv_run(loop, UV_RUN_ONCE);
                uv_update_time(loop);
        }
        uv_close((uv_handle_t *) &tick, NULL);
        (void) uv_run(loop, UV_RUN_NOWAIT);
        return uv_now(loop) - start;
}

static void run_for(uv_loop_t *loop, uint64_t ms) {
        (void) run_until(loop, NULL, ms);
}

static void loop_done(uv_loop_t *loop) {
        (void) uv_run(loop, UV_RUN_DEFAULT);
        ASSERT_EQ(uv_loop_close(loop), 0);
}

/* Run the loop until cond(userdata) holds (asked every 20 ms), or timeout_ms passed. */
static bool run_until_true(uv_loop_t *loop, bool (*cond)(const void *), const void *userdata,
                           uint64_t timeout_ms) {
        uint64_t start;

        uv_update_time(loop);
        start = uv_now(loop);
        while (!cond(userdata)) {
                if (uv_now(loop) - start >= timeout_ms)
                        return false;
                run_for(loop, 20);
        }
        return true;
}

/* ---- stores and claims ---- */

typedef struct Opts {
        const char *endpoint;
        const char *prefix;             /* NULL: solocron */
        const char *ca_file;
        bool vhost;
        usec_t ttl, election_timeout, skew, history;
} Opts;

static LeaseStore *store_new(uv_loop_t *loop, const Server *s, const char *host, Opts o) {
        LeaseConfig cfg = {
                .backend = LEASE_BACKEND_S3,
                .prefix = (char *) (o.prefix ?: "solocron"),
                .ttl = o.ttl ?: 3 * USEC_PER_SEC,
                .election_timeout = o.election_timeout ?: 5 * USEC_PER_SEC,
                .history = o.history ?: 30 * 86400 * USEC_PER_SEC,
                .bucket = (char *) "test-bucket",
                .endpoint = (char *) (o.endpoint ?: s->url),
                .region = (char *) "us-east-1",
                .path_style = !o.vhost,
                .max_clock_skew = o.skew,
                .ca_file = (char *) o.ca_file,
        };
        LeaseStore *st = NULL;
        char *err = NULL;
        int r;

        r = lease_s3_new(loop, &cfg, host, &st, &err);
        if (r < 0)
                TEST_FAIL("lease_s3_new: %d %s", r, err ?: "");
        ASSERT_TRUE(st && !err);
        return st;
}

static void on_store_closed(void *userdata) {
        *(bool *) userdata = true;
}

static void store_close(uv_loop_t *loop, LeaseStore *st) {
        bool closed = false;

        st->ops->close(st, on_store_closed, &closed);
        (void) run_until(loop, &closed, 20000);
        ASSERT_TRUE(closed);
}

typedef struct Outcome {
        bool done;
        LeaseResult result;
        LeaseClaim *claim;
        char detail[512];
        char key[256];
        uint64_t token;
        int n_claimed, n_lost;
        char why[512];
        LeaseHeld held;
        bool has_record;                /* HELD: the record found */
        char record_run[64], record_status[32];
} Outcome;

static void on_claimed(LeaseClaim *c, LeaseResult result, const LeaseInfo *info, void *userdata) {
        Outcome *o = userdata;

        o->done = true;
        o->n_claimed++;
        o->result = result;
        o->claim = result == LEASE_WON ? c : NULL;
        o->token = info->fencing_token;
        o->held = info->held;
        (void) snprintf(o->detail, sizeof(o->detail), "%s", info->detail ?: "");
        (void) snprintf(o->key, sizeof(o->key), "%s", info->key ?: "");
        o->has_record = result == LEASE_HELD && info->record;
        if (o->has_record) {
                (void) snprintf(o->record_run, sizeof(o->record_run), "%s",
                                info->record->run_id ?: "");
                (void) snprintf(o->record_status, sizeof(o->record_status), "%s",
                                info->record->status ?: "");
        }
}

static void on_lost(LeaseClaim *c, const char *why, void *userdata) {
        Outcome *o = userdata;

        (void) c;
        o->n_lost++;
        (void) snprintf(o->why, sizeof(o->why), "%s", why);
}

static void claim_start_req(LeaseStore *st, const LeaseRequest *req, Outcome *o) {
        LeaseCallbacks cb = { .claimed = on_claimed, .lost = on_lost, .userdata = o };
        LeaseInfo info = {};
        LeaseClaim *c = NULL;
        LeaseResult r;

        *o = (Outcome) {};
        r = st->ops->claim(st, req, &cb, &c, &info);
        if (r != LEASE_PENDING) {
                o->done = true;
                o->result = r;
                o->claim = c;
                (void) snprintf(o->detail, sizeof(o->detail), "%s", info.detail ?: "");
        }
}

static void claim_start(LeaseStore *st, const char *job, int64_t when, const char *run,
                        bool takeover, Outcome *o) {
        claim_start_req(st, &(LeaseRequest) { .job = job, .scheduled = when, .run_id = run,
                                              .attempt = takeover ? 2 : 1,
                                              .takeover = takeover }, o);
}

static LeaseResult claim_wait(uv_loop_t *loop, const char *job, Outcome *o) {
        (void) run_until(loop, &o->done, 30000);
        ASSERT_TRUE(o->done);
        ASSERT_EQ(o->n_claimed, 1);
        if (o->result == LEASE_UNAVAILABLE)
                fprintf(stderr, "  claim %s: unavailable: %s\n", job, o->detail);
        return o->result;
}

static LeaseResult claim(uv_loop_t *loop, LeaseStore *st, const char *job, int64_t when,
                         const char *run, bool takeover, Outcome *o) {
        claim_start(st, job, when, run, takeover, o);
        return claim_wait(loop, job, o);
}

/* A manual run's claim: key, asked for at when. */
static LeaseResult claim_manual(uv_loop_t *loop, LeaseStore *st, const char *job, int64_t when,
                                const char *key, const char *run, Outcome *o) {
        claim_start_req(st, &(LeaseRequest) { .job = job, .scheduled = when, .manual = key,
                                              .run_id = run, .attempt = 1 }, o);
        return claim_wait(loop, job, o);
}

static const char *status_of(const json_t *rec) {
        return json_string_value(json_object_get(rec, "status"));
}

/* ---- election ---- */

TEST(claim_won_then_held) {
        uv_loop_t loop;
        Server s;
        LeaseStore *a, *b;
        Outcome oa, ob;
        json_t *rec;
        json_int_t before;
        uint64_t ms;
        char run[32];
        enum { N = 20 };

        env_reset();
        double_start(&s, NULL);
        ASSERT_OK(uv_loop_init(&loop));
        a = store_new(&loop, &s, "host-a", (Opts) {});
        b = store_new(&loop, &s, "host-b", (Opts) {});

        ASSERT_EQ(claim(&loop, a, "refresh", T0, "run-a", false, &oa), LEASE_WON);
        ASSERT_STREQ(oa.key, "solocron/refresh/2026-11-23T06:00:00Z");
        ASSERT_EQ(oa.token, 1);
        rec = record_get(&s, oa.key, NULL, NULL);
        ASSERT_TRUE(rec);
        ASSERT_STREQ(status_of(rec), "running");
        ASSERT_STREQ(json_string_value(json_object_get(json_object_get(rec, "holder"),
                                                       "hostname")), "host-a");
        ASSERT_EQ(json_integer_value(json_object_get(json_object_get(rec, "holder"), "pid")),
                  getpid());
        ASSERT_STREQ(json_string_value(json_object_get(rec, "run")), "run-a");
        ASSERT_EQ(json_integer_value(json_object_get(rec, "generation")), 1);
        ASSERT_EQ(json_integer_value(json_object_get(rec, "fencing_token")), 1);
        ASSERT_EQ(json_integer_value(json_object_get(rec, "attempt")), 1);
        json_decref(rec);

        /* b's probe ran while a claimed; from here on every request is the election's. */
        run_for(&loop, 100);
        before = stat_count(&s, NULL);
        uv_update_time(&loop);
        ms = uv_now(&loop);
        ASSERT_EQ(claim(&loop, b, "refresh", T0, "run-b", false, &ob), LEASE_HELD);
        uv_update_time(&loop);
        ms = uv_now(&loop) - ms;
        ASSERT_EQ(stat_count(&s, NULL) - before, 3);     /* GET marker (404), PUT (412), GET */
        fprintf(stderr, "  held in %llu ms, 3 requests: '%s'\n", (unsigned long long) ms,
                ob.detail);
        ASSERT_TRUE(strstr(ob.detail, "on host-a"));
        ASSERT_TRUE(strstr(ob.detail, "pid "));

        /* Figures: a won claim is a GET of the pause marker (404) and one PUT. */
        before = stat_count(&s, NULL);
        uv_update_time(&loop);
        ms = uv_now(&loop);
        for (int i = 0; i < N; i++) {
                Outcome o;

                (void) snprintf(run, sizeof(run), "run-%d", i);
                ASSERT_EQ(claim(&loop, b, "bench", T0 + 60 * i, run, false, &o), LEASE_WON);
                b->ops->cancel(o.claim);
        }
        uv_update_time(&loop);
        ms = uv_now(&loop) - ms;
        fprintf(stderr, "  %d won claims: %lld requests, %.2f ms per claim on loopback\n", N,
                (long long) (stat_count(&s, NULL) - before), (double) ms / N);
        ASSERT_EQ(stat_count(&s, NULL) - before, 2 * N);

        a->ops->finish(oa.claim, &(LeaseEnd) { "succeeded", 0, -1 });
        store_close(&loop, a);
        store_close(&loop, b);
        loop_done(&loop);
        /* The final record was written before the close completed. */
        rec = record_get(&s, "solocron/refresh/2026-11-23T06:00:00Z", NULL, NULL);
        ASSERT_STREQ(status_of(rec), "succeeded");
        json_decref(rec);
        server_stop(&s);
}

TEST(five_stores_one_winner) {
        uv_loop_t loop;
        Server s;
        LeaseStore *st[5];
        Outcome o[5];
        char host[32], run[32];
        int won = 0, held = 0;
        bool all;

        env_reset();
        double_start(&s, (const char *[]) { "--conflict-window-ms", "30", NULL });
        ASSERT_OK(uv_loop_init(&loop));
        for (int i = 0; i < 5; i++) {
                (void) snprintf(host, sizeof(host), "web-%d", i);
                st[i] = store_new(&loop, &s, host, (Opts) {});
        }
        for (int i = 0; i < 5; i++) {
                (void) snprintf(run, sizeof(run), "run-%d", i);
                claim_start(st[i], "nightly", T0, run, false, &o[i]);
        }
        for (int tries = 0; tries < 2000; tries++) {
                all = true;
                for (int i = 0; i < 5; i++)
                        all = all && o[i].done;
                if (all)
                        break;
                run_for(&loop, 10);
        }
        for (int i = 0; i < 5; i++) {
                ASSERT_TRUE(o[i].done);
                ASSERT_EQ(o[i].n_claimed, 1);
                won += o[i].result == LEASE_WON;
                held += o[i].result == LEASE_HELD;
        }
        ASSERT_EQ(won, 1);
        ASSERT_EQ(held, 4);
        {
                json_t *j = ctl(&s, "GET", "stats", NULL);
                json_t *by = json_object_get(j, "statuses");

                fprintf(stderr, "  answers: 412 x%lld, 409 x%lld (retried)\n",
                        (long long) json_integer_value(json_object_get(by, "412")),
                        (long long) json_integer_value(json_object_get(by, "409")));
                json_decref(j);
        }
        for (int i = 0; i < 5; i++) {
                if (o[i].claim)
                        st[i]->ops->finish(o[i].claim, &(LeaseEnd) { "succeeded", 0, -1 });
                store_close(&loop, st[i]);
        }
        loop_done(&loop);
        server_stop(&s);
}

/* Four replicas, and every losing write answers (412) after election_timeout: a slow store.
 * The 412 is an answer: each loser reads the record within the grace and stands down,
 * rather than calling the store unavailable (on_store_down: run would run it a second time). */
TEST(late_412_is_read_within_grace) {
        uv_loop_t loop;
        Server s;
        LeaseStore *st[4];
        Outcome o[4];
        char host[32], run[32];
        int won = 0, held = 0;
        bool all = false;

        env_reset();
        double_start(&s, NULL);
        ctl_do(&s, "POST", "fault", "{\"action\":\"delay\",\"method\":\"PUT\",\"if_status\":412,"
                                    "\"key_prefix\":\"solocron/late/\",\"delay_ms\":2300,"
                                    "\"count\":100}");
        ASSERT_OK(uv_loop_init(&loop));
        for (int i = 0; i < 4; i++) {
                (void) snprintf(host, sizeof(host), "web-%d", i);
                st[i] = store_new(&loop, &s, host,
                                  (Opts) { .election_timeout = 2 * USEC_PER_SEC });
        }
        for (int i = 0; i < 4; i++) {
                (void) snprintf(run, sizeof(run), "run-%d", i);
                claim_start(st[i], "late", T0, run, false, &o[i]);
        }
        for (int tries = 0; tries < 1000 && !all; tries++) {
                run_for(&loop, 10);
                all = o[0].done && o[1].done && o[2].done && o[3].done;
        }
        for (int i = 0; i < 4; i++) {
                ASSERT_TRUE(o[i].done);
                if (o[i].result != LEASE_WON && o[i].result != LEASE_HELD)
                        TEST_FAIL("store %d: %d '%s'", i, (int) o[i].result, o[i].detail);
                won += o[i].result == LEASE_WON;
                held += o[i].result == LEASE_HELD;
        }
        ASSERT_EQ(won, 1);
        ASSERT_EQ(held, 3);
        ASSERT_TRUE(stat_of(&s, "statuses", "412") >= 3);     /* they really were late */
        for (int i = 0; i < 4; i++) {
                if (o[i].claim)
                        st[i]->ops->finish(o[i].claim, &(LeaseEnd) { "succeeded", 0, -1 });
                store_close(&loop, st[i]);
        }
        loop_done(&loop);
        server_stop(&s);
}

TEST(renewal_and_finish) {
        uv_loop_t loop;
        Server s;
        LeaseStore *a;
        Outcome o;
        json_t *rec;
        json_int_t lm0, lm1;
        char etag0[64], etag1[64];
        time_t t;

        env_reset();
        double_start(&s, NULL);
        ASSERT_OK(uv_loop_init(&loop));
        a = store_new(&loop, &s, "host-a", (Opts) { .ttl = 3 * USEC_PER_SEC });
        ASSERT_EQ(claim(&loop, a, "renew", T0, "run-1", false, &o), LEASE_WON);
        rec = record_get(&s, o.key, &lm0, etag0);
        json_decref(rec);

        /* Past the TTL: renewed every second, the record stays fresh, the ETag changes. */
        run_for(&loop, 4000);
        rec = record_get(&s, o.key, &lm1, etag1);
        t = time(NULL);
        ASSERT_STREQ(status_of(rec), "running");
        ASSERT_TRUE(lm1 > lm0);
        ASSERT_TRUE(t - lm1 <= 2);
        ASSERT_TRUE(strcmp(etag0, etag1) != 0);
        ASSERT_EQ(o.n_lost, 0);
        json_decref(rec);

        a->ops->finish(o.claim, &(LeaseEnd) { "failed", 3, -1 });
        run_for(&loop, 500);
        rec = record_get(&s, o.key, NULL, NULL);
        ASSERT_STREQ(status_of(rec), "failed");
        ASSERT_EQ(json_integer_value(json_object_get(rec, "exit_status")), 3);
        ASSERT_TRUE(json_is_string(json_object_get(rec, "finished")));
        ASSERT_TRUE(json_is_string(json_object_get(rec, "started")));
        ASSERT_EQ(json_integer_value(json_object_get(rec, "generation")), 1);
        json_decref(rec);

        /* Finished: another replica is told it already ran. */
        {
                LeaseStore *b = store_new(&loop, &s, "host-b", (Opts) {});
                Outcome ob;

                ASSERT_EQ(claim(&loop, b, "renew", T0, "run-b", true, &ob), LEASE_HELD);
                ASSERT_TRUE(strstr(ob.detail, "already run by pid"));
                ASSERT_TRUE(strstr(ob.detail, "(failed)"));
                store_close(&loop, b);
        }
        store_close(&loop, a);
        loop_done(&loop);
        server_stop(&s);
}

TEST(lost_when_replaced) {
        uv_loop_t loop;
        Server s;
        LeaseStore *a;
        Outcome o;
        char path[512];

        env_reset();
        double_start(&s, NULL);
        ASSERT_OK(uv_loop_init(&loop));
        a = store_new(&loop, &s, "host-a", (Opts) { .ttl = 3 * USEC_PER_SEC });
        ASSERT_EQ(claim(&loop, a, "replaced", T0, "run-1", false, &o), LEASE_WON);
        (void) snprintf(path, sizeof(path), "raw?key=%s", o.key);
        ctl_do(&s, "PUT", path, "{\"status\":\"running\",\"generation\":2}");
        run_for(&loop, 1500);
        ASSERT_EQ(o.n_lost, 1);
        ASSERT_TRUE(strstr(o.why, "another holder"));
        a->ops->finish(o.claim, &(LeaseEnd) { "succeeded", 0, -1 }); /* writes nothing: not ours */
        store_close(&loop, a);
        loop_done(&loop);
        {
                json_t *rec = record_get(&s, "solocron/replaced/2026-11-23T06:00:00Z", NULL, NULL);

                ASSERT_EQ(json_integer_value(json_object_get(rec, "generation")), 2);
                json_decref(rec);
        }
        server_stop(&s);
}

TEST(lost_when_store_goes_down) {
        uv_loop_t loop;
        Server s;
        LeaseStore *a;
        Outcome o;
        uint64_t down, ms;

        env_reset();
        double_start(&s, NULL);
        ASSERT_OK(uv_loop_init(&loop));
        a = store_new(&loop, &s, "host-a", (Opts) { .ttl = 3 * USEC_PER_SEC });
        ASSERT_EQ(claim(&loop, a, "down", T0, "run-1", false, &o), LEASE_WON);
        run_for(&loop, 500);
        server_stop(&s);
        uv_update_time(&loop);
        down = uv_now(&loop);
        while (o.n_lost == 0 && uv_now(&loop) - down < 8000)
                run_for(&loop, 20);
        ms = uv_now(&loop) - down;
        fprintf(stderr, "  lost after %llu ms: '%s'\n", (unsigned long long) ms, o.why);
        ASSERT_EQ(o.n_lost, 1);
        ASSERT_TRUE(ms <= 3000);        /* within ttl of the last good renewal */
        ASSERT_TRUE(strstr(o.why, "could not be renewed within its TTL (3000 ms)"));
        ASSERT_TRUE(strstr(o.why, "cannot reach S3"));
        a->ops->finish(o.claim, &(LeaseEnd) { "failed", 1, -1 });
        store_close(&loop, a);
        loop_done(&loop);
}

/* The double carries out a PUT but its answer never comes: the connection closes (a proxy
 * losing the answer on the way back). libcurl resends the PUT on a new connection if the old
 * one was reused, or our next renewal goes out: either gets 412, as the record has a new ETag.
 * The record is still ours: the lease is kept, renewals go on, the final record is written. */
typedef struct RecordIs {
        const Server *s;
        const char *key;
        const char *status;             /* or NULL */
        const char *etag_not;           /* or NULL */
} RecordIs;

static bool record_is(const void *userdata) {
        const RecordIs *w = userdata;
        char etag[64] = "";
        json_t *rec = record_get(w->s, w->key, NULL, etag);
        bool ok = rec && (!w->status || strcmp(status_of(rec), w->status) == 0) &&
                  (!w->etag_not || strcmp(etag, w->etag_not) != 0);

        json_decref(rec);
        return ok;
}

static bool dropped_one(const void *userdata) {
        return stat_of(userdata, "dropped", NULL) >= 1;
}

TEST(renewal_answer_lost) {
        uv_loop_t loop;
        Server s;
        LeaseStore *a;
        Outcome o;
        json_t *rec;
        char etag[64];

        env_reset();
        double_start(&s, NULL);
        ASSERT_OK(uv_loop_init(&loop));
        a = store_new(&loop, &s, "host-a", (Opts) { .ttl = 3 * USEC_PER_SEC });
        ASSERT_EQ(claim(&loop, a, "dropped", T0, "run-1", false, &o), LEASE_WON);
        ctl_do(&s, "POST", "reset-stats", NULL);
        ctl_do(&s, "POST", "fault", "{\"action\":\"drop\",\"method\":\"PUT\",\"if_status\":200,"
                                    "\"key_prefix\":\"solocron/dropped/\"}");
        ASSERT_TRUE(run_until_true(&loop, dropped_one, &s, 5000));
        /* The dropped renewal was applied: the record has its ETag. A renewal after it can
         * only succeed from that ETag, which only a read-back gives. */
        json_decref(record_get(&s, o.key, NULL, etag));
        ASSERT_TRUE(run_until_true(&loop, record_is, &(RecordIs) { &s, o.key, "running", etag },
                                   5000));
        fprintf(stderr, "  answers: 412 x%lld, lost %d\n",
                (long long) stat_of(&s, "statuses", "412"), o.n_lost);
        ASSERT_TRUE(stat_of(&s, "statuses", "412") >= 1);
        ASSERT_EQ(o.n_lost, 0);
        rec = record_get(&s, o.key, NULL, NULL);
        ASSERT_EQ(json_integer_value(json_object_get(rec, "generation")), 1);
        json_decref(rec);
        a->ops->finish(o.claim, &(LeaseEnd) { "succeeded", 0, -1 });
        ASSERT_TRUE(run_until_true(&loop, record_is, &(RecordIs) { &s, o.key, "succeeded", NULL },
                                   5000));
        ASSERT_EQ(o.n_lost, 0);
        store_close(&loop, a);
        loop_done(&loop);
        server_stop(&s);
}

static bool put_seen(const void *userdata) {
        return stat_of(userdata, "requests", "PUT") >= 1;
}

/* A renewal is applied but its answer comes too late (after the renewal's timeout), and the
 * run ends meanwhile: the final record goes out with the ETag from before that renewal, gets
 * 412, reads the record back (still ours, still running) and is written again. Without that,
 * the record would say running for ever and replicas with takeover: would run it again. */
TEST(final_record_after_lost_renewal_answer) {
        uv_loop_t loop;
        Server s;
        LeaseStore *a;
        Outcome o;
        json_t *rec;

        env_reset();
        double_start(&s, NULL);
        ASSERT_OK(uv_loop_init(&loop));
        a = store_new(&loop, &s, "host-a", (Opts) { .ttl = 3 * USEC_PER_SEC });
        ASSERT_EQ(claim(&loop, a, "late", T0, "run-1", false, &o), LEASE_WON);
        ctl_do(&s, "POST", "reset-stats", NULL);
        ctl_do(&s, "POST", "fault", "{\"action\":\"drop\",\"method\":\"PUT\",\"if_status\":200,"
                                    "\"key_prefix\":\"solocron/late/\",\"delay_ms\":1500}");
        ASSERT_TRUE(run_until_true(&loop, put_seen, &s, 5000));    /* the renewal is out */
        a->ops->finish(o.claim, &(LeaseEnd) { "failed", 2, -1 });
        ASSERT_TRUE(run_until_true(&loop, record_is, &(RecordIs) { &s, o.key, "failed", NULL },
                                   8000));
        rec = record_get(&s, o.key, NULL, NULL);
        ASSERT_EQ(json_integer_value(json_object_get(rec, "exit_status")), 2);
        json_decref(rec);
        ASSERT_TRUE(stat_of(&s, "statuses", "412") >= 1);
        store_close(&loop, a);
        loop_done(&loop);
        server_stop(&s);
}

/* The daemon does not run for longer than the TTL (stopped, or blocked): the lease is lost,
 * and the reason says so instead of ending in an empty one. */
TEST(lost_after_stall_says_why) {
        uv_loop_t loop;
        Server s;
        LeaseStore *a;
        Outcome o;
        size_t n;

        env_reset();
        double_start(&s, NULL);
        ASSERT_OK(uv_loop_init(&loop));
        a = store_new(&loop, &s, "host-a", (Opts) { .ttl = 3 * USEC_PER_SEC });
        ASSERT_EQ(claim(&loop, a, "stall", T0, "run-1", false, &o), LEASE_WON);
        /* Not a wait for anything: the stall under test (the loop does not run for 3.5 s). */
        (void) nanosleep(&(struct timespec) { .tv_sec = 3, .tv_nsec = 500000000 }, NULL);
        run_for(&loop, 100);
        fprintf(stderr, "  lost: '%s'\n", o.why);
        ASSERT_EQ(o.n_lost, 1);
        n = strlen(o.why);
        ASSERT_TRUE(n > 2 && strcmp(o.why + n - 2, ": ") != 0);
        ASSERT_TRUE(strstr(o.why, "could not be renewed within its TTL (3000 ms): "));
        ASSERT_TRUE(strstr(o.why, "the daemon was stopped or blocked"));
        a->ops->finish(o.claim, &(LeaseEnd) { "failed", 1, -1 });
        store_close(&loop, a);
        loop_done(&loop);
        server_stop(&s);
}

/* ---- takeover ---- */

/* Counts takeovers; an ending without a dead holder counts 1000 (none is expected here). */
static void on_expired(bool holder_died, void *userdata) {
        (*(int *) userdata) += holder_died ? 1 : 1000;
}

TEST(takeover_after_holder_dies) {
        uv_loop_t loop;
        Server s;
        LeaseStore *a, *st[3];
        LeaseWatch *w = NULL;
        Outcome oa, o[3];
        json_t *rec, *prev;
        int expired = 0, won = 0, winner = -1;
        uint64_t died, waited;
        bool all;

        env_reset();
        double_start(&s, NULL);
        ASSERT_OK(uv_loop_init(&loop));
        a = store_new(&loop, &s, "host-a", (Opts) { .ttl = 3 * USEC_PER_SEC });
        for (int i = 0; i < 3; i++) {
                char host[32];

                (void) snprintf(host, sizeof(host), "host-%c", 'b' + i);
                st[i] = store_new(&loop, &s, host, (Opts) { .ttl = 3 * USEC_PER_SEC });
        }
        ASSERT_EQ(claim(&loop, a, "report", T0, "run-a", false, &oa), LEASE_WON);
        ASSERT_EQ(claim(&loop, st[0], "report", T0, "run-b", false, &o[0]), LEASE_HELD);
        ASSERT_OK(st[0]->ops->watch(st[0], &(LeaseRequest) { .job = "report", .scheduled = T0 },
                                    on_expired, &expired, &w));
        run_for(&loop, 1200);           /* a renews at least once */
        ASSERT_EQ(expired, 0);

        /* a dies: its store goes without a final record. */
        store_close(&loop, a);
        uv_update_time(&loop);
        died = uv_now(&loop);
        while (expired == 0 && uv_now(&loop) - died < 10000)
                run_for(&loop, 20);
        waited = uv_now(&loop) - died;
        fprintf(stderr, "  expired() %llu ms after the holder died (ttl 3000 ms)\n",
                (unsigned long long) waited);
        ASSERT_EQ(expired, 1);
        ASSERT_TRUE(waited <= 5000);    /* TTL + 2 s */

        /* Three contenders take over at once: one wins, with the next fencing token. */
        for (int i = 0; i < 3; i++) {
                char run[32];

                (void) snprintf(run, sizeof(run), "run-t%d", i);
                claim_start(st[i], "report", T0, run, true, &o[i]);
        }
        for (int tries = 0; tries < 2000; tries++) {
                all = o[0].done && o[1].done && o[2].done;
                if (all)
                        break;
                run_for(&loop, 10);
        }
        for (int i = 0; i < 3; i++) {
                ASSERT_TRUE(o[i].done);
                if (o[i].result == LEASE_WON) {
                        won++;
                        winner = i;
                } else {
                        ASSERT_EQ(o[i].result, LEASE_HELD);
                }
        }
        ASSERT_EQ(won, 1);
        ASSERT_EQ(o[winner].token, 2);
        rec = record_get(&s, o[winner].key, NULL, NULL);
        ASSERT_EQ(json_integer_value(json_object_get(rec, "generation")), 2);
        ASSERT_EQ(json_integer_value(json_object_get(rec, "fencing_token")), 2);
        ASSERT_EQ(json_integer_value(json_object_get(rec, "attempt")), 2);
        prev = json_array_get(json_object_get(rec, "previous"), 0);
        ASSERT_STREQ(status_of(prev), "abandoned");
        ASSERT_STREQ(json_string_value(json_object_get(json_object_get(prev, "holder"),
                                                       "hostname")), "host-a");
        ASSERT_EQ(json_integer_value(json_object_get(prev, "generation")), 1);
        json_decref(rec);
        ASSERT_EQ(expired, 1);          /* once */

        st[winner]->ops->finish(o[winner].claim, &(LeaseEnd) { "succeeded", 0, -1 });
        st[0]->ops->unwatch(w);
        for (int i = 0; i < 3; i++)
                store_close(&loop, st[i]);
        loop_done(&loop);
        server_stop(&s);
}

TEST(skewed_clock_cannot_steal) {
        uv_loop_t loop;
        Server s;
        LeaseStore *a, *fast, *slow;
        LeaseWatch *w = NULL;
        Outcome oa, o;
        json_t *rec;
        int expired = 0;

        env_reset();
        double_start(&s, NULL);
        ASSERT_OK(uv_loop_init(&loop));
        a = store_new(&loop, &s, "host-a", (Opts) { .ttl = 3 * USEC_PER_SEC });
        /* Two hours ahead and behind: expired by their own clocks, and beyond S3's 15 minutes
         * for signing (the double answers RequestTimeTooSkewed, they follow its Date). */
        (void) setenv("SOLOCRON_TEST_CLOCK_OFFSET", "7200", 1);
        fast = store_new(&loop, &s, "host-fast", (Opts) { .ttl = 3 * USEC_PER_SEC });
        (void) setenv("SOLOCRON_TEST_CLOCK_OFFSET", "-7200", 1);
        slow = store_new(&loop, &s, "host-slow", (Opts) { .ttl = 3 * USEC_PER_SEC });
        (void) unsetenv("SOLOCRON_TEST_CLOCK_OFFSET");

        ASSERT_EQ(claim(&loop, a, "live", T0, "run-a", false, &oa), LEASE_WON);
        ASSERT_OK(fast->ops->watch(fast, &(LeaseRequest) { .job = "live", .scheduled = T0 },
                                   on_expired, &expired, &w));
        run_for(&loop, 6500);           /* two TTLs */
        ASSERT_EQ(expired, 0);
        ASSERT_EQ(claim(&loop, fast, "live", T0, "run-f", true, &o), LEASE_HELD);
        ASSERT_TRUE(strstr(o.detail, "on host-a"));
        ASSERT_EQ(claim(&loop, slow, "live", T0, "run-s", true, &o), LEASE_HELD);
        ASSERT_EQ(claim(&loop, slow, "other", T0, "run-s", false, &o), LEASE_WON);
        slow->ops->finish(o.claim, &(LeaseEnd) { "succeeded", 0, -1 });
        ASSERT_EQ(oa.n_lost, 0);

        rec = record_get(&s, "solocron/live/2026-11-23T06:00:00Z", NULL, NULL);
        ASSERT_STREQ(status_of(rec), "running");
        ASSERT_EQ(json_integer_value(json_object_get(rec, "generation")), 1);
        json_decref(rec);

        a->ops->finish(oa.claim, &(LeaseEnd) { "succeeded", 0, -1 });
        fast->ops->unwatch(w);
        store_close(&loop, a);
        store_close(&loop, fast);
        store_close(&loop, slow);
        loop_done(&loop);
        server_stop(&s);
}

/* ---- history ---- */

TEST(history_cleanup) {
        static const char *const old[] = { "solocron/hist/2020-01-01T00:00:00Z",
                                           "solocron/hist/2020-01-02T00:00:00Z" };
        uv_loop_t loop;
        Server s;
        LeaseStore *a;
        Outcome o;
        json_t *keys;
        char path[256], *dump;

        env_reset();
        double_start(&s, NULL);
        for (size_t i = 0; i < 2; i++) {
                (void) snprintf(path, sizeof(path), "raw?key=%s", old[i]);
                ctl_do(&s, "PUT", path, "{\"status\":\"succeeded\",\"generation\":1}");
                (void) snprintf(path, sizeof(path), "age?key=%s&seconds=7200", old[i]);
                ctl_do(&s, "POST", path, NULL);
        }
        ctl_do(&s, "PUT", "raw?key=solocron/hist/notes.txt", "not ours");
        ctl_do(&s, "POST", "age?key=solocron/hist/notes.txt&seconds=7200", NULL);
        /* Runs' outputs (output: {s3: …}) go with their firings' records; a young one stays. */
        ctl_do(&s, "PUT", "raw?key=solocron/hist/2020-01-01T00:00:00Z/output", "out");
        ctl_do(&s, "POST", "age?key=solocron/hist/2020-01-01T00:00:00Z/output&seconds=7200", NULL);
        ctl_do(&s, "PUT", "raw?key=solocron/hist/2020-01-02T00:00:00Z/output.gz", "gz");
        ctl_do(&s, "PUT", "raw?key=solocron/hist/manual-old/output", "out");
        ctl_do(&s, "POST", "age?key=solocron/hist/manual-old/output&seconds=7200", NULL);
        /* Manual runs' records: by Last-Modified alone. */
        ctl_do(&s, "PUT", "raw?key=solocron/hist/manual-old", "{}");
        ctl_do(&s, "POST", "age?key=solocron/hist/manual-old&seconds=7200", NULL);
        ctl_do(&s, "PUT", "raw?key=solocron/hist/manual-new", "{}");
        ctl_do(&s, "PUT", "raw?key=solocron/other/2020-01-01T00:00:00Z", "{}");
        ctl_do(&s, "POST", "age?key=solocron/other/2020-01-01T00:00:00Z&seconds=7200", NULL);

        ASSERT_OK(uv_loop_init(&loop));
        a = store_new(&loop, &s, "host-a", (Opts) { .history = 3600 * USEC_PER_SEC });
        ASSERT_EQ(claim(&loop, a, "hist", T0, "run-1", false, &o), LEASE_WON);
        a->ops->finish(o.claim, &(LeaseEnd) { "succeeded", 0, -1 });
        run_for(&loop, 800);
        keys = ctl(&s, "GET", "keys", NULL);
        dump = json_dumps(keys, JSON_COMPACT);
        fprintf(stderr, "  left: %s\n", dump);
        ASSERT_STREQ(dump, "{\"keys\":[\"solocron/hist/2020-01-02T00:00:00Z/output.gz\","
                           "\"solocron/hist/2026-11-23T06:00:00Z\","
                           "\"solocron/hist/manual-new\","
                           "\"solocron/hist/notes.txt\","
                           "\"solocron/other/2020-01-01T00:00:00Z\"]}");
        free(dump);
        json_decref(keys);
        /* At most once an hour per job: the next finish lists nothing. */
        ctl_do(&s, "POST", "reset-stats", NULL);
        ASSERT_EQ(claim(&loop, a, "hist", T0 + 60, "run-2", false, &o), LEASE_WON);
        a->ops->finish(o.claim, &(LeaseEnd) { "succeeded", 0, -1 });
        run_for(&loop, 500);
        ASSERT_EQ(stat_count(&s, "GET"), 1);    /* the claim's look for a pause marker */
        store_close(&loop, a);
        loop_done(&loop);
        server_stop(&s);
}

static bool listed_and_deleted(const void *userdata) {
        return stat_count(userdata, "GET") >= 5 && stat_count(userdata, "DELETE") >= 5;
}

/* More records than a listing page holds (the double's pages hold two keys, as S3's may hold
 * fewer than max-keys): the clean-up follows the continuation tokens through all the old
 * ones, and stops at the first record scheduled within history. */
TEST(history_cleanup_pages) {
        uv_loop_t loop;
        Server s;
        LeaseStore *a;
        Outcome o;
        json_t *keys;
        char path[256], *dump;

        env_reset();
        double_start(&s, (const char *[]) { "--list-max-keys", "2", NULL });
        for (int day = 1; day <= 5; day++) {
                (void) snprintf(path, sizeof(path), "raw?key=solocron/hist/2020-01-0%dT00:00:00Z",
                                day);
                ctl_do(&s, "PUT", path, "{\"status\":\"succeeded\",\"generation\":1}");
                (void) snprintf(path, sizeof(path),
                                "age?key=solocron/hist/2020-01-0%dT00:00:00Z&seconds=7200", day);
                ctl_do(&s, "POST", path, NULL);
        }
        /* Scheduled in the future but written long ago (a clock far ahead): the pass ends
         * before it, and a pass after its time deletes it. */
        ctl_do(&s, "PUT", "raw?key=solocron/hist/2099-01-01T00:00:00Z", "{}");
        ctl_do(&s, "POST", "age?key=solocron/hist/2099-01-01T00:00:00Z&seconds=7200", NULL);
        ctl_do(&s, "PUT", "raw?key=solocron/hist/notes.txt", "not ours");

        ASSERT_OK(uv_loop_init(&loop));
        a = store_new(&loop, &s, "host-a", (Opts) { .history = 3600 * USEC_PER_SEC });
        ASSERT_EQ(claim(&loop, a, "hist", T0, "run-1", false, &o), LEASE_WON);
        ctl_do(&s, "POST", "reset-stats", NULL);
        a->ops->finish(o.claim, &(LeaseEnd) { "succeeded", 0, -1 });
        ASSERT_TRUE(run_until_true(&loop, listed_and_deleted, &s, 5000));
        run_for(&loop, 300);            /* time for a sixth listing, which must not come */
        keys = ctl(&s, "GET", "keys", NULL);
        dump = json_dumps(keys, JSON_COMPACT);
        fprintf(stderr, "  left: %s after %lld listings\n", dump,
                (long long) stat_count(&s, "GET"));
        ASSERT_STREQ(dump, "{\"keys\":[\"solocron/hist/2026-11-23T06:00:00Z\","
                           "\"solocron/hist/2099-01-01T00:00:00Z\","
                           "\"solocron/hist/notes.txt\"]}");
        free(dump);
        json_decref(keys);
        /* Pages: [01 02] [03 04] [05 2026-11-23] [2099 …]: it stops at 2099; then one page
         * of manual runs (none). */
        ASSERT_EQ(stat_count(&s, "GET"), 5);
        ASSERT_EQ(stat_count(&s, "DELETE"), 5);
        store_close(&loop, a);
        loop_done(&loop);
        server_stop(&s);
}

/* ---- the API's queries ---- */

typedef struct Answer {                 /* what a query answered, and how often */
        bool done;
        int n_calls;
        bool failed;
        char error[512];
        json_t *runs;                   /* history: [{scheduled, host, run, status, …}] */
        char jobs[512];                 /* list_paused: "a,b" */
        LeaseStore *chain;              /* closing: ask this store again from the answer */
        struct Answer *chained;
} Answer;

static void answer_note(Answer *a, const char *error) {
        a->done = true;
        a->n_calls++;
        a->failed = error != NULL;
        (void) snprintf(a->error, sizeof(a->error), "%s", error ?: "");
}

static void on_records(const LeaseRecord *records, size_t n, const char *error, void *userdata) {
        Answer *a = userdata;

        answer_note(a, error);
        json_decref(a->runs);
        a->runs = json_array();
        for (size_t i = 0; i < n; i++) {
                const LeaseRecord *r = &records[i];

                ASSERT_OK(json_array_append_new(a->runs, json_pack(
                        "{s:I, s:s?, s:s?, s:s?, s:s?, s:I, s:I, s:I}", "scheduled",
                        (json_int_t) r->scheduled, "manual", r->manual, "host", r->host,
                        "run", r->run_id, "status", r->status,
                        "exit_status", (json_int_t) r->exit_status,
                        "duration_ms", (json_int_t) r->duration_msec,
                        "pid", (json_int_t) r->pid)));
        }
}

static void on_jobs(char *const *jobs, size_t n, const char *error, void *userdata) {
        Answer *a = userdata;

        answer_note(a, error);
        a->jobs[0] = 0;
        for (size_t i = 0; i < n; i++)
                (void) snprintf(a->jobs + strlen(a->jobs), sizeof(a->jobs) - strlen(a->jobs),
                                "%s%s", i ? "," : "", jobs[i]);
}

static void on_query_done(const char *error, void *userdata) {
        Answer *a = userdata;

        answer_note(a, error);
        if (a->chain)           /* a query asked from an answer: of a closing store */
                a->chain->ops->probe(a->chain, on_query_done, a->chained);
}

/* Forget an answer (of a zeroed Answer, or one answered). */
static void answer_free(Answer *a) {
        json_decref(a->runs);
        *a = (Answer) {};
}

static void answer_wait(uv_loop_t *loop, Answer *a) {
        (void) run_until(loop, &a->done, 30000);
        ASSERT_TRUE(a->done);
        ASSERT_EQ(a->n_calls, 1);
}

static void history(uv_loop_t *loop, LeaseStore *st, const char *job, int64_t since,
                    unsigned limit, Answer *a) {
        answer_free(a);
        st->ops->history(st, job, since, limit, on_records, a);
        answer_wait(loop, a);
        if (a->failed)
                fprintf(stderr, "  history of %s: %s\n", job, a->error);
}

static void set_paused(uv_loop_t *loop, LeaseStore *st, const char *job, bool paused,
                       Answer *a) {
        answer_free(a);
        st->ops->set_paused(st, job, paused, "tester on host-x", on_query_done, a);
        answer_wait(loop, a);
}

static const char *paused_jobs(uv_loop_t *loop, LeaseStore *st, Answer *a) {
        answer_free(a);
        st->ops->list_paused(st, on_jobs, a);
        answer_wait(loop, a);
        ASSERT_TRUE(!a->failed);
        return a->jobs;
}

static void probe(uv_loop_t *loop, LeaseStore *st, Answer *a) {
        answer_free(a);
        st->ops->probe(st, on_query_done, a);
        answer_wait(loop, a);
}

/* A paused job: its firings are held (paused) on every replica, a takeover's too; its manual
 * runs still run, each key once; other jobs go on. */
TEST(pause_marker_and_manual_runs) {
        uv_loop_t loop;
        Server s;
        LeaseStore *a, *b;
        Outcome o, om;
        Answer q = {};
        json_t *rec;

        env_reset();
        double_start(&s, NULL);
        ASSERT_OK(uv_loop_init(&loop));
        a = store_new(&loop, &s, "host-a", (Opts) {});
        b = store_new(&loop, &s, "host-b", (Opts) {});
        ASSERT_STREQ(paused_jobs(&loop, a, &q), "");
        set_paused(&loop, a, "tick", true, &q);
        ASSERT_TRUE(!q.failed);
        rec = record_get(&s, "solocron/:paused/tick", NULL, NULL);
        ASSERT_STREQ(json_string_value(json_object_get(rec, "by")), "tester on host-x");
        ASSERT_TRUE(json_is_string(json_object_get(rec, "at")));
        json_decref(rec);

        ASSERT_EQ(claim(&loop, b, "tick", T0, "run-b", false, &o), LEASE_HELD);
        fprintf(stderr, "  paused: '%s'\n", o.detail);
        ASSERT_EQ(o.held, LEASE_HELD_PAUSED);
        ASSERT_TRUE(!o.has_record);
        ASSERT_TRUE(strstr(o.detail, "the job is paused (by tester on host-x, at 20"));
        ASSERT_TRUE(!record_get(&s, "solocron/tick/2026-11-23T06:00:00Z", NULL, NULL));
        ASSERT_EQ(claim(&loop, a, "tick", T0, "run-a", true, &o), LEASE_HELD);
        ASSERT_EQ(o.held, LEASE_HELD_PAUSED);
        ASSERT_EQ(claim(&loop, a, "tock", T0, "run-a", false, &o), LEASE_WON);
        a->ops->cancel(o.claim);

        /* A manual run ignores the pause; its key is its own, and runs once. */
        ASSERT_EQ(claim_manual(&loop, b, "tick", T0 + 5, "nightly-1", "run-m1", &om), LEASE_WON);
        ASSERT_STREQ(om.key, "solocron/tick/manual-nightly-1");
        rec = record_get(&s, om.key, NULL, NULL);
        ASSERT_STREQ(json_string_value(json_object_get(rec, "manual")), "nightly-1");
        ASSERT_STREQ(status_of(rec), "running");
        json_decref(rec);
        ASSERT_EQ(claim_manual(&loop, a, "tick", T0 + 6, "nightly-1", "run-m2", &o), LEASE_HELD);
        ASSERT_EQ(o.held, LEASE_HELD_RUNNING);
        ASSERT_TRUE(o.has_record);
        ASSERT_STREQ(o.record_run, "run-m1");
        ASSERT_STREQ(o.record_status, "running");
        b->ops->finish(om.claim, &(LeaseEnd) { "failed", 4, 1500 });
        ASSERT_TRUE(run_until_true(&loop, record_is, &(RecordIs) { .s = &s, .key = om.key,
                                                                   .status = "failed" },
                                   5000));
        ASSERT_EQ(claim_manual(&loop, a, "tick", T0 + 7, "nightly-1", "run-m3", &o), LEASE_HELD);
        ASSERT_EQ(o.held, LEASE_HELD_DONE);
        ASSERT_STREQ(o.record_run, "run-m1");
        ASSERT_STREQ(o.record_status, "failed");
        claim_start_req(a, &(LeaseRequest) { .job = "tick", .scheduled = T0, .manual = "a/b",
                                             .run_id = "run-x" }, &o);
        ASSERT_TRUE(o.done && o.result == LEASE_UNAVAILABLE);

        /* Listed, resumed from the other replica, listed again. */
        set_paused(&loop, b, "tock", true, &q);
        ASSERT_STREQ(paused_jobs(&loop, a, &q), "tick,tock");
        set_paused(&loop, b, "tick", false, &q);
        ASSERT_TRUE(!q.failed);
        set_paused(&loop, b, "tick", false, &q);        /* again: nothing to remove */
        ASSERT_TRUE(!q.failed);
        ASSERT_STREQ(paused_jobs(&loop, a, &q), "tock");
        ASSERT_EQ(claim(&loop, b, "tick", T0 + 60, "run-b2", false, &o), LEASE_WON);
        b->ops->cancel(o.claim);
        answer_free(&q);
        b->ops->set_paused(b, "no/such", true, "x", on_query_done, &q);
        ASSERT_TRUE(q.done && q.failed);
        store_close(&loop, a);
        store_close(&loop, b);
        loop_done(&loop);
        server_stop(&s);
}

/* A run from its claim to its final record. */
static void run_one(uv_loop_t *loop, const Server *s, LeaseStore *st, const char *job,
                    int64_t when, const char *manual, const char *run, int64_t exit_status) {
        const char *result = exit_status ? "failed" : "succeeded";
        Outcome o;

        claim_start_req(st, &(LeaseRequest) { .job = job, .scheduled = when, .manual = manual,
                                              .run_id = run, .attempt = 1 }, &o);
        ASSERT_EQ(claim_wait(loop, job, &o), LEASE_WON);
        st->ops->finish(o.claim, &(LeaseEnd) { result, exit_status, 1000 * exit_status + 7 });
        ASSERT_TRUE(run_until_true(loop, record_is, &(RecordIs) { .s = s, .key = o.key,
                                                                  .status = result }, 5000));
}

static int64_t runs_at(const Answer *a, size_t i) {
        return json_integer_value(json_object_get(json_array_get(a->runs, i), "scheduled"));
}

static const char *runs_str(const Answer *a, size_t i, const char *field) {
        return json_string_value(json_object_get(json_array_get(a->runs, i), field));
}

/* The newest records first, from any replica: firings found in windows back from now (the
 * double's pages hold two keys, so every window is read page by page), a manual run, one
 * still running, one long ago, one ahead of the clock; since and limit. */
TEST(history_since_limit_and_manual_runs) {
        int64_t now = time(NULL), want[9];
        uv_loop_t loop;
        Server s;
        LeaseStore *a, *b;
        Outcome running;
        Answer q = {};
        char path[256], when[RFC3339_UTC_MAX];
        size_t n = 0;

        env_reset();
        double_start(&s, (const char *[]) { "--list-max-keys", "2", NULL });
        ASSERT_OK(uv_loop_init(&loop));
        a = store_new(&loop, &s, "host-a", (Opts) {});
        b = store_new(&loop, &s, "host-b", (Opts) {});
        want[n++] = now + 3600;
        run_one(&loop, &s, a, "hist", now + 3600, NULL, "run-ahead", 0);
        claim_start(a, "hist", now - 10, "run-running", false, &running);
        ASSERT_EQ(claim_wait(&loop, "hist", &running), LEASE_WON);
        want[n++] = now - 10;
        want[n++] = now - 30;
        run_one(&loop, &s, b, "hist", now - 30, "by-hand", "run-manual", 0);
        for (int i = 4; i >= 0; i--) {
                char run[16];

                (void) snprintf(run, sizeof(run), "run-%d", i);
                want[n++] = now - 600 + 60 * i;
                run_one(&loop, &s, i % 2 ? a : b, "hist", now - 600 + 60 * i, NULL, run, i);
        }
        want[n++] = now - 3 * 86400;
        run_one(&loop, &s, b, "hist", now - 3 * 86400, NULL, "run-old", 0);
        /* Left out: not a record, another job's, not a key of a firing. */
        (void) snprintf(path, sizeof(path), "raw?key=solocron/hist/%s",
                        format_rfc3339_utc(now - 120, when));
        ctl_do(&s, "PUT", path, "{not json");
        ctl_do(&s, "PUT", "raw?key=solocron/histo/2026-11-23T06:00:00Z", "{}");
        ctl_do(&s, "PUT", "raw?key=solocron/hist/notes.txt", "{}");

        history(&loop, b, "hist", 0, 100, &q);
        ASSERT_TRUE(!q.failed);
        ASSERT_EQ(json_array_size(q.runs), n);
        for (size_t i = 0; i < n; i++)
                ASSERT_EQ(runs_at(&q, i), want[i]);
        ASSERT_STREQ(runs_str(&q, 1, "status"), "running");
        ASSERT_STREQ(runs_str(&q, 1, "host"), "host-a");
        ASSERT_STREQ(runs_str(&q, 2, "manual"), "by-hand");
        ASSERT_STREQ(runs_str(&q, 2, "host"), "host-b");
        ASSERT_STREQ(runs_str(&q, 2, "run"), "run-manual");
        ASSERT_STREQ(runs_str(&q, 3, "run"), "run-4");
        ASSERT_STREQ(runs_str(&q, 3, "host"), "host-b");
        ASSERT_STREQ(runs_str(&q, 3, "status"), "failed");
        ASSERT_EQ(json_integer_value(json_object_get(json_array_get(q.runs, 3), "exit_status")),
                  4);
        ASSERT_EQ(json_integer_value(json_object_get(json_array_get(q.runs, 3), "duration_ms")),
                  4007);
        ASSERT_STREQ(runs_str(&q, 4, "host"), "host-a");
        ASSERT_EQ(json_integer_value(json_object_get(json_array_get(q.runs, 4), "pid")), getpid());
        answer_free(&q);

        history(&loop, a, "hist", now - 480, 100, &q);          /* since: at or after */
        ASSERT_EQ(json_array_size(q.runs), 6);
        ASSERT_EQ(runs_at(&q, 5), now - 480);
        history(&loop, a, "hist", 0, 4, &q);                    /* limit: the newest */
        ASSERT_EQ(json_array_size(q.runs), 4);
        ASSERT_EQ(runs_at(&q, 3), now - 360);
        history(&loop, a, "hist", now - 35, 100, &q);
        ASSERT_EQ(json_array_size(q.runs), 3);
        history(&loop, a, "nothing", 0, 100, &q);
        ASSERT_TRUE(!q.failed);
        ASSERT_EQ(json_array_size(q.runs), 0);
        /* A manual run asked for long ago and written now (a long run's final record) ranks
         * by that write among the newest, but it is not one of the two newest runs: the
         * firing ranked after it is read too. */
        (void) snprintf(path, sizeof(path), "{\"job\":\"hist\",\"scheduled\":\"%s\","
                        "\"manual\":\"old\",\"holder\":\"host-c\",\"status\":\"succeeded\"}",
                        format_rfc3339_utc(now - 1000, when));
        ctl_do(&s, "PUT", "raw?key=solocron/hist/manual-old", path);
        history(&loop, a, "hist", 0, 2, &q);
        ASSERT_EQ(json_array_size(q.runs), 2);
        ASSERT_EQ(runs_at(&q, 0), now + 3600);
        ASSERT_EQ(runs_at(&q, 1), now - 10);
        history(&loop, a, "hist", 0, 3, &q);
        ASSERT_EQ(json_array_size(q.runs), 3);
        ASSERT_STREQ(runs_str(&q, 2, "manual"), "by-hand");
        answer_free(&q);
        a->ops->finish(running.claim, &(LeaseEnd) { "succeeded", 0, 10 });
        store_close(&loop, a);
        store_close(&loop, b);
        loop_done(&loop);
        server_stop(&s);
}

/* The pause marker's GET answers within the grace but after the deadline: the claim stands
 * down UNAVAILABLE without writing (no step starts after the deadline). */
TEST(no_election_after_a_late_pause_marker) {
        uv_loop_t loop;
        Server s;
        LeaseStore *a;
        Outcome o;

        env_reset();
        double_start(&s, NULL);
        ctl_do(&s, "POST", "fault", "{\"action\":\"delay\",\"method\":\"GET\",\"if_status\":404,"
                                    "\"key_prefix\":\"solocron/:paused/slow\",\"delay_ms\":2300,"
                                    "\"count\":1}");
        ASSERT_OK(uv_loop_init(&loop));
        a = store_new(&loop, &s, "host-a", (Opts) { .election_timeout = 2 * USEC_PER_SEC });
        ASSERT_EQ(claim(&loop, a, "slow", T0, "run-1", false, &o), LEASE_UNAVAILABLE);
        ASSERT_TRUE(strstr(o.detail, "no time was left after reading the pause marker") != NULL);
        /* Nothing was written: the firing is still free. */
        ASSERT_EQ(claim(&loop, a, "slow", T0, "run-2", false, &o), LEASE_WON);
        a->ops->finish(o.claim, &(LeaseEnd) { "succeeded", 0, 1 });
        store_close(&loop, a);
        loop_done(&loop);
        server_stop(&s);
}

/* A store that does not answer, answers 500, or takes longer than election_timeout (1s):
 * every query answers with an error, within that time. A record that cannot be read is left
 * out of a history, unless none can. */
TEST(queries_when_the_store_is_down_or_faulty) {
        Server none, s;
        uv_loop_t loop;
        LeaseStore *a;
        Answer q = {};
        uint64_t ms;

        env_reset();
        nobody_listens(&none);
        ASSERT_OK(uv_loop_init(&loop));
        a = store_new(&loop, &none, "host-a", (Opts) { .election_timeout = USEC_PER_SEC });
        history(&loop, a, "job", 0, 10, &q);
        ASSERT_TRUE(q.failed && strstr(q.error, "cannot reach S3"));
        probe(&loop, a, &q);
        ASSERT_TRUE(q.failed && strstr(q.error, "cannot reach S3"));
        answer_free(&q);
        a->ops->list_paused(a, on_jobs, &q);
        answer_wait(&loop, &q);
        ASSERT_TRUE(q.failed);
        set_paused(&loop, a, "job", true, &q);
        ASSERT_TRUE(q.failed && strstr(q.error, "cannot reach S3"));
        store_close(&loop, a);
        answer_free(&q);

        double_start(&s, NULL);
        a = store_new(&loop, &s, "host-a", (Opts) { .election_timeout = USEC_PER_SEC });
        run_one(&loop, &s, a, "job", T0, NULL, "run-1", 0);
        run_one(&loop, &s, a, "job", T0 + 60, NULL, "run-2", 0);
        ctl_do(&s, "POST", "fault", "{\"method\":\"GET\",\"status\":500,\"body\":\"oops\"}");
        probe(&loop, a, &q);
        ASSERT_TRUE(q.failed && strstr(q.error, "500"));
        probe(&loop, a, &q);
        ASSERT_TRUE(!q.failed);
        /* One record unreadable: left out. Both: the history fails. */
        ctl_do(&s, "POST", "fault", "{\"method\":\"GET\",\"status\":503,\"body\":\"busy\","
                                    "\"key_prefix\":\"solocron/job/2026-11-23T06:01\"}");
        history(&loop, a, "job", 0, 10, &q);
        ASSERT_TRUE(!q.failed);
        ASSERT_EQ(json_array_size(q.runs), 1);
        ASSERT_EQ(runs_at(&q, 0), T0);
        ctl_do(&s, "POST", "fault", "{\"method\":\"GET\",\"status\":503,\"body\":\"busy\","
                                    "\"key_prefix\":\"solocron/job/2\",\"count\":2}");
        history(&loop, a, "job", 0, 10, &q);
        ASSERT_TRUE(q.failed && strstr(q.error, "503"));
        /* Slower than election_timeout. */
        ctl_do(&s, "POST", "fault", "{\"action\":\"delay\",\"method\":\"GET\",\"delay_ms\":3000}");
        uv_update_time(&loop);
        ms = uv_now(&loop);
        history(&loop, a, "job", 0, 10, &q);
        uv_update_time(&loop);
        ms = uv_now(&loop) - ms;
        fprintf(stderr, "  slow: after %llu ms: '%s'\n", (unsigned long long) ms, q.error);
        ASSERT_TRUE(q.failed);
        ASSERT_TRUE(ms >= 900 && ms <= 1500);
        answer_free(&q);
        store_close(&loop, a);
        loop_done(&loop);
        server_stop(&s);
}

static bool queries_arrived(const void *userdata) {
        return stat_count(userdata, "GET") >= 3 && stat_count(userdata, "PUT") >= 1;
}

/* Queries still waiting when the store closes are answered then, once, with an error; one
 * asked from such an answer too. */
TEST(queries_answered_at_close) {
        uv_loop_t loop;
        Server s;
        LeaseStore *a;
        Answer q[5] = {};
        bool closed = false;

        env_reset();
        double_start(&s, NULL);
        ASSERT_OK(uv_loop_init(&loop));
        a = store_new(&loop, &s, "host-a", (Opts) {});
        probe(&loop, a, &q[0]);
        ASSERT_TRUE(!q[0].failed);
        ctl_do(&s, "POST", "reset-stats", NULL);
        ctl_do(&s, "POST", "fault", "{\"action\":\"delay\",\"delay_ms\":3000,\"count\":10}");
        q[0] = (Answer) { .chain = a, .chained = &q[4] };
        a->ops->probe(a, on_query_done, &q[0]);
        a->ops->history(a, "job", 0, 10, on_records, &q[1]);
        a->ops->list_paused(a, on_jobs, &q[2]);
        a->ops->set_paused(a, "job", true, "tester", on_query_done, &q[3]);
        ASSERT_TRUE(run_until_true(&loop, queries_arrived, &s, 5000));
        for (size_t i = 0; i < 5; i++)
                ASSERT_EQ(q[i].n_calls, 0);
        a->ops->close(a, on_store_closed, &closed);
        for (size_t i = 0; i < 5; i++) {
                ASSERT_EQ(q[i].n_calls, 1);
                ASSERT_TRUE(q[i].failed && strstr(q[i].error, "closing"));
        }
        (void) run_until(&loop, &closed, 20000);
        ASSERT_TRUE(closed);
        for (size_t i = 0; i < 5; i++)
                ASSERT_EQ(q[i].n_calls, 1);
        answer_free(&q[1]);
        loop_done(&loop);
        server_stop(&s);
}

/* ---- addressing, probe and signing ---- */

TEST(virtual_hosted_style) {
        uv_loop_t loop;
        Server s;
        LeaseStore *a;
        Outcome o;
        char endpoint[64];

        env_reset();
        double_start(&s, NULL);
        /* libcurl resolves *.localhost to the loopback itself: test-bucket.localhost:PORT */
        (void) snprintf(endpoint, sizeof(endpoint), "http://localhost:%d", s.port);
        ASSERT_OK(uv_loop_init(&loop));
        a = store_new(&loop, &s, "host-a", (Opts) { .endpoint = endpoint, .vhost = true });
        ASSERT_EQ(claim(&loop, a, "vhost", T0, "run-1", false, &o), LEASE_WON);
        a->ops->finish(o.claim, &(LeaseEnd) { "succeeded", 0, -1 });
        store_close(&loop, a);
        loop_done(&loop);
        {
                json_t *rec = record_get(&s, "solocron/vhost/2026-11-23T06:00:00Z", NULL, NULL);

                ASSERT_STREQ(status_of(rec), "succeeded");
                json_decref(rec);
        }
        server_stop(&s);
}

/* Keys go out as built and signed: libcurl must not remove dot segments from the path. */
TEST(path_sent_as_is) {
        uv_loop_t loop;
        Server s;
        LeaseStore *a;
        Outcome o;
        json_t *rec;

        env_reset();
        double_start(&s, NULL);
        ASSERT_OK(uv_loop_init(&loop));
        a = store_new(&loop, &s, "host-a", (Opts) { .prefix = "fleet/./a/../b" });
        ASSERT_EQ(claim(&loop, a, "dots", T0, "run-1", false, &o), LEASE_WON);
        ASSERT_STREQ(o.key, "fleet/./a/../b/dots/2026-11-23T06:00:00Z");
        rec = record_get(&s, o.key, NULL, NULL);
        ASSERT_TRUE(rec);
        ASSERT_STREQ(status_of(rec), "running");
        json_decref(rec);
        ASSERT_TRUE(!record_get(&s, "fleet/b/dots/2026-11-23T06:00:00Z", NULL, NULL));
        a->ops->finish(o.claim, &(LeaseEnd) { "succeeded", 0, -1 });
        store_close(&loop, a);
        loop_done(&loop);
        rec = record_get(&s, "fleet/./a/../b/dots/2026-11-23T06:00:00Z", NULL, NULL);
        ASSERT_STREQ(status_of(rec), "succeeded");
        json_decref(rec);
        server_stop(&s);
}

static void expect_unavailable(uv_loop_t *loop, LeaseStore *st, const char *job,
                               const char *want);

/* lease.ca_file: an endpoint whose certificate a private CA signed (MinIO, Ceph). */
TEST(private_ca) {
        uv_loop_t loop;
        Server s;
        LeaseStore *a;
        Outcome o;
        char dir[64] = "/tmp/test-s3-tls-XXXXXX", ca[128], endpoint[64];

        env_reset();
        if (access("/usr/bin/openssl", X_OK) < 0) {
                fprintf(stderr, "skipping: no openssl(1) to make a certificate\n");
                if (single_test)
                        exit(77);
                return;
        }
        ASSERT_TRUE(mkdtemp(dir));
        double_start(&s, (const char *[]) { "--tls", dir, NULL });
        (void) snprintf(s.dir, sizeof(s.dir), "%s", dir);       /* server_stop() removes it */
        (void) snprintf(ca, sizeof(ca), "%s/server.pem", dir);
        (void) snprintf(endpoint, sizeof(endpoint), "https://127.0.0.1:%d", s.port);
        ASSERT_OK(uv_loop_init(&loop));
        a = store_new(&loop, &s, "host-a", (Opts) { .endpoint = endpoint, .ca_file = ca });
        ASSERT_EQ(claim(&loop, a, "tls", T0, "run-1", false, &o), LEASE_WON);
        a->ops->finish(o.claim, &(LeaseEnd) { "succeeded", 0, -1 });
        store_close(&loop, a);
        /* The same endpoint, verified against the system's CAs: refused. */
        a = store_new(&loop, &s, "host-a", (Opts) { .endpoint = endpoint });
        expect_unavailable(&loop, a, "tls", "TLS failure");
        store_close(&loop, a);
        loop_done(&loop);
        server_stop(&s);
}

TEST(probe_refuses_s3rver) {
        uv_loop_t loop;
        Server s;
        LeaseStore *a;
        Outcome o;

        env_reset();
        if (!s3rver_start(&s))
                return;
        (void) setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1);
        ASSERT_OK(uv_loop_init(&loop));
        a = store_new(&loop, &s, "host-a", (Opts) {});
        ASSERT_EQ(claim(&loop, a, "job", T0, "run-1", false, &o), LEASE_UNAVAILABLE);
        fprintf(stderr, "  unavailable: '%s'\n", o.detail);
        ASSERT_STREQ(o.detail, "the S3 endpoint ignores conditional writes (If-None-Match); "
                               "leases there would not be safe");
        /* For good: the next claim is refused at once. */
        ASSERT_EQ(claim(&loop, a, "job", T0 + 60, "run-2", false, &o), LEASE_UNAVAILABLE);
        ASSERT_TRUE(strstr(o.detail, "ignores conditional writes"));
        store_close(&loop, a);
        loop_done(&loop);
        server_stop(&s);
}

typedef struct Got {
        bool done;
        int error;
        long status;
        char code[64], message[512], etag[80], body[512];
        int64_t date, last_modified;
} Got;

static void on_s3_done(const S3Response *r, void *userdata) {
        Got *g = userdata;

        g->done = true;
        g->error = r->error;
        g->status = r->status;
        g->date = r->date;
        g->last_modified = r->last_modified;
        (void) snprintf(g->code, sizeof(g->code), "%s", r->code);
        (void) snprintf(g->message, sizeof(g->message), "%s", r->message ?: "");
        (void) snprintf(g->etag, sizeof(g->etag), "%s", r->etag ?: "");
        (void) snprintf(g->body, sizeof(g->body), "%.*s", (int) r->body_size, r->body);
}

static void s3_do(uv_loop_t *loop, S3Client *c, S3Request req, Got *g) {
        *g = (Got) {};
        req.done = on_s3_done;
        req.userdata = g;
        ASSERT_OK(s3_request_start(c, &req, NULL));
        (void) run_until(loop, &g->done, 20000);
        ASSERT_TRUE(g->done);
}

static void on_client_closed(void *userdata) {
        *(bool *) userdata = true;
}

static void client_close(uv_loop_t *loop, S3Client *c) {
        bool closed = false;

        s3_client_close(c, on_client_closed, &closed);
        (void) run_until(loop, &closed, 10000);
        ASSERT_TRUE(closed);
}

#define KEY_SPACE "solocron/a b+c/2026-11-23T06:00:00Z"
#define KEY_SPACE_2 "solocron/a b+c/2026-11-24T06:00:00Z"

TEST(sigv4_against_s3rver) {
        static const char body[] = "{\"hello\": \"s3rver\"}";
        uv_loop_t loop;
        Server s;
        S3Client *c;
        Got g;
        char *err = NULL, *token = NULL;

        env_reset();
        if (!s3rver_start(&s))
                return;
        (void) setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1);
        (void) setenv("AWS_SESSION_TOKEN", "session-token-for-the-header", 1);
        ASSERT_OK(uv_loop_init(&loop));
        ASSERT_OK(s3_client_new(&loop, &(S3ClientConfig) { .bucket = "test-bucket",
                                                           .endpoint = s.url,
                                                           .region = "eu-west-1",
                                                           .path_style = true }, &c, &err));
        /* A key with characters SigV4 must encode. */
        s3_do(&loop, c, (S3Request) { .method = HTTP_PUT, .key = KEY_SPACE,
                                      .body = body, .body_size = sizeof(body) - 1,
                                      .content_type = "application/json" }, &g);
        if (g.status != 200)
                TEST_FAIL("PUT: %d %ld %s", g.error, g.status, g.message);
        ASSERT_TRUE(g.etag[0] == '"');
        s3_do(&loop, c, (S3Request) { .method = HTTP_GET, .key = KEY_SPACE }, &g);
        ASSERT_EQ(g.status, 200);
        ASSERT_STREQ(g.body, body);
        ASSERT_TRUE(g.date > 0 && g.last_modified > 0 && g.date >= g.last_modified);
        s3_do(&loop, c, (S3Request) { .method = HTTP_GET, .query = (const SigV4Param[]) {
                                              { "list-type", "2" }, { "prefix", "solocron/" } },
                                      .n_query = 2 }, &g);
        ASSERT_EQ(g.status, 200);
        ASSERT_TRUE(strstr(g.body, "<Key>" KEY_SPACE "</Key>"));
        /* One key a page: the second page by its continuation token (which has characters
         * the query must encode, and sign, as S3 does). */
        s3_do(&loop, c, (S3Request) { .method = HTTP_PUT, .key = KEY_SPACE_2,
                                      .body = body, .body_size = sizeof(body) - 1 }, &g);
        ASSERT_EQ(g.status, 200);
        s3_do(&loop, c, (S3Request) { .method = HTTP_GET, .query = (const SigV4Param[]) {
                                              { "list-type", "2" }, { "prefix", "solocron/" },
                                              { "max-keys", "1" } },
                                      .n_query = 3 }, &g);
        if (g.status != 200)
                TEST_FAIL("first page: %ld %s %s", g.status, g.message, g.body);
        ASSERT_TRUE(strstr(g.body, "<Key>" KEY_SPACE "</Key>"));
        ASSERT_TRUE(!strstr(g.body, KEY_SPACE_2));
        {
                const char *p = g.body, *v;
                size_t vlen;

                ASSERT_EQ(s3_xml_element(&p, g.body + strlen(g.body), "NextContinuationToken",
                                         &v, &vlen), 1);
                ASSERT_OK(s3_xml_text(v, vlen, &token));
        }
        fprintf(stderr, "  continuation token '%s'\n", token);
        s3_do(&loop, c, (S3Request) { .method = HTTP_GET, .query = (const SigV4Param[]) {
                                              { "list-type", "2" }, { "prefix", "solocron/" },
                                              { "max-keys", "1" },
                                              { "continuation-token", token } },
                                      .n_query = 4 }, &g);
        free(token);
        if (g.status != 200)
                TEST_FAIL("second page: %d %ld %s", g.error, g.status, g.message);
        ASSERT_TRUE(strstr(g.body, "<Key>" KEY_SPACE_2 "</Key>"));
        ASSERT_TRUE(strstr(g.body, "<IsTruncated>false</IsTruncated>"));
        s3_do(&loop, c, (S3Request) { .method = HTTP_DELETE, .key = KEY_SPACE_2 }, &g);
        s3_do(&loop, c, (S3Request) { .method = HTTP_GET, .key = "solocron/missing" }, &g);
        ASSERT_EQ(g.status, 404);
        ASSERT_STREQ(g.code, "NoSuchKey");
        s3_do(&loop, c, (S3Request) { .method = HTTP_DELETE, .key = KEY_SPACE }, &g);
        ASSERT_EQ(g.status, 204);
        client_close(&loop, c);

        /* An unknown key id: the code is named, the secret never is. */
        (void) setenv("AWS_ACCESS_KEY_ID", "AKIDUNKNOWN", 1);
        ASSERT_OK(s3_client_new(&loop, &(S3ClientConfig) { .bucket = "test-bucket",
                                                           .endpoint = s.url,
                                                           .path_style = true }, &c, &err));
        s3_do(&loop, c, (S3Request) { .method = HTTP_GET, .key = "x" }, &g);
        fprintf(stderr, "  %s\n", g.message);
        ASSERT_EQ(g.status, 403);
        ASSERT_STREQ(g.code, "InvalidAccessKeyId");
        ASSERT_TRUE(strstr(g.message, "InvalidAccessKeyId"));
        ASSERT_TRUE(!strstr(g.message, SECRET));
        client_close(&loop, c);
        loop_done(&loop);
        server_stop(&s);
}

/* The queries against a real S3 emulator: pause markers written, listed and removed; the
 * history of records put there by hand, found through s3rver's own listing (start-after,
 * prefixes). Its probe answers with the refusal of conditional writes: that store cannot
 * elect. */
TEST(queries_against_s3rver) {
        static const char *const when[] = { "2026-11-23T06:00:00Z", "2026-11-23T06:01:00Z",
                                            "2026-11-23T06:02:00Z", "2026-11-23T06:01:30Z" };
        uv_loop_t loop;
        Server s;
        S3Client *c;
        LeaseStore *a;
        Answer q = {};
        Outcome o;
        Got g;
        char *err = NULL;

        env_reset();
        if (!s3rver_start(&s))
                return;
        (void) setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1);
        ASSERT_OK(uv_loop_init(&loop));
        ASSERT_OK(s3_client_new(&loop, &(S3ClientConfig) { .bucket = "test-bucket",
                                                           .endpoint = s.url,
                                                           .path_style = true }, &c, &err));
        for (size_t i = 0; i < 4; i++) {
                char key[128], *body;
                json_t *rec = json_pack("{s:s, s:s, s:{s:s, s:i}, s:s, s:s, s:i, s:i, s:i}",
                                        "job", "hist", "scheduled", when[i], "holder",
                                        "hostname", "web-1", "pid", 7, "run", when[i],
                                        "status", "succeeded", "generation", 1,
                                        "exit_status", 0, "duration_ms", 5);

                if (i == 3)     /* a manual run's */
                        ASSERT_OK(json_object_set_new(rec, "manual", json_string("k1")));
                body = json_dumps(rec, JSON_COMPACT);
                json_decref(rec);
                (void) snprintf(key, sizeof(key), "solocron/hist/%s",
                                i == 3 ? "manual-k1" : when[i]);
                s3_do(&loop, c, (S3Request) { .method = HTTP_PUT, .key = key, .body = body,
                                              .body_size = strlen(body),
                                              .content_type = "application/json" }, &g);
                free(body);
                ASSERT_EQ(g.status, 200);
        }
        client_close(&loop, c);

        a = store_new(&loop, &s, "host-a", (Opts) {});
        ASSERT_EQ(claim(&loop, a, "job", T0, "run-1", false, &o), LEASE_UNAVAILABLE);
        probe(&loop, a, &q);
        ASSERT_TRUE(q.failed && strstr(q.error, "ignores conditional writes"));
        set_paused(&loop, a, "tick", true, &q);
        ASSERT_TRUE(!q.failed);
        set_paused(&loop, a, "tock", true, &q);
        ASSERT_STREQ(paused_jobs(&loop, a, &q), "tick,tock");
        set_paused(&loop, a, "tick", false, &q);
        ASSERT_STREQ(paused_jobs(&loop, a, &q), "tock");

        history(&loop, a, "hist", 0, 10, &q);
        ASSERT_EQ(json_array_size(q.runs), 4);
        ASSERT_STREQ(runs_str(&q, 0, "run"), when[2]);
        ASSERT_STREQ(runs_str(&q, 1, "manual"), "k1");
        ASSERT_STREQ(runs_str(&q, 2, "run"), when[1]);
        ASSERT_STREQ(runs_str(&q, 3, "host"), "web-1");
        history(&loop, a, "hist", T0 + 60, 10, &q);
        ASSERT_EQ(json_array_size(q.runs), 3);
        ASSERT_EQ(runs_at(&q, 2), T0 + 60);
        history(&loop, a, "hist", 0, 2, &q);
        ASSERT_EQ(json_array_size(q.runs), 2);
        ASSERT_STREQ(runs_str(&q, 1, "manual"), "k1");
        answer_free(&q);
        store_close(&loop, a);
        loop_done(&loop);
        server_stop(&s);
}

/* ---- failures ---- */

TEST(store_down_unavailable) {
        uv_loop_t loop;
        Server none;
        LeaseStore *a;
        Outcome o;
        uint64_t ms;

        env_reset();
        nobody_listens(&none);
        ASSERT_OK(uv_loop_init(&loop));
        a = store_new(&loop, &none, "host-a", (Opts) { .election_timeout = USEC_PER_SEC });
        claim_start(a, "job", T0, "run-1", false, &o);
        ms = run_until(&loop, &o.done, 10000);
        fprintf(stderr, "  after %llu ms: '%s'\n", (unsigned long long) ms, o.detail);
        ASSERT_EQ(o.result, LEASE_UNAVAILABLE);
        ASSERT_TRUE(ms >= 700 && ms <= 2500);
        ASSERT_TRUE(strstr(o.detail, "unavailable for 1000 ms"));
        ASSERT_TRUE(strstr(o.detail, "cannot reach S3"));
        store_close(&loop, a);
        loop_done(&loop);
}

static void expect_unavailable(uv_loop_t *loop, LeaseStore *st, const char *job,
                               const char *want) {
        Outcome o;

        ASSERT_EQ(claim(loop, st, job, T0, "run-x", false, &o), LEASE_UNAVAILABLE);
        fprintf(stderr, "  %s: '%s'\n", job, o.detail);
        if (!strstr(o.detail, want))
                TEST_FAIL("'%s' does not say '%s'", o.detail, want);
        ASSERT_TRUE(!strstr(o.detail, SECRET));
}

TEST(malformed_and_refused) {
        uv_loop_t loop;
        Server s, tls;
        LeaseStore *a;
        Outcome o;
        char endpoint[64];

        env_reset();
        double_start(&s, NULL);
        ASSERT_OK(uv_loop_init(&loop));
        a = store_new(&loop, &s, "host-a", (Opts) { .election_timeout = 2 * USEC_PER_SEC });
        ASSERT_EQ(claim(&loop, a, "warm", T0, "run-1", false, &o), LEASE_WON);
        a->ops->cancel(o.claim);

        /* Malformed error XML: a clear error, at once. */
        ctl_do(&s, "POST", "fault", "{\"method\":\"PUT\",\"status\":400,"
                                    "\"body\":\"<Error><Code>Bad\"}");
        expect_unavailable(&loop, a, "badxml", "unreadable error body");
        /* Refused credentials name S3's code. */
        ctl_do(&s, "POST", "fault", "{\"method\":\"PUT\",\"status\":403,\"body\":\"<Error><Code>"
                                    "SignatureDoesNotMatch</Code><Message>The request signature "
                                    "we calculated does not match</Message></Error>\"}");
        expect_unavailable(&loop, a, "badsig", "403 SignatureDoesNotMatch");
        /* A 500 (with an unreadable body) is retried. */
        ctl_do(&s, "POST", "fault", "{\"method\":\"PUT\",\"status\":500,\"body\":\"oops\"}");
        ASSERT_EQ(claim(&loop, a, "retried", T0, "run-1", false, &o), LEASE_WON);
        a->ops->cancel(o.claim);
        /* A record that is not JSON: held, and said so. */
        ctl_do(&s, "PUT", "raw?key=solocron/garbage/2026-11-23T06:00:00Z", "{not json");
        ASSERT_EQ(claim(&loop, a, "garbage", T0, "run-1", false, &o), LEASE_HELD);
        ASSERT_TRUE(strstr(o.detail, "cannot read"));
        ASSERT_EQ(claim(&loop, a, "garbage", T0, "run-1", true, &o), LEASE_HELD);
        store_close(&loop, a);

        /* TLS to a plain HTTP server: a TLS failure, at once. */
        double_start(&tls, NULL);
        (void) snprintf(endpoint, sizeof(endpoint), "https://127.0.0.1:%d", tls.port);
        a = store_new(&loop, &tls, "host-a", (Opts) { .endpoint = endpoint });
        expect_unavailable(&loop, a, "tls", "TLS failure");
        store_close(&loop, a);
        server_stop(&tls);

        /* A bucket that is not there. */
        {
                LeaseConfig cfg = { .ttl = 3 * USEC_PER_SEC, .bucket = (char *) "no-bucket",
                                    .endpoint = s.url, .path_style = true };
                char *err = NULL;

                ASSERT_OK(lease_s3_new(&loop, &cfg, "host-a", &a, &err));
                expect_unavailable(&loop, a, "nobucket", "NoSuchBucket");
                store_close(&loop, a);
        }
        loop_done(&loop);
        server_stop(&s);
}

TEST(bad_configuration) {
        uv_loop_t loop;
        LeaseStore *a = NULL;
        char *err = NULL;
        LeaseConfig cfg = { .ttl = 3 * USEC_PER_SEC, .bucket = (char *) "b",
                            .endpoint = (char *) "ftp://x" };

        env_reset();
        ASSERT_OK(uv_loop_init(&loop));
        ASSERT_EQ(lease_s3_new(&loop, &cfg, "h", &a, &err), -EINVAL);
        ASSERT_TRUE(strstr(err, "invalid S3 endpoint 'ftp://x'"));
        free(err);
        err = NULL;
        cfg.endpoint = (char *) "http://127.0.0.1:9";
        ASSERT_EQ(lease_s3_new(&loop, &cfg, "h", &a, &err), -EINVAL);
        ASSERT_TRUE(strstr(err, "virtual-hosted"));
        free(err);
        err = NULL;
        cfg.path_style = true;
        (void) unsetenv("AWS_ACCESS_KEY_ID");
        ASSERT_EQ(lease_s3_new(&loop, &cfg, "h", &a, &err), -EINVAL);
        fprintf(stderr, "  %s\n", err);
        ASSERT_TRUE(strstr(err, "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"));
        ASSERT_TRUE(!strstr(err, SECRET));
        free(err);
        loop_done(&loop);
}

/* ---- the credential chain ---- */

typedef struct CredsWaiter {
        S3CredsWait w;
        bool done;
        int error;
        char message[512];
} CredsWaiter;

static void on_creds(S3CredsWait *w, int error, const char *message) {
        CredsWaiter *cw = container_of(w, CredsWaiter, w);

        cw->done = true;
        cw->error = error;
        (void) snprintf(cw->message, sizeof(cw->message), "%s", message ?: "");
}

/* The credentials the chain gives now, waiting for a fetch if needed. */
static int creds_now(uv_loop_t *loop, S3Creds *c, HttpClient *http, SigV4Credentials *ret,
                     char *message) {
        CredsWaiter cw = {};
        const char *why = NULL;
        int r;

        r = s3_creds_get(c, http, (int64_t) time(NULL), ret, &cw.w, on_creds, &why);
        if (r == -EINPROGRESS) {
                (void) run_until(loop, &cw.done, 10000);
                ASSERT_TRUE(cw.done);
                if (cw.error < 0) {
                        (void) snprintf(message, 512, "%s", cw.message);
                        return cw.error;
                }
                r = s3_creds_get(c, http, (int64_t) time(NULL), ret, &cw.w, on_creds, &why);
        }
        if (r < 0)
                (void) snprintf(message, 512, "%s", why ?: "");
        return r;
}

static void http_done(uv_loop_t *loop, HttpClient *http) {
        http_client_close(http, NULL, NULL);
        (void) uv_run(loop, UV_RUN_DEFAULT);
}

TEST(creds_environment_and_profile) {
        uv_loop_t loop;
        HttpClient *http;
        S3Creds *c;
        SigV4Credentials k;
        char *err = NULL, msg[512], path[] = "/tmp/test-creds-XXXXXX";
        int fd;
        FILE *f;

        env_reset();
        ASSERT_OK(uv_loop_init(&loop));
        http = http_client_new(&loop);
        ASSERT_TRUE(http);
        (void) setenv("AWS_SESSION_TOKEN", "env-token", 1);
        ASSERT_OK(s3_creds_new(&c, &err));
        ASSERT_STREQ(s3_creds_source(c), "environment");
        ASSERT_OK(creds_now(&loop, c, http, &k, msg));
        ASSERT_STREQ(k.access_key_id, "AKIDDOUBLE");
        ASSERT_STREQ(k.secret_access_key, SECRET);
        ASSERT_STREQ(k.session_token, "env-token");
        s3_creds_free(c);

        fd = mkstemp(path);
        ASSERT_OK(fd);
        f = fdopen(fd, "w");
        fputs("# comment\n[default]\naws_access_key_id = AKIDDEFAULT\n"
              "aws_secret_access_key=default-secret\n\n[other]\r\n"
              "  aws_access_key_id =  AKIDOTHER  \n; another comment\n"
              "aws_secret_access_key = other/secret+x\naws_session_token = other-token\n", f);
        fclose(f);
        (void) unsetenv("AWS_ACCESS_KEY_ID");
        (void) unsetenv("AWS_SECRET_ACCESS_KEY");
        (void) unsetenv("AWS_SESSION_TOKEN");
        (void) setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
        ASSERT_OK(s3_creds_new(&c, &err));
        ASSERT_OK(creds_now(&loop, c, http, &k, msg));
        ASSERT_STREQ(k.access_key_id, "AKIDDEFAULT");
        ASSERT_TRUE(!k.session_token);
        s3_creds_free(c);
        (void) setenv("AWS_PROFILE", "other", 1);
        ASSERT_OK(s3_creds_new(&c, &err));
        ASSERT_TRUE(strstr(s3_creds_source(c), "profile 'other' in '/tmp/test-creds-"));
        ASSERT_OK(creds_now(&loop, c, http, &k, msg));
        ASSERT_STREQ(k.access_key_id, "AKIDOTHER");
        ASSERT_STREQ(k.secret_access_key, "other/secret+x");
        ASSERT_STREQ(k.session_token, "other-token");
        s3_creds_free(c);
        (void) setenv("AWS_PROFILE", "missing", 1);
        ASSERT_EQ(s3_creds_new(&c, &err), -EINVAL);
        fprintf(stderr, "  %s\n", err);
        ASSERT_TRUE(strstr(err, "AWS_PROFILE='missing'"));
        free(err);
        (void) unlink(path);
        http_done(&loop, http);
        ASSERT_EQ(uv_loop_close(&loop), 0);
}

static void on_http_closed(void *userdata) {
        *(bool *) userdata = true;
}

/* Close the HTTP client (ending any fetch in flight), then free c; a new client for the
 * next S3Creds. */
static HttpClient *creds_release(uv_loop_t *loop, HttpClient *http, S3Creds *c) {
        bool closed = false;

        http_client_close(http, on_http_closed, &closed);
        (void) run_until(loop, &closed, 10000);
        ASSERT_TRUE(closed);
        s3_creds_free(c);
        http = http_client_new(loop);
        ASSERT_TRUE(http);
        return http;
}

/* ASIADOUBLEn with double-token-n, from the metadata double; returns n. */
static int double_key(const SigV4Credentials *k) {
        char want[64];
        int n;

        ASSERT_TRUE(strncmp(k->access_key_id, "ASIADOUBLE", 10) == 0);
        ASSERT_OK(parse_int(k->access_key_id + 10, 1, 1000000, &n));
        (void) snprintf(want, sizeof(want), "double-token-%d", n);
        ASSERT_STREQ(k->session_token, want);
        return n;
}

TEST(creds_ecs_and_imds) {
        uv_loop_t loop;
        Server md;
        HttpClient *http;
        S3Creds *c;
        SigV4Credentials k;
        char *err = NULL, msg[512], url[256], tokfile[] = "/tmp/test-ecs-token-XXXXXX";
        json_t *st;
        int fd, n;

        env_reset();
        (void) unsetenv("AWS_ACCESS_KEY_ID");
        (void) unsetenv("AWS_SECRET_ACCESS_KEY");
        /* Fetched credentials that expire in 200 s: used, and fetched anew in the background
         * (less than 5 minutes left). */
        double_start(&md, (const char *[]) { "--metadata", "--cred-expiry", "200", NULL });
        ASSERT_OK(uv_loop_init(&loop));
        http = http_client_new(&loop);
        ASSERT_TRUE(http);

        /* ECS, relative URI. */
        (void) setenv("SOLOCRON_TEST_ECS_ENDPOINT", md.url, 1);
        (void) setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc", 1);
        ASSERT_OK(s3_creds_new(&c, &err));
        ASSERT_STREQ(s3_creds_source(c), "ECS container credentials");
        ASSERT_OK(creds_now(&loop, c, http, &k, msg));
        ASSERT_EQ(double_key(&k), 1);
        ASSERT_OK(creds_now(&loop, c, http, &k, msg));  /* starts the refresh */
        ASSERT_EQ(double_key(&k), 1);
        run_for(&loop, 300);
        ASSERT_OK(creds_now(&loop, c, http, &k, msg));
        ASSERT_EQ(double_key(&k), 2);
        http = creds_release(&loop, http, c);
        (void) unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");

        /* ECS, full URI with a token file. */
        fd = mkstemp(tokfile);
        ASSERT_OK(fd);
        ASSERT_EQ(write(fd, "double-ecs-token\n", 17), 17);
        close(fd);
        (void) snprintf(url, sizeof(url), "%s/full-uri/x", md.url);
        (void) setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
        (void) setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tokfile, 1);
        ASSERT_OK(s3_creds_new(&c, &err));
        ASSERT_OK(creds_now(&loop, c, http, &k, msg));
        ASSERT_TRUE(double_key(&k) > 2);
        http = creds_release(&loop, http, c);
        (void) unlink(tokfile);
        /* … with a wrong token: refused, and the token is not in the message. */
        (void) unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
        (void) setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong-token-value", 1);
        ASSERT_OK(s3_creds_new(&c, &err));
        ASSERT_EQ(creds_now(&loop, c, http, &k, msg), -EACCES);
        fprintf(stderr, "  %s\n", msg);
        ASSERT_TRUE(strstr(msg, "answered 403") && !strstr(msg, "wrong-token-value"));
        http = creds_release(&loop, http, c);
        /* … answering garbage. */
        (void) snprintf(url, sizeof(url), "%s/garbage", md.url);
        (void) setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
        ASSERT_OK(s3_creds_new(&c, &err));
        ASSERT_EQ(creds_now(&loop, c, http, &k, msg), -EBADMSG);
        ASSERT_TRUE(strstr(msg, "not a JSON object"));
        http = creds_release(&loop, http, c);
        /* A FULL_URI that is neither https nor loopback is refused up front. */
        (void) setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://192.0.2.1/creds", 1);
        ASSERT_EQ(s3_creds_new(&c, &err), -EINVAL);
        free(err);
        (void) unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
        (void) unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");

        /* IMDSv2: token, role, credentials. */
        (void) setenv("SOLOCRON_TEST_IMDS_ENDPOINT", md.url, 1);
        ctl_do(&md, "POST", "reset-stats", NULL);
        ASSERT_OK(s3_creds_new(&c, &err));
        ASSERT_STREQ(s3_creds_source(c), "EC2 instance metadata (IMDSv2)");
        ASSERT_OK(creds_now(&loop, c, http, &k, msg));
        n = double_key(&k);
        st = ctl(&md, "GET", "stats", NULL);
        ASSERT_EQ(json_integer_value(json_object_get(json_object_get(st, "requests"), "PUT")), 1);
        ASSERT_EQ(json_integer_value(json_object_get(json_object_get(st, "requests"), "GET")), 2);
        json_decref(st);
        ASSERT_OK(creds_now(&loop, c, http, &k, msg));  /* refresh: the token is reused */
        run_for(&loop, 300);
        ASSERT_OK(creds_now(&loop, c, http, &k, msg));
        ASSERT_EQ(double_key(&k), n + 1);
        st = ctl(&md, "GET", "stats", NULL);
        ASSERT_EQ(json_integer_value(json_object_get(json_object_get(st, "requests"), "PUT")), 1);
        json_decref(st);
        http = creds_release(&loop, http, c);
        (void) setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
        ASSERT_EQ(s3_creds_new(&c, &err), -EINVAL);
        ASSERT_TRUE(strstr(err, "no AWS credentials found"));
        free(err);

        http_done(&loop, http);
        ASSERT_EQ(uv_loop_close(&loop), 0);
        server_stop(&md);
}

TEST(claim_with_container_credentials) {
        uv_loop_t loop;
        Server s, md;
        LeaseStore *a;
        Outcome o;

        env_reset();
        (void) unsetenv("AWS_ACCESS_KEY_ID");
        (void) unsetenv("AWS_SECRET_ACCESS_KEY");
        double_start(&md, (const char *[]) { "--metadata", NULL });
        /* The double accepts only the IMDS key with its session token. */
        double_start(&s, (const char *[]) { "--access-key", "ASIADOUBLE1:double-token-1", NULL });
        (void) setenv("SOLOCRON_TEST_IMDS_ENDPOINT", md.url, 1);
        ASSERT_OK(uv_loop_init(&loop));
        a = store_new(&loop, &s, "host-a", (Opts) {});
        ASSERT_EQ(claim(&loop, a, "imds", T0, "run-1", false, &o), LEASE_WON);
        a->ops->finish(o.claim, &(LeaseEnd) { "succeeded", 0, -1 });
        store_close(&loop, a);
        loop_done(&loop);
        server_stop(&s);
        server_stop(&md);
}

/* ---- pure helpers ---- */

TEST(xml_and_dates) {
        const char *xml = "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code>"
                          "<Message>a &amp; b &lt;c&gt; &#65;&#x42;</Message></Error>";
        const char *p = xml, *inner;
        char *t = NULL;
        size_t len;
        int64_t v;

        ASSERT_EQ(s3_xml_element(&p, xml + strlen(xml), "Message", &inner, &len), 1);
        ASSERT_OK(s3_xml_text(inner, len, &t));
        ASSERT_STREQ(t, "a & b <c> AB");
        free(t);
        p = xml;
        ASSERT_EQ(s3_xml_element(&p, xml + strlen(xml), "Nope", &inner, &len), 0);
        p = "<Error><Code>Bad";
        ASSERT_EQ(s3_xml_element(&p, p + strlen(p), "Code", &inner, &len), -EBADMSG);
        ASSERT_EQ(s3_xml_text("a<b", 3, &t), -EBADMSG);
        ASSERT_EQ(s3_xml_text("&bogus;", 7, &t), -EBADMSG);
        ASSERT_OK(s3_parse_http_date("Mon, 23 Nov 2026 06:00:00 GMT", &v));
        ASSERT_EQ(v, T0);
        ASSERT_EQ(s3_parse_http_date("Mon, 31 Nov 2026 06:00:00 GMT", &v), -EINVAL);
        ASSERT_EQ(s3_parse_http_date("Monday, 23-Nov-26 06:00:00 GMT", &v), -EINVAL);
        ASSERT_OK(s3_parse_iso8601("2026-11-23T06:00:00.000Z", &v));
        ASSERT_EQ(v, T0);
        ASSERT_EQ(s3_parse_iso8601("2026-11-23", &v), -EINVAL);
}

/* Run with a test name: a skip then exits 77 (TESTS_MAIN owns main(), so argv is read here). */
__attribute__((constructor)) static void detect_single_test(void) {
        char buf[4096];
        FILE *f = fopen("/proc/self/cmdline", "re");
        size_t n;

        if (!f)
                return;
        n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        single_test = n > 0 && strnlen(buf, n) + 1 < n;
}

/* ---- the missed-firing alarm: check_missed ---- */

typedef struct Missed {
        bool done, raised;
        int n_calls;
        LeaseFiringState state;
        char error[512];
} Missed;

static void on_missed(LeaseFiringState state, bool raised, const char *error, void *userdata) {
        Missed *m = userdata;

        m->done = true;
        m->n_calls++;
        m->state = state;
        m->raised = raised;
        (void) snprintf(m->error, sizeof(m->error), "%s", error ?: "");
}

static void missed_start(LeaseStore *st, const char *job, bool raise, Missed *m) {
        *m = (Missed) {};
        st->ops->check_missed(st, &(LeaseRequest) { .job = job, .scheduled = T0 }, raise,
                              on_missed, m);
}

static void missed_wait(uv_loop_t *loop, Missed *m) {
        (void) run_until(loop, &m->done, 10000);
        ASSERT_TRUE(m->done);
}

TEST(check_missed_states_and_one_raise) {
        uv_loop_t loop;
        Server s;
        LeaseStore *a, *b, *c;
        Outcome oa;
        Missed mb, mc;
        Answer q = {};
        json_t *rec;
        json_int_t puts;

        env_reset();
        double_start(&s, NULL);
        ASSERT_OK(uv_loop_init(&loop));
        a = store_new(&loop, &s, "host-a", (Opts) { .ttl = 2 * USEC_PER_SEC });
        b = store_new(&loop, &s, "host-b", (Opts) { .ttl = 2 * USEC_PER_SEC });
        c = store_new(&loop, &s, "host-c", (Opts) { .ttl = 2 * USEC_PER_SEC });

        /* nobody claimed it: one GET and the pause's, nothing written without raise */
        run_for(&loop, 500);            /* the stores' conditional-write probes */
        puts = stat_count(&s, "PUT");
        missed_start(b, "m-none", false, &mb);
        missed_wait(&loop, &mb);
        ASSERT_TRUE(!mb.error[0] && mb.state == LEASE_FIRING_NONE && !mb.raised);
        ASSERT_EQ(stat_count(&s, "PUT"), puts);
        /* two replicas raise it at once: one conditional PUT wins */
        missed_start(b, "m-none", true, &mb);
        missed_start(c, "m-none", true, &mc);
        missed_wait(&loop, &mb);
        missed_wait(&loop, &mc);
        if (mb.error[0] || mc.error[0])
                TEST_FAIL("raising at once: '%s' '%s'", mb.error, mc.error);
        ASSERT_EQ((int) mb.raised + (int) mc.raised, 1);
        ASSERT_TRUE(mb.n_calls == 1 && mc.n_calls == 1);
        rec = record_get(&s, "solocron/:missed/m-none/2026-11-23T06:00:00Z", NULL, NULL);
        ASSERT_STREQ(json_string_value(json_object_get(rec, "by")), mb.raised ? "host-b" : "host-c");
        json_decref(rec);

        /* a live holder: running (one GET); its final record: done, even a failure */
        ASSERT_EQ(claim(&loop, a, "m-ran", T0, "run-a", false, &oa), LEASE_WON);
        missed_start(b, "m-ran", true, &mb);
        missed_wait(&loop, &mb);
        ASSERT_TRUE(!mb.error[0] && mb.state == LEASE_FIRING_RUNNING && !mb.raised);
        a->ops->finish(oa.claim, &(LeaseEnd) { "failed", 1, 10 });
        ASSERT_TRUE(run_until_true(&loop, record_is, &(RecordIs) { &s, "solocron/m-ran/2026-11-23T06:00:00Z",
                                                                    "failed" }, 5000));
        missed_start(b, "m-ran", true, &mb);
        missed_wait(&loop, &mb);
        ASSERT_TRUE(mb.state == LEASE_FIRING_DONE && !mb.raised);

        /* a holder that stops renewing: abandoned once ttl + skew passed (server's clock) */
        ASSERT_EQ(claim(&loop, a, "m-dead", T0, "run-d", false, &oa), LEASE_WON);
        a->ops->cancel(oa.claim);
        missed_start(b, "m-dead", false, &mb);
        missed_wait(&loop, &mb);
        ASSERT_EQ(mb.state, LEASE_FIRING_RUNNING);
        run_for(&loop, 3500);
        missed_start(b, "m-dead", true, &mb);
        missed_wait(&loop, &mb);
        ASSERT_TRUE(!mb.error[0] && mb.state == LEASE_FIRING_ABANDONED && mb.raised);

        /* a paused job's firing is never missed */
        set_paused(&loop, a, "m-paused", true, &q);
        ASSERT_TRUE(!q.failed);
        missed_start(b, "m-paused", true, &mb);
        missed_wait(&loop, &mb);
        ASSERT_TRUE(mb.state == LEASE_FIRING_PAUSED && !mb.raised);
        answer_free(&q);

        /* the server fails the GET, also the three retries: an error, no alarm */
        ctl_do(&s, "POST", "fault", "{\"method\":\"GET\",\"status\":500,\"body\":\"oops\","
                                    "\"count\":4}");
        missed_start(b, "m-fault", true, &mb);
        missed_wait(&loop, &mb);
        ASSERT_TRUE(mb.error[0] && strstr(mb.error, "500") && !mb.raised);

        /* closing answers a check in flight, once, with an error */
        ctl_do(&s, "POST", "fault", "{\"action\":\"delay\",\"method\":\"GET\",\"delay_ms\":3000}");
        missed_start(c, "m-close", true, &mc);
        run_for(&loop, 50);
        store_close(&loop, c);
        ASSERT_TRUE(mc.done && mc.n_calls == 1 && mc.error[0] && !mc.raised);
        store_close(&loop, a);
        store_close(&loop, b);
        loop_done(&loop);
        server_stop(&s);
}

TESTS_MAIN
