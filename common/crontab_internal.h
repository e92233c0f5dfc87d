/* SPDX-License-Identifier: MIT */
#pragma once

/* What crontab.c (reading the crontab) hands crontab_table.c (writing the job table). */

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "crontab.h"

typedef enum ItemKind {
        ITEM_BLANK,
        ITEM_COMMENT,           /* text: after the '#' */
        ITEM_VARIABLE,          /* text: "NAME=value" as written; note: what became of it */
        ITEM_JOB,
        ITEM_BAD,               /* text: the line; note: why */
} ItemKind;

typedef struct Item {
        ItemKind kind;
        unsigned line;
        char *text;
        const char *note;       /* ITEM_VARIABLE: static */
        char *why;              /* ITEM_BAD */
        /* ITEM_JOB: */
        char *schedule, *command, *user, *name;
        const char *shell;      /* borrowed from vars: NULL or "/bin/sh" runs the string */
        const char *zone;       /* borrowed from vars or the options */
        size_t n_vars;          /* the variables in effect: vars[0..n_vars) */
} Item;

typedef struct Var {
        char *name, *value;
} Var;

typedef struct Conv {
        const CrontabOptions *o;
        Item *items;
        size_t n_items, allocated, n_jobs;
        Var *vars;
        size_t n_vars;
        char **problems;
        size_t n_problems;
        bool oom;
} Conv;

/* Valid UTF-8 without NUL bytes (what the YAML loader accepts). */
bool crontab_utf8_valid(const char *s, size_t n);
/* The value of variable `name` among c->vars[0..n_vars), or NULL. */
const char *crontab_var_get(const Conv *c, size_t n_vars, const char *name);
/* CRON_TZ, MAILTO, MAILFROM: variables that are not the commands' environment. */
bool crontab_var_special(const char *name);
/* crontab_fields.c: the five fields f[i][0..len[i]) → a solocron schedule (*ret, owned).
 * Returns 0; -EINVAL with the reason in why[]; -ENOMEM. */
int crontab_convert_fields(const char *const f[5], const size_t len[5], char **ret,
                           char why[static 128]);
/* crontab_name.c: a job name from a command ("run-parts-cron.hourly"); NULL when out of
 * memory. */
char *crontab_name_from_command(const char *cmd);
/* crontab_name.c: names that came out alike made unique. -ENOMEM or 0. */
int crontab_unique_names(Conv *c);
/* crontab_table.c: the table, from the header to the last line. */
void crontab_put_table(Conv *c, FILE *out);
