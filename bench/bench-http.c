/* SPDX-License-Identifier: MIT */

/* The load client of bench/bench-api: C connections to HOST:PORT, each sending GET PATH over
 * and over on one kept-alive HTTP/1.1 connection (the next request as soon as the last answer
 * is whole), for a number of seconds. One thread and poll(): the client needs far less CPU
 * per request than the server, so the server is what is measured. A latency is the time from
 * the request's first byte sent to its answer's last byte read. Answers are read as the API
 * sends them: a head, then a body of Content-Length bytes, or chunked (a streamed answer such
 * as /metrics: chunks, then a last chunk of size 0 and an empty trailer).
 *
 * Usage: bench-http [-c CONNECTIONS] [-d SECONDS] HOST:PORT PATH   (default 4 and 10)
 * Prints one line of NAME=VALUE pairs: requests, seconds, rps, body_bytes (of the last 200),
 * p50_ms, p99_ms, max_ms, errors (answers other than 200, or connections that broke). */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "parse.h"

#define MAX_CONNECTIONS 256
#define MAX_HEAD        8192
#define MAX_ERRORS      1000    /* a server that answers nothing but errors: give up */

typedef enum ChunkState {      /* where a chunked body is */
        CHUNK_SIZE,             /* in a chunk-size line (hex digits, maybe ";ext") */
        CHUNK_DATA,             /* in a chunk's data: body_left bytes to go */
        CHUNK_DATA_END,         /* at the CRLF after the data */
        CHUNK_TRAILER,          /* after the last chunk: until an empty line */
} ChunkState;

typedef struct Conn {
        int fd;
        bool in_body;           /* the head has been read */
        bool chunked;           /* Transfer-Encoding: chunked */
        ChunkState chunk;
        size_t chunk_size;      /* CHUNK_SIZE: the size read so far */
        bool chunk_ext;         /* CHUNK_SIZE: past the digits */
        unsigned line_len;      /* CHUNK_TRAILER, CHUNK_DATA_END: bytes of the line so far */
        size_t sent;            /* bytes of the request written */
        char head[MAX_HEAD + 1];
        size_t head_size;
        size_t length;          /* the answer's Content-Length, or its chunks' sizes */
        size_t body_left;
        int status;
        bool server_closes;     /* the answer said Connection: close */
        double t_start;
} Conn;

static struct sockaddr_in addr;
static char request[1024];
static size_t request_size;

static double now_sec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int conn_open(Conn *c) {
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0 || connect(c->fd, (struct sockaddr *) &addr, sizeof(addr)) < 0) {
                perror("bench-http: connect");
                return -1;
        }
        c->sent = 0;
        return 0;
}

/* The answer's head is whole in c->head: its status, length and connection header. */
static int parse_head(Conn *c) {
        unsigned long long length = 0;
        bool has_length = false;
        char *line, *save = NULL;

        if (sscanf(c->head, "HTTP/1.%*d %d", &c->status) != 1)
                return -1;
        c->server_closes = false;
        c->chunked = false;
        for (line = strtok_r(c->head, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
                if (strncasecmp(line, "Content-Length:", 15) == 0)
                        has_length = sscanf(line + 15, " %llu", &length) == 1;
                else if (strncasecmp(line, "Connection:", 11) == 0 && strcasestr(line, "close"))
                        c->server_closes = true;
                else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 &&
                         strcasestr(line, "chunked"))
                        c->chunked = true;
        }
        if (c->chunked) {
                c->chunk = CHUNK_SIZE;
                c->chunk_size = 0;
                c->chunk_ext = false;
                c->length = c->body_left = 0;
                return 0;
        }
        if (!has_length)
                return -1;
        c->length = c->body_left = (size_t) length;
        return 0;
}

static int hex_digit(char ch) {
        return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 :
               ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

/* n bytes of a chunked body: 1 when it has ended, 0 when more is to come, -1 when it is not
 * chunked as it should be. */
static int chunked_feed(Conn *c, const char *p, size_t n) {
        for (size_t i = 0; i < n; i++) {
                char ch = p[i];

                switch (c->chunk) {
                case CHUNK_SIZE:
                        if (ch == '\n') {
                                c->chunk = c->chunk_size ? CHUNK_DATA : CHUNK_TRAILER;
                                c->body_left = c->chunk_size;
                                c->length += c->chunk_size;
                                c->line_len = 0;
                        } else if (ch == ';' || ch == '\r')
                                c->chunk_ext = true;
                        else if (!c->chunk_ext) {
                                if (hex_digit(ch) < 0 || c->chunk_size > SIZE_MAX / 32)
                                        return -1;
                                c->chunk_size = c->chunk_size * 16 + (size_t) hex_digit(ch);
                        }
                        break;
                case CHUNK_DATA: {
                        size_t take = n - i < c->body_left ? n - i : c->body_left;

                        c->body_left -= take;
                        i += take - 1;
                        if (c->body_left == 0) {
                                c->chunk = CHUNK_DATA_END;
                                c->line_len = 0;
                        }
                        break;
                }
                case CHUNK_DATA_END:
                        if (ch == '\n') {
                                c->chunk = CHUNK_SIZE;
                                c->chunk_size = 0;
                                c->chunk_ext = false;
                        } else if (ch != '\r' || c->line_len++ > 0)
                                return -1;
                        break;
                case CHUNK_TRAILER:
                        if (ch == '\n') {
                                if (c->line_len == 0)
                                        return i + 1 == n ? 1 : -1;     /* nothing may follow */
                                c->line_len = 0;
                        } else if (ch != '\r')
                                c->line_len++;
                        break;
                }
        }
        return 0;
}

/* Reads what has come. Returns 1 when the answer is whole, 0 when more is to come, -1 when
 * the connection broke or the answer is not one we read. */
static int conn_read(Conn *c) {
        static char sink[256 * 1024];
        ssize_t n;

        if (!c->in_body) {
                char *end;

                n = read(c->fd, c->head + c->head_size, MAX_HEAD - c->head_size);
                if (n <= 0)
                        return -1;
                c->head_size += (size_t) n;
                c->head[c->head_size] = 0;
                end = strstr(c->head, "\r\n\r\n");
                if (!end)
                        return c->head_size < MAX_HEAD ? 0 : -1;
                n = (ssize_t) (c->head_size - (size_t) (end + 4 - c->head));   /* body bytes */
                *end = 0;
                if (parse_head(c) < 0)
                        return -1;
                c->in_body = true;
                if (c->chunked)
                        return chunked_feed(c, end + 4, (size_t) n);
                if ((size_t) n > c->body_left)
                        return -1;
                c->body_left -= (size_t) n;
                return c->body_left == 0;
        }
        if (c->chunked) {       /* one answer at a time: nothing of the next can come */
                n = read(c->fd, sink, sizeof(sink));
                return n <= 0 ? -1 : chunked_feed(c, sink, (size_t) n);
        }
        n = read(c->fd, sink, c->body_left < sizeof(sink) ? c->body_left : sizeof(sink));
        if (n <= 0)
                return -1;
        c->body_left -= (size_t) n;
        return c->body_left == 0;
}

static void conn_next(Conn *c) {
        c->in_body = false;
        c->head_size = 0;
        c->sent = 0;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return (x > y) - (x < y);
}

/* Nearest rank, as bench/run-bench computes it: the ceil(p% of n)-th smallest. */
static double percentile(const double *sorted, size_t n, unsigned p) {
        size_t k = (n * p + 99) / 100;

        return n == 0 ? 0 : sorted[k > 0 ? k - 1 : 0];
}

static int usage(void) {
        fputs("usage: bench-http [-c CONNECTIONS] [-d SECONDS] HOST:PORT PATH\n", stderr);
        return 2;
}

int main(int argc, char **argv) {
        int n_conns = 4, seconds = 10, errors = 0, port, opt;
        size_t n_lat = 0, cap_lat = 0, body_bytes = 0;
        double *lat = NULL, t0, deadline, elapsed;
        Conn *conns;
        struct pollfd pfd[MAX_CONNECTIONS];
        char host[64];
        const char *colon;

        while ((opt = getopt(argc, argv, "c:d:")) != -1) {
                if (opt == 'c' && parse_int(optarg, 1, MAX_CONNECTIONS, &n_conns) == 0)
                        continue;
                if (opt == 'd' && parse_int(optarg, 1, 3600, &seconds) == 0)
                        continue;
                return usage();
        }
        if (argc - optind != 2 || !(colon = strrchr(argv[optind], ':')) ||
            (size_t) (colon - argv[optind]) >= sizeof(host) ||
            parse_int(colon + 1, 1, 65535, &port) < 0)
                return usage();
        memcpy(host, argv[optind], (size_t) (colon - argv[optind]));
        host[colon - argv[optind]] = 0;
        addr = (struct sockaddr_in) { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
        if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
                return usage();
        request_size = (size_t) snprintf(request, sizeof(request),
                                         "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: bench-http\r\n\r\n",
                                         argv[optind + 1], argv[optind]);
        if (request_size >= sizeof(request))
                return usage();

        conns = calloc((size_t) n_conns, sizeof(Conn));
        if (!conns)
                return 1;
        for (int i = 0; i < n_conns; i++)
                if (conn_open(&conns[i]) < 0)
                        return 1;
        t0 = now_sec();
        deadline = t0 + seconds;
        for (;;) {
                double left = deadline - now_sec();

                if (left <= 0)
                        break;
                for (int i = 0; i < n_conns; i++) {
                        bool sending = conns[i].sent < request_size;

                        pfd[i] = (struct pollfd) { .fd = conns[i].fd,
                                                   .events = sending ? POLLOUT : POLLIN };
                }
                if (poll(pfd, (nfds_t) n_conns, (int) (left * 1000) + 1) < 0) {
                        if (errno == EINTR)
                                continue;
                        perror("bench-http: poll");
                        return 1;
                }
                for (int i = 0; i < n_conns; i++) {
                        Conn *c = &conns[i];
                        int r;

                        if (!pfd[i].revents)
                                continue;
                        if (c->sent < request_size) {
                                ssize_t n;

                                if (c->sent == 0)
                                        c->t_start = now_sec();
                                n = write(c->fd, request + c->sent, request_size - c->sent);

                                if (n > 0) {
                                        c->sent += (size_t) n;
                                        continue;
                                }
                                r = -1;
                        } else
                                r = conn_read(c);
                        if (r == 0)
                                continue;
                        if (r > 0 && c->status == 200) {
                                double t = now_sec();

                                if (n_lat == cap_lat) {
                                        cap_lat = cap_lat ? 2 * cap_lat : 4096;
                                        lat = realloc(lat, cap_lat * sizeof(double));
                                        if (!lat)
                                                return 1;
                                }
                                if (t <= deadline)
                                        lat[n_lat++] = (t - c->t_start) * 1000;
                                body_bytes = c->length;
                        } else
                                errors++;
                        if (errors > MAX_ERRORS) {
                                fprintf(stderr, "bench-http: more than %d errors\n", MAX_ERRORS);
                                return 1;
                        }
                        if (r < 0 || c->server_closes) {
                                close(c->fd);
                                if (conn_open(c) < 0)
                                        return 1;
                        }
                        conn_next(c);
                }
        }
        elapsed = now_sec() - t0;
        qsort(lat, n_lat, sizeof(double), cmp_double);
        printf("requests=%zu seconds=%.3f rps=%.1f body_bytes=%zu p50_ms=%.3f p99_ms=%.3f "
               "max_ms=%.3f errors=%d\n", n_lat, elapsed, (double) n_lat / elapsed, body_bytes,
               percentile(lat, n_lat, 50), percentile(lat, n_lat, 99),
               n_lat ? lat[n_lat - 1] : 0, errors);
        for (int i = 0; i < n_conns; i++)
                close(conns[i].fd);
        free(conns);
        free(lat);
        return 0;
}
