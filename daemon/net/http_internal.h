/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by the files of the HTTP client (http.h) only:
 *   http.c           the client: the curl multi handle on the libuv loop (sockets, timer),
 *                    collecting finished transfers, cancelling, closing; CURLcode → errno
 *   http_request.c   checking an HttpRequest, building its easy handle, starting it
 *   http_response.c  the response as it arrives (body, headers), its delivery to the done
 *                    callback, freeing the transfer
 * How they fit together is drawn at the top of http.c. */

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "curlib.h"
#include "http.h"

typedef struct HttpSocket HttpSocket;   /* http.c */

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
        http_data_cb on_data;           /* streaming, see http.h */
        void *userdata;
        int error;                      /* set by cancel and by our own caps; wins over curl's */
        /* The response so far; only the curl callbacks of http_response.c add to it. */
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

/* http.c */
int http_errno_from_curl(CURLcode result, long os_errno);
int http_errno_from_curlm(CURLMcode mc);

/* http_response.c */
/* CURLOPT_WRITEFUNCTION and CURLOPT_HEADERFUNCTION, with the transfer as their data. */
size_t http_on_write(char *data, size_t size, size_t nmemb, void *userdata);
size_t http_on_header(char *line, size_t size, size_t nitems, void *userdata);
/* Hand the response to the callback, then free the transfer. From a uv callback only. */
void http_transfer_deliver(HttpTransfer *t, CURLcode result);
/* For a transfer that never started, or from http_transfer_deliver(); accepts NULL. */
void http_transfer_free(HttpTransfer *t);
