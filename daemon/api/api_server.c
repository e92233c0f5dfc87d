/* SPDX-License-Identifier: MIT */
/* Listeners and who may ask what. Reads (GET, HEAD) are open on the unix socket and from a
 * loopback peer; elsewhere they need the token unless public_read. Writes need the token on
 * TCP; on the unix socket its mode (0660, a group of the operator's choice) is the check. */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api_internal.h"
#include "httplib.h"
#include "list.h"
#include "macro.h"
#include "parse.h"
#include "reterr.h"

bool api_token_equal(const char *presented, const char *expected) {
        size_t n = strlen(expected), m = strlen(presented);
        unsigned char diff = (unsigned char) (n != m);

        /* Every byte of the expected token is looked at, whatever was presented. */
        for (size_t i = 0; i < n; i++)
                diff |= (unsigned char) (expected[i] ^ (i < m ? presented[i] : 0));
        return diff == 0;
}

int api_server_authorize(const ApiServer *s, const ApiConn *c, const char *method,
                         const char *authorization) {
        bool read = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
        const char *token;

        if (c->h.stream.type == UV_NAMED_PIPE)
                return 0;
        if (read && (c->local || s->public_read))
                return 0;
        if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
                return 401;
        token = authorization + 7;
        while (*token == ' ')
                token++;
        return s->token && api_token_equal(token, s->token) ? 0 : 403;
}

/* Is the peer of this TCP connection on this machine? */
static bool peer_is_loopback(uv_tcp_t *t) {
        struct sockaddr_storage ss;
        int len = sizeof(ss);

        if (uv_tcp_getpeername(t, (struct sockaddr *) &ss, &len) < 0)
                return false;
        if (ss.ss_family == AF_INET)
                return (ntohl(((struct sockaddr_in *) &ss)->sin_addr.s_addr) >> 24) == 127;
        if (ss.ss_family == AF_INET6) {
                const struct in6_addr *a = &((struct sockaddr_in6 *) &ss)->sin6_addr;

                return IN6_IS_ADDR_LOOPBACK(a) ||
                       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
        }
        return false;
}

static void server_on_connection(uv_stream_t *listener, int status) {
        ApiServer *s = listener->data;
        ApiConn *c;
        int r;

        if (status < 0 || s->closing)
                return;
        c = calloc(1, sizeof(ApiConn));
        if (!c)
                return;         /* the kernel keeps it queued; tried again on the next event */
        c->server = s;
        if (listener->type == UV_TCP)
                r = uv_tcp_init(s->loop, &c->h.tcp);
        else
                r = uv_pipe_init(s->loop, &c->h.pipe, 0);
        if (r < 0) {
                free(c);
                return;
        }
        c->h.stream.data = c;
        (void) uv_timer_init(s->loop, &c->timer);
        c->timer.data = c;
        c->pending_closes = 2;
        LIST_PREPEND(s->conns, c);
        s->n_conns++;
        if (uv_accept(listener, &c->h.stream) < 0) {
                api_conn_close(c);
                return;
        }
        c->local = listener->type != UV_TCP || peer_is_loopback(&c->h.tcp);
        if (s->n_conns > s->max_connections) {
                api_conn_refuse(c, 503);
                return;
        }
        api_conn_start(c);
}

/* Freed once the listeners and every connection have closed. */
static void server_maybe_free(ApiServer *s) {
        if (!s->closing || s->pending_closes > 0 || s->conns)
                return;
        if (s->socket_path)
                (void) unlink(s->socket_path);
        free(s->socket_path);
        free(s->token);
        free(s);
}

void api_server_conn_gone(ApiServer *s, ApiConn *c) {
        LIST_UNLINK(s->conns, c);
        s->n_conns--;
        free(c);
        server_maybe_free(s);
}

static void server_on_listener_closed(uv_handle_t *h) {
        ApiServer *s = h->data;

        s->pending_closes--;
        server_maybe_free(s);
}

void api_server_close(ApiServer *s) {
        if (!s || s->closing)
                return;
        s->closing = true;
        if (s->has_tcp) {
                s->pending_closes++;
                uv_close((uv_handle_t *) &s->tcp, server_on_listener_closed);
        }
        if (s->has_unix) {
                s->pending_closes++;
                uv_close((uv_handle_t *) &s->unix_socket, server_on_listener_closed);
        }
        for (ApiConn *c = s->conns, *next; c; c = next) {
                next = c->next;                 /* unlinked once its handles have closed */
                api_conn_close(c);
        }
        server_maybe_free(s);
}

/* "HOST:PORT", "[V6]:PORT" into an address. */
static int parse_listen(const char *listen, struct sockaddr_storage *ret) {
        char host[64];
        const char *colon = strrchr(listen, ':');
        uint64_t port;
        size_t n;

        if (!colon || colon == listen || parse_uint64(colon + 1, 65535, &port) < 0 || port == 0)
                return -EINVAL;
        n = (size_t) (colon - listen);
        if (listen[0] == '[' && n >= 2 && listen[n - 1] == ']') {
                if (n - 2 >= sizeof(host))
                        return -EINVAL;
                memcpy(host, listen + 1, n - 2);
                host[n - 2] = 0;
                return uv_ip6_addr(host, (int) port, (struct sockaddr_in6 *) ret);
        }
        if (n >= sizeof(host))
                return -EINVAL;
        memcpy(host, listen, n);
        host[n] = 0;
        return uv_ip4_addr(host, (int) port, (struct sockaddr_in *) ret);
}

static int server_listen_tcp(ApiServer *s, const char *listen, char **reterr) {
        struct sockaddr_storage addr = {};
        int r;

        r = parse_listen(listen, &addr);
        if (r < 0)
                return reterr_printf(reterr, -EINVAL, "api.listen '%s': expected HOST:PORT "
                                     "(127.0.0.1:9750, [::1]:9750)", listen);
        r = uv_tcp_init(s->loop, &s->tcp);
        if (r < 0)
                return reterr_printf(reterr, r, "api.listen: %s", uv_strerror(r));
        s->has_tcp = true;
        s->tcp.data = s;
        r = uv_tcp_bind(&s->tcp, (struct sockaddr *) &addr, 0);
        if (r >= 0)
                r = uv_listen((uv_stream_t *) &s->tcp, 128, server_on_connection);
        if (r < 0)
                return reterr_printf(reterr, r, "cannot listen on '%s': %s", listen,
                                     uv_strerror(r));
        return 0;
}

static int server_listen_unix(ApiServer *s, const char *path, gid_t gid, char **reterr) {
        struct stat st;
        int r;

        /* A socket left by a daemon that died: replace it; anything else: refuse. */
        if (lstat(path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode))
                        return reterr_printf(reterr, -EEXIST, "api.socket '%s' exists and is not "
                                             "a socket", path);
                (void) unlink(path);
        }
        r = uv_pipe_init(s->loop, &s->unix_socket, 0);
        if (r < 0)
                return reterr_printf(reterr, r, "api.socket: %s", uv_strerror(r));
        s->has_unix = true;
        s->unix_socket.data = s;
        r = uv_pipe_bind(&s->unix_socket, path);
        if (r < 0)
                return reterr_printf(reterr, r, "cannot bind '%s': %s", path, uv_strerror(r));
        s->socket_path = strdup(path);
        if (!s->socket_path)
                return -ENOMEM;
        if (chmod(path, 0660) < 0 || (gid != (gid_t) -1 && chown(path, (uid_t) -1, gid) < 0))
                return reterr_printf(reterr, -errno, "cannot set the mode of '%s': %s", path,
                                     strerror(errno));
        r = uv_listen((uv_stream_t *) &s->unix_socket, 128, server_on_connection);
        if (r < 0)
                return reterr_printf(reterr, r, "cannot listen on '%s': %s", path,
                                     uv_strerror(r));
        return 0;
}

int api_server_new(uv_loop_t *loop, const ApiServerConfig *cfg, api_request_cb on_request,
                   void *userdata, ApiServer **ret, char **reterr_message) {
        ApiServer *s;
        int r = httplib_load();

        if (r < 0)
                return reterr_printf(reterr_message, r, "cannot load %s, which parses the "
                                     "API's requests (Debian: apt-get install libhttp-parser2.9)",
                                     HTTPLIB_SONAME);
        s = calloc(1, sizeof(ApiServer));
        if (!s)
                return -ENOMEM;
        *s = (ApiServer) {
                .loop = loop, .public_read = cfg->public_read, .on_request = on_request,
                .userdata = userdata,
                .max_connections = cfg->max_connections ?: API_MAX_CONNECTIONS,
                .head_timeout_msec = cfg->head_timeout_msec ?: API_HEAD_TIMEOUT_MSEC,
                .idle_timeout_msec = cfg->idle_timeout_msec ?: API_IDLE_TIMEOUT_MSEC,
        };
        if (cfg->token && !(s->token = strdup(cfg->token)))
                r = -ENOMEM;
        if (r >= 0 && cfg->listen)
                r = server_listen_tcp(s, cfg->listen, reterr_message);
        if (r >= 0 && cfg->socket)
                r = server_listen_unix(s, cfg->socket, cfg->socket_gid, reterr_message);
        if (r < 0) {
                api_server_close(s);
                return r;
        }
        *ret = s;
        return 0;
}
