/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "output.h"

/* One read buffer for all the streams: libuv hands what it read to output_on_read() before it
 * asks for the next buffer, so a stream needs a buffer of its own only while it holds an
 * incomplete line. A job that writes nothing, or whole lines, costs no allocation; the shared
 * buffer is freed when the last stream closes. */
static char *shared_buf;
static size_t n_streams;

/* Streams at end of file are closed after the loop's poll phase, by a check handle: libuv's
 * close of a descriptor from a poll callback scans every event of that poll's batch for it,
 * and a burst's batch holds hundreds (a tenth of a firing's user time). The handle exists
 * while streams do. */
static uv_check_t *closer;
static Output *to_close, **to_close_end = &to_close;   /* in end-of-file order, linked
                                                         * through next_close */

static void closer_on_closed(uv_handle_t *h) {
        free(h);
}

static void output_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *ret) {
        Output *o = h->data;
        char *buf = o->buf;

        (void) suggested;
        if (!buf) {
                if (!shared_buf)
                        shared_buf = malloc(OUTPUT_LINE_MAX);
                buf = shared_buf;       /* o->len is 0 without a buffer of its own */
                if (!buf) {
                        *ret = uv_buf_init(NULL, 0);    /* libuv reports UV_ENOBUFS */
                        return;
                }
        }
        /* Read straight into the line buffer, after the incomplete line: no copy. */
        *ret = uv_buf_init(buf + o->len, (unsigned) (OUTPUT_LINE_MAX - o->len));
}

/* Log every complete line in buf[0..o->len) and leave the incomplete rest at the front. */
static void output_emit_lines(Output *o, char *buf, size_t scanned_from) {
        size_t start = 0;
        char *nl;

        while ((nl = memchr(buf + scanned_from, '\n', o->len - scanned_from))) {
                size_t end = (size_t) (nl - buf);

                log_output(o->job, o->run, o->stream, buf + start, end - start, o->continued);
                o->continued = false;
                start = scanned_from = end + 1;
        }
        if (start > 0) {
                memmove(buf, buf + start, o->len - start);
                o->len -= start;
        }
        if (o->len == OUTPUT_LINE_MAX) {
                /* A line longer than the buffer: log this piece, mark the rest as continued. */
                log_output(o->job, o->run, o->stream, buf, o->len, o->continued);
                o->continued = true;
                o->len = 0;
        }
}

/* An incomplete line read into the shared buffer moves to a buffer of the stream's own. */
static void output_keep_rest(Output *o) {
        o->buf = malloc(OUTPUT_LINE_MAX);
        if (o->buf) {
                memcpy(o->buf, shared_buf, o->len);
                return;
        }
        /* No memory: log the piece now; the rest of the line follows as "continued". */
        log_output(o->job, o->run, o->stream, shared_buf, o->len, o->continued);
        o->continued = true;
        o->len = 0;
}

static void output_flush_partial(Output *o) {
        if (o->len > 0)
                log_output(o->job, o->run, o->stream, o->buf, o->len, o->continued);
        o->len = 0;
        o->continued = false;
}

static void output_on_close(uv_handle_t *h) {
        Output *o = h->data;

        free(o->buf);
        o->buf = NULL;
        if (--n_streams == 0) {
                free(shared_buf);
                shared_buf = NULL;
                if (closer)
                        uv_close((uv_handle_t *) closer, closer_on_closed);
                closer = NULL;
        }
        if (o->on_closed)
                o->on_closed(o);
}

static void closer_on_check(uv_check_t *c) {
        while (to_close) {
                Output *o = to_close;

                to_close = o->next_close;
                uv_close((uv_handle_t *) &o->pipe, output_on_close);
        }
        to_close_end = &to_close;
        (void) uv_check_stop(c);
}

static void output_close_later(Output *o) {
        if (!closer) {
                closer = malloc(sizeof(*closer));
                if (!closer || uv_check_init(o->pipe.loop, closer) < 0) {
                        free(closer);
                        closer = NULL;
                        output_close(o);
                        return;
                }
        }
        o->open = false;
        if (o->buf)
                output_flush_partial(o);
        (void) uv_read_stop((uv_stream_t *) &o->pipe);
        o->next_close = NULL;
        *to_close_end = o;
        to_close_end = &o->next_close;
        (void) uv_check_start(closer, closer_on_check);
}

static void output_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
        Output *o = s->data;

        (void) b;
        if (n > 0) {
                char *buf = o->buf ?: shared_buf;
                size_t from = o->len;

                o->len += (size_t) n;
                o->bytes += (uint64_t) n;
                if (o->capture)
                        (void) capture_append(o->capture, buf + from, (size_t) n);
                output_emit_lines(o, buf, from);
                if (!o->buf && o->len > 0)
                        output_keep_rest(o);
                return;
        }
        if (n == 0)
                return;                 /* EAGAIN */
        /* UV_EOF, or an error (UV_ENOBUFS when out of memory): either way this stream ends. */
        output_close_later(o);
}

int output_init(uv_loop_t *loop, Output *o, const char *job, const char *run, LogStream stream,
                output_closed_cb on_closed) {
        int r;

        *o = (Output) { .job = job, .run = run, .stream = stream, .on_closed = on_closed };
        r = uv_pipe_init(loop, &o->pipe, 0);
        if (r < 0)
                return r;
        o->pipe.data = o;
        o->open = true;
        n_streams++;
        return 0;
}

int output_start(Output *o, int fd) {
        int r = uv_pipe_open(&o->pipe, fd);

        if (r < 0) {
                close(fd);
                output_close(o);
                return r;
        }
        return uv_read_start((uv_stream_t *) &o->pipe, output_on_alloc, output_on_read);
}

void output_close(Output *o) {
        if (!o->open)
                return;
        o->open = false;
        if (o->buf)
                output_flush_partial(o);
        uv_close((uv_handle_t *) &o->pipe, output_on_close);
}
