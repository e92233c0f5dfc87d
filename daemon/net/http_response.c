/* SPDX-License-Identifier: MIT */
/* The response side of a transfer (http_internal.h). libcurl hands us the response through
 * two callbacks: http_on_write() appends to the body (t->body, allocated empty by
 * http_request_start()), or passes a streamed one to its reader, http_on_header() collects
 * the headers, each within the caps of http.h. When the transfer ends, http_transfer_deliver() passes both to the done callback
 * as an HttpResponse, which may take the body. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_internal.h"
#include "macro.h"

/* ---- transfers: buffers ---- */

static void transfer_clear_headers(HttpTransfer *t) {
        for (size_t i = 0; i < t->n_headers; i++)
                free(t->headers[i].name);       /* value lives in the same allocation */
        t->n_headers = 0;
        t->header_bytes = 0;
}

void http_transfer_free(HttpTransfer *t) {
        if (!t)
                return;
        if (t->easy)
                sym_curl_easy_cleanup(t->easy);     /* already removed from the multi handle */
        sym_curl_slist_free_all(t->req_headers);
        free(t->body_copy);
        free(t->body);
        transfer_clear_headers(t);
        free(t->headers);
        free(t);
}

static int transfer_fail(HttpTransfer *t, int error, const char *what) {
        t->error = error;
        (void) snprintf(t->message, sizeof(t->message), "%s", what);
        return 0;                       /* returned by the curl callbacks: abort the transfer */
}

/* ---- the body ---- */

size_t http_on_write(char *data, size_t size, size_t nmemb, void *userdata) {
        HttpTransfer *t = userdata;
        size_t n = size * nmemb;        /* size is always 1 */

        /* A stream goes to its reader; an error response is collected as usual, for done. */
        if (t->on_data) {
                long status = 0;

                (void) curlib_getinfo_long(t->easy, CURLINFO_RESPONSE_CODE, &status);
                if (status >= 200 && status < 300) {
                        if (!t->on_data(data, n, t->userdata))
                                return transfer_fail(t, -ECANCELED, "Stream ended by its reader");
                        return n;
                }
        }

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

/* ---- the headers ---- */

static bool is_blank(char ch) {
        return ch == ' ' || ch == '\t';
}

/* libcurl passes one complete header line per call, status lines and the final empty line
 * included, for every response it reads: 1xx interim ones too, so a status line starts the
 * list afresh. */
size_t http_on_header(char *line, size_t size, size_t nitems, void *userdata) {
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

/* ---- delivery ---- */

/* Hand the response to the callback, then free the transfer. From a uv callback only. */
void http_transfer_deliver(HttpTransfer *t, CURLcode result) {
        HttpClient *c = t->client;
        HttpResponse resp = {};
        long os_errno = 0;

        if (result == CURLE_COULDNT_CONNECT)
                (void) curlib_getinfo_long(t->easy, CURLINFO_OS_ERRNO, &os_errno);
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
                               t->errbuf[0] ? t->errbuf : sym_curl_easy_strerror(result);
        (void) curlib_getinfo_long(t->easy, CURLINFO_RESPONSE_CODE, &resp.status);
        resp.body = t->body;
        resp.body_size = t->body_size;
        resp.headers = t->headers;
        resp.n_headers = t->n_headers;

        t->state = TRANSFER_DELIVERING;
        t->done(&resp, t->userdata);

        t->body = resp.body;            /* NULL if the callback took it */
        c->n_transfers--;
        http_transfer_free(t);
}
