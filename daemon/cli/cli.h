/* SPDX-License-Identifier: MIT */
#pragma once

/* Commands that read the table and print, without the event loop: check and next. */

#include "config.h"

/* Exit codes, documented in solocron(8). */
enum {
        EXIT_OK = 0,
        EXIT_FAILURE_RUNTIME = 1, /* could not do what was asked (I/O, no such job, …) */
        EXIT_BAD_CONFIG = 2,      /* the job table is invalid or unreadable */
        EXIT_STORE_DOWN = 3,      /* check --store: the lease store did not answer */
        EXIT_USAGE = 64,          /* bad command line (EX_USAGE) */
};

/* The wall clock, whole seconds (clock_gettime(): time() can name the second before). */
int64_t cli_now_sec(void);

/* The table's path: the -c argument if given, then $SOLOCRON_CONFIG, then the default. */
const char *cli_config_path(const char *arg);

/* Loads the table at path, printing every diagnostic to stderr as FILE:LINE:COL: …
 * The zone for jobs and defaults that name none comes from $CRON_TZ, then $TZ, else UTC.
 * Returns 0 and *ret, or a negative errno (diagnostics already printed). */
int cli_load_config(const char *path, Config **ret);

/* "2026-11-24T01:00:00-05:00 EST" for instant t in zone tz. */
#define CLI_LOCAL_TIME_MAX 64
const char *cli_format_local(const Tz *tz, int64_t t, char buf[static CLI_LOCAL_TIME_MAX]);

int cli_check(int argc, char **argv);
/* check --store: probe c's lease store (cli_store.c); an exit code. */
int cli_check_store(const Config *c, bool quiet);
int cli_init_store(int argc, char **argv);
int cli_next(int argc, char **argv);
int cli_run(int argc, char **argv);
int cli_reload(int argc, char **argv);
int cli_status(int argc, char **argv);
int cli_run_now(int argc, char **argv);
int cli_pause(int argc, char **argv);
int cli_resume(int argc, char **argv);
int cli_history(int argc, char **argv);
int cli_import_crontab(int argc, char **argv);
