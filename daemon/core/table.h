/* SPDX-License-Identifier: MIT */
#pragma once

/* A loaded Config shared by the daemon, its jobs and every run started under it: a reload
 * makes a new Table, and jobs and runs keep the old one alive until they let it go. */

#include "config.h"

typedef struct Table {
        Config *config;         /* owned */
        unsigned n_ref;
} Table;

Table *table_new(Config *c);
Table *table_ref(Table *t);
Table *table_unref(Table *t);
#define TABLE_CACHE_DIR "cache"
/* Load the table at path, logging every diagnostic; NULL when it is invalid. libyaml's
 * events of each file are kept in STATE_DIR/cache (TABLE_CACHE_DIR), so that a restart or
 * a reload reads an unchanged file without parsing it again; state_dir NULL: not kept. */
Table *table_load(const char *path, const char *state_dir);
