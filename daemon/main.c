/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build-config.h"
#include "cli.h"
#include "exec_job.h"
#include "guard.h"

static void help(FILE *f) {
        fprintf(f,
                "Usage: solocron COMMAND [OPTIONS]\n"
                "\n"
                "A cron daemon for containers and fleets: exact schedules with time zones,\n"
                "one run per firing across replicas.\n"
                "\n"
                "Commands:\n"
                "  run [-c FILE] [--state-dir DIR] [--log-format text|json|journal] …\n"
                "                                  run the daemon in the foreground\n"
                "  reload [--pid-file FILE]        make the running daemon re-read its table\n"
                "  status [JOB] [--json]           what a running daemon says of its jobs (API)\n"
                "  run-now JOB [--wait] [--key KEY]\n"
                "                                  a manual run, elected once fleet-wide (API)\n"
                "  pause JOB, resume JOB           stop or restart a job's firings (API)\n"
                "  history JOB [--since TIME] [--limit N]\n"
                "                                  the fleet's records of a job's runs (API)\n"
                "  check [-c FILE] [--store]       validate the job table, show each job's next firing\n"
                "                                  (--store: and ask its lease store)\n"
                "  init-store [-c FILE]            create the lease store's schema (PostgreSQL)\n"
                "  next [-c FILE] [JOB...] [-n N] [--from TIME] [--until TIME]\n"
                "                                  list upcoming firings, with DST moves marked\n"
                "  import-crontab [FILE|-] [--user-column] [--timezone ZONE] [--force]\n"
                "                                  print a crontab as a job table\n"
                "\n"
                "Options:\n"
                "  -c, --config FILE   job table (default $SOLOCRON_CONFIG, else %s)\n"
                "  -h, --help          show this help\n"
                "  -V, --version       show the version\n"
                "\n"
                "See solocron(8) and solocron.yaml(5).\n",
                DEFAULT_CONFIG);
}

int main(int argc, char **argv) {
        static const struct {
                const char *name;
                int (*fn)(int argc, char **argv);
        } commands[] = {
                { "check", cli_check },
                { "init-store", cli_init_store },
                { "next", cli_next },
                { "run", cli_run },
                { "reload", cli_reload },
                { "status", cli_status },
                { "run-now", cli_run_now },
                { "pause", cli_pause },
                { "resume", cli_resume },
                { "history", cli_history },
                { "import-crontab", cli_import_crontab },
                { "exec-job", exec_job_main },  /* internal: see exec_job.c */
                { "guard", guard_main },        /* internal: see guard.c */
        };
        const char *cmd;

        if (argc < 2) {
                help(stderr);
                return EXIT_USAGE;
        }
        cmd = argv[1];
        if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
                help(stdout);
                return EXIT_OK;
        }
        if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
                printf("solocron %s\n", PACKAGE_VERSION);
                return EXIT_OK;
        }
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
                if (strcmp(cmd, commands[i].name) != 0)
                        continue;
                /* Each command parses its own options (getopt sees argv[0] = COMMAND). */
                return commands[i].fn(argc - 1, argv + 1);
        }
        fprintf(stderr, "solocron: unknown command '%s'; try 'solocron --help'\n", cmd);
        return EXIT_USAGE;
}
