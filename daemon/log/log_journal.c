/* SPDX-License-Identifier: MIT */
/* The journal sink: one journal entry per daemon event and per output line, sent with
 * sd_journal_sendv() to journald's native socket, so jobs and runs can be queried by field
 * (journalctl SOLOCRON_JOB=backup, MESSAGE_ID=… for every failed run). Fields go as iovecs
 * with their lengths, never as C strings: sd_journal_sendv() length-prefixes a value that has
 * a newline, and journald keeps NUL bytes and invalid UTF-8 as they came. */
#include "build-config.h"
#include "log.h"

/* Without libsystemd there is no journal sink: log_format_from_string() refuses "journal"
 * and log_setup() never asks for it. */
#if HAVE_SYSTEMD

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "sdlib.h"

#include "macro.h"
#include "grow.h"

/* Stable MESSAGE_IDs (generated once with `systemd-id128 new`; never change one, only add):
 * `journalctl MESSAGE_ID=…` finds every entry of that kind, whatever the wording. Every
 * result of run_finished other than "succeeded" (failed, timed_out, terminated, cancelled,
 * …) shares one id, so one query finds every failed run. */
#define JOURNAL_ID_RUN_SUCCEEDED "5b141ac1c7134cc4b3dc202021cfb3ba"
#define JOURNAL_ID_RUN_FAILED    "cbf201c65d95492e9611ed5977d3f981"

static const struct {
        const char *event;
        const char *id;
} journal_ids[] = {
        { "run_started",    "05f26b49490742aba28a2d956781de7c" },
        { "firing_skipped", "bb02896a6ef34138b4ea7f856e409c81" },
        { "firing_missed",  "ab74bb7f973a4fe0a05696207ca5dee6" },
        { "firing_missed_fleet", "0868b2d7d520482ca72a70a3791a9d3f" },
        { "reloaded",       "db4f3af01ea74a02960b5f74b0d5e052" },
        { "reload_failed",  "b3674c5de8024408a88e7b42faed6874" },
        { "config_error",   "7f8db98d33e44588b0e848b8bc37fbed" },
        { "ready",          "0276070e753b415ab2bd4cd9e8ff5b77" },
        { "stopping",       "8adc50085b7445e5b9ce4357fb12c111" },
        { "run_failed",     "22211228c9a44d8db0e99bda2fc4ad42" },   /* could not start */
        { "run_timeout",    "fc8441452e98471d96e1b04795b367ad" },
        { "start_failed",   "164472f07e324a17ba464c1d06fea4d2" },
        { "stopped",        "9745abe05d414113879732f659318bf2" },
};

/* Fixed fields of one entry plus the kv fields (those come from our own code, never from a
 * config or a job); an entry with more goes out in the text form instead. */
#define JOURNAL_FIELDS_MAX 48
/* Journal field names are at most 64 characters of [A-Z0-9_]. */
#define JOURNAL_FIELD_NAME_MAX 64

/* One entry being built: the "KEY=value" texts back to back in data, and where each is. */
typedef struct JournalEntry {
        char *data;             /* owned; kept between entries to save reallocations */
        size_t len, allocated;
        size_t start[JOURNAL_FIELDS_MAX], end[JOURNAL_FIELDS_MAX];
        size_t n;
        bool failed;            /* out of memory or out of slots: send the text form */
} JournalEntry;

static JournalEntry journal_entry;

static void entry_reset(JournalEntry *e) {
        e->len = 0;
        e->n = 0;
        e->failed = false;
}

static void entry_append(JournalEntry *e, const void *p, size_t n) {
        if (e->failed || n == 0)
                return;
        if (e->len + n > e->allocated) {
                char *d = grow_buffer(e->data, &e->allocated, e->len + n, 4096);

                if (!d) {
                        e->failed = true;
                        return;
                }
                e->data = d;
        }
        memcpy(e->data + e->len, p, n);
        e->len += n;
}

/* KEY=value, value being n arbitrary bytes. */
static void entry_field(JournalEntry *e, const char *key, const char *value, size_t n) {
        if (e->n >= JOURNAL_FIELDS_MAX) {
                e->failed = true;
                return;
        }
        e->start[e->n] = e->len;
        entry_append(e, key, strlen(key));
        entry_append(e, "=", 1);
        entry_append(e, value, n);
        e->end[e->n++] = e->len;
}

static void entry_field_str(JournalEntry *e, const char *key, const char *value) {
        entry_field(e, key, value, strlen(value));
}

/* "SOLOCRON_" + key uppercased; anything outside [A-Za-z0-9] becomes '_'. */
static void entry_kv(JournalEntry *e, const char *key, const char *value) {
        char name[JOURNAL_FIELD_NAME_MAX + 1] = "SOLOCRON_";
        size_t n = strlen(name);

        for (const char *k = key; *k && n < JOURNAL_FIELD_NAME_MAX; k++, n++) {
                char c = *k;

                if (c >= 'a' && c <= 'z')
                        c = (char) (c - 'a' + 'A');
                else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
                        c = '_';
                name[n] = c;
        }
        name[n] = 0;
        entry_field_str(e, name, value);
}

/* 0 on success; negative errno when the entry could not be built or sent. */
static int entry_send(JournalEntry *e) {
        struct iovec iov[JOURNAL_FIELDS_MAX];

        if (e->failed)
                return -ENOMEM;
        /* Pointers only now: data may have moved while the entry grew. */
        for (size_t i = 0; i < e->n; i++)
                iov[i] = (struct iovec) { .iov_base = e->data + e->start[i],
                                          .iov_len = e->end[i] - e->start[i] };
        return sdlib_journal_sendv(iov, (int) e->n);
}

static const char *journal_message_id(const LogRecord *r) {
        if (strcmp(r->event, "run_finished") == 0) {
                for (size_t i = 0; i < r->n_kv; i++)
                        if (strcmp(r->kv[i].key, "result") == 0)
                                return strcmp(r->kv[i].value, "succeeded") == 0 ?
                                               JOURNAL_ID_RUN_SUCCEEDED : JOURNAL_ID_RUN_FAILED;
                return JOURNAL_ID_RUN_FAILED;
        }
        for (size_t i = 0; i < ELEMENTSOF(journal_ids); i++)
                if (strcmp(r->event, journal_ids[i].event) == 0)
                        return journal_ids[i].id;
        return NULL;
}

static void journal_common(JournalEntry *e, int priority, const char *job, const char *run) {
        char prio = (char) ('0' + (priority >= 0 && priority <= LOG_DEBUG ? priority : LOG_INFO));

        entry_field(e, "PRIORITY", &prio, 1);
        entry_field_str(e, "SYSLOG_IDENTIFIER", "solocron");
        if (job)
                entry_field_str(e, "SOLOCRON_JOB", job);
        if (run)
                entry_field_str(e, "SOLOCRON_RUN_ID", run);
}

/* out is the text log buffer: the journal sink writes nothing there, except when the
 * journal refuses an entry; then the text form goes to stderr, which under systemd is the
 * journal's stream socket, so the line is not lost. */
static void journal_event(LogBuffer *out, int64_t now_usec, const LogRecord *r) {
        JournalEntry *e = &journal_entry;
        const char *id = journal_message_id(r);

        entry_reset(e);
        entry_field_str(e, "MESSAGE", r->message);
        journal_common(e, r->level, r->job, r->run);
        entry_field_str(e, "SOLOCRON_EVENT", r->event);
        if (id)
                entry_field_str(e, "MESSAGE_ID", id);
        for (size_t i = 0; i < r->n_kv; i++) {
                entry_kv(e, r->kv[i].key, r->kv[i].value);
                /* The run summary's "status" is the exit status (or SIGxxx): also under
                 * the name people search for. result and duration_usec map by the rule. */
                if (strcmp(r->event, "run_finished") == 0 && strcmp(r->kv[i].key, "status") == 0)
                        entry_field_str(e, "SOLOCRON_EXIT_STATUS", r->kv[i].value);
        }
        if (entry_send(e) < 0)
                log_sink_text.event(out, now_usec, r);
}

static void journal_output(LogBuffer *out, int64_t now_usec, const char *job, const char *run,
                           LogStream stream, const char *line, size_t len, bool continued) {
        JournalEntry *e = &journal_entry;
        bool is_stdout = stream == LOG_STREAM_STDOUT;

        entry_reset(e);
        entry_field(e, "MESSAGE", line, len);
        journal_common(e, is_stdout ? LOG_INFO : LOG_ERR, job, run);
        entry_field_str(e, "SOLOCRON_STREAM", is_stdout ? "stdout" : "stderr");
        if (continued)
                entry_field_str(e, "SOLOCRON_CONTINUED", "1");
        if (entry_send(e) < 0)
                log_sink_text.output(out, now_usec, job, run, stream, line, len, continued);
}

const LogSink log_sink_journal = {
        .name = "journal",
        .event = journal_event,
        .output = journal_output,
};

#endif
