/* SPDX-License-Identifier: MIT */
/* The json sink: one object per line, for container log collectors. */
#include <string.h>

#include "log.h"

static const char *level_name(int level) {
        static const char *const names[] = {
                "emerg", "alert", "crit", "error", "warning", "notice", "info", "debug",
        };

        return level >= 0 && level <= LOG_DEBUG ? names[level] : "info";
}

static void json_member(LogBuffer *out, const char *key, const char *value) {
        log_buffer_puts(out, ",");
        log_buffer_json_string(out, key, strlen(key));
        log_buffer_puts(out, ":");
        log_buffer_json_string(out, value, strlen(value));
}

static void json_event(LogBuffer *out, int64_t now_usec, const LogRecord *r) {
        log_buffer_puts(out, "{\"time\":\"");
        log_buffer_timestamp(out, now_usec);
        log_buffer_puts(out, "\"");
        json_member(out, "level", level_name(r->level));
        json_member(out, "event", r->event);
        if (r->job)
                json_member(out, "job", r->job);
        if (r->run)
                json_member(out, "run", r->run);
        json_member(out, "msg", r->message);
        for (size_t i = 0; i < r->n_kv; i++)
                json_member(out, r->kv[i].key, r->kv[i].value);
        log_buffer_puts(out, "}\n");
}

static void json_output(LogBuffer *out, int64_t now_usec, const char *job, const char *run,
                        LogStream stream, const char *line, size_t len, bool continued) {
        log_buffer_puts(out, "{\"time\":\"");
        log_buffer_timestamp(out, now_usec);
        log_buffer_puts(out, "\",\"event\":\"output\"");
        json_member(out, "job", job);
        json_member(out, "run", run);
        json_member(out, "stream", stream == LOG_STREAM_STDOUT ? "stdout" : "stderr");
        log_buffer_puts(out, ",\"line\":");
        log_buffer_json_string(out, line, len);
        if (continued)
                log_buffer_puts(out, ",\"continued\":true");
        log_buffer_puts(out, "}\n");
}

const LogSink log_sink_json = {
        .name = "json",
        .event = json_event,
        .output = json_output,
};
