/* SPDX-License-Identifier: MIT */
/* daemon/http.c against a real HTTP server: tests/unit/http_server.py under /usr/bin/python3,
 * on an ephemeral port of 127.0.0.1, one server per test. Every test ends by checking that the
 * loop has no active handle left (idle means no wakeups), closing the client and checking that
 * uv_loop_close() succeeds. */

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "http.h"
#include "test-spawn.h"
#include "tests.h"

typedef struct Server {
        pid_t pid;
        int port;
        char dir[64];           /* --tls: where the certificates are; "" without TLS */
        char url[128];          /* scheme://127.0.0.1:port */
} Server;

/* Start the server; false if it asked to be skipped (no openssl for --tls). */
static bool server_start(Server *s, bool tls) {
        const char *script = test_http_server_script();
        char *argv[] = { (char *) "python3", (char *) script, tls ? (char *) "--tls" : NULL,
                         NULL, NULL };
        char line[64] = {};
        size_t len = 0;
        int pfd[2];

        test_no_proxy();
        if (access(TEST_PYTHON, X_OK) < 0 || access(script, R_OK) < 0) {
                fprintf(stderr, "skipping: need %s and %s\n", TEST_PYTHON, script);
                exit(77);
        }

        *s = (Server) {};
        if (tls) {
                (void) snprintf(s->dir, sizeof(s->dir), "/tmp/test-http-XXXXXX");
                ASSERT_TRUE(mkdtemp(s->dir));
        }
        argv[3] = s->dir;
        ASSERT_OK(pipe2(pfd, O_CLOEXEC));
        s->pid = test_spawn(TEST_PYTHON, argv, pfd[1], false);
        close(pfd[1]);
        while (len < sizeof(line) - 1 && !memchr(line, '\n', len)) {
                ssize_t n = read(pfd[0], line + len, sizeof(line) - 1 - len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t) n;
        }
        close(pfd[0]);
        if (strncmp(line, "SKIP", 4) == 0) {
                (void) waitpid(s->pid, NULL, 0);
                s->pid = 0;
                return false;
        }
        for (const char *p = line; *p >= '0' && *p <= '9'; p++)
                s->port = s->port * 10 + (*p - '0');
        if (s->port <= 0 || s->port > 65535)
                TEST_FAIL("server did not print a port: '%s'", line);
        (void) snprintf(s->url, sizeof(s->url), "%s://127.0.0.1:%d", tls ? "https" : "http",
                        s->port);
        return true;
}

static void server_path(const Server *s, const char *name, char *buf, size_t size) {
        (void) snprintf(buf, size, "%s/%s", s->dir, name);
}

static void server_stop(Server *s) {
        static const char *const files[] = { "server.pem", "server.key", "client.pem",
                                             "client.key" };
        int status;

        if (s->pid > 0) {
                ASSERT_OK(kill(s->pid, SIGTERM));
                ASSERT_EQ(waitpid(s->pid, &status, 0), s->pid);
        }
        if (s->dir[0]) {
                for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
                        char p[128];

                        server_path(s, files[i], p, sizeof(p));
                        (void) unlink(p);
                }
                (void) rmdir(s->dir);
        }
}

/* What a done callback saw. Header values are copied: resp is gone after the callback. */
typedef struct Rec {
        int calls;
        int error;
        char message[256];
        long status;
        char *body;             /* taken from the response */
        size_t body_size;
        char etag[64], etag_upper[64], missing[16], method[16], echo[64], body_len[16];
        char ctype[64], port[16], auth[128], h19[16];
        size_t n_headers;
        /* things to do from the callback */
        HttpTransfer *cancel;
        HttpClient *close;
        int *closed;
        HttpClient *restart_client;
        const HttpRequest *restart;
        int restart_r;
} Rec;

static void copy_header(char *dst, size_t n, const HttpResponse *resp, const char *name) {
        const char *v = http_response_header(resp, name);

        (void) snprintf(dst, n, "%s", v ? v : "(null)");
}

static void on_closed(void *userdata) {
        (*(int *) userdata)++;
}

static int done_calls;          /* every on_done call, across requests */

static void on_done(HttpResponse *resp, void *userdata) {
        Rec *r = userdata;

        done_calls++;
        r->calls++;
        r->error = resp->error;
        r->status = resp->status;
        ASSERT_TRUE((resp->error == 0) == (resp->message == NULL));
        (void) snprintf(r->message, sizeof(r->message), "%s", resp->message ? resp->message : "");
        ASSERT_TRUE(resp->body);
        ASSERT_EQ(resp->body[resp->body_size], 0);
        free(r->body);
        r->body = resp->body;   /* take it: the client must not free it */
        resp->body = NULL;
        r->body_size = resp->body_size;
        r->n_headers = resp->n_headers;
        copy_header(r->etag, sizeof(r->etag), resp, "etag");
        copy_header(r->etag_upper, sizeof(r->etag_upper), resp, "ETAG");
        copy_header(r->missing, sizeof(r->missing), resp, "X-Missing");
        copy_header(r->method, sizeof(r->method), resp, "X-Method");
        copy_header(r->echo, sizeof(r->echo), resp, "x-echo");
        copy_header(r->body_len, sizeof(r->body_len), resp, "X-Body-Length");
        copy_header(r->ctype, sizeof(r->ctype), resp, "X-Content-Type");
        copy_header(r->port, sizeof(r->port), resp, "X-Client-Port");
        copy_header(r->auth, sizeof(r->auth), resp, "X-Authorization");
        copy_header(r->h19, sizeof(r->h19), resp, "x-h-19");

        if (r->cancel)
                http_request_cancel(r->cancel);
        if (r->restart)
                r->restart_r = http_request_start(r->restart_client, r->restart, NULL);
        if (r->close)
                http_client_close(r->close, on_closed, r->closed);
}

static void rec_done(Rec *r) {
        free(r->body);
        r->body = NULL;
}

static void count_active(uv_handle_t *h, void *userdata) {
        if (uv_is_active(h)) {
                fprintf(stderr, "active handle: %s\n", uv_handle_type_name(uv_handle_get_type(h)));
                (*(int *) userdata)++;
        }
}

/* uv_run() returned: nothing may be left running, or the daemon would wake up when idle. */
static void assert_no_active(uv_loop_t *loop) {
        int active = 0;

        uv_walk(loop, count_active, &active);
        ASSERT_EQ(active, 0);
}

static void assert_idle(uv_loop_t *loop) {
        assert_no_active(loop);
        ASSERT_EQ(uv_loop_alive(loop), 0);
}

/* Run until n more done callbacks have run; then, with no further loop iteration, nothing may
 * be active: a timer left armed after the last transfer would show here. (Polls curl just
 * removed may still be closing: that finishes in the next iteration, without waiting.) */
static void run_until_done(uv_loop_t *loop, int n) {
        int want = done_calls + n;

        while (done_calls < want)
                ASSERT_TRUE(uv_run(loop, UV_RUN_ONCE) != 0 || done_calls >= want);
        assert_no_active(loop);
        ASSERT_EQ(uv_run(loop, UV_RUN_DEFAULT), 0);
        assert_idle(loop);
}

static void close_client(uv_loop_t *loop, HttpClient *c) {
        int closed = 0;

        http_client_close(c, on_closed, &closed);
        ASSERT_EQ(closed, 0);
        ASSERT_EQ(uv_run(loop, UV_RUN_DEFAULT), 0);
        ASSERT_EQ(closed, 1);
        ASSERT_EQ(uv_loop_close(loop), 0);
}

static uint64_t now_ms(void) {
        return uv_hrtime() / 1000000;
}

/* A port on which nothing listens: bound (so nobody else takes it) but not listening. */
static int closed_port(int *ret_fd) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(bind(fd, (struct sockaddr *) &a, sizeof(a)));
        ASSERT_OK(getsockname(fd, (struct sockaddr *) &a, &len));
        *ret_fd = fd;
        return ntohs(a.sin_port);
}

TEST(methods_bodies_headers) {
        const char *hdrs[] = { "X-Test: hello", NULL };
        const char *json[] = { "Content-Type: application/json", NULL };
        static const char binary[] = { 'a', 0, 'b', '\n', 0, (char) 0xff };
        uv_loop_t loop;
        Server srv;
        HttpClient *c;
        Rec get = {}, put = {}, post = {}, del = {}, head = {}, empty = {}, bin = {};
        char url[256], buf[16] = "copied";

        server_start(&srv, false);
        ASSERT_OK(uv_loop_init(&loop));
        c = http_client_new(&loop);
        ASSERT_TRUE(c);
        (void) snprintf(url, sizeof(url), "%s/echo", srv.url);

        ASSERT_OK(http_request_start(c, &(HttpRequest) { .url = url, .headers = hdrs,
                                     .done = on_done, .userdata = &get }, NULL));
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .method = HTTP_PUT, .url = url,
                                     .body = buf, .body_size = 6,
                                     .done = on_done, .userdata = &put }, NULL));
        memcpy(buf, "XXXXXX", 6);       /* copied at start: must not matter */
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .method = HTTP_POST, .url = url,
                                     .headers = json, .body = "{\"a\":1}", .body_size = 7,
                                     .body_borrowed = true, .done = on_done, .userdata = &post },
                                     NULL));
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .method = HTTP_DELETE, .url = url,
                                     .done = on_done, .userdata = &del }, NULL));
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .method = HTTP_HEAD, .url = url,
                                     .done = on_done, .userdata = &head }, NULL));
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .method = HTTP_PUT, .url = url,
                                     .done = on_done, .userdata = &empty }, NULL));
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .method = HTTP_PUT, .url = url,
                                     .body = binary, .body_size = sizeof(binary),
                                     .body_borrowed = true, .done = on_done, .userdata = &bin },
                                     NULL));
        /* never from inside http_request_start() */
        ASSERT_EQ(get.calls + put.calls + post.calls + del.calls + head.calls + empty.calls, 0);
        run_until_done(&loop, 7);

        ASSERT_EQ(get.calls, 1);
        ASSERT_EQ(get.error, 0);
        ASSERT_EQ(get.status, 200);
        ASSERT_STREQ(get.body, "GET /echo\n");
        ASSERT_STREQ(get.echo, "hello");
        ASSERT_STREQ(get.etag, "\"etag-1234\"");
        ASSERT_STREQ(get.etag_upper, "\"etag-1234\"");
        ASSERT_STREQ(get.missing, "(null)");
        ASSERT_STREQ(get.ctype, "(none)");

        ASSERT_EQ(put.calls, 1);
        ASSERT_EQ(put.status, 200);
        ASSERT_STREQ(put.body, "PUT /echo\ncopied");
        ASSERT_STREQ(put.method, "PUT");
        ASSERT_STREQ(put.body_len, "6");
        ASSERT_STREQ(put.ctype, "(none)");     /* no form-urlencoded default */

        ASSERT_STREQ(post.body, "POST /echo\n{\"a\":1}");
        ASSERT_STREQ(post.ctype, "application/json");

        ASSERT_STREQ(del.body, "DELETE /echo\n");
        ASSERT_STREQ(del.method, "DELETE");

        ASSERT_EQ(head.calls, 1);
        ASSERT_EQ(head.error, 0);
        ASSERT_EQ(head.status, 200);
        ASSERT_EQ(head.body_size, 0);
        ASSERT_STREQ(head.method, "HEAD");
        ASSERT_STREQ(head.etag, "\"etag-1234\"");

        ASSERT_STREQ(empty.body, "PUT /echo\n");
        ASSERT_STREQ(empty.body_len, "0");

        ASSERT_EQ(bin.status, 200);
        ASSERT_EQ(bin.body_size, strlen("PUT /echo\n") + sizeof(binary));
        ASSERT_TRUE(memcmp(bin.body + strlen("PUT /echo\n"), binary, sizeof(binary)) == 0);

        close_client(&loop, c);
        server_stop(&srv);
        rec_done(&get), rec_done(&put), rec_done(&post), rec_done(&del);
        rec_done(&head), rec_done(&empty), rec_done(&bin);
}

TEST(status_passed_through) {
        uv_loop_t loop;
        Server srv;
        HttpClient *c;
        Rec r404 = {}, r412 = {}, r500 = {};
        char u1[256], u2[256], u3[256];

        server_start(&srv, false);
        ASSERT_OK(uv_loop_init(&loop));
        ASSERT_TRUE((c = http_client_new(&loop)));
        (void) snprintf(u1, sizeof(u1), "%s/status/404", srv.url);
        (void) snprintf(u2, sizeof(u2), "%s/status/412", srv.url);
        (void) snprintf(u3, sizeof(u3), "%s/status/503", srv.url);
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .url = u1, .done = on_done,
                                     .userdata = &r404 }, NULL));
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .method = HTTP_PUT, .url = u2,
                                     .body = "x", .body_size = 1, .done = on_done,
                                     .userdata = &r412 }, NULL));
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .url = u3, .done = on_done,
                                     .userdata = &r500 }, NULL));
        ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
        assert_idle(&loop);
        ASSERT_EQ(r404.error, 0);
        ASSERT_EQ(r404.status, 404);
        ASSERT_STREQ(r404.body, "status 404\n");
        ASSERT_EQ(r412.error, 0);
        ASSERT_EQ(r412.status, 412);
        ASSERT_EQ(r500.error, 0);
        ASSERT_EQ(r500.status, 503);
        close_client(&loop, c);
        server_stop(&srv);
        rec_done(&r404), rec_done(&r412), rec_done(&r500);
}

TEST(body_cap) {
        uv_loop_t loop;
        Server srv;
        HttpClient *c;
        Rec len_over = {}, chunk_over = {}, len_exact = {}, chunk_exact = {}, head_big = {};
        char u1[256], u2[256], u3[256], u4[256], u5[256];

        server_start(&srv, false);
        ASSERT_OK(uv_loop_init(&loop));
        ASSERT_TRUE((c = http_client_new(&loop)));
        (void) snprintf(u1, sizeof(u1), "%s/big?n=1000", srv.url);
        (void) snprintf(u2, sizeof(u2), "%s/chunked?n=100000", srv.url);
        (void) snprintf(u3, sizeof(u3), "%s/big?n=100", srv.url);
        (void) snprintf(u4, sizeof(u4), "%s/chunked?n=5000", srv.url);
        (void) snprintf(u5, sizeof(u5), "%s/big?n=100000", srv.url);
        /* Content-Length over the cap: refused before the body */
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .url = u1, .max_body = 100,
                                     .done = on_done, .userdata = &len_over }, NULL));
        /* no Content-Length: the write callback stops it */
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .url = u2, .max_body = 1000,
                                     .done = on_done, .userdata = &chunk_over }, NULL));
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .url = u3, .max_body = 100,
                                     .done = on_done, .userdata = &len_exact }, NULL));
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .url = u4, .max_body = 5000,
                                     .done = on_done, .userdata = &chunk_exact }, NULL));
        /* HEAD of something large is fine: no body comes */
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .method = HTTP_HEAD, .url = u5,
                                     .max_body = 10, .done = on_done, .userdata = &head_big },
                                     NULL));
        ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
        assert_idle(&loop);
        ASSERT_EQ(len_over.error, -EFBIG);
        ASSERT_STREQ(len_over.message, "Response body exceeds 100 bytes");
        ASSERT_EQ(chunk_over.error, -EFBIG);
        ASSERT_STREQ(chunk_over.message, "Response body exceeds 1000 bytes");
        ASSERT_TRUE(chunk_over.body_size <= 1000);
        ASSERT_EQ(len_exact.error, 0);
        ASSERT_EQ(len_exact.body_size, 100);
        ASSERT_EQ(chunk_exact.error, 0);
        ASSERT_EQ(chunk_exact.body_size, 5000);
        ASSERT_EQ(head_big.error, 0);
        ASSERT_EQ(head_big.status, 200);
        close_client(&loop, c);
        server_stop(&srv);
        rec_done(&len_over), rec_done(&chunk_over), rec_done(&len_exact);
        rec_done(&chunk_exact), rec_done(&head_big);
}

TEST(header_cap) {
        uv_loop_t loop;
        Server srv;
        HttpClient *c;
        Rec many = {}, some = {};
        char u1[256], u2[256];

        server_start(&srv, false);
        ASSERT_OK(uv_loop_init(&loop));
        ASSERT_TRUE((c = http_client_new(&loop)));
        (void) snprintf(u1, sizeof(u1), "%s/headers?n=150", srv.url);
        (void) snprintf(u2, sizeof(u2), "%s/headers?n=20", srv.url);
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .url = u1, .done = on_done,
                                     .userdata = &many }, NULL));
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .url = u2, .done = on_done,
                                     .userdata = &some }, NULL));
        ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
        assert_idle(&loop);
        ASSERT_EQ(many.error, -EFBIG);
        ASSERT_STREQ(many.message, "Too many response headers");
        ASSERT_EQ(some.error, 0);
        ASSERT_STREQ(some.h19, "19");
        ASSERT_TRUE(some.n_headers >= 20 && some.n_headers <= HTTP_RESPONSE_HEADERS_MAX);
        close_client(&loop, c);
        server_stop(&srv);
        rec_done(&many), rec_done(&some);
}

TEST(timeout) {
        uv_loop_t loop;
        Server srv;
        HttpClient *c;
        Rec r = {};
        char url[256];
        uint64_t t0;

        server_start(&srv, false);
        ASSERT_OK(uv_loop_init(&loop));
        ASSERT_TRUE((c = http_client_new(&loop)));
        (void) snprintf(url, sizeof(url), "%s/sleep?ms=5000", srv.url);
        t0 = now_ms();
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .url = url, .timeout_ms = 300,
                                     .done = on_done, .userdata = &r }, NULL));
        run_until_done(&loop, 1);
        ASSERT_EQ(r.calls, 1);
        ASSERT_EQ(r.error, -ETIMEDOUT);
        ASSERT_TRUE(r.message[0]);
        ASSERT_TRUE(now_ms() - t0 >= 250);
        ASSERT_TRUE(now_ms() - t0 < 3000);
        close_client(&loop, c);
        server_stop(&srv);
        rec_done(&r);
}

typedef struct Stream {
        Rec rec;                        /* first: on_done gets the same pointer */
        char data[256];
        size_t size;
        unsigned pieces;
        unsigned stop_after;            /* lines; 0: never stop */
        uint64_t first_ms;
} Stream;

static bool on_stream(const char *data, size_t size, void *userdata) {
        Stream *st = userdata;

        ASSERT_EQ(st->rec.calls, 0);    /* data before done, never after */
        if (st->pieces++ == 0)
                st->first_ms = now_ms();
        ASSERT_TRUE(st->size + size < sizeof(st->data));
        memcpy(st->data + st->size, data, size);
        st->size += size;
        st->data[st->size] = 0;
        if (st->stop_after) {
                unsigned lines = 0;

                for (size_t i = 0; i < st->size; i++)
                        lines += st->data[i] == '\n';
                if (lines >= st->stop_after)
                        return false;
        }
        return true;
}

TEST(stream) {
        uv_loop_t loop;
        Server srv;
        HttpClient *c;
        Stream whole = {}, stopped = { .stop_after = 2 }, missing = {};
        char u1[256], u2[256], u3[256];
        uint64_t t0, end_ms;

        server_start(&srv, false);
        ASSERT_OK(uv_loop_init(&loop));
        ASSERT_TRUE((c = http_client_new(&loop)));
        (void) snprintf(u1, sizeof(u1), "%s/stream?n=4&ms=150", srv.url);
        (void) snprintf(u2, sizeof(u2), "%s/stream?n=0&ms=20", srv.url);
        (void) snprintf(u3, sizeof(u3), "%s/status/404", srv.url);
        t0 = now_ms();
        /* Pieces arrive as they are sent, not at the end; max_body does not apply. */
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .url = u1, .max_body = 8,
                                     .on_data = on_stream, .done = on_done, .userdata = &whole },
                                     NULL));
        /* The reader ends an endless stream. */
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .url = u2, .on_data = on_stream,
                                     .done = on_done, .userdata = &stopped }, NULL));
        /* An error status is not streamed: its body is collected for done. */
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .url = u3, .on_data = on_stream,
                                     .done = on_done, .userdata = &missing }, NULL));
        ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
        end_ms = now_ms();
        assert_idle(&loop);

        ASSERT_EQ(whole.rec.calls, 1);
        ASSERT_EQ(whole.rec.error, 0);
        ASSERT_EQ(whole.rec.status, 200);
        ASSERT_EQ(whole.rec.body_size, 0);
        ASSERT_STREQ(whole.data, "line 0\nline 1\nline 2\nline 3\n");
        ASSERT_TRUE(whole.pieces >= 2);
        ASSERT_TRUE(end_ms - t0 >= 550);                /* four lines 150 ms apart */
        ASSERT_TRUE(whole.first_ms - t0 < 400);         /* the first came long before */

        ASSERT_EQ(stopped.rec.calls, 1);
        ASSERT_EQ(stopped.rec.error, -ECANCELED);
        ASSERT_STREQ(stopped.rec.message, "Stream ended by its reader");
        ASSERT_TRUE(strncmp(stopped.data, "line 0\nline 1\n", 14) == 0);

        ASSERT_EQ(missing.rec.calls, 1);
        ASSERT_EQ(missing.rec.error, 0);
        ASSERT_EQ(missing.rec.status, 404);
        ASSERT_EQ(missing.pieces, 0);
        ASSERT_STREQ(missing.rec.body, "status 404\n");
        close_client(&loop, c);
        server_stop(&srv);
        rec_done(&whole.rec), rec_done(&stopped.rec), rec_done(&missing.rec);
}

TEST(transport_errors) {
        uv_loop_t loop;
        Server srv;
        HttpClient *c;
        Rec refused = {}, resolve = {}, ftp = {}, bad = {}, tls = {};
        char u1[256], u2[256];
        int fd, port;

        server_start(&srv, false);
        port = closed_port(&fd);
        ASSERT_OK(uv_loop_init(&loop));
        ASSERT_TRUE((c = http_client_new(&loop)));
        (void) snprintf(u1, sizeof(u1), "http://127.0.0.1:%d/", port);
        (void) snprintf(u2, sizeof(u2), "https://127.0.0.1:%d/echo", srv.port); /* plain HTTP */
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .url = u1, .done = on_done,
                                     .userdata = &refused }, NULL));
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .url = "http://nonexistent.invalid/",
                                     .timeout_ms = 10000, .done = on_done, .userdata = &resolve },
                                     NULL));
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .url = "ftp://127.0.0.1/",
                                     .done = on_done, .userdata = &ftp }, NULL));
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .url = "http://[::1", .done = on_done,
                                     .userdata = &bad }, NULL));
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .url = u2, .done = on_done,
                                     .userdata = &tls }, NULL));
        ASSERT_EQ(refused.calls, 0);
        run_until_done(&loop, 5);
        ASSERT_EQ(refused.calls, 1);
        ASSERT_EQ(refused.error, -ECONNREFUSED);
        ASSERT_EQ(refused.status, 0);
        ASSERT_TRUE(strstr(refused.message, "onnect"));
        if (resolve.error == -ETIMEDOUT)
                fprintf(stderr, "note: DNS did not answer; resolve failure not checked\n");
        else
                ASSERT_EQ(resolve.error, -EHOSTUNREACH);
        ASSERT_EQ(ftp.error, -EPROTONOSUPPORT);
        ASSERT_EQ(bad.error, -EINVAL);
        ASSERT_EQ(tls.error, -EPROTO);
        close_client(&loop, c);
        close(fd);
        server_stop(&srv);
        rec_done(&refused), rec_done(&resolve), rec_done(&ftp), rec_done(&bad), rec_done(&tls);
}

TEST(many_concurrent) {
        enum { N = 50 };
        uv_loop_t loop;
        Server srv;
        HttpClient *c;
        Rec r[N] = {};
        char url[N][256];

        server_start(&srv, false);
        ASSERT_OK(uv_loop_init(&loop));
        ASSERT_TRUE((c = http_client_new(&loop)));
        for (int i = 0; i < N; i++) {
                (void) snprintf(url[i], sizeof(url[i]), "%s/echo?i=%d", srv.url, i);
                ASSERT_OK(http_request_start(c, &(HttpRequest) { .url = url[i], .done = on_done,
                                             .userdata = &r[i] }, NULL));
        }
        run_until_done(&loop, N);
        for (int i = 0; i < N; i++) {
                char want[64];

                (void) snprintf(want, sizeof(want), "GET /echo?i=%d\n", i);
                ASSERT_EQ(r[i].calls, 1);
                ASSERT_EQ(r[i].error, 0);
                ASSERT_STREQ(r[i].body, want);
                rec_done(&r[i]);
        }
        close_client(&loop, c);
        server_stop(&srv);
}

TEST(keepalive_reuse_and_start_from_callback) {
        uv_loop_t loop;
        Server srv;
        HttpClient *c;
        Rec first = {}, second = {};
        char url[256];

        server_start(&srv, false);
        ASSERT_OK(uv_loop_init(&loop));
        ASSERT_TRUE((c = http_client_new(&loop)));
        (void) snprintf(url, sizeof(url), "%s/echo", srv.url);
        HttpRequest again = { .url = url, .done = on_done, .userdata = &second };
        first.restart_client = c;
        first.restart = &again;
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .url = url, .done = on_done,
                                     .userdata = &first }, NULL));
        ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
        assert_idle(&loop);
        ASSERT_EQ(first.restart_r, 0);
        ASSERT_EQ(second.calls, 1);
        ASSERT_EQ(second.status, 200);
        ASSERT_STREQ(first.port, second.port);  /* same connection */
        close_client(&loop, c);
        server_stop(&srv);
        rec_done(&first), rec_done(&second);
}

static void on_cancel_timer(uv_timer_t *t) {
        http_request_cancel(t->data);
}

TEST(cancel) {
        uv_loop_t loop;
        Server srv;
        HttpClient *c;
        HttpTransfer *now = NULL, *later = NULL, *victim = NULL;
        Rec r_now = {}, r_later = {}, r_fast = {}, r_victim = {};
        uv_timer_t timer;
        char slow[256], fast[256];
        uint64_t t0;

        server_start(&srv, false);
        ASSERT_OK(uv_loop_init(&loop));
        ASSERT_TRUE((c = http_client_new(&loop)));
        (void) snprintf(slow, sizeof(slow), "%s/sleep?ms=3000", srv.url);
        (void) snprintf(fast, sizeof(fast), "%s/echo", srv.url);
        t0 = now_ms();

        /* before any I/O */
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .url = slow, .done = on_done,
                                     .userdata = &r_now }, &now));
        http_request_cancel(now);
        ASSERT_EQ(r_now.calls, 0);      /* not from inside cancel */
        http_request_cancel(now);       /* already cancelled: no-op */
        http_request_cancel(NULL);

        /* mid-flight, from a timer */
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .url = slow, .done = on_done,
                                     .userdata = &r_later }, &later));
        ASSERT_OK(uv_timer_init(&loop, &timer));
        timer.data = later;
        ASSERT_OK(uv_timer_start(&timer, on_cancel_timer, 200, 0));

        /* from another request's done callback */
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .url = slow, .done = on_done,
                                     .userdata = &r_victim }, &victim));
        r_fast.cancel = victim;
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .url = fast, .done = on_done,
                                     .userdata = &r_fast }, NULL));

        ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
        ASSERT_TRUE(now_ms() - t0 < 2000);
        ASSERT_EQ(r_now.calls, 1);
        ASSERT_EQ(r_now.error, -ECANCELED);
        ASSERT_STREQ(r_now.message, "Request cancelled");
        ASSERT_EQ(r_later.calls, 1);
        ASSERT_EQ(r_later.error, -ECANCELED);
        ASSERT_EQ(r_fast.calls, 1);
        ASSERT_EQ(r_fast.error, 0);
        ASSERT_EQ(r_victim.calls, 1);
        ASSERT_EQ(r_victim.error, -ECANCELED);
        uv_close((uv_handle_t *) &timer, NULL);
        ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
        assert_idle(&loop);
        close_client(&loop, c);
        server_stop(&srv);
        rec_done(&r_now), rec_done(&r_later), rec_done(&r_fast), rec_done(&r_victim);
}

TEST(close_with_requests_in_flight) {
        uv_loop_t loop;
        Server srv;
        HttpClient *c;
        Rec r[3] = {}, after = {};
        char url[256];
        int closed = 0;

        server_start(&srv, false);
        ASSERT_OK(uv_loop_init(&loop));
        ASSERT_TRUE((c = http_client_new(&loop)));
        (void) snprintf(url, sizeof(url), "%s/sleep?ms=3000", srv.url);
        for (int i = 0; i < 3; i++)
                ASSERT_OK(http_request_start(c, &(HttpRequest) { .url = url, .done = on_done,
                                             .userdata = &r[i] }, NULL));
        /* let them connect and send */
        ASSERT_EQ(uv_run(&loop, UV_RUN_ONCE), 1);
        http_client_close(c, on_closed, &closed);
        ASSERT_EQ(http_request_start(c, &(HttpRequest) { .url = url, .done = on_done,
                                     .userdata = &after }, NULL), -ESHUTDOWN);
        ASSERT_EQ(r[0].calls + r[1].calls + r[2].calls + closed, 0);
        ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
        for (int i = 0; i < 3; i++) {
                ASSERT_EQ(r[i].calls, 1);
                ASSERT_EQ(r[i].error, -ECANCELED);
                rec_done(&r[i]);
        }
        ASSERT_EQ(after.calls, 0);
        ASSERT_EQ(closed, 1);
        ASSERT_EQ(uv_loop_close(&loop), 0);
        server_stop(&srv);
}

TEST(close_from_done_callback) {
        uv_loop_t loop;
        Server srv;
        HttpClient *c;
        Rec first = {}, slow = {};
        char u1[256], u2[256];
        int closed = 0;

        server_start(&srv, false);
        ASSERT_OK(uv_loop_init(&loop));
        ASSERT_TRUE((c = http_client_new(&loop)));
        (void) snprintf(u1, sizeof(u1), "%s/echo", srv.url);
        (void) snprintf(u2, sizeof(u2), "%s/sleep?ms=3000", srv.url);
        first.close = c;
        first.closed = &closed;
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .url = u2, .done = on_done,
                                     .userdata = &slow }, NULL));
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .url = u1, .done = on_done,
                                     .userdata = &first }, NULL));
        ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
        ASSERT_EQ(first.calls, 1);
        ASSERT_EQ(first.status, 200);
        ASSERT_EQ(slow.calls, 1);
        ASSERT_EQ(slow.error, -ECANCELED);
        ASSERT_EQ(closed, 1);
        ASSERT_EQ(uv_loop_close(&loop), 0);
        server_stop(&srv);
        rec_done(&first), rec_done(&slow);
}

TEST(bad_requests) {
        const char *crlf[] = { "X-Bad: a\r\nX-Injected: b", NULL };
        const char *noname[] = { ": value", NULL };
        const char *nocolon[] = { "X-Nothing", NULL };
        uv_loop_t loop;
        HttpClient *c;
        Rec r = {};

        ASSERT_OK(uv_loop_init(&loop));
        ASSERT_TRUE((c = http_client_new(&loop)));
        ASSERT_EQ(http_request_start(c, &(HttpRequest) { .done = on_done, .userdata = &r }, NULL),
                  -EINVAL);
        ASSERT_EQ(http_request_start(c, &(HttpRequest) { .url = "http://127.0.0.1/" }, NULL),
                  -EINVAL);
        ASSERT_EQ(http_request_start(c, &(HttpRequest) { .method = _HTTP_METHOD_MAX,
                                     .url = "http://127.0.0.1/", .done = on_done }, NULL),
                  -EINVAL);
        ASSERT_EQ(http_request_start(c, &(HttpRequest) { .method = HTTP_HEAD,
                                     .url = "http://127.0.0.1/", .body = "x", .body_size = 1,
                                     .done = on_done }, NULL), -EINVAL);
        ASSERT_EQ(http_request_start(c, &(HttpRequest) { .url = "http://127.0.0.1/",
                                     .headers = crlf, .done = on_done }, NULL), -EINVAL);
        ASSERT_EQ(http_request_start(c, &(HttpRequest) { .url = "http://127.0.0.1/",
                                     .headers = noname, .done = on_done }, NULL), -EINVAL);
        ASSERT_EQ(http_request_start(c, &(HttpRequest) { .url = "http://127.0.0.1/",
                                     .headers = nocolon, .done = on_done }, NULL), -EINVAL);
        ASSERT_EQ(http_request_start(c, &(HttpRequest) { .url = "http://127.0.0.1/",
                                     .max_body = HTTP_BODY_LIMIT + 1, .done = on_done }, NULL),
                  -EINVAL);
        ASSERT_EQ(http_request_start(c, &(HttpRequest) { .url = "http://127.0.0.1/",
                                     .timeout_ms = HTTP_TIMEOUT_MAX_MS + 1, .done = on_done },
                                     NULL), -EINVAL);
        ASSERT_EQ(http_request_start(c, &(HttpRequest) { .url = "http://127.0.0.1/",
                                     .client_cert = "/nonexistent", .done = on_done }, NULL),
                  -EINVAL);
        ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
        ASSERT_EQ(r.calls, 0);
        assert_idle(&loop);
        ASSERT_STREQ(http_method_to_string(HTTP_DELETE), "DELETE");
        ASSERT_TRUE(http_method_to_string(_HTTP_METHOD_MAX) == NULL);
        ASSERT_TRUE(http_response_header(NULL, "ETag") == NULL);
        close_client(&loop, c);
}

TEST(basic_auth) {
        uv_loop_t loop;
        Server srv;
        HttpClient *c;
        Rec r = {};
        char url[256];

        server_start(&srv, false);
        ASSERT_OK(uv_loop_init(&loop));
        ASSERT_TRUE((c = http_client_new(&loop)));
        (void) snprintf(url, sizeof(url), "%s/echo", srv.url);
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .url = url, .userpwd = "user:pass",
                                     .done = on_done, .userdata = &r }, NULL));
        ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
        assert_idle(&loop);
        ASSERT_STREQ(r.auth, "Basic dXNlcjpwYXNz");
        close_client(&loop, c);
        server_stop(&srv);
        rec_done(&r);
}

TEST(tls_and_mtls) {
        uv_loop_t loop;
        Server srv;
        HttpClient *c;
        Rec untrusted = {}, ok = {}, nocert = {}, insecure = {};
        char url[256], ca[128], cert[128], key[128];

        if (!server_start(&srv, true)) {
                fprintf(stderr, "skipping tls_and_mtls: no openssl(1)\n");
                return;
        }
        server_path(&srv, "server.pem", ca, sizeof(ca));
        server_path(&srv, "client.pem", cert, sizeof(cert));
        server_path(&srv, "client.key", key, sizeof(key));
        (void) snprintf(url, sizeof(url), "%s/echo", srv.url);
        ASSERT_OK(uv_loop_init(&loop));
        ASSERT_TRUE((c = http_client_new(&loop)));
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .url = url, .client_cert = cert,
                                     .client_key = key, .done = on_done,
                                     .userdata = &untrusted }, NULL));
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .url = url, .ca_file = ca,
                                     .client_cert = cert, .client_key = key, .done = on_done,
                                     .userdata = &ok }, NULL));
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .url = url, .ca_file = ca,
                                     .done = on_done, .userdata = &nocert }, NULL));
        ASSERT_OK(http_request_start(c, &(HttpRequest) { .url = url, .tls_insecure = true,
                                     .client_cert = cert, .client_key = key, .done = on_done,
                                     .userdata = &insecure }, NULL));
        ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
        assert_idle(&loop);
        ASSERT_EQ(untrusted.error, -EPROTO);    /* verification is on by default */
        ASSERT_EQ(ok.error, 0);
        ASSERT_EQ(ok.status, 200);
        ASSERT_STREQ(ok.body, "GET /echo\n");
        ASSERT_TRUE(nocert.error < 0);          /* server wants a client certificate */
        ASSERT_EQ(insecure.error, 0);
        ASSERT_EQ(insecure.status, 200);
        close_client(&loop, c);
        server_stop(&srv);
        rec_done(&untrusted), rec_done(&ok), rec_done(&nocert), rec_done(&insecure);
}

TESTS_MAIN
