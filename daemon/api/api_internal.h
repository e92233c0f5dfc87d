/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by the server's two halves only: api_server.c (listeners, accepting, the token)
 * and api_conn.c (one connection: reading, parsing, answering, its timers). */

#include "api_parse.h"
#include "api_server.h"

typedef struct ApiConn ApiConn;

struct ApiServer {
        uv_loop_t *loop;
        uv_tcp_t tcp;
        uv_pipe_t unix_socket;
        bool has_tcp, has_unix;
        char *socket_path;              /* to unlink at close */
        char *token;                    /* NULL: no token */
        bool public_read;
        unsigned max_connections, head_timeout_msec, idle_timeout_msec;
        api_request_cb on_request;
        void *userdata;
        ApiConn *conns;                 /* open connections (list) */
        unsigned n_conns;
        unsigned pending_closes;        /* listeners and connections still closing */
        bool closing;
};

struct ApiExchange {                    /* one request being answered (embedded in its conn) */
        ApiConn *conn;
        bool open;                      /* handed to the owner, not answered yet */
        bool head;                      /* a HEAD: the answer goes without its body */
        bool http11;                    /* the request was HTTP/1.1: a stream may be chunked */
        bool streaming;                 /* api_stream_begin() came: pieces until the end */
        size_t streamed;                /* bytes of its pieces so far */
        api_abort_cb on_abort;
        void *abort_userdata;
};

struct ApiConn {
        ApiServer *server;
        union {
                uv_stream_t stream;
                uv_tcp_t tcp;
                uv_pipe_t pipe;
        } h;
        uv_timer_t timer;               /* the request's deadline, or the idle keep-alive */
        bool local;                     /* the unix socket, or a loopback peer */
        ApiParse req;                   /* the request being read */
        char *in;                       /* bytes read but not parsed yet (pipelining) */
        size_t in_size;
        bool reading;
        bool keep_alive;                /* the current request allows it */
        bool closing;
        unsigned pending_closes;        /* stream and timer */
        unsigned writes;                /* responses being written */
        ApiExchange exchange;
        ApiConn *prev, *next;
};

/* api_conn.c */
/* A connection accepted on listener `listener` (initialised into c->h by the caller). */
void api_conn_start(ApiConn *c);
/* Close it (drops an unanswered request: its abort callback runs). */
void api_conn_close(ApiConn *c);
/* Say status and close, for a connection over the limit. */
void api_conn_refuse(ApiConn *c, int status);

/* api_server.c */
/* A connection has closed: unlink and free it. */
void api_server_conn_gone(ApiServer *s, ApiConn *c);
/* Is the request allowed? 0, or the status to answer (401, 403). */
int api_server_authorize(const ApiServer *s, const ApiConn *c, const char *method,
                         const char *authorization);
