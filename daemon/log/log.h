/* SPDX-License-Identifier: MIT */
#pragma once

/* The daemon's one log: daemon events and the relayed output lines of jobs, written in one
 * format (text, json; journal comes with the systemd sink) to standard error. A sink is a
 * function table (LogSink); adding a format is adding one file. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

typedef enum LogFormat {
        LOG_FORMAT_TEXT,
        LOG_FORMAT_JSON,
        LOG_FORMAT_JOURNAL,     /* sd_journal_send: structured fields (log_journal.c) */
        _LOG_FORMAT_MAX,
        _LOG_FORMAT_INVALID = -1,
} LogFormat;

typedef enum LogStream {
        LOG_STREAM_STDOUT,
        LOG_STREAM_STDERR,
} LogStream;

typedef struct LogKV {          /* one structured field: key=value in text, a member in json */
        const char *key;        /* lower_snake_case */
        const char *value;
} LogKV;

/* A growing byte buffer for formatted log text, flushed to the fd by log_flush(). */
typedef struct LogBuffer {
        char *data;
        size_t len, allocated;
} LogBuffer;
void log_buffer_append(LogBuffer *b, const char *s, size_t n);
void log_buffer_puts(LogBuffer *b, const char *s);
void log_buffer_printf(LogBuffer *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string literal of s[0..n), quotes included; invalid UTF-8 becomes U+FFFD. */
void log_buffer_json_string(LogBuffer *b, const char *s, size_t n);
/* "2026-11-23T01:00:00.123Z" */
void log_buffer_timestamp(LogBuffer *b, int64_t usec);

/* What a sink gets for one daemon event. */
typedef struct LogRecord {
        int level;              /* LOG_ERR … LOG_DEBUG (syslog.h) */
        const char *event;      /* stable machine name: "run_finished", "firing_skipped", … */
        const char *job;        /* NULL for daemon-wide events */
        const char *run;        /* NULL when not about one run */
        const LogKV *kv;        /* n_kv fields */
        size_t n_kv;
        const char *message;    /* human text */
} LogRecord;

typedef struct LogSink {
        const char *name;
        /* Append one formatted record to out (a LogBuffer). */
        void (*event)(LogBuffer *out, int64_t now_usec, const LogRecord *r);
        void (*output)(LogBuffer *out, int64_t now_usec, const char *job, const char *run,
                       LogStream stream, const char *line, size_t len, bool continued);
} LogSink;


extern const LogSink log_sink_text;
extern const LogSink log_sink_json;
extern const LogSink log_sink_journal;  /* only built with libsystemd (HAVE_SYSTEMD) */

/* "text", "json", "journal"; _LOG_FORMAT_INVALID for anything else, and for "journal" when
 * built without libsystemd. */
LogFormat log_format_from_string(const char *s);
/* The default when no format is asked for: journal when stderr is the stream systemd
 * connected to the journal ($JOURNAL_STREAM names its device:inode), else text. */
LogFormat log_format_auto(void);
void log_setup(LogFormat format, int fd, int max_level);

/* Log a daemon event; kv is terminated by a {NULL, NULL} entry (or is NULL). */
void log_event(int level, const char *event, const char *job, const char *run, const LogKV *kv,
               const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Relay one line of a job's output (without its newline). continued: this line is a piece
 * of a longer one that was split. */
void log_output(const char *job, const char *run, LogStream stream, const char *line, size_t len,
                bool continued);
/* Write out what is buffered. Called once per loop iteration and before exiting. */
void log_flush(void);

#define log_error(event, job, run, ...)   log_event(LOG_ERR, event, job, run, NULL, __VA_ARGS__)
#define log_warning(event, job, run, ...) log_event(LOG_WARNING, event, job, run, NULL, __VA_ARGS__)
#define log_info(event, job, run, ...)    log_event(LOG_INFO, event, job, run, NULL, __VA_ARGS__)
#define log_debug(event, job, run, ...)   log_event(LOG_DEBUG, event, job, run, NULL, __VA_ARGS__)
