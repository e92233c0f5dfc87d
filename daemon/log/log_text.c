/* SPDX-License-Identifier: MIT */
/* The text sink: "2026-11-23T01:00:00.000Z refresh run=… stdout: line" — for people. */
#include "log.h"

static const char *level_prefix(int level) {
        switch (level) {
        case LOG_EMERG: case LOG_ALERT: case LOG_CRIT: case LOG_ERR:
                return "error: ";
        case LOG_WARNING:
                return "warning: ";
        default:
                return "";
        }
}

static void text_head(LogBuffer *out, int64_t now_usec, const char *job, const char *run) {
        log_buffer_timestamp(out, now_usec);
        log_buffer_puts(out, " ");
        log_buffer_puts(out, job ? job : "solocron");
        if (run) {
                log_buffer_puts(out, " run=");
                log_buffer_puts(out, run);
        }
        log_buffer_puts(out, job || run ? " " : ": ");
}

static void text_event(LogBuffer *out, int64_t now_usec, const LogRecord *r) {
        text_head(out, now_usec, r->job, r->run);
        log_buffer_puts(out, level_prefix(r->level));
        log_buffer_puts(out, r->message);
        for (size_t i = 0; i < r->n_kv; i++) {
                log_buffer_puts(out, " ");
                log_buffer_puts(out, r->kv[i].key);
                log_buffer_puts(out, "=");
                log_buffer_puts(out, r->kv[i].value);
        }
        log_buffer_puts(out, "\n");
}

static void text_output(LogBuffer *out, int64_t now_usec, const char *job, const char *run,
                        LogStream stream, const char *line, size_t len, bool continued) {
        text_head(out, now_usec, job, run);
        log_buffer_puts(out, stream == LOG_STREAM_STDOUT ? "stdout: " : "stderr: ");
        log_buffer_append(out, line, len);
        if (continued)
                log_buffer_puts(out, " [continued]");
        log_buffer_puts(out, "\n");
}

const LogSink log_sink_text = {
        .name = "text",
        .event = text_event,
        .output = text_output,
};
