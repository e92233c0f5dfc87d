/* SPDX-License-Identifier: MIT */
/* The main: section: the container's main process that runs beside the jobs.
 *   main:
 *     command: ["gunicorn", "-b", "0.0.0.0:5000", "app:app"]   # or a string for /bin/sh -c
 *     restart: no              # no | on-failure
 *     restart_backoff: 1s      # first wait, doubling up to restart_max_backoff
 *     restart_max_backoff: 1m */
#include <string.h>

#include "internal.h"
#include "strv.h"

static const char *const main_keys[] = { "command", "restart", "restart_backoff",
                                         "restart_max_backoff" };
static const char *const restart_names[] = { "no", "on-failure" };

void config_check_main(const Scope *s, const Node *v) {
        MainConfig *m = &s->ctx->config->main;
        const Node *command = NULL;
        char **argv = NULL;
        bool shell = false;
        int i;

        m->restart_backoff = USEC_PER_SEC;
        m->restart_max_backoff = 60 * USEC_PER_SEC;
        if (v->invalid || v->is_null)
                return;
        if (v->kind != NODE_MAPPING) {
                (void) config_type_error(s, v, "main", "a mapping (command, restart, …)");
                return;
        }
        for (size_t k = 0; k + 1 < v->n_items; k += 2) {
                const Node *key = v->items[k], *x = v->items[k + 1];

                if (key->invalid)
                        continue;
                if (strcmp(key->value, "command") == 0)
                        command = x;
                else if (strcmp(key->value, "restart") == 0) {
                        if (config_get_enum(s, x, "main.restart", "restart policy", restart_names,
                                            ELEMENTSOF(restart_names), &i) >= 0)
                                m->restart_on_failure = i == 1;
                } else if (strcmp(key->value, "restart_backoff") == 0)
                        (void) config_get_duration(s, x, "main.restart_backoff", false,
                                                   &m->restart_backoff);
                else if (strcmp(key->value, "restart_max_backoff") == 0)
                        (void) config_get_duration(s, x, "main.restart_max_backoff", false,
                                                   &m->restart_max_backoff);
                else
                        config_unknown_key(s, key, "main", main_keys, ELEMENTSOF(main_keys));
        }
        if (!command) {
                config_error(s, v, "main: missing required key 'command'");
                return;
        }
        if (config_get_command(s, command, &argv, &shell) < 0)
                return;
        /* The node strings go away with the parse tree: keep copies. */
        m->argv = strv_copy(argv);
        m->shell = shell;
        free(argv);
        if (!m->argv)
                s->ctx->oom = true;
}
