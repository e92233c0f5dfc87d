/* SPDX-License-Identifier: MIT */
#pragma once

/* A crontab (crontab(5): the user format, or the system format of /etc/crontab and
 * /etc/cron.d with a user column) converted into a solocron job table, as YAML text. Pure:
 * no I/O beyond loading the zones that CRON_TZ/TZ name, no logging, no globals. The rules are
 * documented above crontab_convert() in crontab.c and in solocron(8), import-crontab. */

#include <stdbool.h>
#include <stddef.h>

typedef struct CrontabOptions {
        const char *source;     /* the file's name, for messages ("FILE:LINE: …") and the header */
        const char *zone;       /* the zone cron ran in: each job's timezone without CRON_TZ */
        const char *zone_origin; /* where that zone came from, for a comment ("--timezone") */
        bool user_column;       /* system format: a user name between the fields and the command */
        const char *tzdir;      /* zoneinfo directory for checking CRON_TZ/TZ; NULL: the default */
} CrontabOptions;

/* Converts the crontab text[0..n) (it need not end in a newline; a NUL byte in it is a
 * problem on its line). *ret_yaml (caller frees) is always the whole table: a line that
 * cannot be converted is kept in it as a comment "# NOT CONVERTED (…): LINE". Each such line
 * is also one entry of *ret_problems ("FILE:LINE: what is wrong", a strv the caller frees,
 * NULL when there is none). Returns 0, or -ENOMEM (then nothing is set). */
int crontab_convert(const char *text, size_t n, const CrontabOptions *o, char **ret_yaml,
                    char ***ret_problems);
