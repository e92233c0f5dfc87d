/* SPDX-License-Identifier: MIT */
/* `solocron check --store`: make the table's lease store as the daemon would, ask it one
 * question (its probe: a connection, the credentials, one request) and say what it answered.
 * `solocron init-store`: the same for a store with a schema (PostgreSQL), whose connection
 * creates the schema when it is missing. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "cli.h"
#include "lease_store.h"
#include "macro.h"

typedef struct Probe {
        bool answered;
        char *error;            /* NULL: the store answered */
} Probe;

static void cli_on_probe(const char *error, void *userdata) {
        Probe *p = userdata;

        p->answered = true;
        p->error = error ? strdup(error) : NULL;
        if (error && !p->error)
                p->error = strdup("out of memory");
}

int cli_check_store(const Config *c, bool quiet) {
        _cleanup_free_ char *err = NULL;
        const LeaseConfig *l = &c->lease;
        char host[256] = "localhost";
        LeaseStore *s = NULL;
        const char *name;
        Probe p = {};
        uv_loop_t loop;
        int r;

        if (l->backend == LEASE_BACKEND_LOCAL) {
                if (!quiet)
                        printf("lease: local (a lock file per job in the state directory): "
                               "nothing to ask\n");
                return EXIT_OK;
        }
        (void) gethostname(host, sizeof(host) - 1);
        r = uv_loop_init(&loop);
        if (r < 0) {
                fprintf(stderr, "solocron check: cannot start an event loop: %s\n", uv_strerror(r));
                return EXIT_FAILURE_RUNTIME;
        }
        r = lease_store_new(&loop, l, "/nonexistent", host, &s, &err);
        if (r < 0) {
                fprintf(stderr, "lease: %s\n", err ?: strerror(-r));
                (void) uv_loop_close(&loop);
                return EXIT_STORE_DOWN;
        }
        name = s->ops->name;            /* static: still valid once s is closed */
        s->ops->probe(s, cli_on_probe, &p);
        while (!p.answered && uv_run(&loop, UV_RUN_ONCE) != 0)
                ;
        s->ops->close(s, NULL, NULL);
        (void) uv_run(&loop, UV_RUN_DEFAULT);
        (void) uv_loop_close(&loop);
        if (!p.answered || p.error) {
                fprintf(stderr, "lease: the %s store does not answer: %s\n", name,
                        p.error ?: "no answer");
                free(p.error);
                return EXIT_STORE_DOWN;
        }
        if (!quiet)
                printf("lease: the %s store answers\n", name);
        return EXIT_OK;
}

int cli_init_store(int argc, char **argv) {
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        const char *arg_config = NULL;
        Config *c = NULL;
        int o, r;

        while ((o = getopt_long(argc, argv, "c:h", options, NULL)) >= 0)
                switch (o) {
                case 'c':
                        arg_config = optarg;
                        break;
                case 'h':
                        printf("Usage: solocron init-store [-c FILE]\n"
                               "Create the lease store's schema (PostgreSQL) if it is missing.\n");
                        return EXIT_OK;
                default:
                        return EXIT_USAGE;
                }
        if (optind < argc) {
                fprintf(stderr, "solocron init-store: unexpected argument '%s'\n", argv[optind]);
                return EXIT_USAGE;
        }
        if (cli_load_config(cli_config_path(arg_config), &c) < 0)
                return EXIT_BAD_CONFIG;
        if (c->lease.backend != LEASE_BACKEND_POSTGRES) {
                printf("lease: this backend has no schema to create\n");
                config_free(c);
                return EXIT_OK;
        }
        r = cli_check_store(c, true);
        if (r == EXIT_OK)
                printf("lease: the postgres schema is in place (solocron_firings, "
                       "solocron_paused, solocron_alarms, solocron_token)\n");
        config_free(c);
        return r;
}
