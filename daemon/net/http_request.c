/* SPDX-License-Identifier: MIT */
/* Requests (http.h): an HttpRequest is checked, turned into a libcurl easy handle whose
 * write and header callbacks are http_response.c's, and added to the client's multi handle
 * (http.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_internal.h"
#include "list.h"
#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(HttpTransfer *, http_transfer_free);

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
        struct curl_slist *n = sym_curl_slist_append(*l, s);

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
                return curlib_setopt_long(t->easy, CURLOPT_NOBODY, 1L);
        if (!body && req->method != HTTP_PUT && req->method != HTTP_POST) {
                if (req->method == HTTP_GET)
                        return curlib_setopt_long(t->easy, CURLOPT_HTTPGET, 1L);
                return curlib_setopt_string(t->easy, CURLOPT_CUSTOMREQUEST,
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
                result = curlib_setopt_off_t(t->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) size);
        if (!result)
                result = curlib_setopt_postfields(t->easy, CURLOPT_POSTFIELDS, body);
        if (!result && req->method != HTTP_POST)
                result = curlib_setopt_string(t->easy, CURLOPT_CUSTOMREQUEST,
                                              http_method_to_string(req->method));
        return result;
}

static CURLcode transfer_setopt(HttpTransfer *t, const HttpRequest *req) {
        long timeout = req->timeout_ms > 0 ? (long) req->timeout_ms :
                                             (long) HTTP_TIMEOUT_DEFAULT_MS;
        CURLcode result = CURLE_OK;

        if (!result)
                result = curlib_setopt_string(t->easy, CURLOPT_URL, req->url);
        /* The path goes out exactly as given: no dot-segment removal ("/a/../b" stays), so
         * what a caller signed (S3's SigV4 covers the path) is what the server gets. */
        if (!result)
                result = curlib_setopt_long(t->easy, CURLOPT_PATH_AS_IS, 1L);
        if (!result)
                result = curlib_setopt_string(t->easy, CURLOPT_PROTOCOLS_STR, "http,https");
        if (!result)
                result = curlib_setopt_long(t->easy, CURLOPT_FOLLOWLOCATION, 0L);
        if (!result)
                result = curlib_setopt_long(t->easy, CURLOPT_HTTP_VERSION,
                                            (long) CURL_HTTP_VERSION_1_1);
        if (!result)
                result = curlib_setopt_long(t->easy, CURLOPT_NOSIGNAL, 1L);
        if (!result)
                result = curlib_setopt_long(t->easy, CURLOPT_TIMEOUT_MS, timeout);
        if (!result && req->connect_timeout_ms > 0)
                result = curlib_setopt_long(t->easy, CURLOPT_CONNECTTIMEOUT_MS,
                                            (long) req->connect_timeout_ms);
        if (!result)
                result = curlib_setopt_string(t->easy, CURLOPT_USERAGENT, "solocron");
        if (!result)
                result = curlib_setopt_private(t->easy, t);
        if (!result)
                result = curlib_setopt_errorbuffer(t->easy, t->errbuf);
        if (!result)
                result = curlib_setopt_write_cb(t->easy, CURLOPT_WRITEFUNCTION, http_on_write);
        if (!result)
                result = curlib_setopt_cb_data(t->easy, CURLOPT_WRITEDATA, (void *) t);
        if (!result)
                result = curlib_setopt_write_cb(t->easy, CURLOPT_HEADERFUNCTION, http_on_header);
        if (!result)
                result = curlib_setopt_cb_data(t->easy, CURLOPT_HEADERDATA, (void *) t);
        /* Refuse early on a Content-Length over the cap; http_on_write catches the rest.
         * Not for HEAD: its Content-Length describes a body that never comes. */
        if (!result && req->method != HTTP_HEAD && !req->on_data)
                result = curlib_setopt_off_t(t->easy, CURLOPT_MAXFILESIZE_LARGE,
                                             (curl_off_t) t->max_body);
        if (!result && t->req_headers)
                result = curlib_setopt_slist(t->easy, CURLOPT_HTTPHEADER, t->req_headers);
        if (!result)
                result = curlib_setopt_long(t->easy, CURLOPT_SSLVERSION,
                                            (long) CURL_SSLVERSION_TLSv1_2);
        if (!result && req->ca_file)
                result = curlib_setopt_string(t->easy, CURLOPT_CAINFO, req->ca_file);
        if (!result && req->client_cert)
                result = curlib_setopt_string(t->easy, CURLOPT_SSLCERT, req->client_cert);
        if (!result && req->client_key)
                result = curlib_setopt_string(t->easy, CURLOPT_SSLKEY, req->client_key);
        if (!result)
                result = curlib_setopt_long(t->easy, CURLOPT_SSL_VERIFYPEER,
                                            req->tls_insecure ? 0L : 1L);
        if (!result)
                result = curlib_setopt_long(t->easy, CURLOPT_SSL_VERIFYHOST,
                                            req->tls_insecure ? 0L : 2L);
        if (!result && req->userpwd)
                result = curlib_setopt_string(t->easy, CURLOPT_USERPWD, req->userpwd);
        if (!result && req->userpwd)
                result = curlib_setopt_long(t->easy, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
        if (!result)
                result = transfer_setopt_method(t, req);
        return result;
}

int http_request_start(HttpClient *c, const HttpRequest *req, HttpTransfer **ret_transfer) {
        _cleanup_(http_transfer_freep) HttpTransfer *t = NULL;
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
        t->on_data = req->on_data;
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

        t->easy = sym_curl_easy_init();
        if (!t->easy)
                return -ENOMEM;
        result = transfer_setopt(t, req);
        if (result != CURLE_OK)
                return http_errno_from_curl(result, 0);

        /* Only arms the timer (0 ms): the transfer proceeds, and completes, from the loop. */
        mc = sym_curl_multi_add_handle(c->multi, t->easy);
        if (mc != CURLM_OK)
                return mc == CURLM_ABORTED_BY_CALLBACK && c->socket_error < 0 ?
                       c->socket_error : http_errno_from_curlm(mc);

        t->state = TRANSFER_RUNNING;
        LIST_PREPEND(c->running, t);
        c->n_transfers++;
        if (ret_transfer)
                *ret_transfer = t;
        TAKE_PTR(t);
        return 0;
}
