/* SPDX-License-Identifier: MIT */
/* jansson, loaded the first time JSON is needed: a state file or lease record to read or
 * write, the API, a fleet backend, a notification. A daemon that has needed none yet (the
 * local lease, no job run, no state file, no API) does not map it: 56 KiB of resident file
 * pages, 8 KiB of relocated data and its share of the dynamic loader's start-up
 * (bench/profile-per-host-cost.md).
 *
 * The functions below carry jansson's own names and signatures: <jansson.h> declares them,
 * so the compiler checks each against the library's, and the rest of the daemon includes
 * <jansson.h> and calls them as usual. The binary does not link libjansson (meson.build:
 * jansson_dep is this file); a jansson function that is not wrapped here fails the link.
 * Each one loads the library on its first call (any thread: pthread_once) and forwards to
 * the library's own. Without the library (not installed), each answers as jansson answers
 * a failed allocation (NULL, -1, 0), the parse functions say why in their error, and the
 * first call says it on standard error. */
#include <dlfcn.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#include "elfnote.h"
#include "jsonlib.h"
#include "testhook.h"

#define JANSSON_SONAME "libjansson.so.4"
DLIB_ELF_NOTE(jansson, "state file, lease records, API, fleet backends, notifications",
              "required", JANSSON_SONAME);

/* X(return type, name, parameters, arguments, what a failed load returns) */
#define JANSSON_FUNCS(X)                                                                   \
        X(json_t *, json_object, (void), (), NULL)                                         \
        X(json_t *, json_array, (void), (), NULL)                                          \
        X(json_t *, json_string, (const char *v), (v), NULL)                               \
        X(json_t *, json_integer, (json_int_t v), (v), NULL)                               \
        X(json_t *, json_real, (double v), (v), NULL)                                      \
        X(json_t *, json_true, (void), (), NULL)                                           \
        X(json_t *, json_null, (void), (), NULL)                                           \
        X(json_t *, json_object_get, (const json_t *o, const char *k), (o, k), NULL)       \
        X(int, json_object_set_new, (json_t *o, const char *k, json_t *v), (o, k, v), -1)  \
        X(int, json_object_del, (json_t *o, const char *k), (o, k), -1)                    \
        X(size_t, json_array_size, (const json_t *a), (a), 0)                              \
        X(json_t *, json_array_get, (const json_t *a, size_t i), (a, i), NULL)             \
        X(int, json_array_append_new, (json_t *a, json_t *v), (a, v), -1)                  \
        X(int, json_array_remove, (json_t *a, size_t i), (a, i), -1)                       \
        X(int, json_array_extend, (json_t *a, json_t *other), (a, other), -1)              \
        X(const char *, json_string_value, (const json_t *s), (s), NULL)                   \
        X(json_int_t, json_integer_value, (const json_t *i), (i), 0)                       \
        X(double, json_real_value, (const json_t *r), (r), 0)                              \
        X(double, json_number_value, (const json_t *n), (n), 0)                            \
        X(int, json_string_set, (json_t *s, const char *v), (s, v), -1)                    \
        X(int, json_equal, (const json_t *a, const json_t *b), (a, b), 0)                  \
        X(json_t *, json_deep_copy, (const json_t *v), (v), NULL)                          \
        X(char *, json_dumps, (const json_t *j, size_t flags), (j, flags), NULL)

static struct {
#define POINTER(ret, name, params, args, failed) ret (*name) params;
        JANSSON_FUNCS(POINTER)
#undef POINTER
        void (*json_delete)(json_t *json);
        json_t *(*json_loads)(const char *input, size_t flags, json_error_t *error);
        json_t *(*json_loadb)(const char *buffer, size_t buflen, size_t flags,
                              json_error_t *error);
        json_t *(*json_load_file)(const char *path, size_t flags, json_error_t *error);
        json_t *(*json_vpack_ex)(json_error_t *error, size_t flags, const char *fmt,
                                 va_list ap);
        int (*json_vunpack_ex)(json_t *root, json_error_t *error, size_t flags,
                               const char *fmt, va_list ap);
} lib;

static bool loaded;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void load(void) {
        static const struct { const char *name; void **ptr; } syms[] = {
#define SYM(ret, name, params, args, failed) { #name, (void **) &lib.name },
                JANSSON_FUNCS(SYM)
#undef SYM
                { "json_delete", (void **) &lib.json_delete },
                { "json_loads", (void **) &lib.json_loads },
                { "json_loadb", (void **) &lib.json_loadb },
                { "json_load_file", (void **) &lib.json_load_file },
                { "json_vpack_ex", (void **) &lib.json_vpack_ex },
                { "json_vunpack_ex", (void **) &lib.json_vunpack_ex },
        };
        /* Test builds: another name, to play a machine without the library. */
        const char *soname = test_hook_getenv("SOLOCRON_TEST_JANSSON_SONAME") ?: JANSSON_SONAME;
        /* Never unloaded: the values it made outlive any caller. */
        void *dl = dlopen(soname, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
        const char *why;

        for (size_t i = 0; dl && i < sizeof(syms) / sizeof(syms[0]); i++)
                if (!(*syms[i].ptr = dlsym(dl, syms[i].name))) {
                        (void) fprintf(stderr, "solocron: %s lacks %s\n", soname,
                                       syms[i].name);
                        return;
                }
        if (dl) {
                loaded = true;
                return;
        }
        why = dlerror();
        (void) fprintf(stderr, "solocron: cannot load %s (Debian: apt-get install libjansson4): "
                       "%s\n", soname, why ? why : "unknown error");
}

static bool ready(void) {
        (void) pthread_once(&load_once, load);
        return loaded;
}

int jsonlib_load(void) {
        return ready() ? 0 : -ELIBACC;
}

/* The parse functions' answer without the library. */
static json_t *not_loaded(json_error_t *error) {
        if (error)
                *error = (json_error_t) { .line = -1, .column = -1, .position = 0,
                                          .text = "cannot load " JANSSON_SONAME };
        return NULL;
}

#define WRAPPER(ret, name, params, args, failed)                                            \
        ret name params {                                                                  \
                return ready() ? lib.name args : failed;                                   \
        }
JANSSON_FUNCS(WRAPPER)
#undef WRAPPER

void json_delete(json_t *json) {
        if (ready())
                lib.json_delete(json);
}

json_t *json_loads(const char *input, size_t flags, json_error_t *error) {
        return ready() ? lib.json_loads(input, flags, error) : not_loaded(error);
}

json_t *json_loadb(const char *buffer, size_t buflen, size_t flags, json_error_t *error) {
        return ready() ? lib.json_loadb(buffer, buflen, flags, error) : not_loaded(error);
}

json_t *json_load_file(const char *path, size_t flags, json_error_t *error) {
        return ready() ? lib.json_load_file(path, flags, error) : not_loaded(error);
}

json_t *json_pack(const char *fmt, ...) {
        json_t *v;
        va_list ap;

        if (!ready())
                return NULL;
        va_start(ap, fmt);
        v = lib.json_vpack_ex(NULL, 0, fmt, ap);
        va_end(ap);
        return v;
}

int json_unpack(json_t *root, const char *fmt, ...) {
        va_list ap;
        int r;

        if (!ready())
                return -1;
        va_start(ap, fmt);
        r = lib.json_vunpack_ex(root, NULL, 0, fmt, ap);
        va_end(ap);
        return r;
}
