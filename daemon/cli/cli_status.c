/* SPDX-License-Identifier: MIT */
/* `solocron status [JOB]`: what a running daemon says of its jobs, as a table: the next
 * firing, the last result (when, how long, where), and what runs now. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_api.h"
#include "macro.h"

/* "2026-11-23T01:00:00-05:00" → "2026-11-23 01:00:00" (the offset goes with the zone). */
static const char *short_time(const char *t, char buf[static 32]) {
        if (!t)
                return "-";
        (void) snprintf(buf, 32, "%.10s %.8s", t, t + (strlen(t) > 11 ? 11 : strlen(t)));
        return buf;
}

static void print_job(const json_t *j, const char *host) {
        const json_t *next = json_array_get(json_object_get(j, "next"), 0);
        const json_t *last = json_array_get(json_object_get(j, "recent"), 0);
        size_t running = json_array_size(json_object_get(j, "running"));
        char when[32], next_buf[32], dur[24] = "-", result[32];

        if (last)
                (void) snprintf(dur, sizeof(dur), "%.3fs",
                                json_real_value(json_object_get(last, "duration_seconds")));
        if (last)
                (void) snprintf(result, sizeof(result), "%s (%lld)",
                                json_string_value(json_object_get(last, "result")),
                                (long long) json_integer_value(json_object_get(last, "status")));
        printf("%-24s %-20s %-10s %-19s %-16s %-10s %-12s %s\n",
               json_string_value(json_object_get(j, "name")),
               next ? short_time(json_string_value(json_object_get(next, "local")), next_buf) :
                      (json_is_true(json_object_get(j, "enabled")) ? "-" : "disabled"),
               json_string_value(json_object_get(j, "timezone")),
               last ? short_time(json_string_value(json_object_get(last, "ended")), when) : "-",
               last ? result : "-", dur, last ? host : "-",
               running > 0 ? "running" :
               json_is_true(json_object_get(j, "paused")) ? "paused" : "-");
}

int cli_status(int argc, char **argv) {
        _cleanup_free_ char *target = NULL;
        CliAnswer a = {};
        CliApiArgs args;
        json_t *doc;
        int r;

        r = cli_api_args(argc, argv, "[JOB] [--json]", CLI_OPT_JSON, 0, 1, &args);
        if (r >= 0)
                return r;
        if (asprintf(&target, "/v1/jobs%s%s", args.n_args ? "/" : "",
                     args.n_args ? args.args[0] : "") < 0)
                return EXIT_FAILURE_RUNTIME;
        r = cli_api_call(&args.api, "GET", target, NULL, &a);
        if (r < 0)
                return EXIT_FAILURE_RUNTIME;
        if (a.status == 404) {
                fprintf(stderr, "solocron status: no job named '%s'\n", args.args[0]);
                cli_answer_done(&a);
                return EXIT_FAILURE_RUNTIME;
        }
        if (a.status != 200) {
                fprintf(stderr, "solocron status: the daemon answered %d: %s", a.status, a.body);
                cli_answer_done(&a);
                return EXIT_FAILURE_RUNTIME;
        }
        if (args.json) {
                fputs(a.body, stdout);
                cli_answer_done(&a);
                return EXIT_OK;
        }
        doc = json_loads(a.body, 0, NULL);
        cli_answer_done(&a);
        if (!doc) {
                fprintf(stderr, "solocron status: the daemon's answer is not JSON\n");
                return EXIT_FAILURE_RUNTIME;
        }
        printf("%-24s %-20s %-10s %-19s %-16s %-10s %-12s %s\n", "JOB", "NEXT", "ZONE",
               "LAST (UTC)", "RESULT", "DURATION", "WHERE", "NOW");
        if (json_object_get(doc, "jobs")) {
                size_t i;
                json_t *j;

                json_array_foreach(json_object_get(doc, "jobs"), i, j)
                        print_job(j, json_string_value(json_object_get(doc, "host")) ?: "here");
        } else
                print_job(doc, json_string_value(json_object_get(doc, "host")) ?: "here");
        json_decref(doc);
        return EXIT_OK;
}
