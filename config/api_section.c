/* SPDX-License-Identifier: MIT */
/* The api: section: the daemon's HTTP API (off without it).
 *   api:
 *     listen: 127.0.0.1:9750           # HOST:PORT or [V6]:PORT; TCP
 *     socket: /run/solocron/api.sock   # a unix socket (the CLI's default), mode 0660
 *     socket_group: solocron           # the socket's group (default: the daemon's)
 *     token_file: /etc/solocron/api.token  # the bearer token for writes (and remote reads)
 *     public_read: false               # reads over TCP from anywhere without the token */
#include <string.h>

#include "internal.h"
#include "parse.h"

static const char *const api_keys[] = { "listen", "socket", "socket_group", "token_file",
                                        "public_read" };

/* HOST:PORT or [V6]:PORT with a port 1..65535. */
static bool listen_valid(const char *t) {
        const char *colon = strrchr(t, ':');
        uint64_t port;

        if (!colon || colon == t || parse_uint64(colon + 1, 65535, &port) < 0 || port == 0)
                return false;
        if (t[0] == '[')
                return colon[-1] == ']' && colon - t > 2;
        return !memchr(t, ':', (size_t) (colon - t));
}

/* Is the listen address this machine only? */
static bool listen_is_loopback(const char *t) {
        return strncmp(t, "127.", 4) == 0 || strncmp(t, "localhost:", 10) == 0 ||
               strncmp(t, "[::1]:", 6) == 0;
}

void config_check_api(const Scope *s, const Node *v) {
        ApiConfig *a = &s->ctx->config->api;
        const Node *listen = NULL;

        if (v->invalid || v->is_null)
                return;
        if (v->kind != NODE_MAPPING) {
                (void) config_type_error(s, v, "api", "a mapping (listen, socket, …)");
                return;
        }
        for (size_t k = 0; k + 1 < v->n_items; k += 2) {
                const Node *key = v->items[k], *x = v->items[k + 1];

                if (key->invalid)
                        continue;
                if (strcmp(key->value, "listen") == 0) {
                        config_set_nonempty_string(s, x, "api.listen", &a->listen);
                        listen = x;
                } else if (strcmp(key->value, "socket") == 0)
                        config_set_nonempty_string(s, x, "api.socket", &a->socket);
                else if (strcmp(key->value, "socket_group") == 0)
                        config_set_nonempty_string(s, x, "api.socket_group", &a->socket_group);
                else if (strcmp(key->value, "token_file") == 0)
                        config_set_nonempty_string(s, x, "api.token_file", &a->token_file);
                else if (strcmp(key->value, "public_read") == 0)
                        (void) config_get_bool(s, x, "api.public_read", &a->public_read);
                else
                        config_unknown_key(s, key, "api", api_keys, ELEMENTSOF(api_keys));
        }
        if (a->listen && !listen_valid(a->listen))
                config_error(s, listen, "api.listen '%s': expected HOST:PORT, e.g. "
                             "127.0.0.1:9750 or [::1]:9750", a->listen);
        if (a->socket && a->socket[0] != '/')
                config_error(s, v, "api.socket must be an absolute path, not '%s'", a->socket);
        if (a->token_file && a->token_file[0] != '/')
                config_error(s, v, "api.token_file must be an absolute path, not '%s'",
                             a->token_file);
        if (!a->listen && !a->socket)
                config_error(s, v, "api: give 'listen' (TCP), 'socket' (a unix socket) or both");
        if (a->listen && listen_valid(a->listen) && !listen_is_loopback(a->listen) &&
            !a->token_file && !a->public_read)
                config_diag_add(s->ctx, CONFIG_WARNING, s->file, listen->line, listen->column,
                                "api.listen '%s' is reachable from other machines, but without "
                                "'token_file' they can neither read nor change anything", a->listen);
}

void config_api_done(ApiConfig *a) {
        free(a->listen);
        free(a->socket);
        free(a->socket_group);
        free(a->token_file);
        *a = (ApiConfig) {};
}
