/* SPDX-License-Identifier: MIT */
/* `solocron run` (the daemon) and `solocron reload` (SIGHUP through the pid file). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build-config.h"
#include "cli.h"
#include "daemon.h"
#include "log.h"
#include "macro.h"
#include "pidfile.h"

static int parse_log_level(const char *s) {
        static const char *const names[] = { [LOG_ERR] = "error", [LOG_WARNING] = "warning",
                                             [LOG_NOTICE] = "notice", [LOG_INFO] = "info",
                                             [LOG_DEBUG] = "debug" };

        for (int i = LOG_ERR; i <= LOG_DEBUG; i++)
                if (strcmp(s, names[i]) == 0)
                        return i;
        return -1;
}

/* --log-format's value; -1 with a message when it is not one. */
static int parse_log_format(const char *s, LogFormat *ret) {
        LogFormat f = log_format_from_string(s);

        if (f < 0 && strcmp(s, "journal") == 0) {
                fprintf(stderr, "solocron run: --log-format journal: this solocron was built "
                        "without libsystemd\n");
                return -1;
        }
        if (f < 0) {
                fprintf(stderr, "solocron run: --log-format: expected text, json or journal, got "
                        "'%s'\n", s);
                return -1;
        }
        *ret = f;
        return 0;
}

typedef struct RunArgs {
        DaemonOptions opts;
        const char *config;
        LogFormat format;
        int level;
} RunArgs;

/* Options into *a; returns -1 to go on, else the exit status (help, a bad option). */
static int run_parse_args(int argc, char **argv, RunArgs *a) {
        enum { ARG_STATE_DIR = 0x100, ARG_PID_FILE, ARG_LOG_FORMAT, ARG_LOG_LEVEL, ARG_RELOAD_KILLS,
               ARG_RELOAD_ON_HUP, ARG_SUBREAPER };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "pid-file", required_argument, NULL, ARG_PID_FILE },
                { "log-format", required_argument, NULL, ARG_LOG_FORMAT },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                { "reload-kills-removed", no_argument, NULL, ARG_RELOAD_KILLS },
                { "reload-on-hup", no_argument, NULL, ARG_RELOAD_ON_HUP },
                { "subreaper", no_argument, NULL, ARG_SUBREAPER },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        int o;

        while ((o = getopt_long(argc, argv, "+c:h", options, NULL)) >= 0)
                switch (o) {
                case 'c':
                        a->config = optarg;
                        break;
                case ARG_STATE_DIR:
                        a->opts.state_dir = optarg;
                        break;
                case ARG_PID_FILE:
                        a->opts.pid_file = optarg;
                        break;
                case ARG_LOG_FORMAT:
                        if (parse_log_format(optarg, &a->format) < 0)
                                return EXIT_USAGE;
                        break;
                case ARG_LOG_LEVEL:
                        a->level = parse_log_level(optarg);
                        if (a->level < 0) {
                                fprintf(stderr, "solocron run: --log-level: expected error, warning, "
                                        "notice, info or debug, got '%s'\n", optarg);
                                return EXIT_USAGE;
                        }
                        break;
                case ARG_RELOAD_KILLS:
                        a->opts.reload_kills_removed = true;
                        break;
                case ARG_RELOAD_ON_HUP:
                        a->opts.reload_on_hup = true;
                        break;
                case ARG_SUBREAPER:
                        break;          /* the default now; accepted for old command lines */
                case 'h':
                        printf("Usage: solocron run [-c FILE] [--state-dir DIR] [--pid-file FILE]\n"
                               "                    [--log-format text|json|journal] [--log-level LEVEL]\n"
                               "                    [--reload-kills-removed]\n"
                               "                    [--reload-on-hup] [-- MAIN-COMMAND [ARG...]]\n"
                               "Run the daemon in the foreground, and the main process after --\n"
                               "(e.g. gunicorn) beside the jobs. See solocron(8).\n");
                        return EXIT_OK;
                default:
                        return EXIT_USAGE;
                }
        if (optind < argc) {
                if (strcmp(argv[optind - 1], "--") != 0) {
                        fprintf(stderr, "solocron run: unexpected argument '%s' (put the main "
                                "process after --: solocron run -- gunicorn app:app)\n", argv[optind]);
                        return EXIT_USAGE;
                }
                a->opts.main_argv = argv + optind;
        }
        return -1;
}

int cli_run(int argc, char **argv) {
        /* The log format: journal when stderr is systemd's journal stream, else
         * $SOLOCRON_LOG_FORMAT, else text; --log-format wins. */
        RunArgs a = { .opts = { .state_dir = DEFAULT_STATE_DIR }, .format = log_format_auto(),
                      .level = LOG_INFO };
        _cleanup_free_ char *default_pid_file = NULL;
        const char *env = getenv("SOLOCRON_LOG_FORMAT");
        int r;

        if (env && *env && log_format_from_string(env) >= 0)
                a.format = log_format_from_string(env);
        r = run_parse_args(argc, argv, &a);
        if (r >= 0)
                return r;
        if (!a.opts.pid_file) {
                default_pid_file = pidfile_default();
                a.opts.pid_file = default_pid_file;
        }
        a.opts.config_path = cli_config_path(a.config);
        log_setup(a.format, STDERR_FILENO, a.level);
        return daemon_run(&a.opts);
}

int cli_reload(int argc, char **argv) {
        static const struct option options[] = {
                { "pid-file", required_argument, NULL, 'p' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        _cleanup_free_ char *default_pid_file = NULL;
        const char *path = NULL;
        pid_t pid;
        int o, r;

        while ((o = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (o) {
                case 'p':
                        path = optarg;
                        break;
                case 'h':
                        printf("Usage: solocron reload [--pid-file FILE]\n"
                               "Tell the running daemon to re-read its table (SIGHUP).\n");
                        return EXIT_OK;
                default:
                        return EXIT_USAGE;
                }
        if (!path) {
                default_pid_file = pidfile_default();
                path = default_pid_file;
        }
        if (!path)
                return EXIT_FAILURE_RUNTIME;
        r = pidfile_read(path, &pid);
        if (r < 0) {
                fprintf(stderr, "solocron reload: %s: %s\n", path,
                        r == -ENOENT   ? "no pid file; is solocron running? (see --pid-file)"
                        : r == -ESRCH  ? "stale pid file: no solocron runs with that pid"
                                       : "not a pid file");
                return EXIT_FAILURE_RUNTIME;
        }
        if (kill(pid, SIGHUP) < 0) {
                fprintf(stderr, "solocron reload: cannot signal pid %d: %s\n", (int) pid, strerror(errno));
                return EXIT_FAILURE_RUNTIME;
        }
        printf("sent SIGHUP to solocron (pid %d)\n", (int) pid);
        return EXIT_OK;
}
