/* SPDX-License-Identifier: MIT */
/* The commands that steer a running daemon, and through it the fleet: `run-now JOB` (a manual
 * run, elected like a firing), `pause JOB`, `resume JOB`, and `history JOB` (the fleet's
 * records of the job's runs). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_api.h"
#include "macro.h"

/* A POST or GET to the daemon; its JSON answer in *ret (caller frees). An answer other than
 * 2xx, or none, is said on stderr: the exit code, else -1. */
static int call_json(const CliApiArgs *args, const char *method, const char *target,
                     const char *headers, json_t **ret) {
        CliAnswer a = {};
        char why[512];

        if (cli_api_call(&args->api, method, target, headers, &a) < 0)
                return EXIT_FAILURE_RUNTIME;
        if (a.status < 200 || a.status > 299) {
                fprintf(stderr, "solocron %s: %s%s\n", args->cmd,
                        a.status == 404 ? "no such job: " : "",
                        cli_answer_error(&a, why, sizeof(why)));
                cli_answer_done(&a);
                return EXIT_FAILURE_RUNTIME;
        }
        *ret = json_loads(a.body, 0, NULL);
        cli_answer_done(&a);
        if (!*ret) {
                fprintf(stderr, "solocron: the daemon's answer is not JSON\n");
                return EXIT_FAILURE_RUNTIME;
        }
        return -1;
}

static const char *jstr(const json_t *o, const char *key) {
        return json_string_value(json_object_get(o, key)) ?: "-";
}

/* `solocron run-now JOB [--wait] [--key KEY]`: with --wait, exits with the job's exit status
 * (1 when it has none: killed by a signal it is 128 + the signal, as in a shell). */
int cli_run_now(int argc, char **argv) {
        _cleanup_free_ char *target = NULL, *headers = NULL;
        CliApiArgs args;
        json_t *o, *st;
        int r;

        r = cli_api_args(argc, argv, "JOB [--wait] [--key KEY] [--json]",
                         CLI_OPT_WAIT | CLI_OPT_KEY | CLI_OPT_JSON, 1, 1, &args);
        if (r >= 0)
                return r;
        args.api.wait_forever = args.wait;
        if (asprintf(&target, "/v1/jobs/%s/run%s", args.args[0], args.wait ? "?wait=1" : "") < 0 ||
            (args.key && asprintf(&headers, "Idempotency-Key: %s\r\n", args.key) < 0))
                return EXIT_FAILURE_RUNTIME;
        r = call_json(&args, "POST", target, headers, &o);
        if (r >= 0)
                return r;
        st = json_object_get(o, "exit_status");
        if (args.json) {
                char *text = json_dumps(o, JSON_COMPACT);

                puts(text ?: "{}");
                free(text);
        } else if (strcmp(jstr(o, "state"), "finished") == 0)
                printf("%s: run %s on %s: %s, exit status %lld, %.3fs\n", args.args[0],
                       jstr(o, "run"), jstr(o, "host"), jstr(o, "result"),
                       json_is_integer(st) ? (long long) json_integer_value(st) : -1LL,
                       json_number_value(json_object_get(o, "duration_seconds")));
        else
                printf("%s: run %s %s on %s\n", args.args[0], jstr(o, "run"),
                       args.key ? "(this key's run)" : "started", jstr(o, "host"));
        r = EXIT_OK;
        if (args.wait && strcmp(jstr(o, "state"), "finished") == 0)
                r = json_is_integer(st) ? (int) (json_integer_value(st) & 0xff) :
                    strcmp(jstr(o, "result"), "succeeded") == 0 ? 0 : 1;
        json_decref(o);
        return r;
}

static int pause_or_resume(int argc, char **argv, bool pause) {
        _cleanup_free_ char *target = NULL;
        CliApiArgs args;
        json_t *o;
        int r;

        r = cli_api_args(argc, argv, "JOB", 0, 1, 1, &args);
        if (r >= 0)
                return r;
        if (asprintf(&target, "/v1/jobs/%s/%s", args.args[0], pause ? "pause" : "resume") < 0)
                return EXIT_FAILURE_RUNTIME;
        r = call_json(&args, "POST", target, NULL, &o);
        if (r >= 0)
                return r;
        printf("%s: %s %s%s\n", args.args[0], pause ? "paused" : "resumed",
               strcmp(jstr(o, "scope"), "fleet") == 0 ? "fleet-wide" : "on this host",
               json_is_true(json_object_get(o, "suspended")) ?
               " (its table says suspend: true: its firings still do not run)" : "");
        json_decref(o);
        return EXIT_OK;
}

int cli_pause(int argc, char **argv) {
        return pause_or_resume(argc, argv, true);
}

int cli_resume(int argc, char **argv) {
        return pause_or_resume(argc, argv, false);
}

/* `solocron history JOB [--since TIME] [--limit N] [--json]`. */
int cli_history(int argc, char **argv) {
        _cleanup_free_ char *target = NULL;
        CliApiArgs args;
        size_t i;
        json_t *o, *run;
        int r;

        r = cli_api_args(argc, argv, "JOB [--since TIME] [--limit N] [--json]",
                         CLI_OPT_SINCE | CLI_OPT_JSON, 1, 1, &args);
        if (r >= 0)
                return r;
        if (asprintf(&target, "/v1/jobs/%s/runs?limit=%s%s%s", args.args[0],
                     args.limit ?: "20", args.since ? "&since=" : "", args.since ?: "") < 0)
                return EXIT_FAILURE_RUNTIME;
        r = call_json(&args, "GET", target, NULL, &o);
        if (r >= 0)
                return r;
        if (args.json) {
                char *text = json_dumps(o, JSON_COMPACT);

                puts(text ?: "{}");
                free(text);
                json_decref(o);
                return EXIT_OK;
        }
        printf("%-20s %-16s %-16s %-10s %-6s %-10s %-7s %s\n", "SCHEDULED (UTC)", "HOST", "RUN",
               "RESULT", "EXIT", "DURATION", "ATTEMPT", "MANUAL");
        json_array_foreach(json_object_get(o, "runs"), i, run) {
                json_t *st = json_object_get(run, "exit_status");
                json_t *dur = json_object_get(run, "duration_seconds");
                char exit_text[16] = "-", dur_text[24] = "-";

                if (json_is_integer(st))
                        (void) snprintf(exit_text, sizeof(exit_text), "%lld",
                                        (long long) json_integer_value(st));
                if (json_is_number(dur))
                        (void) snprintf(dur_text, sizeof(dur_text), "%.3fs",
                                        json_number_value(dur));
                printf("%-20s %-16s %-16s %-10s %-6s %-10s %-7lld %s\n", jstr(run, "scheduled"),
                       jstr(run, "host"), jstr(run, "run"), jstr(run, "result"), exit_text,
                       dur_text, (long long) json_integer_value(json_object_get(run, "attempt")),
                       jstr(run, "manual"));
        }
        json_decref(o);
        return EXIT_OK;
}
