/* SPDX-License-Identifier: MIT */
/* What a notification says: the facts of an event, copied once; the webhooks' JSON and
 * Slack bodies (jansson); the HMAC-SHA256 signature of a body. */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cryptolib.h"
#include "macro.h"
#include "notifier_internal.h"
#include "secretfile.h"
#include "timeutil.h"
#include "utf8.h"

#define SLACK_OUTPUT_MAX 1500   /* a section's text is at most 3000 characters */

static const char *const event_names[_NOTIFY_KIND_MAX] = {
        [NOTIFY_START] = "start",
        [NOTIFY_SUCCESS] = "success",
        [NOTIFY_FAILURE] = "failure",
        [NOTIFY_RETRY] = "retry",
        [NOTIFY_MISSED] = "missed",
};

void notify_format_seconds(int64_t usec, char buf[static 32]) {
        (void) snprintf(buf, 32, "%lld.%03lld", (long long) (usec / 1000000),
                        (long long) (usec % 1000000 / 1000));
}

/* s[0..n) as valid UTF-8 (what is not becomes U+FFFD), NUL-terminated; NULL: no memory. */
static char *utf8_clean(const char *s, size_t n, size_t *ret_len) {
        char *out = malloc(n * 3 + 1);
        size_t k = 0;

        if (!out)
                return NULL;
        for (size_t i = 0; i < n;) {
                /* NUL is not passed on either */
                size_t l = s[i] ? utf8_valid_len((const unsigned char *) s + i, n - i) : 0;

                if (l == 0) {
                        memcpy(out + k, "\xef\xbf\xbd", 3);
                        k += 3;
                        i++;
                        continue;
                }
                memcpy(out + k, s + i, l);
                k += l;
                i += l;
        }
        out[k] = '\0';
        *ret_len = k;
        return out;
}

int notify_facts_init(NotifyFacts *f, const char *job, const char *host, const NotifyEvent *ev) {
        *f = (NotifyFacts) {
                .event = ev->kind == NOTIFY_SUCCESS && ev->recovered ? "recovered"
                                                                    : event_names[ev->kind],
                .job = job, .host = host, .run_id = ev->run_id, .result = ev->result,
                .exit_status = ev->exit_status, .term_signal = ev->term_signal,
                .duration_usec = ev->duration_usec, .attempt = ev->attempt,
                .scheduled = ev->scheduled,
        };
        if (ev->output)
                f->output_dropped = ev->output->dropped +
                        (ev->output->len > CAPTURE_NOTIFY_MAX ?
                         ev->output->len - CAPTURE_NOTIFY_MAX : 0);
        if (!ev->output)
                return (f->output = strdup("")) ? 0 : -ENOMEM;
        return capture_dup(ev->output, CAPTURE_NOTIFY_MAX, &f->output, &f->output_len);
}

void notify_facts_done(NotifyFacts *f) {
        free(f->output);
        f->output = NULL;
}

static char *dump(json_t *o, size_t *ret_size) {
        char *s;

        if (!o)
                return NULL;
        s = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        if (s)
                *ret_size = strlen(s);
        return s;
}

static json_t *signal_name(int sig) {
        char buf[24];

        if (sig == 0)
                return json_null();
        (void) snprintf(buf, sizeof(buf), "SIG%s", sigabbrev_np(sig) ?: "?");
        return json_string(buf);
}

char *notify_payload_json(const NotifyFacts *f, size_t *ret_size) {
        _cleanup_free_ char *output = NULL;
        char sched[RFC3339_UTC_MAX];
        size_t len;
        json_t *o;

        output = utf8_clean(f->output, f->output_len, &len);
        if (!output)
                return NULL;
        format_rfc3339_utc(f->scheduled, sched);
        o = json_pack("{s:s, s:s, s:s?, s:s, s:s, s:o, s:o, s:f, s:i, s:s, s:s%, s:b}",
                      "event", f->event,
                      "job", f->job,
                      "run_id", f->run_id,
                      "result", f->result,
                      "host", f->host,
                      "exit_status", f->exit_status >= 0 ? json_integer(f->exit_status)
                                                         : json_null(),
                      "signal", signal_name(f->term_signal),
                      "duration", (double) f->duration_usec / 1e6,
                      "attempt", (json_int_t) f->attempt,
                      "scheduled", sched,
                      "output", output, len,
                      "output_truncated", f->output_dropped > 0);
        return dump(o, ret_size);
}

/* Slack's mrkdwn wants &, < and > escaped. */
static char *slack_escape(const char *s) {
        size_t n = 0, k = 0;
        char *out;

        for (const char *p = s; *p; p++)
                n += *p == '&' ? 5 : *p == '<' || *p == '>' ? 4 : 1;
        out = malloc(n + 1);
        if (!out)
                return NULL;
        for (const char *p = s; *p; p++)
                k += (size_t) sprintf(out + k, "%s", *p == '&' ? "&amp;" : *p == '<' ? "&lt;" :
                                      *p == '>' ? "&gt;" : (char[]) { *p, 0 });
        out[k] = '\0';
        return out;
}

static const char *slack_verb(const NotifyFacts *f) {
        if (strcmp(f->event, "missed") == 0)
                return "was missed (no replica ran it)";
        if (strcmp(f->event, "recovered") == 0)
                return "recovered";
        if (strcmp(f->event, "success") == 0)
                return "succeeded";
        if (strcmp(f->result, "timed_out") == 0)
                return "timed out";
        if (strcmp(f->result, "signal") == 0)
                return "was killed by a signal";
        return "failed";
}

char *notify_payload_slack(const NotifyFacts *f, size_t *ret_size) {
        _cleanup_free_ char *text = NULL, *summary = NULL, *tail = NULL, *esc = NULL,
                *code = NULL;
        char sched[RFC3339_UTC_MAX], status[48], dur[32];
        size_t len, start = 0;
        json_t *blocks, *o;

        format_rfc3339_utc(f->scheduled, sched);
        if (f->term_signal)
                (void) snprintf(status, sizeof(status), "SIG%s",
                                sigabbrev_np(f->term_signal) ?: "?");
        else if (f->exit_status >= 0)
                (void) snprintf(status, sizeof(status), "%lld", (long long) f->exit_status);
        else
                (void) snprintf(status, sizeof(status), "-");
        notify_format_seconds(f->duration_usec, dur);
        if (asprintf(&text, "solocron: job '%s' %s on %s (scheduled %s)", f->job, slack_verb(f),
                     f->host, sched) < 0 ||
            asprintf(&summary, "*%s* %s on `%s`\nscheduled %s", f->job, slack_verb(f), f->host,
                     sched) < 0)
                return NULL;
        blocks = json_pack("[{s:s, s:{s:s, s:s}}]", "type", "section", "text", "type", "mrkdwn",
                           "text", summary);
        if (!blocks)
                return NULL;
        if (f->run_id) {
                char attempt[16];

                (void) snprintf(attempt, sizeof(attempt), "%u", f->attempt);
                (void) json_array_append_new(blocks, json_pack(
                        "{s:s, s:[{s:s, s:s+}, {s:s, s:s+}, {s:s, s:s+}, {s:s, s:s+}, "
                        "{s:s, s:s+}]}",
                        "type", "section", "fields",
                        "type", "mrkdwn", "text", "*Result*\n", f->result,
                        "type", "mrkdwn", "text", "*Exit status*\n", status,
                        "type", "mrkdwn", "text", "*Duration*\n", dur,
                        "type", "mrkdwn", "text", "*Attempts*\n", attempt,
                        "type", "mrkdwn", "text", "*Run*\n", f->run_id));
        }
        if (f->output_len > 0) {
                /* The end of the tail, cut at a character's start. */
                if (f->output_len > SLACK_OUTPUT_MAX) {
                        start = f->output_len - SLACK_OUTPUT_MAX;
                        while (start < f->output_len && (f->output[start] & 0xc0) == 0x80)
                                start++;
                }
                tail = utf8_clean(f->output + start, f->output_len - start, &len);
                esc = tail ? slack_escape(tail) : NULL;
                if (!esc || asprintf(&code, "```%s```", esc) < 0) {
                        json_decref(blocks);
                        return NULL;
                }
                (void) json_array_append_new(blocks, json_pack("{s:s, s:{s:s, s:s}}",
                                                               "type", "section", "text",
                                                               "type", "mrkdwn", "text", code));
        }
        o = json_pack("{s:s, s:o}", "text", text, "blocks", blocks);
        return dump(o, ret_size);
}

int notify_payload_sign(const char *secret_file, const void *body, size_t size, char *buf,
                        char **reterr_message) {
        _cleanup_free_ char *secret = NULL;
        uint8_t mac[SIGV4_SHA256_LEN];
        int r;

        r = secret_file_read(secret_file, "notify secret_file", &secret, reterr_message);
        if (r < 0)
                return r;
        r = cryptolib_sigv4.hmac_sha256(secret, strlen(secret), body, size, mac);
        explicit_bzero(secret, strlen(secret));
        if (r < 0) {
                if (asprintf(reterr_message, "cannot sign the body: %s",
                             r == -EOPNOTSUPP ? "libcrypto cannot be loaded" : strerror(-r)) < 0)
                        *reterr_message = NULL;
                return r;
        }
        memcpy(buf, "sha256=", 7);
        for (size_t i = 0; i < sizeof(mac); i++)
                (void) snprintf(buf + 7 + 2 * i, 3, "%02x", mac[i]);
        return 0;
}
