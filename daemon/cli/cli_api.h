/* SPDX-License-Identifier: MIT */
#pragma once

/* How the API commands (status, …) reach a daemon: its unix socket (the default), or its TCP
 * listener with --url and a token. */

#include <stdbool.h>
#include <stddef.h>

#define CLI_API_DEFAULT_SOCKET "/run/solocron/api.sock"

typedef struct CliApi {
        const char *socket;     /* used without url */
        const char *url;        /* "http://HOST:PORT"; NULL: the socket */
        const char *token_file; /* NULL: no token */
        bool wait_forever;      /* no timeout on the answer (run-now --wait) */
} CliApi;

/* What the API commands take: the connection options, and each command's own. */
enum {
        CLI_OPT_JSON = 1 << 0,  /* --json */
        CLI_OPT_WAIT = 1 << 1,  /* --wait */
        CLI_OPT_KEY = 1 << 2,   /* --key KEY */
        CLI_OPT_SINCE = 1 << 3, /* --since TIME, --limit N */
};

typedef struct CliApiArgs {
        const char *cmd;        /* "status", … */
        CliApi api;
        bool json, wait;
        const char *key, *since, *limit;
        char **args;            /* the operands (JOB …) */
        int n_args;
} CliApiArgs;

typedef struct CliAnswer {
        int status;             /* the HTTP status */
        char *body;             /* owned, NUL-terminated */
} CliAnswer;

/* --socket, --url and --token-file default to $SOLOCRON_API (a path, or an http:// URL),
 * /run/solocron/api.sock, and $SOLOCRON_API_TOKEN_FILE. */
void cli_api_defaults(CliApi *api);
/* Parse a command's options (those in opts, and the connection's) and between min_args and
 * max_args operands. -1: go on; else the exit code (--help, or a usage error: printed). */
int cli_api_args(int argc, char **argv, const char *usage, unsigned opts, int min_args,
                 int max_args, CliApiArgs *ret);
/* A JSON answer's "error", or the body. */
const char *cli_answer_error(const CliAnswer *a, char *buf, size_t size);
/* One request (extra_headers: "Name: value\r\n" lines, or NULL). A connection that fails is
 * said on stderr ("no daemon is listening on …") and returns a negative errno. */
int cli_api_call(const CliApi *api, const char *method, const char *target,
                 const char *extra_headers, CliAnswer *ret);
void cli_answer_done(CliAnswer *a);
