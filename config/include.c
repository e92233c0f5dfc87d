/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

/* include: PATTERN | [PATTERN, ...]
 *
 * Each pattern is relative to the directory of the file that names it (absolute patterns are
 * taken as they are). A pattern with glob characters (* ? [) may match nothing (its
 * directory may even be missing), but a directory on its way that cannot be read is an error:
 * its jobs would be lost without a word (on reload the old table is kept). A literal path
 * must exist. Files are read once: one reached again by another pattern is skipped, one
 * that is still being read (an ancestor) is a loop and an error. Included files may contain
 * `jobs:` and `include:` only (validate.c), nest at most CONFIG_MAX_INCLUDE_DEPTH deep, and
 * number at most CONFIG_MAX_INCLUDES. Glob matches are read in strcmp() order, depth first,
 * so the job order does not depend on the locale or the directory's order on disk. */

static bool has_glob_chars(const char *s) {
        return strpbrk(s, "*?[") != NULL;
}

/* dirname(base) + "/" + pattern, the directory part escaped for glob() when asked. */
static char *include_join(const char *base, const char *pattern, bool escape) {
        const char *slash = strrchr(base, '/');
        size_t dir_len, o = 0;
        char *p;

        if (pattern[0] == '/' || !slash)
                return strdup(pattern);
        dir_len = (size_t) (slash - base);
        p = malloc(dir_len * 2 + strlen(pattern) + 3);
        if (!p)
                return NULL;
        if (dir_len == 0)
                p[o++] = '/';   /* base is "/x.yaml" */
        for (size_t i = 0; i < dir_len; i++) {
                if (escape && strchr("*?[\\", base[i]))
                        p[o++] = '\\';
                p[o++] = base[i];
        }
        if (dir_len > 0)
                p[o++] = '/';
        memcpy(p + o, pattern, strlen(pattern) + 1);
        return p;
}

static void include_one(ConfigCtx *ctx, ConfigFile *f, const Scope *s, const Node *from,
                        const char *path, bool from_glob) {
        ConfigFile *nf;
        struct stat st;
        int r;

        if (stat(path, &st) < 0) {
                if (!from_glob) /* reported with the reason by config_file_load() */
                        (void) config_file_load(ctx, path, f, s, from, &r);
                return;
        }
        if (from_glob && !S_ISREG(st.st_mode))
                return;         /* a pattern may well match a subdirectory */

        for (const ConfigFile *a = f; a; a = a->parent)
                if (a->dev == st.st_dev && a->ino == st.st_ino) {
                        config_error(s, from, "include loop: '%s' is already being read", path);
                        return;
                }
        for (size_t i = 0; i < ctx->n_files; i++)
                if (ctx->files[i]->dev == st.st_dev && ctx->files[i]->ino == st.st_ino)
                        return;         /* read once */

        if (f->depth + 1 > CONFIG_MAX_INCLUDE_DEPTH) {
                config_error(s, from, "includes are nested too deeply (more than %u levels)",
                             CONFIG_MAX_INCLUDE_DEPTH);
                return;
        }
        if (ctx->n_files > CONFIG_MAX_INCLUDES) {
                if (!ctx->too_many_includes)
                        config_error(s, from, "too many included files (more than %u)",
                                     CONFIG_MAX_INCLUDES);
                ctx->too_many_includes = true;
                return;
        }

        nf = config_file_load(ctx, path, f, s, from, &r);
        if (!nf || !nf->parsed)
                return;
        config_expand_file(ctx, nf);
        config_include_process(ctx, nf);
}

/* glob()'s error callback takes no userdata: the first directory it could not read is noted
 * here, for the one glob() call in progress on this thread. */
static _Thread_local struct {
        char path[256];
        int error;
} glob_failure;

static int include_on_glob_error(const char *path, int error) {
        /* A directory that does not exist is an empty conf.d; one that cannot be read would
         * silently drop its jobs. */
        if (error != ENOENT && error != ENOTDIR && !glob_failure.error) {
                glob_failure.error = error;
                (void) snprintf(glob_failure.path, sizeof(glob_failure.path), "%s", path);
        }
        return 0;               /* go on: report every match that can be read too */
}

static int compare_strings(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static void include_pattern(ConfigCtx *ctx, ConfigFile *f, const Scope *s, const Node *n,
                            const char *key) {
        _cleanup_free_ char *path = NULL;
        const char *pattern;
        glob_t g = {};
        int r;

        if (config_get_string(s, n, key, &pattern) < 0)
                return;
        if (!*pattern) {
                config_error(s, n, "'%s' must not be empty", key);
                return;
        }
        if (!has_glob_chars(pattern)) {
                path = include_join(f->path, pattern, false);
                if (!path) {
                        ctx->oom = true;
                        return;
                }
                include_one(ctx, f, s, n, path, false);
                return;
        }

        path = include_join(f->path, pattern, true);
        if (!path) {
                ctx->oom = true;
                return;
        }
        glob_failure.error = 0;
        r = glob(path, GLOB_NOSORT, include_on_glob_error, &g);
        if (r == GLOB_NOSPACE) {
                ctx->oom = true;
                return;
        }
        if (glob_failure.error) {
                config_error(s, n, "cannot read directory '%s' for '%s': %s", glob_failure.path,
                             pattern, strerror(glob_failure.error));
                globfree(&g);
                return;
        }
        if (r != 0)             /* GLOB_NOMATCH: fine, an empty conf.d */
                return;
        qsort(g.gl_pathv, g.gl_pathc, sizeof(char *), compare_strings);
        for (size_t i = 0; i < g.gl_pathc; i++)
                include_one(ctx, f, s, n, g.gl_pathv[i], true);
        globfree(&g);
}

void config_include_process(ConfigCtx *ctx, ConfigFile *f) {
        Scope s = { .ctx = ctx, .file = f, .prefix = "" };
        const Node *inc;

        inc = config_node_get(f->root, "include");
        if (!inc || inc->is_null || inc->invalid)
                return;
        if (inc->kind == NODE_SCALAR) {
                include_pattern(ctx, f, &s, inc, "include");
                return;
        }
        if (inc->kind != NODE_SEQUENCE) {
                (void) config_type_error(&s, inc, "include", "a string or a sequence of strings");
                return;
        }
        for (size_t i = 0; i < inc->n_items; i++) {
                char key[32];

                (void) snprintf(key, sizeof(key), "include[%zu]", i);
                include_pattern(ctx, f, &s, inc->items[i], key);
        }
}
