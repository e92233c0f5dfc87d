/* SPDX-License-Identifier: MIT */
/* daemon/lease_etcd.c against real etcd servers (Debian's etcd-server, /usr/bin/etcd), each
 * started here on 127.0.0.1 with ephemeral ports and a temporary data directory: one shared
 * single node for most tests, dedicated ones for the tests that kill or reconfigure it, and a
 * 3-node cluster for failover. Malformed replies come from tests/unit/http_server.py (/junk/).
 * A holder that dies is a forked child killed with SIGKILL. The test checks the store's work
 * with plain blocking libcurl requests to the gateway. Skipped (77) without /usr/bin/etcd. */

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <inttypes.h>
#include <ftw.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"
#include "lease.h"
#include "lease_etcd.h"
#include "parse.h"
#include "test-spawn.h"
#include "tests.h"

#define ETCD_BIN "/usr/bin/etcd"
#define HISTORY_S 3600
/* a fixed firing: 2026-11-23T06:00:00Z */
#define T0 INT64_C(1795413600)

typedef struct Etcd {
        pid_t pid;
        char name[16];
        char dir[64];           /* data/, etcd.log, certificates */
        char url[64];           /* client URL */
        char peer[64];
        char cluster[512];      /* --initial-cluster */
        char token[32];         /* --initial-cluster-token */
        bool tls;
        const char *const *extra;
} Etcd;

static uint64_t mono_ms(void) {
        return uv_hrtime() / 1000000;
}

/* ---- base64, for checking keys and values by hand ---- */

static char *b64(const char *s) {
        static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t n = strlen(s);
        char *out = malloc(4 * ((n + 2) / 3) + 1), *p = out;
        const unsigned char *d = (const unsigned char *) s;

        ASSERT_TRUE(out);
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t) d[i] << 16 | (i + 1 < n ? (uint32_t) d[i + 1] << 8 : 0) |
                             (i + 2 < n ? d[i + 2] : 0);

                *p++ = t[v >> 18 & 63];
                *p++ = t[v >> 12 & 63];
                *p++ = i + 1 < n ? t[v >> 6 & 63] : '=';
                *p++ = i + 2 < n ? t[v & 63] : '=';
        }
        *p = 0;
        return out;
}

static char *unb64(const char *s) {
        static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        char *out = calloc(1, strlen(s) + 1), *p = out;
        uint32_t v = 0;
        int bits = 0;

        ASSERT_TRUE(out);
        for (; *s && *s != '='; s++) {
                const char *q = strchr(t, *s);

                ASSERT_TRUE(q);
                v = v << 6 | (uint32_t) (q - t);
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        *p++ = (char) (v >> bits & 0xff);
                }
        }
        return out;
}

/* ---- blocking requests to the gateway ---- */

typedef struct Buf {
        char *data;
        size_t size;
} Buf;

static size_t buf_write(char *d, size_t size, size_t n, void *userdata) {
        Buf *b = userdata;

        b->data = realloc(b->data, b->size + size * n + 1);
        ASSERT_TRUE(b->data);
        memcpy(b->data + b->size, d, size * n);
        b->size += size * n;
        b->data[b->size] = 0;
        return size * n;
}

/* POST body to e's path; the JSON reply of a 200, else NULL. */
static json_t *post(const Etcd *e, const char *path, const char *body, const char *auth) {
        char url[256], cert[128], key[128], ca[128], hdr[256];
        struct curl_slist *h = NULL;
        CURL *c = curl_easy_init();
        Buf b = {};
        long status = 0;
        json_t *j = NULL;

        ASSERT_TRUE(c);
        (void) snprintf(url, sizeof(url), "%s%s", e->url, path);
        (void) curl_easy_setopt(c, CURLOPT_URL, url);
        (void) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        (void) curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 3000L);
        (void) curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        (void) curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, buf_write);
        (void) curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        if (auth) {
                (void) snprintf(hdr, sizeof(hdr), "Authorization: %s", auth);
                h = curl_slist_append(h, hdr);
                (void) curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        }
        if (e->tls) {
                (void) snprintf(ca, sizeof(ca), "%s/ca.pem", e->dir);
                (void) snprintf(cert, sizeof(cert), "%s/client.pem", e->dir);
                (void) snprintf(key, sizeof(key), "%s/client.key", e->dir);
                (void) curl_easy_setopt(c, CURLOPT_CAINFO, ca);
                (void) curl_easy_setopt(c, CURLOPT_SSLCERT, cert);
                (void) curl_easy_setopt(c, CURLOPT_SSLKEY, key);
        }
        if (curl_easy_perform(c) == CURLE_OK &&
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200)
                j = json_loadb(b.data ?: "", b.size, 0, NULL);
        curl_slist_free_all(h);
        curl_easy_cleanup(c);
        free(b.data);
        return j;
}

/* etcd's int64 fields are strings; missing means 0 */
static uint64_t jnum(const json_t *o, const char *name) {
        const char *s = json_string_value(json_object_get(o, name));
        uint64_t v = 0;

        if (s)
                ASSERT_OK(parse_uint64(s, UINT64_MAX, &v));
        return v;
}

typedef struct Kv {
        bool found;
        uint64_t mod_revision, lease;
        json_t *record;
} Kv;

static Kv kv_get(const Etcd *e, const char *key) {
        char *k64 = b64(key), body[512];
        json_t *r, *kv;
        Kv out = {};

        (void) snprintf(body, sizeof(body), "{\"key\":\"%s\"}", k64);
        free(k64);
        r = post(e, "/v3/kv/range", body, NULL);
        ASSERT_TRUE(r);
        kv = json_array_get(json_object_get(r, "kvs"), 0);
        if (kv) {
                char *v = unb64(json_string_value(json_object_get(kv, "value")));

                out.found = true;
                out.mod_revision = jnum(kv, "mod_revision");
                out.lease = jnum(kv, "lease");
                out.record = json_loads(v, 0, NULL);
                ASSERT_TRUE(out.record);
                free(v);
        }
        json_decref(r);
        return out;
}

/* TTL and grantedTTL of a lease; TTL -1 when etcd does not know it. */
static void lease_ttl(const Etcd *e, uint64_t id, int64_t *ret_ttl, int64_t *ret_granted) {
        char body[128];
        json_t *r;
        const char *t;

        (void) snprintf(body, sizeof(body), "{\"ID\":\"%" PRIu64 "\"}", id);
        r = post(e, "/v3/lease/timetolive", body, NULL);
        ASSERT_TRUE(r);
        t = json_string_value(json_object_get(r, "TTL"));
        *ret_ttl = t && strcmp(t, "-1") == 0 ? -1 : (int64_t) jnum(r, "TTL");
        *ret_granted = (int64_t) jnum(r, "grantedTTL");
        json_decref(r);
}

/* ---- etcd servers ---- */

static void pick_ports(int *ports, size_t n) {
        int fds[8];

        ASSERT_TRUE(n <= 8);
        for (size_t i = 0; i < n; i++) {
                struct sockaddr_in a = { .sin_family = AF_INET,
                                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
                socklen_t len = sizeof(a);

                fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                ASSERT_TRUE(fds[i] >= 0);
                ASSERT_OK(bind(fds[i], (struct sockaddr *) &a, sizeof(a)));
                ASSERT_OK(getsockname(fds[i], (struct sockaddr *) &a, &len));
                ports[i] = ntohs(a.sin_port);
        }
        for (size_t i = 0; i < n; i++)
                (void) close(fds[i]);
}

static void skip_without_etcd(void) {
        if (access(ETCD_BIN, X_OK) < 0) {
                fprintf(stderr, "skipping: %s is missing (Debian: etcd-server)\n", ETCD_BIN);
                exit(77);
        }
        test_no_proxy();
}

static void etcd_spawn(Etcd *e) {
        char data[96], log[96], cert[96], key[96], ca[96];
        const char *argv[48] = {
                "etcd", "--name", e->name, "--data-dir", data,
                "--listen-client-urls", e->url, "--advertise-client-urls", e->url,
                "--listen-peer-urls", e->peer, "--initial-advertise-peer-urls", e->peer,
                "--initial-cluster", e->cluster, "--initial-cluster-token", e->token,
                "--initial-cluster-state", "new", "--log-level", "warn",
        };
        size_t n = 21;
        int fd;

        (void) snprintf(data, sizeof(data), "%s/data", e->dir);
        (void) snprintf(log, sizeof(log), "%s/etcd.log", e->dir);
        (void) snprintf(cert, sizeof(cert), "%s/server.pem", e->dir);
        (void) snprintf(key, sizeof(key), "%s/server.key", e->dir);
        (void) snprintf(ca, sizeof(ca), "%s/ca.pem", e->dir);
        if (e->tls) {
                argv[n++] = "--cert-file";
                argv[n++] = cert;
                argv[n++] = "--key-file";
                argv[n++] = key;
                argv[n++] = "--client-cert-auth";
                argv[n++] = "--trusted-ca-file";
                argv[n++] = ca;
        }
        for (const char *const *x = e->extra; x && *x; x++)
                argv[n++] = *x;
        argv[n] = NULL;

        fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        ASSERT_TRUE(fd >= 0);
        e->pid = test_spawn(ETCD_BIN, (char **) argv, fd, true);
        (void) close(fd);
}

/* Waits until e answers and knows a leader. */
static void etcd_wait(const Etcd *e) {
        uint64_t end = mono_ms() + 15000;

        while (mono_ms() < end) {
                json_t *r = post(e, "/v3/maintenance/status", "{}", NULL);
                bool ok = r && jnum(r, "leader") != 0;

                json_decref(r);
                if (ok)
                        return;
                ASSERT_EQ(waitpid(e->pid, NULL, WNOHANG), 0);   /* still alive */
                (void) usleep(50 * 1000);
        }
        TEST_FAIL("etcd at %s did not come up; see %s/etcd.log", e->url, e->dir);
}

static void etcd_kill(Etcd *e) {
        if (e->pid <= 0)
                return;
        (void) kill(e->pid, SIGKILL);
        (void) waitpid(e->pid, NULL, 0);
        e->pid = 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st, (void) flag, (void) ftw;
        (void) remove(path);
        return 0;
}

static void etcd_stop(Etcd *e) {
        etcd_kill(e);
        if (e->dir[0])
                (void) nftw(e->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        e->dir[0] = 0;
}

/* n members on 127.0.0.1, started together; e[i].extra may be set before. */
static void etcd_start_n(Etcd *e, size_t n, bool tls) {
        static unsigned seq;
        int ports[8];
        char cluster[512] = "", token[32];

        skip_without_etcd();
        pick_ports(ports, 2 * n);
        (void) snprintf(token, sizeof(token), "t%d-%u", (int) getpid(), seq++);
        for (size_t i = 0; i < n; i++) {
                size_t len = strlen(cluster);

                (void) snprintf(e[i].name, sizeof(e[i].name), "m%u", (unsigned) i % 100);
                (void) snprintf(e[i].url, sizeof(e[i].url), "%s://127.0.0.1:%d",
                                tls ? "https" : "http", ports[2 * i]);
                (void) snprintf(e[i].peer, sizeof(e[i].peer), "http://127.0.0.1:%d",
                                ports[2 * i + 1]);
                (void) snprintf(cluster + len, sizeof(cluster) - len, "%s%s=%s", len ? "," : "",
                                e[i].name, e[i].peer);
        }
        for (size_t i = 0; i < n; i++) {
                (void) snprintf(e[i].dir, sizeof(e[i].dir), "/tmp/test-lease-etcd-XXXXXX");
                ASSERT_TRUE(mkdtemp(e[i].dir));
                (void) snprintf(e[i].cluster, sizeof(e[i].cluster), "%s", cluster);
                (void) snprintf(e[i].token, sizeof(e[i].token), "%s", token);
                e[i].tls = tls;
        }
}

static void etcd_launch(Etcd *e, size_t n) {
        for (size_t i = 0; i < n; i++)
                etcd_spawn(&e[i]);
        for (size_t i = 0; i < n; i++)
                etcd_wait(&e[i]);
}

static Etcd shared;

static void shared_stop(void) {
        etcd_stop(&shared);
}

static const Etcd *shared_etcd(void) {
        if (shared.pid == 0) {
                etcd_start_n(&shared, 1, false);
                etcd_launch(&shared, 1);
                (void) atexit(shared_stop);
        }
        return &shared;
}

/* The key holds a final record: the store's final write is done (the session and its
 * watch keep the loop busy: uv_run() no longer returns when the store is idle). */
static bool kv_final(const Etcd *e, const char *key) {
        Kv kv = kv_get(e, key);
        const char *st = json_string_value(json_object_get(kv.record, "status"));
        bool final = kv.found && st && strcmp(st, "running") != 0;

        json_decref(kv.record);
        return final;
}

static bool kv_exists(const Etcd *e, const char *key) {
        Kv kv = kv_get(e, key);

        json_decref(kv.record);
        return kv.found;
}

/* ---- a loop, stores, claims ---- */

typedef struct TestLoop {
        uv_loop_t loop;
        uv_timer_t tick;        /* keeps uv_run(ONCE) from blocking for ever while we wait */
} TestLoop;

static void on_tick(uv_timer_t *t) {
        (void) t;
}

static void tl_init(TestLoop *tl) {
        ASSERT_OK(uv_loop_init(&tl->loop));
        ASSERT_OK(uv_timer_init(&tl->loop, &tl->tick));
}

#define RUN_UNTIL(tl, cond, ms)                                                  \
        ({                                                                       \
                uint64_t _end = mono_ms() + (ms);                                \
                ASSERT_OK(uv_timer_start(&(tl)->tick, on_tick, 10, 10));         \
                while (!(cond) && mono_ms() < _end)                              \
                        (void) uv_run(&(tl)->loop, UV_RUN_ONCE);                 \
                (void) uv_timer_stop(&(tl)->tick);                               \
                (bool) (cond);                                                   \
        })

/* Every store is closed by now: nothing may be left on the loop. */
static void tl_done(TestLoop *tl) {
        uv_close((uv_handle_t *) &tl->tick, NULL);
        (void) uv_run(&tl->loop, UV_RUN_DEFAULT);
        ASSERT_EQ(uv_loop_close(&tl->loop), 0);
}

typedef struct StoreOpts {
        const char *const *endpoints;
        const char *host;
        unsigned ttl_s;         /* 0: 2 */
        unsigned election_ms;   /* 0: 3000 */
        const char *username, *password, *ca_file, *cert_file, *key_file;
        const char *prefix;     /* NULL: "test" */
} StoreOpts;

static LeaseStore *store_new(TestLoop *tl, const StoreOpts *o) {
        LeaseConfig cfg = {
                .backend = LEASE_BACKEND_ETCD,
                .prefix = (char *) (o->prefix ?: "test"),
                .ttl = (o->ttl_s ?: 2) * USEC_PER_SEC,
                .election_timeout = (o->election_ms ?: 3000) * USEC_PER_MSEC,
                .history = HISTORY_S * USEC_PER_SEC,
                .endpoints = (char **) o->endpoints,
                .username = (char *) o->username,
                .password = (char *) o->password,
                .ca_file = (char *) o->ca_file,
                .cert_file = (char *) o->cert_file,
                .key_file = (char *) o->key_file,
        };
        LeaseStore *s = NULL;
        char *err = NULL;

        ASSERT_OK(lease_etcd_new(&tl->loop, &cfg, o->host ?: "host-a", &s, &err));
        ASSERT_TRUE(s && !err);
        ASSERT_STREQ(s->ops->name, "etcd");
        return s;
}

static void on_closed(void *userdata) {
        *(bool *) userdata = true;
}

static void store_close(TestLoop *tl, LeaseStore *s) {
        bool closed = false;

        s->ops->close(s, on_closed, &closed);
        ASSERT_TRUE(RUN_UNTIL(tl, closed, 20000));
}

typedef struct Outcome {
        bool done, lost, expired, watch_over;
        LeaseResult result;
        LeaseHeld held;
        LeaseClaim *claim;
        uint64_t token;
        uint64_t t_start, t_done, t_lost;
        char key[256], detail[512], why[512];
        bool has_record;        /* HELD: the record found, copied */
        LeaseRecord record;
        char rec_run[64], rec_host[64], rec_status[32], rec_manual[72];
} Outcome;

static const char *copy_str(char *buf, size_t n, const char *s) {
        if (!s)
                return NULL;
        (void) snprintf(buf, n, "%s", s);
        return buf;
}

static void outcome_keep_record(Outcome *o, const LeaseRecord *r) {
        o->has_record = r != NULL;
        if (!r)
                return;
        o->record = *r;
        o->record.job = NULL;
        o->record.run_id = copy_str(o->rec_run, sizeof(o->rec_run), r->run_id);
        o->record.host = copy_str(o->rec_host, sizeof(o->rec_host), r->host);
        o->record.status = copy_str(o->rec_status, sizeof(o->rec_status), r->status);
        o->record.manual = copy_str(o->rec_manual, sizeof(o->rec_manual), r->manual);
}

static void on_claimed(LeaseClaim *c, LeaseResult r, const LeaseInfo *info, void *userdata) {
        Outcome *o = userdata;

        ASSERT_TRUE(!o->done);
        ASSERT_TRUE(r == LEASE_WON || r == LEASE_HELD || r == LEASE_UNAVAILABLE);
        ASSERT_TRUE(c == o->claim);
        o->done = true;
        o->result = r;
        o->t_done = mono_ms();
        if (r == LEASE_WON) {
                o->token = info->fencing_token;
                ASSERT_TRUE(o->token > 0);
        } else {
                o->claim = NULL;
                ASSERT_TRUE(info->detail && *info->detail);
                (void) snprintf(o->detail, sizeof(o->detail), "%s", info->detail);
                o->held = info->held;
                outcome_keep_record(o, info->record);
        }
        ASSERT_STREQ(info->key, o->key);
}

static void on_lost(LeaseClaim *c, const char *why, void *userdata) {
        Outcome *o = userdata;

        ASSERT_TRUE(c == o->claim && !o->lost);
        o->lost = true;
        o->t_lost = mono_ms();
        (void) snprintf(o->why, sizeof(o->why), "%s", why);
}

static void claim_req(LeaseStore *s, const LeaseRequest *req, Outcome *o) {
        LeaseCallbacks cb = { .claimed = on_claimed, .lost = on_lost, .userdata = o };
        LeaseInfo info = {};
        LeaseResult r;

        *o = (Outcome) { .t_start = mono_ms() };
        r = s->ops->claim(s, req, &cb, &o->claim, &info);
        if (r == LEASE_PENDING) {
                ASSERT_TRUE(o->claim && info.key);
                (void) snprintf(o->key, sizeof(o->key), "%s", info.key);
                return;
        }
        ASSERT_EQ(r, LEASE_UNAVAILABLE);
        o->done = true;
        o->result = r;
        (void) snprintf(o->detail, sizeof(o->detail), "%s", info.detail);
}

static void claim(LeaseStore *s, const char *job, int64_t when, unsigned attempt, Outcome *o) {
        claim_req(s, &(LeaseRequest) { .job = job, .scheduled = when, .run_id = "run-1",
                                       .attempt = attempt, .takeover = attempt > 1 }, o);
}

/* The marker a claim leaves beside the firing's key. */
static Kv mark_get(const Etcd *e, const char *key) {
        char mark[320];

        (void) snprintf(mark, sizeof(mark), "%s/claimed", key);
        return kv_get(e, mark);
}

static void lease_revoke(const Etcd *e, uint64_t id) {
        char body[64];
        json_t *r;

        (void) snprintf(body, sizeof(body), "{\"ID\":\"%" PRIu64 "\"}", id);
        ASSERT_TRUE((r = post(e, "/v3/lease/revoke", body, NULL)));
        json_decref(r);
}

static char *holder_of(char *buf, size_t n, const char *host, long pid) {
        (void) snprintf(buf, n, "%s pid %ld", host, pid);
        return buf;
}

/* ---- tests ---- */

TEST(won_then_held_then_already_run) {
        const Etcd *e = shared_etcd();
        const char *ep[] = { e->url, NULL };
        char boot[64] = "", want[128];
        TestLoop tl;
        LeaseStore *a, *b;
        Outcome oa, ob;
        Kv kv;
        FILE *f;

        tl_init(&tl);
        a = store_new(&tl, &(StoreOpts) { .endpoints = ep, .host = "host-a" });
        b = store_new(&tl, &(StoreOpts) { .endpoints = ep, .host = "host-b" });
        claim(a, "refresh", T0, 1, &oa);
        ASSERT_STREQ(oa.key, "test/refresh/2026-11-23T06:00:00Z");
        ASSERT_TRUE(RUN_UNTIL(&tl, oa.done, 5000));
        ASSERT_EQ(oa.result, LEASE_WON);
        fprintf(stderr, "  uncontended claim: %" PRIu64 " ms\n", oa.t_done - oa.t_start);

        kv = kv_get(e, oa.key);
        ASSERT_TRUE(kv.found);
        ASSERT_EQ(kv.mod_revision, oa.token);
        ASSERT_TRUE(kv.lease != 0);
        ASSERT_STREQ(json_string_value(json_object_get(kv.record, "status")), "running");
        ASSERT_STREQ(json_string_value(json_object_get(kv.record, "run")), "run-1");
        ASSERT_TRUE(json_string_value(json_object_get(kv.record, "started")));
        ASSERT_EQ(json_integer_value(json_object_get(kv.record, "attempt")), 1);
        json_t *h = json_object_get(kv.record, "holder");
        ASSERT_STREQ(json_string_value(json_object_get(h, "hostname")), "host-a");
        ASSERT_EQ(json_integer_value(json_object_get(h, "pid")), getpid());
        f = fopen("/proc/sys/kernel/random/boot_id", "re");
        if (f) {
                ASSERT_TRUE(fgets(boot, sizeof(boot), f));
                boot[strcspn(boot, "\n")] = 0;
                (void) fclose(f);
                ASSERT_STREQ(json_string_value(json_object_get(h, "boot_id")), boot);
        }
        json_decref(kv.record);

        claim(b, "refresh", T0, 1, &ob);
        ASSERT_TRUE(RUN_UNTIL(&tl, ob.done, 5000));
        ASSERT_EQ(ob.result, LEASE_HELD);
        ASSERT_STREQ(ob.detail, holder_of(want, sizeof(want), "host-a", (long) getpid()));

        a->ops->finish(oa.claim, &(LeaseEnd) { "succeeded", 0, -1 });
        store_close(&tl, a);            /* waits for the final record */
        claim(b, "refresh", T0, 1, &ob);
        ASSERT_TRUE(RUN_UNTIL(&tl, ob.done, 5000));
        ASSERT_EQ(ob.result, LEASE_HELD);
        ASSERT_STREQ(ob.detail, "already run: succeeded");
        /* another firing of the same job is its own election */
        claim(b, "refresh", T0 + 60, 1, &ob);
        ASSERT_TRUE(RUN_UNTIL(&tl, ob.done, 5000));
        ASSERT_EQ(ob.result, LEASE_WON);
        b->ops->cancel(ob.claim);
        store_close(&tl, b);
        ASSERT_TRUE(!kv_get(e, "test/refresh/2026-11-23T06:01:00Z").found);    /* released */
        tl_done(&tl);
}

TEST(five_stores_one_winner) {
        const Etcd *e = shared_etcd();
        const char *ep[] = { e->url, NULL };
        char host[5][24], want[128];
        LeaseStore *s[5];
        Outcome o[5];
        TestLoop tl;
        int won = -1;

        tl_init(&tl);
        for (int round = 0; round < 10; round++) {
                for (int i = 0; i < 5; i++) {
                        (void) snprintf(host[i], sizeof(host[i]), "host-%d", i);
                        s[i] = store_new(&tl, &(StoreOpts) { .endpoints = ep, .host = host[i],
                                                             .prefix = "five" });
                }
                for (int i = 0; i < 5; i++)
                        claim(s[i], "race", T0 + round, 1, &o[i]);
                ASSERT_TRUE(RUN_UNTIL(&tl, o[0].done && o[1].done && o[2].done && o[3].done &&
                                           o[4].done, 5000));
                won = -1;
                for (int i = 0; i < 5; i++) {
                        ASSERT_TRUE(o[i].result == LEASE_WON || o[i].result == LEASE_HELD);
                        if (o[i].result == LEASE_WON) {
                                ASSERT_EQ(won, -1);
                                won = i;
                        }
                }
                ASSERT_TRUE(won >= 0);
                holder_of(want, sizeof(want), host[won], (long) getpid());
                for (int i = 0; i < 5; i++)
                        if (i != won)
                                ASSERT_STREQ(o[i].detail, want);
                s[won]->ops->finish(o[won].claim, &(LeaseEnd) { "succeeded", 0, -1 });
                for (int i = 0; i < 5; i++)
                        store_close(&tl, s[i]);
        }
        tl_done(&tl);
}

TEST(renewal_and_final_record) {
        const Etcd *e = shared_etcd();
        const char *ep[] = { e->url, NULL };
        int64_t ttl, granted;
        uint64_t short_lease, history_lease;
        TestLoop tl;
        LeaseStore *a;
        Outcome o;
        Kv kv, m;

        tl_init(&tl);
        a = store_new(&tl, &(StoreOpts) { .endpoints = ep, .ttl_s = 2 });
        claim(a, "renew", T0, 1, &o);
        ASSERT_TRUE(RUN_UNTIL(&tl, o.done, 5000));
        ASSERT_EQ(o.result, LEASE_WON);
        (void) RUN_UNTIL(&tl, o.lost, 4500);    /* more than twice the TTL */
        ASSERT_TRUE(!o.lost);
        kv = kv_get(e, o.key);
        ASSERT_TRUE(kv.found);
        ASSERT_EQ(kv.mod_revision, o.token);
        short_lease = kv.lease;
        lease_ttl(e, short_lease, &ttl, &granted);
        ASSERT_TRUE(ttl >= 0 && granted == 2);
        /* Beside it, the marker: the same record on the history lease. */
        m = mark_get(e, o.key);
        ASSERT_TRUE(m.found && json_equal(m.record, kv.record));
        ASSERT_EQ(m.mod_revision, o.token);
        ASSERT_TRUE(m.lease != 0 && m.lease != short_lease);
        json_decref(m.record);
        json_decref(kv.record);

        a->ops->finish(o.claim, &(LeaseEnd) { "failed", 3, -1 });
        /* Returns once the final write is done: idle, the store keeps no handle active. */
        ASSERT_TRUE(RUN_UNTIL(&tl, kv_final(e, o.key), 5000));
        kv = kv_get(e, o.key);
        ASSERT_TRUE(kv.found);
        ASSERT_STREQ(json_string_value(json_object_get(kv.record, "status")), "failed");
        ASSERT_EQ(json_integer_value(json_object_get(kv.record, "exit_status")), 3);
        ASSERT_EQ(json_integer_value(json_object_get(kv.record, "fencing_token")), o.token);
        ASSERT_TRUE(json_string_value(json_object_get(kv.record, "finished")));
        ASSERT_TRUE(kv.lease != 0 && kv.lease != short_lease);
        ASSERT_EQ(kv.lease, m.lease);
        ASSERT_TRUE(!mark_get(e, o.key).found);         /* the final record replaced it */
        history_lease = kv.lease;
        /* The history lease: history plus the hour in which it is shared. */
        lease_ttl(e, kv.lease, &ttl, &granted);
        ASSERT_EQ(granted, HISTORY_S + 3600);
        ASSERT_TRUE(ttl > HISTORY_S + 3600 - 30 && ttl <= HISTORY_S + 3600);
        /* The record was on the daemon's session, which lives on: nothing is granted or
         * revoked per firing. */
        lease_ttl(e, short_lease, &ttl, &granted);
        ASSERT_TRUE(ttl >= 0 && granted == 2);
        json_decref(kv.record);

        /* The next final record goes on the same history lease: one per store per hour, not
         * one per firing. A lost election does not revoke it. */
        claim(a, "renew", T0 + 60, 1, &o);
        ASSERT_TRUE(RUN_UNTIL(&tl, o.done, 5000));
        ASSERT_EQ(o.result, LEASE_WON);
        a->ops->finish(o.claim, &(LeaseEnd) { "succeeded", 0, -1 });
        ASSERT_TRUE(RUN_UNTIL(&tl, kv_final(e, o.key), 5000));
        kv = kv_get(e, o.key);
        ASSERT_STREQ(json_string_value(json_object_get(kv.record, "status")), "succeeded");
        ASSERT_EQ(kv.lease, history_lease);
        json_decref(kv.record);

        /* Revoked behind our back (it also deletes the records on it): the next claim puts
         * its marker on a fresh one, and so does the final record. */
        lease_revoke(e, history_lease);
        claim(a, "renew", T0 + 120, 1, &o);
        ASSERT_TRUE(RUN_UNTIL(&tl, o.done, 5000));
        ASSERT_EQ(o.result, LEASE_WON);
        m = mark_get(e, o.key);
        ASSERT_TRUE(m.found && m.lease != 0 && m.lease != history_lease);
        json_decref(m.record);
        lease_ttl(e, m.lease, &ttl, &granted);
        ASSERT_EQ(granted, HISTORY_S + 3600);
        a->ops->finish(o.claim, &(LeaseEnd) { "succeeded", 0, -1 });
        ASSERT_TRUE(RUN_UNTIL(&tl, kv_final(e, o.key), 5000));
        kv = kv_get(e, o.key);
        ASSERT_TRUE(kv.found);
        ASSERT_STREQ(json_string_value(json_object_get(kv.record, "status")), "succeeded");
        ASSERT_EQ(kv.lease, m.lease);
        json_decref(kv.record);
        history_lease = m.lease;

        /* Revoked while a run goes on (the marker goes with it): the final record gets a
         * fresh one. */
        claim(a, "renew", T0 + 180, 1, &o);
        ASSERT_TRUE(RUN_UNTIL(&tl, o.done, 5000));
        ASSERT_EQ(o.result, LEASE_WON);
        lease_revoke(e, history_lease);
        a->ops->finish(o.claim, &(LeaseEnd) { "succeeded", 0, -1 });
        ASSERT_TRUE(RUN_UNTIL(&tl, kv_final(e, o.key), 5000));
        kv = kv_get(e, o.key);
        ASSERT_TRUE(kv.found);
        ASSERT_STREQ(json_string_value(json_object_get(kv.record, "status")), "succeeded");
        ASSERT_TRUE(kv.lease != 0 && kv.lease != history_lease);
        lease_ttl(e, kv.lease, &ttl, &granted);
        ASSERT_EQ(granted, HISTORY_S + 3600);
        json_decref(kv.record);
        store_close(&tl, a);
        tl_done(&tl);
}

/* Claims that start together on a new store wait for one history grant, not one each. */
TEST(concurrent_claims_share_one_history_lease) {
        enum { N = 6 };
        const Etcd *e = shared_etcd();
        const char *ep[] = { e->url, NULL };
        uint64_t history = 0;
        Outcome o[N];
        TestLoop tl;
        LeaseStore *a;
        Kv m;

        tl_init(&tl);
        a = store_new(&tl, &(StoreOpts) { .endpoints = ep });
        for (int i = 0; i < N; i++)
                claim(a, "together", T0 + i, 1, &o[i]);
        ASSERT_TRUE(RUN_UNTIL(&tl, ({ bool all = true;
                                      for (int i = 0; i < N; i++)
                                              all = all && o[i].done;
                                      all; }), 5000));
        for (int i = 0; i < N; i++) {
                ASSERT_EQ(o[i].result, LEASE_WON);
                m = mark_get(e, o[i].key);
                ASSERT_TRUE(m.found && m.lease != 0);
                json_decref(m.record);
                if (i == 0)
                        history = m.lease;
                ASSERT_EQ(m.lease, history);
                a->ops->cancel(o[i].claim);
        }
        store_close(&tl, a);
        tl_done(&tl);
}

TEST(lost_when_the_session_goes) {
        const Etcd *e = shared_etcd();
        const char *ep[] = { e->url, NULL };
        char body[256], *k64;
        TestLoop tl;
        LeaseStore *a;
        Outcome o1, o2;
        json_t *r;
        Kv kv;

        tl_init(&tl);
        a = store_new(&tl, &(StoreOpts) { .endpoints = ep, .ttl_s = 2 });
        claim(a, "gone", T0, 1, &o1);
        claim(a, "gone", T0 + 60, 1, &o2);
        ASSERT_TRUE(RUN_UNTIL(&tl, o1.done && o2.done, 5000));
        ASSERT_EQ(o1.result, LEASE_WON);
        ASSERT_EQ(o2.result, LEASE_WON);

        /* someone deletes the record of the first by hand: not watched for, the run goes
         * on; then the daemon's session, which the second's record is on, is revoked: the
         * keep-alive finds it gone, and both are lost */
        k64 = b64(o1.key);
        (void) snprintf(body, sizeof(body), "{\"key\":\"%s\"}", k64);
        free(k64);
        r = post(e, "/v3/kv/deleterange", body, NULL);
        ASSERT_TRUE(r);
        json_decref(r);
        kv = kv_get(e, o2.key);
        (void) snprintf(body, sizeof(body), "{\"ID\":\"%" PRIu64 "\"}", kv.lease);
        json_decref(kv.record);
        r = post(e, "/v3/lease/revoke", body, NULL);
        ASSERT_TRUE(r);
        json_decref(r);
        ASSERT_TRUE(RUN_UNTIL(&tl, o1.lost && o2.lost, 3000));
        fprintf(stderr, "  %s\n  %s\n", o1.why, o2.why);
        ASSERT_TRUE(strncmp(o1.why, "the session expired", 19) == 0);
        ASSERT_STREQ(o2.why, o1.why);

        /* the runs did happen: their final records are written all the same */
        a->ops->finish(o1.claim, &(LeaseEnd) { "succeeded", 0, -1 });
        a->ops->finish(o2.claim, &(LeaseEnd) { "timed_out", 137, -1 });
        store_close(&tl, a);
        kv = kv_get(e, o1.key);
        ASSERT_STREQ(json_string_value(json_object_get(kv.record, "status")), "succeeded");
        json_decref(kv.record);
        kv = kv_get(e, o2.key);
        ASSERT_STREQ(json_string_value(json_object_get(kv.record, "status")), "timed_out");
        ASSERT_EQ(json_integer_value(json_object_get(kv.record, "exit_status")), 137);
        json_decref(kv.record);
        tl_done(&tl);
}

/* A late (lower-ranked) claim of b: HELD at once when b's inbox has a note of the firing;
 * else the claim it started is cancelled and false returned (try again). */
static bool late_held(LeaseStore *b, const char *job, int64_t when, LeaseHeld *ret_held) {
        Outcome o = {};
        LeaseCallbacks cb = { .claimed = on_claimed, .lost = on_lost, .userdata = &o };
        LeaseInfo info = {};
        LeaseResult r;

        r = b->ops->claim(b, &(LeaseRequest) { .job = job, .scheduled = when, .run_id = "late",
                                               .attempt = 1, .late = true }, &cb, &o.claim,
                          &info);
        if (r == LEASE_HELD) {
                ASSERT_TRUE(info.detail && *info.detail);
                *ret_held = info.held;
                return true;
        }
        ASSERT_EQ(r, LEASE_PENDING);
        b->ops->cancel(o.claim);
        return false;
}

static size_t members_of(LeaseStore *s, const char **ret_self) {
        const char *const *ids = NULL;

        return s->ops->members(s, &ids, ret_self);
}

/* One session per store: joined, each registers a member key on its session lease, and the
 * records it claims go on that same lease. A claim that tells b leaves a note in b's inbox
 * (on the history lease), so b's late claims stand down without a request, and its final
 * record deletes the note, so b knows it ran; a claim that tells nobody costs b's late
 * claim a request; a cancelled claim leaves its note (the run did not finish). Closing
 * revokes the session and the member goes. */
TEST(session_members_and_late_claims) {
        const Etcd *e = shared_etcd();
        const char *ep[] = { e->url, NULL };
        const char *self = NULL, *tell[1];
        char mkey[128], note[256], b_id[64], utc[RFC3339_UTC_MAX];
        LeaseHeld held = LEASE_HELD_PAUSED;
        TestLoop tl;
        LeaseStore *a, *b;
        Outcome o1, o2, o3;
        Kv kv, m;

        tl_init(&tl);
        a = store_new(&tl, &(StoreOpts) { .endpoints = ep, .host = "host-a", .prefix = "sess" });
        b = store_new(&tl, &(StoreOpts) { .endpoints = ep, .host = "host-b", .prefix = "sess" });
        ASSERT_EQ(members_of(b, &self), 0);             /* not joined: nothing known */
        a->ops->join(a, NULL);
        b->ops->join(b, NULL);
        ASSERT_TRUE(RUN_UNTIL(&tl, members_of(b, &self) == 2 && members_of(a, &self) == 2,
                              5000));
        (void) snprintf(mkey, sizeof(mkey), "sess/:members/host-a:%d", (int) getpid());
        ASSERT_TRUE(members_of(a, &self) == 2 && strcmp(self, mkey + 14) == 0);
        m = kv_get(e, mkey);
        ASSERT_TRUE(m.found && m.lease != 0);
        json_decref(m.record);
        (void) snprintf(b_id, sizeof(b_id), "host-b:%d", (int) getpid());
        tell[0] = b_id;

        claim_req(a, &(LeaseRequest) { .job = "tick", .scheduled = T0, .run_id = "r",
                                       .attempt = 1, .tell = tell, .n_tell = 1 }, &o1);
        claim(a, "tick", T0 + 1, 1, &o2);               /* tells nobody */
        ASSERT_TRUE(RUN_UNTIL(&tl, o1.done && o2.done, 5000));
        ASSERT_EQ(o1.result, LEASE_WON);
        ASSERT_EQ(o2.result, LEASE_WON);
        kv = kv_get(e, o1.key);
        ASSERT_EQ(kv.lease, m.lease);                   /* on the session: no lease of its own */
        json_decref(kv.record);
        kv = kv_get(e, o2.key);
        ASSERT_EQ(kv.lease, m.lease);
        json_decref(kv.record);
        /* the note: in b's inbox, the running record, on the marker's (history) lease */
        (void) snprintf(note, sizeof(note), "sess/:inbox/%s/tick/%s", b_id,
                        format_rfc3339_utc(T0, utc));
        kv = kv_get(e, note);
        m = mark_get(e, o1.key);
        ASSERT_TRUE(kv.found && kv.lease == m.lease && kv.lease != 0);
        ASSERT_STREQ(json_string_value(json_object_get(kv.record, "status")), "running");
        json_decref(kv.record);
        json_decref(m.record);
        ASSERT_TRUE(RUN_UNTIL(&tl, late_held(b, "tick", T0, &held), 5000));
        ASSERT_EQ(held, LEASE_HELD_RUNNING);
        a->ops->finish(o1.claim, &(LeaseEnd) { "succeeded", 0, 5 });
        ASSERT_TRUE(RUN_UNTIL(&tl, late_held(b, "tick", T0, &held) &&
                                   held == LEASE_HELD_DONE, 5000));
        ASSERT_TRUE(!kv_exists(e, note));               /* the final record deleted it */
        /* no note for T0 + 1: b's late claim asks etcd (and finds it held) */
        claim_req(b, &(LeaseRequest) { .job = "tick", .scheduled = T0 + 1, .run_id = "r",
                                       .attempt = 1, .late = true }, &o3);
        ASSERT_TRUE(RUN_UNTIL(&tl, o3.done, 5000));
        ASSERT_EQ(o3.result, LEASE_HELD);
        /* a firing nobody claimed: a late claim asks etcd, and wins */
        claim_req(b, &(LeaseRequest) { .job = "tick", .scheduled = T0 + 2, .run_id = "r",
                                       .attempt = 1, .late = true }, &o1);
        ASSERT_TRUE(RUN_UNTIL(&tl, o1.done, 5000));
        ASSERT_EQ(o1.result, LEASE_WON);
        b->ops->finish(o1.claim, &(LeaseEnd) { "succeeded", 0, 5 });
        a->ops->finish(o2.claim, &(LeaseEnd) { "succeeded", 0, 5 });
        /* cancelled: the record goes, the note stays and still says it runs */
        claim_req(a, &(LeaseRequest) { .job = "tick", .scheduled = T0 + 3, .run_id = "r",
                                       .attempt = 1, .tell = tell, .n_tell = 1 }, &o1);
        ASSERT_TRUE(RUN_UNTIL(&tl, o1.done, 5000));
        ASSERT_EQ(o1.result, LEASE_WON);
        (void) snprintf(note, sizeof(note), "sess/:inbox/%s/tick/%s", b_id,
                        format_rfc3339_utc(T0 + 3, utc));
        ASSERT_TRUE(RUN_UNTIL(&tl, late_held(b, "tick", T0 + 3, &held), 5000));
        a->ops->cancel(o1.claim);
        ASSERT_TRUE(RUN_UNTIL(&tl, !kv_exists(e, o1.key), 5000));
        ASSERT_TRUE(kv_exists(e, note));
        ASSERT_TRUE(late_held(b, "tick", T0 + 3, &held) && held == LEASE_HELD_RUNNING);
        store_close(&tl, a);
        /* a's session is revoked: its member key goes, and b sees it go */
        ASSERT_TRUE(!kv_exists(e, mkey));
        ASSERT_TRUE(RUN_UNTIL(&tl, members_of(b, &self) == 1, 5000));
        store_close(&tl, b);
        tl_done(&tl);
}

typedef struct TurnSeen {
        unsigned n;
        int64_t all[8];         /* the firings of the first eight */
        char job[32], from[64];
        int64_t scheduled;
        unsigned rank;
        bool answered;
        char error[128];
} TurnSeen;

static void on_turn(const LeaseTurn *t, void *userdata) {
        TurnSeen *ts = userdata;

        if (ts->n < 8)
                ts->all[ts->n] = t->scheduled - T0;
        ts->n++;
        (void) snprintf(ts->job, sizeof(ts->job), "%s", t->job);
        (void) snprintf(ts->from, sizeof(ts->from), "%s", t->from);
        ts->scheduled = t->scheduled;
        ts->rank = t->rank;
}

static void on_passed(const char *error, void *userdata) {
        TurnSeen *ts = userdata;

        ts->answered = true;
        (void) snprintf(ts->error, sizeof(ts->error), "%s", error ?: "");
}

/* from hands `to` the turn at T0 + dt (rank), and (to_seen, when given) `to` hears of it as
 * its turn number n: the note's key into note. The hand-on answers without an error. */
static void hand_turn(TestLoop *tl, LeaseStore *from, const char *to, int64_t dt,
                      unsigned rank, const TurnSeen *to_seen, unsigned n, char note[static 256]) {
        TurnSeen pass = {};
        char utc[RFC3339_UTC_MAX];

        (void) snprintf(note, 256, "turn/:inbox/%s/:turn/tick/%s", to,
                        format_rfc3339_utc(T0 + dt, utc));
        from->ops->pass_turn(from, to, &(LeaseTurn) { .job = "tick", .scheduled = T0 + dt,
                                                      .rank = rank }, false, on_passed, &pass);
        ASSERT_TRUE(RUN_UNTIL(tl, pass.answered && to_seen->n == n, 5000));
        ASSERT_STREQ(pass.error, "");
}

/* A turn handed on: a's note in b's inbox (on a's session), which b hears of with its
 * firing, rank and sender; b's stand-in claim deletes it (won or held). A turn b cannot
 * take is dropped (b's own note deleted). A note goes with its sender's session. */
TEST(turns_handed_on) {
        const Etcd *e = shared_etcd();
        const char *ep[] = { e->url, NULL };
        const char *self = NULL;
        char note[256], a_id[64], b_id[64];
        TurnSeen seen_b = {}, seen_a = {}, pass = {};
        TestLoop tl;
        LeaseStore *a, *b;
        Outcome o;
        Kv kv;

        tl_init(&tl);
        a = store_new(&tl, &(StoreOpts) { .endpoints = ep, .host = "host-a", .prefix = "turn" });
        b = store_new(&tl, &(StoreOpts) { .endpoints = ep, .host = "host-b", .prefix = "turn" });
        a->ops->join(a, &(LeaseFleetCallbacks) { .turn = on_turn, .userdata = &seen_a });
        b->ops->join(b, &(LeaseFleetCallbacks) { .turn = on_turn, .userdata = &seen_b });
        ASSERT_TRUE(RUN_UNTIL(&tl, members_of(b, &self) == 2 && members_of(a, &self) == 2,
                              5000));
        (void) snprintf(a_id, sizeof(a_id), "host-a:%d", (int) getpid());
        (void) snprintf(b_id, sizeof(b_id), "host-b:%d", (int) getpid());
        hand_turn(&tl, a, b_id, 0, 1, &seen_b, 1, note);
        ASSERT_STREQ(seen_b.job, "tick");
        ASSERT_STREQ(seen_b.from, a_id);
        ASSERT_EQ(seen_b.scheduled, T0);
        ASSERT_EQ(seen_b.rank, 1);
        ASSERT_EQ(seen_a.n, 0);
        kv = kv_get(e, note);
        ASSERT_TRUE(kv.found && kv.lease != 0);         /* on a's session */
        json_decref(kv.record);
        claim_req(b, &(LeaseRequest) { .job = "tick", .scheduled = T0, .run_id = "r",
                                       .attempt = 1, .late = true, .stand_in = true }, &o);
        ASSERT_TRUE(RUN_UNTIL(&tl, o.done, 5000));
        ASSERT_EQ(o.result, LEASE_WON);
        ASSERT_TRUE(!kv_exists(e, note));               /* the won claim took it */
        b->ops->finish(o.claim, &(LeaseEnd) { "succeeded", 0, 5 });
        /* handed again, the same firing: b's stand-in claim is held, and still deletes it */
        hand_turn(&tl, a, b_id, 0, 0, &seen_b, 2, note);
        ASSERT_TRUE(kv_exists(e, note));
        claim_req(b, &(LeaseRequest) { .job = "tick", .scheduled = T0, .run_id = "r",
                                       .attempt = 1, .late = true, .stand_in = true }, &o);
        ASSERT_TRUE(RUN_UNTIL(&tl, o.done, 5000));
        ASSERT_EQ(o.result, LEASE_HELD);
        ASSERT_TRUE(!kv_exists(e, note));
        /* one b cannot take: dropped (to NULL, own) */
        hand_turn(&tl, a, b_id, 1, 0, &seen_b, 3, note);
        ASSERT_TRUE(kv_exists(e, note));
        pass = (TurnSeen) {};
        b->ops->pass_turn(b, NULL, &(LeaseTurn) { .job = "tick", .scheduled = T0 + 1,
                                                  .rank = 0 }, true, on_passed, &pass);
        ASSERT_TRUE(RUN_UNTIL(&tl, pass.answered, 5000));
        ASSERT_STREQ(pass.error, "");
        ASSERT_TRUE(!kv_exists(e, note));
        /* a note left when its sender goes: it goes with the sender's session */
        hand_turn(&tl, a, b_id, 2, 0, &seen_b, 4, note);
        ASSERT_TRUE(kv_exists(e, note));
        store_close(&tl, a);
        ASSERT_TRUE(!kv_exists(e, note));
        ASSERT_EQ(seen_b.n, 4);                         /* its deletion is no turn */
        store_close(&tl, b);
        tl_done(&tl);
}

/* A turn's note for when in member's inbox (prefix "res"), put by hand: rank 1, from "test". */
static void turn_note(const Etcd *e, const char *member, int64_t when) {
        _cleanup_free_ char *key64 = NULL, *value64 = NULL;
        char note[256], utc[RFC3339_UTC_MAX], body[1024];
        json_t *r;

        (void) snprintf(note, sizeof(note), "res/:inbox/%s/:turn/tick/%s", member,
                        format_rfc3339_utc(when, utc));
        key64 = b64(note);
        (void) snprintf(body, sizeof(body), "{\"job\":\"tick\",\"scheduled\":%" PRIi64
                        ",\"rank\":1,\"from\":\"test\"}", when);
        value64 = b64(body);
        (void) snprintf(body, sizeof(body), "{\"key\":\"%s\",\"value\":\"%s\"}", key64,
                        value64);
        r = post(e, "/v3/kv/put", body, NULL);
        if (!r)
                TEST_FAIL("cannot put the note %s", note);
        json_decref(r);
}

/* The inbox's watch resumes where it left off: a turn's note put while it was down (etcd
 * restarted; the daemon's watch reconnects a TTL/3 later) still reaches b. */
TEST(inbox_resumes_where_it_left_off) {
        const char *ep[2] = {}, *self = NULL;
        char b_id[64];
        TurnSeen seen_a = {}, seen_b = {}, pass = {};
        Etcd e = {};
        TestLoop tl;
        LeaseStore *a, *b;

        etcd_start_n(&e, 1, false);
        etcd_launch(&e, 1);
        ep[0] = e.url;
        tl_init(&tl);
        a = store_new(&tl, &(StoreOpts) { .endpoints = ep, .host = "host-a", .prefix = "res",
                                          .ttl_s = 6 });
        b = store_new(&tl, &(StoreOpts) { .endpoints = ep, .host = "host-b", .prefix = "res",
                                          .ttl_s = 6 });
        a->ops->join(a, &(LeaseFleetCallbacks) { .turn = on_turn, .userdata = &seen_a });
        b->ops->join(b, &(LeaseFleetCallbacks) { .turn = on_turn, .userdata = &seen_b });
        ASSERT_TRUE(RUN_UNTIL(&tl, members_of(b, &self) == 2 && members_of(a, &self) == 2,
                              5000));
        (void) snprintf(b_id, sizeof(b_id), "host-b:%d", (int) getpid());
        a->ops->pass_turn(a, b_id, &(LeaseTurn) { .job = "tick", .scheduled = T0, .rank = 0 },
                          false, on_passed, &pass);
        ASSERT_TRUE(RUN_UNTIL(&tl, seen_b.n == 1, 5000));       /* b's inbox streams */
        etcd_kill(&e);
        (void) RUN_UNTIL(&tl, false, 300);                      /* the streams end */
        etcd_spawn(&e);
        etcd_wait(&e);
        turn_note(&e, b_id, T0 + 1);   /* at once, before b's watch is back */
        if (!RUN_UNTIL(&tl, seen_b.n >= 2, 20000))
                TEST_FAIL("b never heard of the turn put while its watch was down "
                          "(%u turns heard)", seen_b.n);
        if (seen_b.n != 2)
                TEST_FAIL("b heard of %u turns: T0+%" PRIi64 ", T0+%" PRIi64 ", T0+%" PRIi64,
                          seen_b.n, seen_b.all[0], seen_b.all[1], seen_b.all[2]);
        ASSERT_EQ(seen_b.scheduled, T0 + 1);
        ASSERT_EQ(seen_b.rank, 1);
        ASSERT_STREQ(seen_b.from, "test");
        /* A note put again (its sender's txn tried again after a lost reply) is not a new
         * turn: b hears of the next note, not of that one twice. */
        turn_note(&e, b_id, T0 + 1);
        turn_note(&e, b_id, T0 + 2);
        ASSERT_TRUE(RUN_UNTIL(&tl, seen_b.n >= 3, 5000));
        ASSERT_EQ(seen_b.all[2], 2);
        store_close(&tl, a);
        store_close(&tl, b);
        tl_done(&tl);
        etcd_stop(&e);
}

/* The holder: a child process that claims job@T0, reports its token on fd, then renews for
 * ever. */
static void holder_child(const char *url, const char *job, int fd) {
        const char *ep[] = { url, NULL };
        TestLoop tl;
        LeaseStore *s;
        Outcome o;
        char line[32];

        tl_init(&tl);
        s = store_new(&tl, &(StoreOpts) { .endpoints = ep, .host = "host-dead", .ttl_s = 2 });
        claim(s, job, T0, 1, &o);
        (void) RUN_UNTIL(&tl, o.done, 5000);
        (void) snprintf(line, sizeof(line), "%" PRIu64 "\n", o.result == LEASE_WON ? o.token : 0);
        if (write(fd, line, strlen(line)) < 0)
                _exit(1);
        for (;;)
                (void) uv_run(&tl.loop, UV_RUN_DEFAULT);
}

/* Forks a holder of job@T0 (killed with us); returns its pid once it has won, with its token. */
static pid_t holder_start(const Etcd *e, const char *job, uint64_t *ret_token) {
        pid_t child, parent = getpid();
        char line[32] = "";
        struct pollfd p;
        int pfd[2];

        ASSERT_OK(pipe2(pfd, O_CLOEXEC));
        child = fork();
        ASSERT_TRUE(child >= 0);
        if (child == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(1);
                holder_child(e->url, job, pfd[1]);
        }
        (void) close(pfd[1]);
        p = (struct pollfd) { .fd = pfd[0], .events = POLLIN };
        ASSERT_EQ(poll(&p, 1, 10000), 1);
        ASSERT_TRUE(read(pfd[0], line, sizeof(line) - 1) > 0);
        (void) close(pfd[0]);
        line[strcspn(line, "\n")] = 0;
        ASSERT_OK(parse_uint64(line, UINT64_MAX, ret_token));
        ASSERT_TRUE(*ret_token > 0);
        return child;
}

static void on_expired(bool holder_died, void *userdata) {
        Outcome *o = userdata;

        ASSERT_TRUE(!o->expired && !o->watch_over);
        if (!holder_died) {
                o->watch_over = true;   /* the firing ended: nothing to take over */
                return;
        }
        o->expired = true;
        o->t_lost = mono_ms();
}

TEST(takeover_after_holder_death) {
        const Etcd *e = shared_etcd();
        const char *ep[] = { e->url, NULL };
        const char *hosts[3] = { "host-b", "host-c", "host-d" };
        char want[128];
        LeaseWatch *w[3];
        LeaseStore *s[3];
        Outcome o[3];
        uint64_t dead_token, t_kill;
        int won = -1;
        pid_t child;
        TestLoop tl;
        json_t *prev, *h;
        Kv kv;

        child = holder_start(e, "takeover", &dead_token);
        tl_init(&tl);
        for (int i = 0; i < 3; i++) {
                s[i] = store_new(&tl, &(StoreOpts) { .endpoints = ep, .host = hosts[i],
                                                     .ttl_s = 2 });
                claim(s[i], "takeover", T0, 1, &o[i]);
        }
        ASSERT_TRUE(RUN_UNTIL(&tl, o[0].done && o[1].done && o[2].done, 5000));
        for (int i = 0; i < 3; i++) {
                ASSERT_EQ(o[i].result, LEASE_HELD);
                ASSERT_STREQ(o[i].detail, holder_of(want, sizeof(want), "host-dead", (long) child));
                ASSERT_OK(s[i]->ops->watch(s[i], &(LeaseRequest) { .job = "takeover",
                                                                    .scheduled = T0 },
                                           on_expired, &o[i], &w[i]));
        }
        /* a live holder is not taken over */
        (void) RUN_UNTIL(&tl, o[0].expired || o[1].expired || o[2].expired, 3000);
        ASSERT_TRUE(!o[0].expired && !o[1].expired && !o[2].expired);

        ASSERT_OK(kill(child, SIGKILL));
        ASSERT_EQ(waitpid(child, NULL, 0), child);
        t_kill = mono_ms();
        ASSERT_TRUE(RUN_UNTIL(&tl, o[0].expired && o[1].expired && o[2].expired, 6000));
        for (int i = 0; i < 3; i++) {
                fprintf(stderr, "  expired() %" PRIu64 " ms after the holder's death\n",
                        o[i].t_lost - t_kill);
                ASSERT_TRUE(o[i].t_lost - t_kill <= 2000 + 2000);       /* TTL + 2 s */
                s[i]->ops->unwatch(w[i]);
        }

        for (int i = 0; i < 3; i++)
                claim(s[i], "takeover", T0, 2, &o[i]);
        ASSERT_TRUE(RUN_UNTIL(&tl, o[0].done && o[1].done && o[2].done, 5000));
        for (int i = 0; i < 3; i++)
                if (o[i].result == LEASE_WON) {
                        ASSERT_EQ(won, -1);
                        won = i;
                }
        ASSERT_TRUE(won >= 0);
        ASSERT_TRUE(o[won].token > dead_token);
        for (int i = 0; i < 3; i++)
                if (i != won) {
                        ASSERT_EQ(o[i].result, LEASE_HELD);
                        ASSERT_STREQ(o[i].detail, holder_of(want, sizeof(want), hosts[won],
                                                            (long) getpid()));
                }
        kv = kv_get(e, o[won].key);
        ASSERT_TRUE(kv.found);
        ASSERT_EQ(json_integer_value(json_object_get(kv.record, "attempt")), 2);
        prev = json_object_get(kv.record, "previous");
        ASSERT_STREQ(json_string_value(json_object_get(prev, "status")), "abandoned");
        ASSERT_EQ(json_integer_value(json_object_get(prev, "fencing_token")), dead_token);
        h = json_object_get(prev, "holder");
        ASSERT_STREQ(json_string_value(json_object_get(h, "hostname")), "host-dead");
        ASSERT_EQ(json_integer_value(json_object_get(h, "pid")), child);
        json_decref(kv.record);

        s[won]->ops->finish(o[won].claim, &(LeaseEnd) { "succeeded", 0, -1 });
        for (int i = 0; i < 3; i++)
                store_close(&tl, s[i]);
        kv = kv_get(e, o[won].key);
        ASSERT_STREQ(json_string_value(json_object_get(kv.record, "status")), "succeeded");
        ASSERT_STREQ(json_string_value(json_object_get(json_object_get(kv.record, "previous"),
                                                       "status")), "abandoned");
        json_decref(kv.record);
        tl_done(&tl);
}

/* A holder that dies takes its key along, but not the firing's marker: a replica that claims
 * the firing only afterwards (catch-up, a slow replica) stands down as it would have while
 * the holder lived, and only a takeover claim runs it again, naming the dead holder. */
TEST(late_claim_after_holder_death) {
        const Etcd *e = shared_etcd();
        const char *ep[] = { e->url, NULL };
        const char *key = "test/abandoned/2026-11-23T06:00:00Z";
        const char *mark = "test/abandoned/2026-11-23T06:00:00Z/claimed";
        char want[128];
        uint64_t dead_token;
        int64_t ttl, granted;
        LeaseStore *watcher, *late, *later;
        LeaseWatch *w;
        Outcome gone = {}, o, o2;
        pid_t child;
        TestLoop tl;
        json_t *prev;
        Kv kv, m;

        child = holder_start(e, "abandoned", &dead_token);
        tl_init(&tl);
        /* The holder dies; its key goes with its lease (a watch sees it go). */
        watcher = store_new(&tl, &(StoreOpts) { .endpoints = ep, .host = "host-w", .ttl_s = 2 });
        ASSERT_OK(watcher->ops->watch(watcher, &(LeaseRequest) { .job = "abandoned",
                                                                  .scheduled = T0 },
                                      on_expired, &gone, &w));
        ASSERT_OK(kill(child, SIGKILL));
        ASSERT_EQ(waitpid(child, NULL, 0), child);
        ASSERT_TRUE(RUN_UNTIL(&tl, gone.expired, 6000));
        watcher->ops->unwatch(w);
        ASSERT_TRUE(!kv_get(e, key).found);

        /* A replica that never saw the holder claims the firing late: HELD, not won again. The
         * detail is no "already run", so a daemon with takeover: watches it (and takes it
         * over at once: its key is gone). */
        late = store_new(&tl, &(StoreOpts) { .endpoints = ep, .host = "host-late", .ttl_s = 2 });
        claim(late, "abandoned", T0, 1, &o);
        ASSERT_TRUE(RUN_UNTIL(&tl, o.done, 5000));
        if (o.result != LEASE_HELD)
                TEST_FAIL("a late claim of an abandoned firing: %s", o.result == LEASE_WON ?
                          "won it again" : o.detail);
        (void) snprintf(want, sizeof(want), "host-dead pid %ld (its lease expired)", (long) child);
        ASSERT_STREQ(o.detail, want);
        ASSERT_TRUE(!kv_get(e, key).found);     /* and it wrote nothing */
        /* What it found: the dead holder's marker, a copy of its running record on the
         * history lease, which outlives the holder's lease. */
        m = kv_get(e, mark);
        ASSERT_TRUE(m.found);
        ASSERT_EQ(m.mod_revision, dead_token);
        ASSERT_STREQ(json_string_value(json_object_get(json_object_get(m.record, "holder"),
                                                       "hostname")), "host-dead");
        ASSERT_STREQ(json_string_value(json_object_get(m.record, "status")), "running");
        lease_ttl(e, m.lease, &ttl, &granted);
        ASSERT_EQ(granted, HISTORY_S + 3600);
        json_decref(m.record);

        /* Its takeover claim wins, and names the holder it found in the marker. */
        claim(late, "abandoned", T0, 2, &o);
        ASSERT_TRUE(RUN_UNTIL(&tl, o.done, 5000));
        ASSERT_EQ(o.result, LEASE_WON);
        ASSERT_TRUE(o.token > dead_token);
        kv = kv_get(e, key);
        ASSERT_EQ(json_integer_value(json_object_get(kv.record, "attempt")), 2);
        prev = json_object_get(kv.record, "previous");
        ASSERT_STREQ(json_string_value(json_object_get(prev, "status")), "abandoned");
        ASSERT_EQ(json_integer_value(json_object_get(prev, "fencing_token")), dead_token);
        ASSERT_STREQ(json_string_value(json_object_get(json_object_get(prev, "holder"),
                                                       "hostname")), "host-dead");
        json_decref(kv.record);
        m = kv_get(e, mark);            /* the marker names the new holder */
        ASSERT_EQ(m.mod_revision, o.token);
        ASSERT_EQ(json_integer_value(json_object_get(m.record, "attempt")), 2);
        json_decref(m.record);

        /* Later still: the live holder, then the final record, which replaces the marker. */
        later = store_new(&tl, &(StoreOpts) { .endpoints = ep, .host = "host-later" });
        claim(later, "abandoned", T0, 1, &o2);
        ASSERT_TRUE(RUN_UNTIL(&tl, o2.done, 5000));
        ASSERT_EQ(o2.result, LEASE_HELD);
        ASSERT_STREQ(o2.detail, holder_of(want, sizeof(want), "host-late", (long) getpid()));
        late->ops->finish(o.claim, &(LeaseEnd) { "succeeded", 0, -1 });
        store_close(&tl, late);
        ASSERT_TRUE(!kv_get(e, mark).found);
        kv = kv_get(e, key);
        ASSERT_STREQ(json_string_value(json_object_get(kv.record, "status")), "succeeded");
        json_decref(kv.record);
        claim(later, "abandoned", T0, 1, &o2);
        ASSERT_TRUE(RUN_UNTIL(&tl, o2.done, 5000));
        ASSERT_EQ(o2.result, LEASE_HELD);
        ASSERT_STREQ(o2.detail, "already run: succeeded");
        store_close(&tl, later);
        store_close(&tl, watcher);
        tl_done(&tl);
}

/* Watches follow the key with a /v3/watch stream: a deletion is seen at once, not at the next
 * poll (TTL/2 = 3 s here). More watches than streams fall back to polling; a final record
 * ends a watch without a takeover. */
TEST(watch_streams_see_changes_at_once) {
        const Etcd *e = shared_etcd();
        const char *ep[] = { e->url, NULL };
        enum { N = 11 };                /* more than ETCD_WATCH_STREAMS_MAX (8) */
        LeaseWatch *w[N];
        Outcome held[N], seen[N];
        LeaseStore *a, *b;
        TestLoop tl;
        unsigned fast = 0;
        uint64_t t_del;
        char body[512];

        tl_init(&tl);
        a = store_new(&tl, &(StoreOpts) { .endpoints = ep, .host = "host-a", .ttl_s = 6 });
        b = store_new(&tl, &(StoreOpts) { .endpoints = ep, .host = "host-b", .ttl_s = 6 });
        for (int i = 0; i < N; i++) {
                claim(a, "streamed", T0 + 60 * i, 1, &held[i]);
                ASSERT_TRUE(RUN_UNTIL(&tl, held[i].done, 5000));
                ASSERT_EQ(held[i].result, LEASE_WON);
                claim(b, "streamed", T0 + 60 * i, 1, &seen[i]);
                ASSERT_TRUE(RUN_UNTIL(&tl, seen[i].done, 5000));
                ASSERT_EQ(seen[i].result, LEASE_HELD);
                ASSERT_OK(b->ops->watch(b, &(LeaseRequest) { .job = "streamed",
                                                             .scheduled = T0 + 60 * i },
                                        on_expired, &seen[i], &w[i]));
        }
        /* Let every watch range once and open its stream. */
        (void) RUN_UNTIL(&tl, false, 1000);
        for (int i = 0; i < N; i++)
                ASSERT_TRUE(!seen[i].expired);

        /* The last firing ends normally: a final record is nothing to take over. */
        a->ops->finish(held[N - 1].claim, &(LeaseEnd) { "succeeded", 0, -1 });
        /* The others' keys vanish as if their holder's lease had expired. Counted from the
         * last deletion: the loop runs (and hears of them) only after these blocking posts,
         * which take long on a loaded machine. */
        for (int i = 0; i < N - 1; i++) {
                char *k64 = b64(held[i].key);
                json_t *r;

                (void) snprintf(body, sizeof(body), "{\"key\":\"%s\"}", k64);
                free(k64);
                ASSERT_TRUE((r = post(e, "/v3/kv/deleterange", body, NULL)));
                json_decref(r);
        }
        t_del = mono_ms();
        ASSERT_TRUE(RUN_UNTIL(&tl, ({ bool all = true;
                                      for (int i = 0; i < N - 1; i++)
                                              all = all && seen[i].expired;
                                      all; }), 8000));
        for (int i = 0; i < N - 1; i++) {
                fprintf(stderr, "  watch %d: expired() %" PRIu64 " ms after the deletions\n", i,
                        seen[i].t_lost - t_del);
                fast += seen[i].t_lost - t_del < 1000;
        }
        ASSERT_TRUE(fast >= 8);         /* the streamed ones, whatever their order */
        ASSERT_TRUE(RUN_UNTIL(&tl, seen[N - 1].watch_over, 3500));
        ASSERT_TRUE(!seen[N - 1].expired);
        for (int i = 0; i < N; i++)
                b->ops->unwatch(w[i]);
        for (int i = 0; i < N - 1; i++)
                a->ops->cancel(held[i].claim);
        store_close(&tl, a);
        store_close(&tl, b);
        tl_done(&tl);
}

TEST(etcd_dies_mid_run_then_down_at_claim) {
        const char *ep[2] = {};
        Etcd e = {};
        TestLoop tl;
        LeaseStore *a;
        Outcome o, o2;
        uint64_t t_kill;

        etcd_start_n(&e, 1, false);
        etcd_launch(&e, 1);
        ep[0] = e.url;
        tl_init(&tl);
        a = store_new(&tl, &(StoreOpts) { .endpoints = ep, .ttl_s = 2, .election_ms = 1000 });
        claim(a, "dies", T0, 1, &o);
        ASSERT_TRUE(RUN_UNTIL(&tl, o.done, 5000));
        ASSERT_EQ(o.result, LEASE_WON);
        (void) RUN_UNTIL(&tl, false, 1000);
        etcd_kill(&e);
        t_kill = mono_ms();
        ASSERT_TRUE(RUN_UNTIL(&tl, o.lost, 5000));
        fprintf(stderr, "  lost() %" PRIu64 " ms after etcd died: %s\n", o.t_lost - t_kill, o.why);
        ASSERT_TRUE(o.t_lost - t_kill <= 2000 + 1000);    /* TTL, and a slow machine */
        ASSERT_TRUE(strstr(o.why, "renewal failed for "));
        ASSERT_TRUE(strstr(o.why, "connection refused"));

        claim(a, "dies", T0 + 60, 1, &o2);
        ASSERT_TRUE(RUN_UNTIL(&tl, o2.done, 5000));
        fprintf(stderr, "  UNAVAILABLE after %" PRIu64 " ms: %s\n", o2.t_done - o2.t_start,
                o2.detail);
        ASSERT_EQ(o2.result, LEASE_UNAVAILABLE);
        /* Not before election_timeout. The deadline is set from libuv's cached loop time,
         * which may trail a fresh clock reading by a millisecond or so: allow that. */
        ASSERT_TRUE(o2.t_done - o2.t_start >= 1000 - 5 && o2.t_done - o2.t_start < 2000);
        ASSERT_TRUE(strstr(o2.detail, "no usable answer from etcd within 1000 ms"));
        ASSERT_TRUE(strstr(o2.detail, "connection refused"));

        /* cannot be written: gives up on its own */
        a->ops->finish(o.claim, &(LeaseEnd) { "killed", -1, -1 });
        store_close(&tl, a);
        tl_done(&tl);
        etcd_stop(&e);
}

TEST(failover_to_next_endpoint) {
        const Etcd *e = shared_etcd();
        int port;
        char dead[64];
        const char *ep[] = { dead, e->url, NULL };
        TestLoop tl;
        LeaseStore *a;
        Outcome o;

        pick_ports(&port, 1);
        (void) snprintf(dead, sizeof(dead), "http://127.0.0.1:%d/", port);
        tl_init(&tl);
        a = store_new(&tl, &(StoreOpts) { .endpoints = ep });
        claim(a, "failover", T0, 1, &o);
        ASSERT_TRUE(RUN_UNTIL(&tl, o.done, 5000));
        ASSERT_EQ(o.result, LEASE_WON);
        ASSERT_TRUE(o.t_done - o.t_start < 500);
        a->ops->finish(o.claim, &(LeaseEnd) { "succeeded", 0, -1 });
        store_close(&tl, a);
        tl_done(&tl);
}

/* ---- malformed replies from an impostor ---- */

typedef struct PyServer {
        pid_t pid;
        int port;
} PyServer;

static bool py_start(PyServer *s) {
        const char *script = test_http_server_script();
        char *argv[] = { (char *) "python3", (char *) script, NULL };
        char line[32] = "";
        size_t len = 0;
        int pfd[2];

        if (access(TEST_PYTHON, X_OK) < 0 || access(script, R_OK) < 0)
                return false;
        ASSERT_OK(pipe2(pfd, O_CLOEXEC));
        s->pid = test_spawn(TEST_PYTHON, argv, pfd[1], false);
        (void) close(pfd[1]);
        /* the whole line: with TEST_PYTHONUNBUFFERED the newline comes in a write of its own, and
         * the server dies of EPIPE should we close the pipe before it */
        while (len < sizeof(line) - 1 && !memchr(line, '\n', len)) {
                ssize_t n = read(pfd[0], line + len, sizeof(line) - 1 - len);

                ASSERT_TRUE(n > 0);
                len += (size_t) n;
        }
        (void) close(pfd[0]);
        line[strcspn(line, "\n")] = 0;
        ASSERT_OK(parse_int(line, 1, 65535, &s->port));
        return true;
}

TEST(malformed_replies) {
        static const struct {
                const char *kind, *want;
        } cases[] = {
                { "text", "malformed reply to /v3/lease/grant (HTTP 200): not a JSON object" },
                { "array", "not a JSON object" },
                { "empty", "malformed reply to /v3/lease/grant: no ID or TTL" },
                { "badid", "no ID or TTL" },
                { "huge", "reply too large" },
                { "grantonly", "malformed txn reply" },
        };
        const Etcd *e = shared_etcd();
        char url[128];
        const char *ep[] = { url, NULL }, *ep2[] = { url, e->url, NULL };
        PyServer py;
        TestLoop tl;
        LeaseStore *a;
        Outcome o;

        if (!py_start(&py)) {
                fprintf(stderr, "  skipped: no %s or http_server.py\n", TEST_PYTHON);
                return;
        }
        tl_init(&tl);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                (void) snprintf(url, sizeof(url), "http://127.0.0.1:%d/junk/%s", py.port,
                                cases[i].kind);
                a = store_new(&tl, &(StoreOpts) { .endpoints = ep, .election_ms = 500 });
                claim(a, "junk", T0, 1, &o);
                ASSERT_TRUE(RUN_UNTIL(&tl, o.done, 5000));
                fprintf(stderr, "  %s: %s\n", cases[i].kind, o.detail);
                ASSERT_EQ(o.result, LEASE_UNAVAILABLE);
                ASSERT_TRUE(strstr(o.detail, "no usable answer from etcd within 500 ms"));
                ASSERT_TRUE(strstr(o.detail, cases[i].want));
                store_close(&tl, a);
        }
        /* an impostor first in the list: the next endpoint decides */
        (void) snprintf(url, sizeof(url), "http://127.0.0.1:%d/junk/text", py.port);
        a = store_new(&tl, &(StoreOpts) { .endpoints = ep2 });
        claim(a, "junk", T0 + 1, 1, &o);
        ASSERT_TRUE(RUN_UNTIL(&tl, o.done, 5000));
        ASSERT_EQ(o.result, LEASE_WON);
        a->ops->cancel(o.claim);
        store_close(&tl, a);
        tl_done(&tl);
        (void) kill(py.pid, SIGKILL);
        (void) waitpid(py.pid, NULL, 0);
}

/* ---- 3-node cluster ---- */

static uint64_t member_id(const Etcd *e, uint64_t *ret_leader) {
        json_t *r = post(e, "/v3/maintenance/status", "{}", NULL);
        uint64_t id;

        ASSERT_TRUE(r);
        id = jnum(json_object_get(r, "header"), "member_id");
        *ret_leader = jnum(r, "leader");
        json_decref(r);
        return id;
}

/* A round: both stores claim the same firing; exactly one wins. kill_first: kill that member
 * right after the claims went out. */
static void cluster_round(TestLoop *tl, LeaseStore *a, LeaseStore *b, int64_t when,
                          Etcd *kill_first, uint64_t *max_ms) {
        Outcome oa, ob;

        claim(a, "cluster", when, 1, &oa);
        claim(b, "cluster", when, 1, &ob);
        if (kill_first)
                etcd_kill(kill_first);
        ASSERT_TRUE(RUN_UNTIL(tl, oa.done && ob.done, 10000));
        if (oa.result == LEASE_UNAVAILABLE || ob.result == LEASE_UNAVAILABLE)
                TEST_FAIL("unavailable: '%s' '%s'", oa.detail, ob.detail);
        ASSERT_TRUE((oa.result == LEASE_WON) != (ob.result == LEASE_WON));
        if (oa.t_done - oa.t_start > *max_ms)
                *max_ms = oa.t_done - oa.t_start;
        if (ob.t_done - ob.t_start > *max_ms)
                *max_ms = ob.t_done - ob.t_start;
        if (oa.result == LEASE_WON)
                a->ops->finish(oa.claim, &(LeaseEnd) { "succeeded", 0, -1 });
        else
                b->ops->finish(ob.claim, &(LeaseEnd) { "succeeded", 0, -1 });
}

TEST(cluster_member_and_leader_killed) {
        Etcd e[3] = {};
        const char *ep[4] = {};
        uint64_t leader = 0, id[3], max_ms = 0;
        int li = -1, f1, f2, round = 0;
        TestLoop tl;
        LeaseStore *a, *b;

        etcd_start_n(e, 3, false);
        etcd_launch(e, 3);
        for (int i = 0; i < 3; i++)
                id[i] = member_id(&e[i], &leader);
        for (int i = 0; i < 3; i++)
                if (id[i] == leader)
                        li = i;
        ASSERT_TRUE(li >= 0);
        f1 = (li + 1) % 3;
        f2 = (li + 2) % 3;
        /* a follower first, then the leader: each kill hits the endpoint the stores use */
        ep[0] = e[f1].url;
        ep[1] = e[li].url;
        ep[2] = e[f2].url;
        tl_init(&tl);
        a = store_new(&tl, &(StoreOpts) { .endpoints = ep, .host = "host-a", .election_ms = 8000,
                                          .prefix = "cluster" });
        b = store_new(&tl, &(StoreOpts) { .endpoints = ep, .host = "host-b", .election_ms = 8000,
                                          .prefix = "cluster" });
        for (int i = 0; i < 5; i++)
                cluster_round(&tl, a, b, T0 + round++, NULL, &max_ms);
        cluster_round(&tl, a, b, T0 + round++, &e[f1], &max_ms);        /* a follower dies */
        for (int i = 0; i < 5; i++)
                cluster_round(&tl, a, b, T0 + round++, NULL, &max_ms);
        fprintf(stderr, "  follower killed: slowest claim %" PRIu64 " ms\n", max_ms);

        etcd_spawn(&e[f1]);             /* back, so that the leader's death leaves a quorum */
        etcd_wait(&e[f1]);
        max_ms = 0;
        cluster_round(&tl, a, b, T0 + round++, &e[li], &max_ms);        /* the leader dies */
        for (int i = 0; i < 5; i++)
                cluster_round(&tl, a, b, T0 + round++, NULL, &max_ms);
        fprintf(stderr, "  leader killed: slowest claim %" PRIu64 " ms\n", max_ms);
        store_close(&tl, a);
        store_close(&tl, b);
        tl_done(&tl);
        for (int i = 0; i < 3; i++)
                etcd_stop(&e[i]);
}

/* ---- auth and TLS ---- */

TEST(auth_token_and_reauth) {
        static const char *const extra[] = { "--auth-token-ttl", "1", "--bcrypt-cost", "4", NULL };
        const char *ep[2] = {};
        Etcd e = { .extra = extra };
        TestLoop tl;
        LeaseStore *a, *bad, *anon;
        Outcome o;
        json_t *r;

        etcd_start_n(&e, 1, false);
        etcd_launch(&e, 1);
        ep[0] = e.url;
        r = post(&e, "/v3/auth/user/add", "{\"name\":\"root\",\"password\":\"s3cret-pw\"}", NULL);
        ASSERT_TRUE(r);
        json_decref(r);
        r = post(&e, "/v3/auth/user/grant", "{\"user\":\"root\",\"role\":\"root\"}", NULL);
        ASSERT_TRUE(r);
        json_decref(r);
        r = post(&e, "/v3/auth/enable", "{}", NULL);
        ASSERT_TRUE(r);
        json_decref(r);

        tl_init(&tl);
        a = store_new(&tl, &(StoreOpts) { .endpoints = ep, .username = "root",
                                          .password = "s3cret-pw" });
        claim(a, "auth", T0, 1, &o);
        ASSERT_TRUE(RUN_UNTIL(&tl, o.done, 5000));
        ASSERT_EQ(o.result, LEASE_WON);
        a->ops->finish(o.claim, &(LeaseEnd) { "succeeded", 0, -1 });
        (void) RUN_UNTIL(&tl, false, 2500);     /* idle: the token expires (1 s) */
        claim(a, "auth", T0 + 60, 1, &o);       /* rejected token → a fresh one */
        ASSERT_TRUE(RUN_UNTIL(&tl, o.done, 5000));
        if (o.result != LEASE_WON)
                TEST_FAIL("after re-authentication: %s", o.detail);
        a->ops->cancel(o.claim);
        store_close(&tl, a);

        bad = store_new(&tl, &(StoreOpts) { .endpoints = ep, .username = "root",
                                            .password = "wrong-pw" });
        claim(bad, "auth", T0 + 120, 1, &o);
        ASSERT_TRUE(RUN_UNTIL(&tl, o.done, 5000));
        fprintf(stderr, "  wrong password: %s\n", o.detail);
        ASSERT_EQ(o.result, LEASE_UNAVAILABLE);
        ASSERT_TRUE(strstr(o.detail, "authentication as 'root' failed"));
        ASSERT_TRUE(!strstr(o.detail, "wrong-pw"));
        ASSERT_TRUE(o.t_done - o.t_start < 1000);       /* no point retrying */
        store_close(&tl, bad);

        anon = store_new(&tl, &(StoreOpts) { .endpoints = ep });
        claim(anon, "auth", T0 + 120, 1, &o);
        ASSERT_TRUE(RUN_UNTIL(&tl, o.done, 5000));
        fprintf(stderr, "  no credentials: %s\n", o.detail);
        ASSERT_EQ(o.result, LEASE_UNAVAILABLE);
        ASSERT_TRUE(strstr(o.detail, "requires authentication"));
        store_close(&tl, anon);
        tl_done(&tl);
        etcd_stop(&e);
}

static bool make_certs(const char *d) {
        char cmd[2048];

        if (access("/usr/bin/openssl", X_OK) < 0)
                return false;
        (void) snprintf(cmd, sizeof(cmd),
                "cd '%s' && ( "
                "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                "  -days 2 -subj /CN=test-ca -keyout ca.key -out ca.pem && "
                "printf 'subjectAltName=IP:127.0.0.1\\n' > server.ext && "
                "printf 'extendedKeyUsage=clientAuth\\n' > client.ext && "
                "for n in server client; do "
                "  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                "    -subj /CN=$n -keyout $n.key -out $n.csr && "
                "  openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
                "    -days 2 -extfile $n.ext -out $n.pem || exit 1; "
                "done ) >/dev/null 2>&1", d);
        return system(cmd) == 0;
}

TEST(tls_with_client_certificate) {
        char ca[128], cert[128], key[128];
        const char *ep[2] = {};
        Etcd e = {};
        TestLoop tl;
        LeaseStore *a, *nocert;
        Outcome o;

        etcd_start_n(&e, 1, true);
        if (!make_certs(e.dir)) {
                fprintf(stderr, "  skipped: cannot make certificates with openssl\n");
                etcd_stop(&e);
                return;
        }
        etcd_launch(&e, 1);
        ep[0] = e.url;
        (void) snprintf(ca, sizeof(ca), "%s/ca.pem", e.dir);
        (void) snprintf(cert, sizeof(cert), "%s/client.pem", e.dir);
        (void) snprintf(key, sizeof(key), "%s/client.key", e.dir);
        tl_init(&tl);
        a = store_new(&tl, &(StoreOpts) { .endpoints = ep, .ca_file = ca, .cert_file = cert,
                                          .key_file = key });
        claim(a, "tls", T0, 1, &o);
        ASSERT_TRUE(RUN_UNTIL(&tl, o.done, 5000));
        if (o.result != LEASE_WON)
                TEST_FAIL("over TLS: %s", o.detail);
        a->ops->finish(o.claim, &(LeaseEnd) { "succeeded", 0, -1 });
        store_close(&tl, a);

        nocert = store_new(&tl, &(StoreOpts) { .endpoints = ep, .ca_file = ca,
                                               .election_ms = 500 });
        claim(nocert, "tls", T0 + 60, 1, &o);
        ASSERT_TRUE(RUN_UNTIL(&tl, o.done, 5000));
        fprintf(stderr, "  without a client certificate: %s\n", o.detail);
        ASSERT_EQ(o.result, LEASE_UNAVAILABLE);
        store_close(&tl, nocert);
        tl_done(&tl);
        etcd_stop(&e);
}

/* ---- figures ---- */

/* ---- the API's queries: pause, history, probe ---- */

#define ANSWER_MAX 32

typedef struct Answer {         /* one query's answer, copied */
        bool done, failed;
        uint64_t t_start, t_done;
        char error[512];
        size_t n;
        LeaseRecord rec[ANSWER_MAX];
        char str[ANSWER_MAX][5][72];    /* the records' strings; the jobs' names */
} Answer;

static Answer answers[4];

static void answer_begin(Answer *a) {
        memset(a, 0, sizeof(*a));
        a->t_start = mono_ms();
}

static void answer_end(Answer *a, const char *error) {
        ASSERT_TRUE(!a->done);          /* exactly once */
        a->done = true;
        a->t_done = mono_ms();
        a->failed = error != NULL;
        if (error)
                (void) snprintf(a->error, sizeof(a->error), "%s", error);
}

static void on_records(const LeaseRecord *records, size_t n, const char *error, void *userdata) {
        Answer *a = userdata;

        answer_end(a, error);
        ASSERT_TRUE(n <= ANSWER_MAX && (!error || n == 0));
        a->n = n;
        for (size_t i = 0; i < n; i++) {
                char (*s)[72] = a->str[i];

                a->rec[i] = records[i];
                a->rec[i].job = copy_str(s[0], 72, records[i].job);
                a->rec[i].run_id = copy_str(s[1], 72, records[i].run_id);
                a->rec[i].host = copy_str(s[2], 72, records[i].host);
                a->rec[i].status = copy_str(s[3], 72, records[i].status);
                a->rec[i].manual = copy_str(s[4], 72, records[i].manual);
        }
}

static void on_jobs(char *const *jobs, size_t n, const char *error, void *userdata) {
        Answer *a = userdata;

        answer_end(a, error);
        ASSERT_TRUE(n <= ANSWER_MAX && (!error || n == 0));
        a->n = n;
        for (size_t i = 0; i < n; i++)
                copy_str(a->str[i][0], 72, jobs[i]);
}

static void on_done(const char *error, void *userdata) {
        answer_end(userdata, error);
}

static void ask_history(LeaseStore *s, const char *job, int64_t since, unsigned limit,
                        Answer *a) {
        answer_begin(a);
        s->ops->history(s, job, since, limit, on_records, a);
}

static void ask_paused(LeaseStore *s, const char *job, bool paused, Answer *a) {
        answer_begin(a);
        s->ops->set_paused(s, job, paused, "api on test", on_done, a);
}

static void ask_list(LeaseStore *s, Answer *a) {
        answer_begin(a);
        s->ops->list_paused(s, on_jobs, a);
}

static void ask_probe(LeaseStore *s, Answer *a) {
        answer_begin(a);
        s->ops->probe(s, on_done, a);
}

/* The answer, which must come within the election timeout and say no error. */
static Answer *answered(TestLoop *tl, Answer *a) {
        ASSERT_TRUE(RUN_UNTIL(tl, a->done, 5000));
        if (a->failed)
                TEST_FAIL("unexpected error: %s", a->error);
        return a;
}

static void assert_jobs(const Answer *a, const char *const *want) {
        size_t n = 0;

        for (; want[n]; n++) {
                ASSERT_TRUE(n < a->n);
                ASSERT_STREQ(a->str[n][0], want[n]);
        }
        ASSERT_EQ(a->n, n);
}

static void held_paused(TestLoop *tl, LeaseStore *s, const char *job, unsigned attempt) {
        Outcome o;

        claim(s, job, T0, attempt, &o);
        ASSERT_TRUE(RUN_UNTIL(tl, o.done, 5000));
        ASSERT_EQ(o.result, LEASE_HELD);
        ASSERT_EQ(o.held, LEASE_HELD_PAUSED);
        ASSERT_TRUE(!o.has_record);
        ASSERT_TRUE(strstr(o.detail, "the job is paused (by api on test at "));
}

TEST(pause_holds_firings_and_takeovers_not_manual_runs) {
        const Etcd *e = shared_etcd();
        const char *ep[] = { e->url, NULL };
        LeaseRequest manual = { .job = "nightly", .scheduled = T0 + 5, .manual = "key-1",
                                .run_id = "run-m", .attempt = 1 };
        Answer *q = &answers[0];
        TestLoop tl;
        LeaseStore *a, *b;
        Outcome o, om;
        Kv kv;

        tl_init(&tl);
        a = store_new(&tl, &(StoreOpts) { .endpoints = ep, .host = "host-a", .prefix = "pause" });
        b = store_new(&tl, &(StoreOpts) { .endpoints = ep, .host = "host-b", .prefix = "pause" });
        /* A firing run before the pause. */
        claim(a, "nightly", T0 - 60, 1, &o);
        ASSERT_TRUE(RUN_UNTIL(&tl, o.done, 5000));
        ASSERT_EQ(o.result, LEASE_WON);
        a->ops->finish(o.claim, &(LeaseEnd) { "succeeded", 0, 10 });
        ASSERT_TRUE(RUN_UNTIL(&tl, kv_final(e, o.key), 5000));
        ask_paused(a, "nightly", true, q);
        answered(&tl, q);
        kv = kv_get(e, "pause/:paused/nightly");
        ASSERT_TRUE(kv.found && kv.lease == 0);         /* it stays until resumed */
        ASSERT_STREQ(json_string_value(json_object_get(kv.record, "by")), "api on test");
        ASSERT_TRUE(json_string_value(json_object_get(kv.record, "at")));
        json_decref(kv.record);

        /* Every replica's claims of its firings stand down, takeovers too; nothing is put. */
        held_paused(&tl, b, "nightly", 1);
        held_paused(&tl, a, "nightly", 2);
        claim(b, "nightly", T0 - 60, 1, &o);            /* run already: said so, paused or not */
        ASSERT_TRUE(RUN_UNTIL(&tl, o.done, 5000));
        ASSERT_EQ(o.result, LEASE_HELD);
        ASSERT_EQ(o.held, LEASE_HELD_DONE);
        ASSERT_STREQ(o.record.status, "succeeded");
        ASSERT_TRUE(!kv_get(e, "pause/nightly/2026-11-23T06:00:00Z").found);
        ASSERT_TRUE(!kv_get(e, "pause/nightly/2026-11-23T06:00:00Z/claimed").found);
        claim(b, "daily", T0, 1, &o);                   /* another job is not paused */
        ASSERT_TRUE(RUN_UNTIL(&tl, o.done, 5000));
        ASSERT_EQ(o.result, LEASE_WON);
        b->ops->cancel(o.claim);

        /* A manual run ignores the pause, under a key of its own, and runs once. */
        claim_req(b, &manual, &om);
        ASSERT_STREQ(om.key, "pause/nightly/manual-key-1");
        ASSERT_TRUE(RUN_UNTIL(&tl, om.done, 5000));
        ASSERT_EQ(om.result, LEASE_WON);
        kv = kv_get(e, om.key);
        ASSERT_STREQ(json_string_value(json_object_get(kv.record, "manual")), "key-1");
        ASSERT_STREQ(json_string_value(json_object_get(kv.record, "scheduled")),
                     "2026-11-23T06:00:05Z");
        json_decref(kv.record);
        manual.run_id = "run-x";
        claim_req(a, &manual, &o);
        ASSERT_TRUE(RUN_UNTIL(&tl, o.done, 5000));
        ASSERT_EQ(o.result, LEASE_HELD);
        ASSERT_EQ(o.held, LEASE_HELD_RUNNING);
        ASSERT_TRUE(o.has_record);                      /* the first run, to answer with */
        ASSERT_STREQ(o.record.run_id, "run-m");
        ASSERT_STREQ(o.record.host, "host-b");
        ASSERT_STREQ(o.record.status, "running");
        ASSERT_STREQ(o.record.manual, "key-1");
        ASSERT_EQ(o.record.scheduled, T0 + 5);
        ASSERT_EQ(o.record.fencing_token, om.token);
        b->ops->finish(om.claim, &(LeaseEnd) { "failed", 3, 1500 });
        ASSERT_TRUE(RUN_UNTIL(&tl, kv_final(e, om.key), 5000));
        claim_req(a, &manual, &o);
        ASSERT_TRUE(RUN_UNTIL(&tl, o.done, 5000));
        ASSERT_EQ(o.result, LEASE_HELD);
        ASSERT_EQ(o.held, LEASE_HELD_DONE);
        ASSERT_STREQ(o.record.run_id, "run-m");
        ASSERT_STREQ(o.record.status, "failed");
        ASSERT_EQ(o.record.exit_status, 3);
        ASSERT_EQ(o.record.duration_msec, 1500);
        ASSERT_EQ(o.record.fencing_token, om.token);

        /* The paused jobs, exactly; resumed from another replica. */
        ask_paused(b, "weekly", true, q);
        answered(&tl, q);
        ask_list(a, q);
        assert_jobs(answered(&tl, q), (const char *[]) { "nightly", "weekly", NULL });
        ask_paused(b, "nightly", false, q);
        answered(&tl, q);
        ask_list(a, q);
        assert_jobs(answered(&tl, q), (const char *[]) { "weekly", NULL });
        claim(a, "nightly", T0, 1, &o);
        ASSERT_TRUE(RUN_UNTIL(&tl, o.done, 5000));
        ASSERT_EQ(o.result, LEASE_WON);
        a->ops->cancel(o.claim);
        ask_paused(a, "weekly", false, q);
        answered(&tl, q);
        ask_paused(a, "weekly", false, q);              /* not paused: nothing to do */
        answered(&tl, q);
        ask_list(b, q);
        assert_jobs(answered(&tl, q), (const char *[]) { NULL });
        store_close(&tl, a);
        store_close(&tl, b);
        tl_done(&tl);
}

/* A firing (or manual run) claimed, won and finished by s; returns its fencing token once
 * its final record is written. */
static uint64_t run_firing(const Etcd *e, TestLoop *tl, LeaseStore *s, const LeaseRequest *req,
                           const LeaseEnd *end) {
        Outcome o;

        claim_req(s, req, &o);
        ASSERT_TRUE(RUN_UNTIL(tl, o.done, 5000));
        ASSERT_EQ(o.result, LEASE_WON);
        s->ops->finish(o.claim, end);
        ASSERT_TRUE(RUN_UNTIL(tl, kv_final(e, o.key), 5000));
        return o.token;
}

static void assert_scheduled(const Answer *a, const int64_t *want, size_t n) {
        ASSERT_EQ(a->n, n);
        for (size_t i = 0; i < n; i++)
                if (a->rec[i].scheduled != want[i])
                        TEST_FAIL("record %zu: scheduled %" PRId64 ", not %" PRId64, i,
                                  a->rec[i].scheduled, want[i]);
}

TEST(history_since_limit_and_manual_runs) {
        const Etcd *e = shared_etcd();
        const char *ep[] = { e->url, NULL };
        int64_t now = time(NULL), want[16];
        uint64_t t_old, t_recent, t_gone;
        Answer *q = &answers[0];
        LeaseStore *s[2];
        Outcome o, run;
        TestLoop tl;

        tl_init(&tl);
        s[0] = store_new(&tl, &(StoreOpts) { .endpoints = ep, .host = "host-a", .prefix = "hist" });
        s[1] = store_new(&tl, &(StoreOpts) { .endpoints = ep, .host = "host-b", .prefix = "hist" });
        /* 20 days ago; ten about two hours ago, a minute apart; a minute ago */
        t_old = run_firing(e, &tl, s[1], &(LeaseRequest) { .job = "walk", .run_id = "old",
                                                        .scheduled = now - 20 * 86400,
                                                        .attempt = 1 },
                           &(LeaseEnd) { "succeeded", 0, 10 });
        for (int i = 0; i < 10; i++)
                (void) run_firing(e, &tl, s[i % 2], &(LeaseRequest) { .job = "walk", .run_id = "r",
                                                                   .scheduled = now - 7200 - 60 * i,
                                                                   .attempt = 1 },
                                  &(LeaseEnd) { "failed", i + 1, 100 * i });
        t_recent = run_firing(e, &tl, s[0], &(LeaseRequest) { .job = "walk", .scheduled = now - 60,
                                                           .run_id = "recent", .attempt = 1 },
                              &(LeaseEnd) { "succeeded", 0, 1200 });
        (void) run_firing(e, &tl, s[0], &(LeaseRequest) { .job = "walk", .scheduled = now - 100000,
                                                       .manual = "m2", .run_id = "m2",
                                                       .attempt = 1 },
                          &(LeaseEnd) { "succeeded", 0, 5 });
        (void) run_firing(e, &tl, s[1], &(LeaseRequest) { .job = "walk", .scheduled = now - 45,
                                                       .manual = "m1", .run_id = "m1",
                                                       .attempt = 1 },
                          &(LeaseEnd) { "failed", 2, 700 });
        (void) run_firing(e, &tl, s[1], &(LeaseRequest) { .job = "other", .scheduled = now - 50,
                                                       .run_id = "o", .attempt = 1 },
                          &(LeaseEnd) { "succeeded", 0, 1 });
        /* One whose holder let go without a final record (its marker stays), one running. */
        claim(s[0], "walk", now - 90, 1, &o);
        ASSERT_TRUE(RUN_UNTIL(&tl, o.done, 5000));
        ASSERT_EQ(o.result, LEASE_WON);
        t_gone = o.token;
        s[0]->ops->cancel(o.claim);
        ASSERT_TRUE(RUN_UNTIL(&tl, !kv_exists(e, o.key), 5000));
        claim(s[1], "walk", now - 30, 1, &run);
        ASSERT_TRUE(RUN_UNTIL(&tl, run.done, 5000));
        ASSERT_EQ(run.result, LEASE_WON);

        /* Everything, newest first, from either replica. */
        want[0] = now - 30, want[1] = now - 45, want[2] = now - 60, want[3] = now - 90;
        for (int i = 0; i < 10; i++)
                want[4 + i] = now - 7200 - 60 * i;
        want[14] = now - 100000, want[15] = now - 20 * 86400;
        ask_history(s[1], "walk", 0, 1000, q);
        assert_scheduled(answered(&tl, q), want, 16);
        ask_history(s[0], "walk", 0, 100, q);
        assert_scheduled(answered(&tl, q), want, 16);
        ASSERT_STREQ(q->rec[0].status, "running");
        ASSERT_STREQ(q->rec[0].host, "host-b");
        ASSERT_EQ(q->rec[0].fencing_token, run.token);
        ASSERT_EQ(q->rec[0].finished, 0);
        ASSERT_TRUE(!q->rec[0].manual);
        ASSERT_STREQ(q->rec[1].manual, "m1");
        ASSERT_STREQ(q->rec[1].status, "failed");
        ASSERT_EQ(q->rec[1].exit_status, 2);
        ASSERT_EQ(q->rec[1].duration_msec, 700);
        ASSERT_STREQ(q->rec[2].job, "walk");
        ASSERT_STREQ(q->rec[2].run_id, "recent");
        ASSERT_STREQ(q->rec[2].host, "host-a");
        ASSERT_EQ(q->rec[2].pid, getpid());
        ASSERT_STREQ(q->rec[2].status, "succeeded");
        ASSERT_EQ(q->rec[2].exit_status, 0);
        ASSERT_EQ(q->rec[2].duration_msec, 1200);
        ASSERT_EQ(q->rec[2].fencing_token, t_recent);
        ASSERT_TRUE(q->rec[2].started > 0 && q->rec[2].finished >= q->rec[2].started);
        ASSERT_STREQ(q->rec[3].status, "abandoned");
        ASSERT_STREQ(q->rec[3].host, "host-a");
        ASSERT_EQ(q->rec[3].fencing_token, t_gone);
        ASSERT_EQ(q->rec[3].exit_status, -1);
        for (int i = 0; i < 10; i++) {
                ASSERT_STREQ(q->rec[4 + i].host, i % 2 ? "host-b" : "host-a");
                ASSERT_EQ(q->rec[4 + i].exit_status, i + 1);
        }
        ASSERT_STREQ(q->rec[14].manual, "m2");
        ASSERT_EQ(q->rec[15].fencing_token, t_old);

        /* limit: the newest. These take one window, two, then all that is older. */
        ask_history(s[0], "walk", 0, 3, q);
        assert_scheduled(answered(&tl, q), want, 3);
        ask_history(s[0], "walk", 0, 5, q);
        assert_scheduled(answered(&tl, q), want, 5);
        ask_history(s[0], "walk", 0, 12, q);
        assert_scheduled(answered(&tl, q), want, 12);
        /* since: nothing scheduled before it (a manual run: asked for before it) */
        ask_history(s[0], "walk", now - 3 * 3600, 100, q);
        assert_scheduled(answered(&tl, q), want, 14);
        ask_history(s[0], "walk", now - 60, 100, q);
        assert_scheduled(answered(&tl, q), want, 3);
        ask_history(s[0], "walk", now - 60, 2, q);
        assert_scheduled(answered(&tl, q), want, 2);
        ask_history(s[0], "walk", now + 3600, 100, q);
        assert_scheduled(answered(&tl, q), want, 0);
        ask_history(s[0], "never", 0, 100, q);
        assert_scheduled(answered(&tl, q), want, 0);

        s[1]->ops->cancel(run.claim);
        store_close(&tl, s[0]);
        store_close(&tl, s[1]);
        tl_done(&tl);
}

/* Starts one of each query; returns them, unanswered. */
static void ask_all(LeaseStore *s) {
        ask_history(s, "any", 0, 10, &answers[0]);
        ask_probe(s, &answers[1]);
        ask_list(s, &answers[2]);
        ask_paused(s, "any", true, &answers[3]);
        for (int i = 0; i < 4; i++)
                ASSERT_TRUE(!answers[i].done);
}

/* Close s with every kind of query outstanding: each is answered during close(). */
static void close_with_queries(TestLoop *tl, LeaseStore *s) {
        bool closed = false;

        ask_all(s);
        s->ops->close(s, on_closed, &closed);
        for (int i = 0; i < 4; i++) {
                ASSERT_TRUE(answers[i].done && answers[i].failed);
                ASSERT_STREQ(answers[i].error, "the etcd lease store is closing");
        }
        ASSERT_TRUE(RUN_UNTIL(tl, closed, 20000));
}

TEST(queries_while_etcd_is_down_and_at_close) {
        const char *ep[2] = {};
        Answer *q = &answers[0];
        Etcd e = {};
        TestLoop tl;
        LeaseStore *a;

        etcd_start_n(&e, 1, false);
        etcd_launch(&e, 1);
        ep[0] = e.url;
        tl_init(&tl);
        a = store_new(&tl, &(StoreOpts) { .endpoints = ep, .election_ms = 1000 });
        ask_probe(a, q);
        answered(&tl, q);
        close_with_queries(&tl, a);                     /* requests in flight */

        a = store_new(&tl, &(StoreOpts) { .endpoints = ep, .election_ms = 1000 });
        etcd_kill(&e);
        /* The deadlines come from the loop's time, which etcd_kill() has left behind. */
        uv_update_time(&tl.loop);
        ask_history(a, "any", 0, 10, &answers[0]);
        ask_probe(a, &answers[1]);
        ask_list(a, &answers[2]);
        ask_paused(a, "any", true, &answers[3]);
        ASSERT_TRUE(RUN_UNTIL(&tl, answers[0].done && answers[1].done && answers[2].done &&
                                   answers[3].done, 5000));
        for (int i = 0; i < 4; i++) {
                q = &answers[i];
                fprintf(stderr, "  answer %d after %" PRIu64 " ms: %s\n", i, q->t_done - q->t_start,
                        q->error);
                ASSERT_TRUE(q->failed);
                /* Not before the election timeout (less a millisecond or so: see
                 * etcd_dies_mid_run_then_down_at_claim), not much after. */
                ASSERT_TRUE(q->t_done - q->t_start >= 1000 - 5 && q->t_done - q->t_start < 2000);
                ASSERT_TRUE(strstr(q->error, "no usable answer from etcd within 1000 ms"));
                ASSERT_TRUE(strstr(q->error, "connection refused"));
        }
        close_with_queries(&tl, a);                     /* requests waiting for a retry */
        tl_done(&tl);
        etcd_stop(&e);
}


static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

TEST(claim_latency) {
        enum { N = 200 };
        const Etcd *e = shared_etcd();
        const char *ep[] = { e->url, NULL };
        static uint64_t won_us[N], held_us[N];
        uint64_t sum_w = 0, sum_h = 0, lag;
        TestLoop tl;
        LeaseStore *a, *b;
        Outcome oa, ob;

        tl_init(&tl);
        a = store_new(&tl, &(StoreOpts) { .endpoints = ep, .host = "host-a", .prefix = "lat" });
        b = store_new(&tl, &(StoreOpts) { .endpoints = ep, .host = "host-b", .prefix = "lat" });
        for (int i = 0; i < N; i++) {
                uint64_t t = uv_hrtime();

                claim(a, "lat", T0 + i, 1, &oa);
                ASSERT_TRUE(RUN_UNTIL(&tl, oa.done, 5000));
                won_us[i] = (uv_hrtime() - t) / 1000;
                ASSERT_EQ(oa.result, LEASE_WON);
                t = uv_hrtime();
                claim(b, "lat", T0 + i, 1, &ob);
                ASSERT_TRUE(RUN_UNTIL(&tl, ob.done, 5000));
                held_us[i] = (uv_hrtime() - t) / 1000;
                ASSERT_EQ(ob.result, LEASE_HELD);
                a->ops->finish(oa.claim, &(LeaseEnd) { "succeeded", 0, -1 });
                sum_w += won_us[i];
                sum_h += held_us[i];
        }
        qsort(won_us, N, sizeof(uint64_t), cmp_u64);
        qsort(held_us, N, sizeof(uint64_t), cmp_u64);
        fprintf(stderr, "  WON  (one txn on the session): mean %.2f ms, median %.2f, p99 %.2f\n",
                (double) sum_w / N / 1000, won_us[N / 2] / 1000.0, won_us[N * 99 / 100] / 1000.0);
        fprintf(stderr, "  HELD (one txn):                   mean %.2f ms, median %.2f, p99 %.2f\n",
                (double) sum_h / N / 1000, held_us[N / 2] / 1000.0, held_us[N * 99 / 100] / 1000.0);
        /* The claim lag a lower rank waits for (claim_lag_ms): twice the recent round trip,
         * a few ms here; one answer 300 ms late (etcd stopped meanwhile) raises it at once,
         * a few quick ones bring it down again. */
        lag = a->ops->claim_lag_ms(a);
        fprintf(stderr, "  claim lag: %" PRIu64 " ms\n", lag);
        ASSERT_TRUE(lag <= 2 * (won_us[N - 1] / 1000 + 1));
        ASSERT_OK(kill(e->pid, SIGSTOP));
        claim(a, "lat", T0 + N, 1, &oa);
        ASSERT_TRUE(!RUN_UNTIL(&tl, oa.done, 300));
        ASSERT_OK(kill(e->pid, SIGCONT));
        ASSERT_TRUE(RUN_UNTIL(&tl, oa.done, 5000));
        ASSERT_EQ(oa.result, LEASE_WON);
        lag = a->ops->claim_lag_ms(a);
        fprintf(stderr, "  claim lag after a stop of 300 ms: %" PRIu64 " ms\n", lag);
        ASSERT_TRUE(lag >= 300);
        a->ops->finish(oa.claim, &(LeaseEnd) { "succeeded", 0, -1 });
        for (int i = 0; i < 10; i++) {
                claim(b, "lat", T0 + N + 1 + i, 1, &ob);
                ASSERT_TRUE(RUN_UNTIL(&tl, ob.done, 5000));
                ASSERT_EQ(ob.result, LEASE_WON);
                b->ops->finish(ob.claim, &(LeaseEnd) { "succeeded", 0, -1 });
                claim(a, "lat", T0 + N + 1 + i, 1, &oa);
                ASSERT_TRUE(RUN_UNTIL(&tl, oa.done, 5000));
                ASSERT_EQ(oa.result, LEASE_HELD);
        }
        lag = a->ops->claim_lag_ms(a);
        fprintf(stderr, "  claim lag ten answers later: %" PRIu64 " ms\n", lag);
        ASSERT_TRUE(lag < 300 / 4);
        store_close(&tl, a);
        store_close(&tl, b);
        tl_done(&tl);
}

/* ---- the missed-firing alarm: check_missed ---- */

typedef struct Missed {
        bool done, raised;
        LeaseFiringState state;
        char error[512];
} Missed;

static void on_missed(LeaseFiringState state, bool raised, const char *error, void *userdata) {
        Missed *m = userdata;

        ASSERT_TRUE(!m->done);          /* exactly once */
        *m = (Missed) { .done = true, .state = state, .raised = raised };
        if (error)
                (void) snprintf(m->error, sizeof(m->error), "%s", error);
}

/* key holds a final record (no longer running). */
static bool has_final_record(const Etcd *e, const char *key) {
        Kv kv = kv_get(e, key);
        const char *status = json_string_value(json_object_get(kv.record, "status"));
        bool final = status && strcmp(status, "running") != 0;

        json_decref(kv.record);
        return final;
}

static void ask_missed(LeaseStore *s, const char *job, bool raise, Missed *m) {
        *m = (Missed) {};
        s->ops->check_missed(s, &(LeaseRequest) { .job = job, .scheduled = T0 }, raise,
                             on_missed, m);
}

TEST(check_missed_states_and_one_raise) {
        const Etcd *e = shared_etcd();
        const char *ep[] = { e->url, NULL };
        LeaseStore *a, *b, *c;
        Outcome o, gone = {};
        Missed mb, mc;
        Answer p;
        LeaseWatch *w;
        uint64_t token;
        pid_t child;
        TestLoop tl;
        Kv kv;

        tl_init(&tl);
        a = store_new(&tl, &(StoreOpts) { .endpoints = ep, .host = "host-a" });
        b = store_new(&tl, &(StoreOpts) { .endpoints = ep, .host = "host-b" });
        c = store_new(&tl, &(StoreOpts) { .endpoints = ep, .host = "host-c" });

        /* nobody claimed it: a read alone says so and writes nothing */
        ask_missed(b, "m-none", false, &mb);
        ASSERT_TRUE(RUN_UNTIL(&tl, mb.done, 5000));
        ASSERT_TRUE(!mb.error[0] && mb.state == LEASE_FIRING_NONE && !mb.raised);
        ASSERT_TRUE(!kv_get(e, "test/:missed/m-none/2026-11-23T06:00:00Z").found);
        /* two replicas raise it at once: exactly one creates the marker */
        ask_missed(b, "m-none", true, &mb);
        ask_missed(c, "m-none", true, &mc);
        ASSERT_TRUE(RUN_UNTIL(&tl, mb.done && mc.done, 5000));
        ASSERT_TRUE(!mb.error[0] && !mc.error[0]);
        ASSERT_EQ(mb.state, LEASE_FIRING_NONE);
        ASSERT_EQ(mc.state, LEASE_FIRING_NONE);
        ASSERT_EQ((int) mb.raised + (int) mc.raised, 1);
        kv = kv_get(e, "test/:missed/m-none/2026-11-23T06:00:00Z");
        ASSERT_TRUE(kv.found && kv.lease != 0);         /* kept for the history period */
        ASSERT_STREQ(json_string_value(json_object_get(kv.record, "by")),
                     mb.raised ? "host-b" : "host-c");
        ASSERT_STREQ(json_string_value(json_object_get(kv.record, "scheduled")),
                     "2026-11-23T06:00:00Z");
        json_decref(kv.record);
        /* and asked again later, by anyone: not raised again */
        ask_missed(a, "m-none", true, &mb);
        ASSERT_TRUE(RUN_UNTIL(&tl, mb.done, 5000));
        ASSERT_TRUE(!mb.raised && mb.state == LEASE_FIRING_NONE);

        /* a live holder: running; its final record: done; neither raises */
        claim(a, "m-ran", T0, 1, &o);
        ASSERT_TRUE(RUN_UNTIL(&tl, o.done, 5000) && o.result == LEASE_WON);
        ask_missed(b, "m-ran", true, &mb);
        ASSERT_TRUE(RUN_UNTIL(&tl, mb.done, 5000));
        ASSERT_TRUE(!mb.error[0] && mb.state == LEASE_FIRING_RUNNING && !mb.raised);
        a->ops->finish(o.claim, &(LeaseEnd) { "failed", 1, 10 });
        ASSERT_TRUE(RUN_UNTIL(&tl, has_final_record(e, "test/m-ran/2026-11-23T06:00:00Z"), 5000));
        ask_missed(b, "m-ran", true, &mb);
        ASSERT_TRUE(RUN_UNTIL(&tl, mb.done, 5000));
        ASSERT_TRUE(mb.state == LEASE_FIRING_DONE && !mb.raised);      /* failed, but it ran */
        ASSERT_TRUE(!kv_get(e, "test/:missed/m-ran/2026-11-23T06:00:00Z").found);

        /* a holder that died mid-run: abandoned, raised once */
        child = holder_start(e, "m-dead", &token);
        ASSERT_OK(b->ops->watch(b, &(LeaseRequest) { .job = "m-dead", .scheduled = T0 },
                                on_expired, &gone, &w));
        ASSERT_OK(kill(child, SIGKILL));
        ASSERT_EQ(waitpid(child, NULL, 0), child);
        ASSERT_TRUE(RUN_UNTIL(&tl, gone.expired, 6000));
        b->ops->unwatch(w);
        ask_missed(c, "m-dead", false, &mc);
        ASSERT_TRUE(RUN_UNTIL(&tl, mc.done, 5000));
        ASSERT_TRUE(mc.state == LEASE_FIRING_ABANDONED && !mc.raised);
        ask_missed(c, "m-dead", true, &mc);
        ASSERT_TRUE(RUN_UNTIL(&tl, mc.done, 5000));
        ASSERT_TRUE(!mc.error[0] && mc.raised);

        /* a paused job's firing is never missed */
        ask_paused(a, "m-paused", true, &p);
        ASSERT_TRUE(RUN_UNTIL(&tl, p.done, 5000) && !p.failed);
        ask_missed(b, "m-paused", true, &mb);
        ASSERT_TRUE(RUN_UNTIL(&tl, mb.done, 5000));
        ASSERT_TRUE(mb.state == LEASE_FIRING_PAUSED && !mb.raised);
        ASSERT_TRUE(!kv_get(e, "test/:missed/m-paused/2026-11-23T06:00:00Z").found);

        /* closing answers a check in flight, once, with an error */
        ask_missed(c, "m-close", true, &mc);
        store_close(&tl, c);
        ASSERT_TRUE(mc.done && mc.error[0] && !mc.raised);
        store_close(&tl, a);
        store_close(&tl, b);
        tl_done(&tl);
}

TEST(check_missed_store_down) {
        const char *ep[] = { "http://127.0.0.1:1", NULL };
        LeaseStore *a;
        TestLoop tl;
        Missed m;

        tl_init(&tl);
        a = store_new(&tl, &(StoreOpts) { .endpoints = ep, .election_ms = 500 });
        ask_missed(a, "m-down", true, &m);
        ASSERT_TRUE(RUN_UNTIL(&tl, m.done, 5000));
        ASSERT_TRUE(m.error[0] && !m.raised);
        store_close(&tl, a);
        tl_done(&tl);
}

TESTS_MAIN
