/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "curlib.h"
#include "http.h"
#include "macro.h"

/* How this fits together (shape of curl's docs/examples/multi-uv.c):
 *
 *   curl ── CURLMOPT_SOCKETFUNCTION ──> http_on_socket: one HttpSocket (uv_poll_t) per fd
 *   curl ── CURLMOPT_TIMERFUNCTION ───> http_on_curl_timer: (re)arm or stop c->timer
 *   uv poll/timer fires ──> curl_multi_socket_action() ──> http_drain(): every finished
 *                                                          transfer → its done callback
 *
 * Done callbacks only ever run from http_drain() or http_on_defer(), i.e. from a uv callback
 * and never inside a libcurl call, so they may start, cancel or close freely. A cancelled
 * transfer waits on c->queue for the c->defer idle handle, so http_request_cancel() never
 * calls back into its caller. Every handle is inactive when nothing is in flight. */

typedef struct HttpSocket HttpSocket;

struct HttpSocket {                     /* owned by its client; freed by the poll's close cb */
        uv_poll_t poll;
        curl_socket_t fd;
        HttpClient *client;
        HttpSocket *prev, *next;        /* on client->sockets until closed */
};

typedef enum TransferState {
        TRANSFER_RUNNING,               /* in the multi handle, on client->running */
        TRANSFER_QUEUED,                /* cancelled; on client->queue, waiting for defer */
        TRANSFER_DELIVERING,            /* its done callback is running */
} TransferState;

struct HttpTransfer {                   /* owned by the client from start until done returns */
        HttpClient *client;
        CURL *easy;
        TransferState state;
        HttpTransfer *prev, *next;      /* client->running; only next on client->queue */
        struct curl_slist *req_headers;
        void *body_copy;                /* our copy of the request body, unless borrowed */
        http_done_cb done;
        void *userdata;
        int error;                      /* set by cancel and by our own caps; wins over curl's */
        size_t max_body;
        char *body;                     /* body_size bytes + NUL, capacity body_cap */
        size_t body_size, body_cap;
        HttpHeader *headers;            /* name and value share one allocation (name) */
        size_t n_headers, headers_cap, header_bytes;
        char message[128];              /* our own error text, for errors we detect */
        char errbuf[CURL_ERROR_SIZE];   /* curl's error text (CURLOPT_ERRORBUFFER) */
};

struct HttpClient {                     /* owned by the caller until http_client_close() */
        uv_loop_t *loop;
        CURLM *multi;                   /* NULL once torn down */
        uv_timer_t timer;               /* the one timeout curl asks for */
        uv_idle_t defer;                /* runs queued deliveries and the teardown */
        HttpTransfer *running;
        HttpTransfer *queue_head, *queue_tail;
        HttpSocket *sockets;
        unsigned n_transfers;           /* running + queued: <= HTTP_TRANSFERS_MAX */
        unsigned n_sockets;             /* open + closing */
        unsigned n_handles;             /* timer + defer until their close callbacks ran */
        int socket_error;               /* why http_on_socket failed, for the transfers */
        bool closing, torn_down;
        http_close_cb close_cb;
        void *close_userdata;
};

static const char *const method_names[_HTTP_METHOD_MAX] = {
        [HTTP_GET] = "GET",
        [HTTP_PUT] = "PUT",
        [HTTP_POST] = "POST",
        [HTTP_DELETE] = "DELETE",
        [HTTP_HEAD] = "HEAD",
};

const char *http_method_to_string(HttpMethod m) {
        if (m < 0 || m >= _HTTP_METHOD_MAX)
                return NULL;
        return method_names[m];
}

/* The one place CURLcode becomes an errno. os_errno is CURLINFO_OS_ERRNO (0 if unknown). */
static int http_errno_from_curl(CURLcode result, long os_errno) {
        switch (result) {
        case CURLE_OK:
                return 0;
        case CURLE_COULDNT_CONNECT:
                /* ECONNREFUSED usually; ENETUNREACH etc. when the kernel said so */
                return os_errno > 0 ? -(int) os_errno : -ECONNREFUSED;
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                return -EHOSTUNREACH;
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CRL_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_INVALIDCERTSTATUS:
        case CURLE_SSL_ENGINE_NOTFOUND:
        case CURLE_SSL_ENGINE_SETFAILED:
        case CURLE_SSL_ENGINE_INITFAILED:
        case CURLE_SSL_SHUTDOWN_FAILED:
        case CURLE_SSL_CLIENTCERT:
        case CURLE_USE_SSL_FAILED:
        case CURLE_PROXY:
                return -EPROTO;
        case CURLE_FILESIZE_EXCEEDED:
                return -EFBIG;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        case CURLE_URL_MALFORMAT:
        case CURLE_BAD_FUNCTION_ARGUMENT:
        case CURLE_SETOPT_OPTION_SYNTAX:
                return -EINVAL;
        case CURLE_UNSUPPORTED_PROTOCOL:
                return -EPROTONOSUPPORT;
        case CURLE_NOT_BUILT_IN:
        case CURLE_UNKNOWN_OPTION:
                return -EOPNOTSUPP;
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
                return -ECONNRESET;
        case CURLE_WEIRD_SERVER_REPLY:
        case CURLE_PARTIAL_FILE:
        case CURLE_BAD_CONTENT_ENCODING:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
                return -EBADMSG;
        case CURLE_TOO_MANY_REDIRECTS:
                return -ELOOP;
        case CURLE_LOGIN_DENIED:
        case CURLE_REMOTE_ACCESS_DENIED:
        case CURLE_AUTH_ERROR:
                return -EACCES;
        case CURLE_AGAIN:
                return -EAGAIN;
        case CURLE_ABORTED_BY_CALLBACK:
                return -ECANCELED;
        default:                        /* CURLE_WRITE_ERROR without our cap, READ_ERROR, … */
                return -EIO;
        }
}

static int http_errno_from_curlm(CURLMcode mc) {
        switch (mc) {
        case CURLM_OK:
                return 0;
        case CURLM_OUT_OF_MEMORY:
                return -ENOMEM;
        case CURLM_BAD_FUNCTION_ARGUMENT:
                return -EINVAL;
        default:
                return -EIO;
        }
}

/* ---- transfers: buffers, list and queue ---- */

static void transfer_clear_headers(HttpTransfer *t) {
        for (size_t i = 0; i < t->n_headers; i++)
                free(t->headers[i].name);       /* value lives in the same allocation */
        t->n_headers = 0;
        t->header_bytes = 0;
}

static void transfer_free(HttpTransfer *t) {
        if (!t)
                return;
        if (t->easy)
                curl_easy_cleanup(t->easy);     /* already removed from the multi handle */
        curl_slist_free_all(t->req_headers);
        free(t->body_copy);
        free(t->body);
        transfer_clear_headers(t);
        free(t->headers);
        free(t);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(HttpTransfer *, transfer_free);

static int transfer_fail(HttpTransfer *t, int error, const char *what) {
        t->error = error;
        (void) snprintf(t->message, sizeof(t->message), "%s", what);
        return 0;                       /* returned by the curl callbacks: abort the transfer */
}

static size_t http_on_write(char *data, size_t size, size_t nmemb, void *userdata) {
        HttpTransfer *t = userdata;
        size_t n = size * nmemb;        /* size is always 1 */

        if (n > t->max_body - t->body_size) {
                t->error = -EFBIG;
                (void) snprintf(t->message, sizeof(t->message),
                                "Response body exceeds %zu bytes", t->max_body);
                return 0;               /* → CURLE_WRITE_ERROR */
        }
        if (t->body_size + n + 1 > t->body_cap) {
                size_t cap = t->body_cap * 2;
                char *p;

                if (cap < t->body_size + n + 1)
                        cap = t->body_size + n + 1;
                if (cap > t->max_body + 1)
                        cap = t->max_body + 1;
                p = realloc(t->body, cap);
                if (!p)
                        return transfer_fail(t, -ENOMEM, "Out of memory for the response body");
                t->body = p;
                t->body_cap = cap;
        }
        memcpy(t->body + t->body_size, data, n);
        t->body_size += n;
        t->body[t->body_size] = 0;
        return n;
}

static bool is_blank(char ch) {
        return ch == ' ' || ch == '\t';
}

/* libcurl passes one complete header line per call, status lines and the final empty line
 * included, for every response it reads: 1xx interim ones too, so a status line starts the
 * list afresh. */
static size_t http_on_header(char *line, size_t size, size_t nitems, void *userdata) {
        HttpTransfer *t = userdata;
        size_t n = size * nitems, len = n, nlen, vlen;
        const char *colon, *v;
        char *p;

        if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
                transfer_clear_headers(t);
                return n;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                len--;
        if (len == 0 || is_blank(line[0]))      /* end of headers; obsolete line folding */
                return n;
        colon = memchr(line, ':', len);
        if (!colon || colon == line)
                return n;                       /* not a header: ignore */

        if (t->n_headers >= HTTP_RESPONSE_HEADERS_MAX ||
            len > HTTP_RESPONSE_HEADER_BYTES_MAX - t->header_bytes)
                return transfer_fail(t, -EFBIG, "Too many response headers");
        if (t->n_headers == t->headers_cap) {
                size_t cap = t->headers_cap ? t->headers_cap * 2 : 16;
                HttpHeader *h;

                if (cap > HTTP_RESPONSE_HEADERS_MAX)
                        cap = HTTP_RESPONSE_HEADERS_MAX;
                h = reallocarray(t->headers, cap, sizeof(HttpHeader));
                if (!h)
                        return transfer_fail(t, -ENOMEM, "Out of memory for response headers");
                t->headers = h;
                t->headers_cap = cap;
        }

        nlen = (size_t) (colon - line);
        while (nlen > 0 && is_blank(line[nlen - 1]))
                nlen--;
        v = colon + 1;
        vlen = len - (size_t) (v - line);
        while (vlen > 0 && is_blank(*v))
                v++, vlen--;
        while (vlen > 0 && is_blank(v[vlen - 1]))
                vlen--;

        p = malloc(nlen + 1 + vlen + 1);
        if (!p)
                return transfer_fail(t, -ENOMEM, "Out of memory for response headers");
        memcpy(p, line, nlen);
        p[nlen] = 0;
        memcpy(p + nlen + 1, v, vlen);
        p[nlen + 1 + vlen] = 0;
        t->headers[t->n_headers++] = (HttpHeader) { .name = p, .value = p + nlen + 1 };
        t->header_bytes += len;
        return n;
}

const char *http_response_header(const HttpResponse *resp, const char *name) {
        if (!resp || !name)
                return NULL;
        for (size_t i = 0; i < resp->n_headers; i++)
                if (strcasecmp(resp->headers[i].name, name) == 0)
                        return resp->headers[i].value;
        return NULL;
}

static void running_remove(HttpClient *c, HttpTransfer *t) {
        if (t->prev)
                t->prev->next = t->next;
        else
                c->running = t->next;
        if (t->next)
                t->next->prev = t->prev;
        t->prev = t->next = NULL;
}

/* Hand the response to the callback, then free the transfer. From a uv callback only. */
static void transfer_deliver(HttpTransfer *t, CURLcode result) {
        HttpClient *c = t->client;
        HttpResponse resp = {};
        long os_errno = 0;

        if (result == CURLE_COULDNT_CONNECT)
                (void) curl_easy_getinfo(t->easy, CURLINFO_OS_ERRNO, &os_errno);
        resp.error = t->error;
        if (resp.error == 0)
                resp.error = http_errno_from_curl(result, os_errno);
        if (resp.error == -ECANCELED && result == CURLE_ABORTED_BY_CALLBACK && c->socket_error < 0)
                resp.error = c->socket_error;   /* our socket callback failed: say why */
        if (result == CURLE_FILESIZE_EXCEEDED && t->error == 0)
                (void) snprintf(t->message, sizeof(t->message),
                                "Response body exceeds %zu bytes", t->max_body);
        if (resp.error < 0)
                resp.message = t->message[0] ? t->message :
                               t->errbuf[0] ? t->errbuf : curl_easy_strerror(result);
        (void) curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &resp.status);
        resp.body = t->body;
        resp.body_size = t->body_size;
        resp.headers = t->headers;
        resp.n_headers = t->n_headers;

        t->state = TRANSFER_DELIVERING;
        t->done(&resp, t->userdata);

        t->body = resp.body;            /* NULL if the callback took it */
        c->n_transfers--;
        transfer_free(t);
}

/* Collect every finished transfer. Called after each curl_multi_socket_action(). */
static void http_drain(HttpClient *c) {
        CURLMsg *m;
        int left;

        while (c->multi && (m = curl_multi_info_read(c->multi, &left))) {
                HttpTransfer *t;
                CURLcode result;
                char *priv = NULL;

                if (m->msg != CURLMSG_DONE)
                        continue;
                result = m->data.result;
                (void) curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
                t = (HttpTransfer *) priv;
                /* m is invalid after this: read everything first */
                running_remove(c, t);
                (void) curl_multi_remove_handle(c->multi, t->easy);
                transfer_deliver(t, result);
        }
}

static void http_on_defer(uv_idle_t *idle);
static void client_teardown(HttpClient *c);

static void transfer_cancel(HttpTransfer *t) {
        HttpClient *c = t->client;

        assert(t->state == TRANSFER_RUNNING);
        t->error = -ECANCELED;
        (void) snprintf(t->message, sizeof(t->message), "Request cancelled");
        running_remove(c, t);
        /* Drops the connection at once (curl closes an unfinished one); may call
         * http_on_socket and http_on_curl_timer, which is fine: we are not inside curl. */
        (void) curl_multi_remove_handle(c->multi, t->easy);

        t->state = TRANSFER_QUEUED;
        if (c->queue_tail)
                c->queue_tail->next = t;
        else
                c->queue_head = t;
        c->queue_tail = t;
        (void) uv_idle_start(&c->defer, http_on_defer);
}

void http_request_cancel(HttpTransfer *t) {
        if (!t || t->state != TRANSFER_RUNNING)
                return;
        transfer_cancel(t);
}

static void http_on_defer(uv_idle_t *idle) {
        HttpClient *c = container_of(idle, HttpClient, defer);

        /* A callback may cancel more requests or close the client: keep going until empty. */
        while (c->queue_head) {
                HttpTransfer *t = c->queue_head;

                c->queue_head = t->next;
                if (!c->queue_head)
                        c->queue_tail = NULL;
                t->next = NULL;
                transfer_deliver(t, CURLE_OK);
        }
        (void) uv_idle_stop(idle);
        if (c->closing && !c->torn_down)
                client_teardown(c);
}

/* ---- libuv side: sockets and the timer ---- */

static void http_on_poll(uv_poll_t *poll, int status, int events) {
        HttpSocket *s = container_of(poll, HttpSocket, poll);
        HttpClient *c = s->client;
        int flags = 0, running;

        if (status < 0)
                flags = CURL_CSELECT_ERR;
        else {
                if (events & UV_READABLE)
                        flags |= CURL_CSELECT_IN;
                if (events & UV_WRITABLE)
                        flags |= CURL_CSELECT_OUT;
        }
        /* A failure here also shows up as failed transfers (or their timeouts). s may be
         * closed by this call but is only freed by its close callback, later. */
        (void) curl_multi_socket_action(c->multi, s->fd, flags, &running);
        http_drain(c);
}

static void http_on_timer(uv_timer_t *timer) {
        HttpClient *c = container_of(timer, HttpClient, timer);
        int running;

        (void) curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        http_drain(c);
}

static void client_maybe_free(HttpClient *c) {
        http_close_cb cb;
        void *userdata;

        if (!c->torn_down || c->n_handles > 0 || c->n_sockets > 0)
                return;
        cb = c->close_cb;
        userdata = c->close_userdata;
        free(c);
        curl_global_cleanup();
        if (cb)
                cb(userdata);
}

static void http_on_socket_closed(uv_handle_t *h) {
        HttpSocket *s = container_of((uv_poll_t *) h, HttpSocket, poll);
        HttpClient *c = s->client;

        free(s);
        c->n_sockets--;
        client_maybe_free(c);
}

static void socket_close(HttpSocket *s) {
        HttpClient *c = s->client;

        if (s->prev)
                s->prev->next = s->next;
        else
                c->sockets = s->next;
        if (s->next)
                s->next->prev = s->prev;
        s->prev = s->next = NULL;
        /* uv_close() stops polling now, before curl closes the fd; the memory goes later. */
        uv_close((uv_handle_t *) &s->poll, http_on_socket_closed);
}

static int socket_new(HttpClient *c, curl_socket_t fd, HttpSocket **ret) {
        HttpSocket *s = calloc(1, sizeof(HttpSocket));
        int r;

        if (!s)
                return -ENOMEM;
        r = uv_poll_init_socket(c->loop, &s->poll, fd);
        if (r < 0) {
                free(s);                /* not registered with the loop on failure */
                return r;
        }
        s->fd = fd;
        s->client = c;
        s->next = c->sockets;
        if (s->next)
                s->next->prev = s;
        c->sockets = s;
        c->n_sockets++;
        *ret = s;
        return 0;
}

/* CURLMOPT_SOCKETFUNCTION: runs inside curl, so it only (re)arms or closes polls. */
static int http_on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
        HttpClient *c = userp;
        HttpSocket *s = socketp;
        int events = 0, r;

        (void) easy;
        if (what == CURL_POLL_REMOVE) {
                if (s)
                        socket_close(s);
                return 0;
        }
        if (!s) {
                r = socket_new(c, fd, &s);
                if (r < 0)
                        goto fail;
                (void) curl_multi_assign(c->multi, fd, s);
        }
        if (what & CURL_POLL_IN)
                events |= UV_READABLE;
        if (what & CURL_POLL_OUT)
                events |= UV_WRITABLE;
        r = uv_poll_start(&s->poll, events, http_on_poll);
        if (r < 0)
                goto fail;
        return 0;

fail:
        /* -1 makes libcurl fail every transfer of this multi handle with
         * CURLE_ABORTED_BY_CALLBACK; transfer_deliver() reports r instead. */
        c->socket_error = r;
        return -1;
}

/* CURLMOPT_TIMERFUNCTION. 0 means "call socket_action now": we must not from inside curl, so
 * a 0 ms timer runs it from the loop. -1 stops the timer: idle means no wakeups. */
static int http_on_curl_timer(CURLM *multi, long timeout_ms, void *userp) {
        HttpClient *c = userp;

        (void) multi;
        if (timeout_ms < 0)
                (void) uv_timer_stop(&c->timer);
        else
                (void) uv_timer_start(&c->timer, http_on_timer, (uint64_t) timeout_ms, 0);
        return 0;
}

/* ---- client ---- */

HttpClient *http_client_new(uv_loop_t *loop) {
        HttpClient *c;
        CURLMcode mc = CURLM_OK;

        assert(loop);
        if (curlib_load() < 0) {
                errno = EOPNOTSUPP;     /* libcurl is not installed */
                return NULL;
        }
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                errno = EIO;
                return NULL;
        }
        c = calloc(1, sizeof(HttpClient));
        if (c)
                c->multi = curl_multi_init();
        if (!c || !c->multi) {
                free(c);
                curl_global_cleanup();
                errno = ENOMEM;
                return NULL;
        }
        c->loop = loop;
        if (!mc)
                mc = curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, http_on_socket);
        if (!mc)
                mc = curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
        if (!mc)
                mc = curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, http_on_curl_timer);
        if (!mc)
                mc = curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
        if (!mc)
                mc = curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                                       (long) HTTP_CONNECTIONS_MAX);
        if (!mc)
                mc = curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long) HTTP_CONNECTIONS_MAX);
        if (mc) {
                int r = http_errno_from_curlm(mc);

                curl_multi_cleanup(c->multi);
                free(c);
                curl_global_cleanup();
                errno = -r;
                return NULL;
        }
        /* Cannot fail; done last so that no error path has a handle to close. */
        (void) uv_timer_init(loop, &c->timer);
        (void) uv_idle_init(loop, &c->defer);
        c->n_handles = 2;
        return c;
}

static void http_on_handle_closed(uv_handle_t *h) {
        HttpClient *c = h->data;

        c->n_handles--;
        client_maybe_free(c);
}

/* From http_on_defer, once every cancelled transfer has been delivered. */
static void client_teardown(HttpClient *c) {
        c->torn_down = true;
        /* Closes cached connections; may still call http_on_socket (REMOVE) and the timer
         * function, whose handles are still open here. */
        curl_multi_cleanup(c->multi);
        c->multi = NULL;
        while (c->sockets)              /* curl should have removed them all: belt and braces */
                socket_close(c->sockets);
        c->timer.data = c;
        c->defer.data = c;
        uv_close((uv_handle_t *) &c->timer, http_on_handle_closed);
        uv_close((uv_handle_t *) &c->defer, http_on_handle_closed);
}

void http_client_close(HttpClient *c, http_close_cb cb, void *userdata) {
        assert(c);
        assert(!c->closing);
        c->closing = true;
        c->close_cb = cb;
        c->close_userdata = userdata;
        while (c->running)
                transfer_cancel(c->running);
        /* The teardown runs from the loop: we may be inside http_drain(), which still reads
         * the multi handle after this returns. */
        (void) uv_idle_start(&c->defer, http_on_defer);
}

/* ---- requests ---- */

static bool header_is(const char *line, const char *name) {
        size_t n = strlen(name);

        return strncasecmp(line, name, n) == 0 && (line[n] == ':' || line[n] == ';');
}

static int headers_check(const char *const *headers, bool *ret_content_type, bool *ret_expect) {
        size_t n = 0;

        *ret_content_type = *ret_expect = false;
        for (const char *const *h = headers; h && *h; h++) {
                size_t len = strnlen(*h, HTTP_REQUEST_HEADER_LINE_MAX + 1);
                size_t name = strcspn(*h, ":;");

                if (++n > HTTP_REQUEST_HEADERS_MAX || len > HTTP_REQUEST_HEADER_LINE_MAX)
                        return -EINVAL;
                if (name == 0 || name == len || strpbrk(*h, "\r\n"))
                        return -EINVAL;
                if (header_is(*h, "Content-Type"))
                        *ret_content_type = true;
                if (header_is(*h, "Expect"))
                        *ret_expect = true;
        }
        return 0;
}

static int request_check(const HttpRequest *req) {
        if (!req->url || !req->done)
                return -EINVAL;
        if (req->method < 0 || req->method >= _HTTP_METHOD_MAX)
                return -EINVAL;
        if (req->body && (req->method == HTTP_HEAD || req->body_size > HTTP_REQUEST_BODY_MAX))
                return -EINVAL;
        if (req->timeout_ms > HTTP_TIMEOUT_MAX_MS || req->max_body > HTTP_BODY_LIMIT)
                return -EINVAL;
        if (!req->client_cert != !req->client_key)
                return -EINVAL;
        return 0;
}

static int slist_add(struct curl_slist **l, const char *s) {
        struct curl_slist *n = curl_slist_append(*l, s);

        if (!n)
                return -ENOMEM;         /* *l is unchanged and still ours */
        *l = n;
        return 0;
}

static CURLcode transfer_setopt_method(HttpTransfer *t, const HttpRequest *req) {
        static const char empty[] = "";
        const void *body = req->body;
        size_t size = req->body ? req->body_size : 0;
        CURLcode result = CURLE_OK;

        if (req->method == HTTP_HEAD)
                return curl_easy_setopt(t->easy, CURLOPT_NOBODY, 1L);
        if (!body && req->method != HTTP_PUT && req->method != HTTP_POST) {
                if (req->method == HTTP_GET)
                        return curl_easy_setopt(t->easy, CURLOPT_HTTPGET, 1L);
                return curl_easy_setopt(t->easy, CURLOPT_CUSTOMREQUEST,
                                        http_method_to_string(req->method));
        }

        /* Every body goes through POSTFIELDS (a pointer, not copied by libcurl): PUT and POST
         * without one send "Content-Length: 0". */
        if (body && !req->body_borrowed) {
                t->body_copy = malloc(size > 0 ? size : 1);
                if (!t->body_copy)
                        return CURLE_OUT_OF_MEMORY;
                memcpy(t->body_copy, body, size);
                body = t->body_copy;
        }
        if (!body)
                body = empty;
        if (!result)
                result = curl_easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) size);
        if (!result)
                result = curl_easy_setopt(t->easy, CURLOPT_POSTFIELDS, body);
        if (!result && req->method != HTTP_POST)
                result = curl_easy_setopt(t->easy, CURLOPT_CUSTOMREQUEST,
                                          http_method_to_string(req->method));
        return result;
}

static CURLcode transfer_setopt(HttpTransfer *t, const HttpRequest *req) {
        long timeout = req->timeout_ms > 0 ? (long) req->timeout_ms :
                                             (long) HTTP_TIMEOUT_DEFAULT_MS;
        CURLcode result = CURLE_OK;

        if (!result)
                result = curl_easy_setopt(t->easy, CURLOPT_URL, req->url);
        if (!result)
                result = curl_easy_setopt(t->easy, CURLOPT_PROTOCOLS_STR, "http,https");
        if (!result)
                result = curl_easy_setopt(t->easy, CURLOPT_FOLLOWLOCATION, 0L);
        if (!result)
                result = curl_easy_setopt(t->easy, CURLOPT_HTTP_VERSION,
                                          (long) CURL_HTTP_VERSION_1_1);
        if (!result)
                result = curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
        if (!result)
                result = curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, timeout);
        if (!result)
                result = curl_easy_setopt(t->easy, CURLOPT_USERAGENT, "solocron");
        if (!result)
                result = curl_easy_setopt(t->easy, CURLOPT_PRIVATE, (void *) t);
        if (!result)
                result = curl_easy_setopt(t->easy, CURLOPT_ERRORBUFFER, t->errbuf);
        if (!result)
                result = curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, http_on_write);
        if (!result)
                result = curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, (void *) t);
        if (!result)
                result = curl_easy_setopt(t->easy, CURLOPT_HEADERFUNCTION, http_on_header);
        if (!result)
                result = curl_easy_setopt(t->easy, CURLOPT_HEADERDATA, (void *) t);
        /* Refuse early on a Content-Length over the cap; http_on_write catches the rest.
         * Not for HEAD: its Content-Length describes a body that never comes. */
        if (!result && req->method != HTTP_HEAD)
                result = curl_easy_setopt(t->easy, CURLOPT_MAXFILESIZE_LARGE,
                                          (curl_off_t) t->max_body);
        if (!result && t->req_headers)
                result = curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->req_headers);
        if (!result)
                result = curl_easy_setopt(t->easy, CURLOPT_SSLVERSION,
                                          (long) CURL_SSLVERSION_TLSv1_2);
        if (!result && req->ca_file)
                result = curl_easy_setopt(t->easy, CURLOPT_CAINFO, req->ca_file);
        if (!result && req->client_cert)
                result = curl_easy_setopt(t->easy, CURLOPT_SSLCERT, req->client_cert);
        if (!result && req->client_key)
                result = curl_easy_setopt(t->easy, CURLOPT_SSLKEY, req->client_key);
        if (!result)
                result = curl_easy_setopt(t->easy, CURLOPT_SSL_VERIFYPEER,
                                          req->tls_insecure ? 0L : 1L);
        if (!result)
                result = curl_easy_setopt(t->easy, CURLOPT_SSL_VERIFYHOST,
                                          req->tls_insecure ? 0L : 2L);
        if (!result && req->userpwd)
                result = curl_easy_setopt(t->easy, CURLOPT_USERPWD, req->userpwd);
        if (!result && req->userpwd)
                result = curl_easy_setopt(t->easy, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
        if (!result)
                result = transfer_setopt_method(t, req);
        return result;
}

int http_request_start(HttpClient *c, const HttpRequest *req, HttpTransfer **ret_transfer) {
        _cleanup_(transfer_freep) HttpTransfer *t = NULL;
        bool content_type, expect;
        CURLcode result;
        CURLMcode mc;
        int r;

        if (!c || !req)
                return -EINVAL;
        r = request_check(req);
        if (r < 0)
                return r;
        r = headers_check(req->headers, &content_type, &expect);
        if (r < 0)
                return r;
        if (c->closing)
                return -ESHUTDOWN;
        if (c->n_transfers >= HTTP_TRANSFERS_MAX)
                return -EAGAIN;
        if (!c->running)
                c->socket_error = 0;    /* libcurl forgets an old failure at this point too */

        t = calloc(1, sizeof(HttpTransfer));
        if (!t)
                return -ENOMEM;
        t->client = c;
        t->done = req->done;
        t->userdata = req->userdata;
        t->max_body = req->max_body > 0 ? req->max_body : HTTP_BODY_DEFAULT_MAX;
        t->body = malloc(1);            /* so that resp.body is never NULL */
        if (!t->body)
                return -ENOMEM;
        t->body[0] = 0;
        t->body_cap = 1;

        for (const char *const *h = req->headers; h && *h; h++) {
                r = slist_add(&t->req_headers, *h);
                if (r < 0)
                        return r;
        }
        /* With a body, libcurl would add "Content-Type: application/x-www-form-urlencoded" (S3
         * would store it) and, for large ones, "Expect: 100-continue" (a round trip). */
        if (!content_type) {
                r = slist_add(&t->req_headers, "Content-Type:");
                if (r < 0)
                        return r;
        }
        if (!expect) {
                r = slist_add(&t->req_headers, "Expect:");
                if (r < 0)
                        return r;
        }

        t->easy = curl_easy_init();
        if (!t->easy)
                return -ENOMEM;
        result = transfer_setopt(t, req);
        if (result != CURLE_OK)
                return http_errno_from_curl(result, 0);

        /* Only arms the timer (0 ms): the transfer proceeds, and completes, from the loop. */
        mc = curl_multi_add_handle(c->multi, t->easy);
        if (mc != CURLM_OK)
                return mc == CURLM_ABORTED_BY_CALLBACK && c->socket_error < 0 ?
                       c->socket_error : http_errno_from_curlm(mc);

        t->state = TRANSFER_RUNNING;
        t->next = c->running;
        if (t->next)
                t->next->prev = t;
        c->running = t;
        c->n_transfers++;
        if (ret_transfer)
                *ret_transfer = t;
        TAKE_PTR(t);
        return 0;
}
