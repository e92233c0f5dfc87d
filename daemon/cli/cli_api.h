/* SPDX-License-Identifier: MIT */
#pragma once

/* How the API commands (status, …) reach a daemon: its unix socket (the default), or its TCP
 * listener with --url and a token. */

#define CLI_API_DEFAULT_SOCKET "/run/solocron/api.sock"

typedef struct CliApi {
        const char *socket;     /* used without url */
        const char *url;        /* "http://HOST:PORT"; NULL: the socket */
        const char *token_file; /* NULL: no token */
} CliApi;

typedef struct CliAnswer {
        int status;             /* the HTTP status */
        char *body;             /* owned, NUL-terminated */
} CliAnswer;

/* --socket, --url and --token-file default to $SOLOCRON_API (a path, or an http:// URL),
 * /run/solocron/api.sock, and $SOLOCRON_API_TOKEN_FILE. */
void cli_api_defaults(CliApi *api);
/* One request (extra_headers: "Name: value\r\n" lines, or NULL). A connection that fails is
 * said on stderr ("no daemon is listening on …") and returns a negative errno. */
int cli_api_call(const CliApi *api, const char *method, const char *target,
                 const char *extra_headers, CliAnswer *ret);
void cli_answer_done(CliAnswer *a);
