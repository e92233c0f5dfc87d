/* SPDX-License-Identifier: MIT */
/* Tables: shared, reference-counted Configs, and loading one with its diagnostics logged. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "strv.h"
#include "table.h"

/* --- tables ------------------------------------------------------------------------ */

Table *table_new(Config *c) {
        Table *t = calloc(1, sizeof(Table));

        if (!t)
                return NULL;
        t->config = c;
        t->n_ref = 1;
        return t;
}

Table *table_ref(Table *t) {
        t->n_ref++;
        return t;
}

Table *table_unref(Table *t) {
        if (t && --t->n_ref == 0) {
                config_free(t->config);
                free(t);
        }
        return NULL;
}

/* Load the table, logging every diagnostic. Returns NULL when it is invalid. */
Table *table_load(const char *path, const char *state_dir) {
        _cleanup_free_ char *cache_dir = NULL;
        ConfigLoadOptions opts = {};
        ConfigDiags diags = {};
        const char *tz = getenv("CRON_TZ");
        Config *c = NULL;
        Table *t = NULL;
        int r;

        if (!tz || !*tz)
                tz = getenv("TZ");
        if (tz && *tz)
                opts.default_tz = tz[0] == ':' ? tz + 1 : tz;
        if (state_dir && asprintf(&cache_dir, "%s/" TABLE_CACHE_DIR, state_dir) > 0)
                opts.cache_dir = cache_dir;
        r = config_load(path, &opts, &c, &diags);
        config_yaml_release();  /* until the next reload: the idle daemon does without it */
        for (size_t i = 0; i < diags.n; i++) {
                _cleanup_free_ char *line = config_diag_format(&diags.items[i]);

                log_event(diags.items[i].severity == CONFIG_ERROR ? LOG_ERR : LOG_WARNING,
                          "config_error", NULL, NULL, NULL, "%s", line ? line : "(out of memory)");
        }
        if (r < 0 && diags.n == 0)
                log_event(LOG_ERR, "config_error", NULL, NULL, NULL, "%s: cannot load: %s", path,
                          strerror(-r));
        config_diags_done(&diags);
        if (r < 0)
                return NULL;
        log_debug("table_loaded", NULL, NULL, "%s: %zu jobs; %zu of %zu files read from the cache",
                  path, c->n_jobs, c->n_files_cached, strv_length(c->files));
        t = table_new(c);
        if (!t)
                config_free(c);
        return t;
}
