/* SPDX-License-Identifier: MIT */
/* The log front end: level filter, one buffer, one fd. Formats live in log_*.c sinks. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "build-config.h"
#include "grow.h"
#include "log.h"
#include "numfmt.h"
#include "parse.h"
#include "timeutil.h"
#include "utf8.h"

/* Flush early past this much buffered text, so a chatty job cannot grow memory. */
#define LOG_BUFFER_FLUSH_AT (256 * 1024)

static const LogSink *log_sink = &log_sink_text;
static int log_fd = STDERR_FILENO;
static int log_max_level = LOG_INFO;
static LogBuffer log_buf;

void log_buffer_append(LogBuffer *b, const char *s, size_t n) {
        if (b->len + n + 1 > b->allocated) {
                char *p = grow_buffer(b->data, &b->allocated, b->len + n + 1, 4096);

                if (!p)
                        return;         /* out of memory: drop the text, never crash */
                b->data = p;
        }
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = 0;
}

void log_buffer_puts(LogBuffer *b, const char *s) {
        log_buffer_append(b, s, strlen(s));
}

void log_buffer_printf(LogBuffer *b, const char *fmt, ...) {
        char small[512];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(small, sizeof(small), fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if ((size_t) n < sizeof(small)) {
                log_buffer_append(b, small, (size_t) n);
                return;
        }
        char *big = malloc((size_t) n + 1);
        if (!big)
                return;
        va_start(ap, fmt);
        (void) vsnprintf(big, (size_t) n + 1, fmt, ap);
        va_end(ap);
        log_buffer_append(b, big, (size_t) n);
        free(big);
}

void log_buffer_json_string(LogBuffer *b, const char *s, size_t n) {
        const unsigned char *u = (const unsigned char *) s;
        size_t i = 0, start = 0;

        log_buffer_append(b, "\"", 1);
        while (i < n) {
                unsigned char c = u[i];
                size_t l;

                if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
                        i++;
                        continue;
                }
                if (c >= 0x80 && (l = utf8_valid_len(u + i, n - i)) > 0) {
                        i += l;
                        continue;
                }
                log_buffer_append(b, s + start, i - start);
                switch (c) {
                case '"':  log_buffer_append(b, "\\\"", 2); break;
                case '\\': log_buffer_append(b, "\\\\", 2); break;
                case '\n': log_buffer_append(b, "\\n", 2); break;
                case '\r': log_buffer_append(b, "\\r", 2); break;
                case '\t': log_buffer_append(b, "\\t", 2); break;
                default:
                        if (c < 0x20)
                                log_buffer_printf(b, "\\u%04x", c);
                        else
                                log_buffer_append(b, "\xef\xbf\xbd", 3); /* U+FFFD */
                }
                start = ++i;
        }
        log_buffer_append(b, s + start, i - start);
        log_buffer_append(b, "\"", 1);
}

void log_buffer_timestamp(LogBuffer *b, int64_t usec) {
        /* A chatty job logs thousands of lines per millisecond: format each millisecond once
         * (this was half of the relay's CPU time). */
        static int64_t cached_msec = -1;
        static char cached[RFC3339_UTC_MAX + 4];
        static size_t cached_len;
        int64_t msec = usec / 1000;

        if (msec != cached_msec) {
                /* "…SSZ" → "…SS.mmmZ"; digit by digit (a firing logs a few lines) */
                size_t n = strlen(format_rfc3339_utc(msec / 1000, cached)) - 1;

                cached[n] = '.';
                fmt_digits(cached + n + 1, (unsigned) ((msec % 1000 + 1000) % 1000), 3);
                memcpy(cached + n + 4, "Z", 2);
                cached_len = n + 5;
                cached_msec = msec;
        }
        log_buffer_append(b, cached, cached_len);
}

static int64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

LogFormat log_format_from_string(const char *s) {
        if (strcmp(s, "text") == 0)
                return LOG_FORMAT_TEXT;
        if (strcmp(s, "json") == 0)
                return LOG_FORMAT_JSON;
        if (strcmp(s, "journal") == 0)
                return HAVE_SYSTEMD ? LOG_FORMAT_JOURNAL : _LOG_FORMAT_INVALID;
        return _LOG_FORMAT_INVALID;
}

/* systemd sets JOURNAL_STREAM=DEV:INODE for the stream it connected to stdout/stderr; our
 * jobs inherit the variable but not the stream, which is why the inode is compared
 * [sd: systemd.exec(5) "$JOURNAL_STREAM"]. */
LogFormat log_format_auto(void) {
#if HAVE_SYSTEMD
        const char *env = getenv("JOURNAL_STREAM"), *colon;
        char dev_text[24];
        uint64_t dev, ino;
        struct stat st;

        if (!env || !(colon = strchr(env, ':')) || (size_t) (colon - env) >= sizeof(dev_text))
                return LOG_FORMAT_TEXT;
        memcpy(dev_text, env, (size_t) (colon - env));
        dev_text[colon - env] = 0;
        if (parse_uint64(dev_text, UINT64_MAX, &dev) < 0 ||
            parse_uint64(colon + 1, UINT64_MAX, &ino) < 0)
                return LOG_FORMAT_TEXT;
        if (fstat(STDERR_FILENO, &st) == 0 && (uint64_t) st.st_dev == dev &&
            (uint64_t) st.st_ino == ino)
                return LOG_FORMAT_JOURNAL;
#endif
        return LOG_FORMAT_TEXT;
}

void log_setup(LogFormat format, int fd, int max_level) {
        static const LogSink *const sinks[_LOG_FORMAT_MAX] = {
                [LOG_FORMAT_TEXT] = &log_sink_text,
                [LOG_FORMAT_JSON] = &log_sink_json,
#if HAVE_SYSTEMD
                [LOG_FORMAT_JOURNAL] = &log_sink_journal,
#endif
        };

        log_flush();
        log_sink = format >= 0 && format < _LOG_FORMAT_MAX && sinks[format] ? sinks[format]
                                                                          : &log_sink_text;
        log_fd = fd;
        log_max_level = max_level;
}

void log_event(int level, const char *event, const char *job, const char *run, const LogKV *kv,
               const char *fmt, ...) {
        char msg[2048];
        size_t n_kv = 0;
        va_list ap;

        if (level > log_max_level)
                return;
        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        while (kv && kv[n_kv].key)
                n_kv++;
        log_sink->event(&log_buf, now_usec(),
                        &(LogRecord) { .level = level, .event = event, .job = job, .run = run,
                                       .kv = kv, .n_kv = n_kv, .message = msg });
        /* Errors and warnings go out at once; the rest with the loop iteration. */
        if (level <= LOG_WARNING || log_buf.len >= LOG_BUFFER_FLUSH_AT)
                log_flush();
}

void log_output(const char *job, const char *run, LogStream stream, const char *line, size_t len,
                bool continued) {
        log_sink->output(&log_buf, now_usec(), job, run, stream, line, len, continued);
        if (log_buf.len >= LOG_BUFFER_FLUSH_AT)
                log_flush();
}

void log_flush(void) {
        size_t done = 0;

        while (done < log_buf.len) {
                ssize_t k = write(log_fd, log_buf.data + done, log_buf.len - done);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        break;          /* nowhere to log to: drop, keep running */
                }
                done += (size_t) k;
        }
        log_buf.len = 0;
}
