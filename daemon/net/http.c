/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "http_internal.h"
#include "list.h"
#include "macro.h"

/* How this fits together (shape of curl's docs/examples/multi-uv.c):
 *
 *   curl ── CURLMOPT_SOCKETFUNCTION ──> http_on_socket: one HttpSocket (uv_poll_t) per fd
 *   curl ── CURLMOPT_TIMERFUNCTION ───> http_on_curl_timer: (re)arm or stop c->timer
 *   uv poll/timer fires ──> sym_curl_multi_socket_action() ──> http_drain(): every finished
 *                                                          transfer → its done callback
 *
 * Done callbacks only ever run from http_drain() or http_on_defer(), i.e. from a uv callback
 * and never inside a libcurl call, so they may start, cancel or close freely. A cancelled
 * transfer waits on c->queue for the c->defer idle handle, so http_request_cancel() never
 * calls back into its caller. Every handle is inactive when nothing is in flight.
 *
 * http_request.c builds and starts a transfer; http_response.c collects its response and
 * delivers it (http_transfer_deliver()). */

struct HttpSocket {                     /* owned by its client; freed by the poll's close cb */
        uv_poll_t poll;
        curl_socket_t fd;
        HttpClient *client;
        HttpSocket *prev, *next;        /* on client->sockets until closed */
};

/* The one place CURLcode becomes an errno. os_errno is CURLINFO_OS_ERRNO (0 if unknown). */
int http_errno_from_curl(CURLcode result, long os_errno) {
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

int http_errno_from_curlm(CURLMcode mc) {
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

/* ---- transfers: list and queue ---- */

static void running_remove(HttpClient *c, HttpTransfer *t) {
        LIST_UNLINK(c->running, t);
}

/* Collect every finished transfer. Called after each sym_curl_multi_socket_action(). */
static void http_drain(HttpClient *c) {
        CURLMsg *m;
        int left;

        while (c->multi && (m = sym_curl_multi_info_read(c->multi, &left))) {
                HttpTransfer *t;
                CURLcode result;
                char *priv = NULL;

                if (m->msg != CURLMSG_DONE)
                        continue;
                result = m->data.result;
                (void) curlib_getinfo_private(m->easy_handle, (void **) &priv);
                t = (HttpTransfer *) priv;
                /* m is invalid after this: read everything first */
                running_remove(c, t);
                (void) sym_curl_multi_remove_handle(c->multi, t->easy);
                http_transfer_deliver(t, result);
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
        (void) sym_curl_multi_remove_handle(c->multi, t->easy);

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
                http_transfer_deliver(t, CURLE_OK);
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
        (void) sym_curl_multi_socket_action(c->multi, s->fd, flags, &running);
        http_drain(c);
}

static void http_on_timer(uv_timer_t *timer) {
        HttpClient *c = container_of(timer, HttpClient, timer);
        int running;

        (void) sym_curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
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
        sym_curl_global_cleanup();
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

        LIST_UNLINK(c->sockets, s);
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
        LIST_PREPEND(c->sockets, s);
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
                (void) sym_curl_multi_assign(c->multi, fd, s);
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
         * CURLE_ABORTED_BY_CALLBACK; http_transfer_deliver() reports r instead. */
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
        if (sym_curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                errno = EIO;
                return NULL;
        }
        c = calloc(1, sizeof(HttpClient));
        if (c)
                c->multi = sym_curl_multi_init();
        if (!c || !c->multi) {
                free(c);
                sym_curl_global_cleanup();
                errno = ENOMEM;
                return NULL;
        }
        c->loop = loop;
        if (!mc)
                mc = curlib_multi_setopt_socket_cb(c->multi, http_on_socket);
        if (!mc)
                mc = curlib_multi_setopt_data(c->multi, CURLMOPT_SOCKETDATA, c);
        if (!mc)
                mc = curlib_multi_setopt_timer_cb(c->multi, http_on_curl_timer);
        if (!mc)
                mc = curlib_multi_setopt_data(c->multi, CURLMOPT_TIMERDATA, c);
        if (!mc)
                mc = curlib_multi_setopt_long(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                                              (long) HTTP_CONNECTIONS_MAX);
        if (!mc)
                mc = curlib_multi_setopt_long(c->multi, CURLMOPT_MAXCONNECTS,
                                              (long) HTTP_CONNECTIONS_MAX);
        if (mc) {
                int r = http_errno_from_curlm(mc);

                sym_curl_multi_cleanup(c->multi);
                free(c);
                sym_curl_global_cleanup();
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
        sym_curl_multi_cleanup(c->multi);
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
