/* SPDX-License-Identifier: MIT */
/* libyaml, mapped only while a table is read: config_file_parse() loads it, and the daemon
 * lets it go once a load is over (config_yaml_release()), so the idle daemon does not carry
 * it (bench/: some 130 KiB of its resident set). A reload loads it again, which costs well
 * under a millisecond. Only the loop thread loads tables. */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "elfnote.h"
#include "internal.h"

#define YAML_SONAME "libyaml-0.so.2"
DLIB_ELF_NOTE(yaml, "reading the job table", "required", YAML_SONAME);

ConfigYaml config_yaml;
static void *yaml_dl;
static char *yaml_path;         /* the file loaded, and its stat then (config/yamlcache.c) */
static struct stat yaml_st;

int config_yaml_load(char **ret_error) {
        static const struct { const char *name; size_t offset; } syms[] = {
#define SYM(f) { "yaml_" #f, offsetof(ConfigYaml, f) }
                SYM(parser_initialize), SYM(parser_delete), SYM(parser_set_input_string),
                SYM(parser_parse), SYM(event_delete),
#undef SYM
        };
        const char *why;

        if (yaml_dl)
                return 0;
        yaml_dl = dlopen(YAML_SONAME, RTLD_NOW | RTLD_LOCAL);
        for (size_t i = 0; yaml_dl && i < sizeof(syms) / sizeof(syms[0]); i++) {
                void *f = dlsym(yaml_dl, syms[i].name);

                if (!f) {
                        config_yaml_release();
                        break;
                }
                *(void **) ((char *) &config_yaml + syms[i].offset) = f;
        }
        if (yaml_dl) {
                struct link_map *lm = NULL;

                /* Taken now, so that a cache names the libyaml that made its events. */
                if (dlinfo(yaml_dl, RTLD_DI_LINKMAP, &lm) == 0 && lm && lm->l_name &&
                    lm->l_name[0] == '/' && (yaml_path = strdup(lm->l_name)) &&
                    stat(yaml_path, &yaml_st) < 0) {
                        free(yaml_path);
                        yaml_path = NULL;
                }
                return 0;
        }
        why = dlerror();
        if (ret_error && asprintf(ret_error, "cannot load %s (Debian: apt-get install libyaml-0-2): %s",
                                  YAML_SONAME, why ? why : "a symbol is missing") < 0)
                *ret_error = NULL;
        return -EOPNOTSUPP;
}

int config_yaml_identity(const char **ret_path, const struct stat **ret_st) {
        if (!yaml_path)
                return -ENOENT;
        *ret_path = yaml_path;
        *ret_st = &yaml_st;
        return 0;
}

void config_yaml_release(void) {
        if (yaml_dl)
                (void) dlclose(yaml_dl);
        yaml_dl = NULL;
        free(yaml_path);
        yaml_path = NULL;
        config_yaml = (ConfigYaml) {};
}
