/* SPDX-License-Identifier: MIT */
/* The environment a job is started with: the daemon's own (without the service manager's
 * variables), then the job's user's HOME, USER and LOGNAME, the job's env: and the
 * caller's extra variables; a later entry of a name replaces an earlier one. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "spawner.h"
#include "strv.h"

extern char **environ;

/* The service manager's variables are ours, not the jobs': a job must not ping our watchdog
 * or tell systemd we are ready. (JOURNAL_STREAM stays: its inode check keeps it honest.) */
static bool env_is_private(const char *kv) {
#define PRIVATE(s) { s, sizeof(s) - 1 }
        static const struct { const char *s; size_t len; } private[] = {
                PRIVATE("NOTIFY_SOCKET="), PRIVATE("WATCHDOG_USEC="), PRIVATE("WATCHDOG_PID="),
        };
#undef PRIVATE

        for (size_t i = 0; i < sizeof(private) / sizeof(private[0]); i++)
                if (strncmp(kv, private[i].s, private[i].len) == 0)
                        return true;
        return false;
}

/* FNV-1a of the "KEY" of "KEY=VALUE" (len bytes). */
static uint32_t env_key_hash(const char *kv, size_t len) {
        uint32_t h = 2166136261u;

        for (size_t i = 0; i < len; i++)
                h = (h ^ (unsigned char) kv[i]) * 16777619u;
        return h;
}

/* "KEY=VALUE" has one of the names in l? */
static bool env_key_in(const char *kv, char *const *l) {
        size_t len = strcspn(kv, "=");

        for (; l && *l; l++)
                if (strncmp(*l, kv, len) == 0 && (*l)[len] == 0)
                        return true;
        return false;
}

/* An entry of a list being deduplicated: the variable, its name's length and hash. */
typedef struct EnvVar {
        const char *kv;
        size_t len;
        uint32_t hash;
} EnvVar;

static EnvVar env_var(const char *kv) {
        size_t len = strcspn(kv, "=");

        return (EnvVar) { kv, len, env_key_hash(kv, len) };
}

/* The same name: "FOO" (no '=') is not "FOO=…"'s, as before. */
static bool env_same_key(const EnvVar *a, const EnvVar *b) {
        return a->hash == b->hash && a->len == b->len && a->kv[a->len] == b->kv[b->len] &&
               memcmp(a->kv, b->kv, a->len) == 0;
}

/* A set of names, open addressing over a power of two of slots (kv NULL: empty), at most
 * half full. The entries are copies: a list compacted after it filled the set leaves it
 * valid. */
typedef struct EnvSet {
        EnvVar *slot;
        size_t mask;
} EnvSet;

/* An empty set for up to n names: in stack (stack_slots of them, a power of two) when it
 * fits, else in *ret_heap, which the caller frees. */
static int env_set_init(EnvSet *s, EnvVar *stack, size_t stack_slots, size_t n,
                        EnvVar **ret_heap) {
        size_t slots = 16;

        while (slots < 2 * n)
                slots *= 2;
        s->mask = slots - 1;
        if (slots <= stack_slots) {
                memset(stack, 0, slots * sizeof(EnvVar));
                s->slot = stack;
                return 0;
        }
        s->slot = *ret_heap = calloc(slots, sizeof(EnvVar));
        return s->slot ? 0 : -ENOMEM;
}

/* v's slot in s: the one holding its name, or the empty one where it would go. */
static EnvVar *env_set_find(const EnvSet *s, const EnvVar *v) {
        size_t i = v->hash & s->mask;

        while (s->slot[i].kv && !env_same_key(&s->slot[i], v))
                i = (i + 1) & s->mask;
        return &s->slot[i];
}

/* Keeps the last entry of each name in l[0..n) (later entries replace earlier ones), in
 * order, and returns how many; seen (empty, room for n) ends up holding those names. One
 * pass from the end: no quadratic string compares. */
static size_t env_dedup(EnvVar *l, size_t n, EnvSet *seen) {
        size_t k = 0;

        for (size_t i = n; i-- > 0;) {
                EnvVar *s = env_set_find(seen, &l[i]);

                if (s->kv)
                        l[i].kv = NULL;         /* replaced by a later entry */
                else
                        *s = l[i];
        }
        for (size_t i = 0; i < n; i++)
                if (l[i].kv)
                        l[k++] = l[i];
        return k;
}

/* The daemon's environment, without the service manager's variables, deduplicated, with
 * each name's length and hash: made once (the daemon never changes its environment; made
 * again if something did), not per spawn. Used from the loop's thread only. */
static struct {
        char **raw;             /* a copy of environ's pointers when this was made */
        size_t n_raw;
        EnvVar *vars;
        size_t n;
} base;

static int env_base(void) {
        size_t n_raw = strv_length(environ), n = 0;
        _cleanup_free_ char **raw = NULL;
        _cleanup_free_ EnvVar *vars = NULL, *heap = NULL;
        EnvVar on_stack[256];
        EnvSet seen;

        if (base.raw && n_raw == base.n_raw &&
            (n_raw == 0 || memcmp(base.raw, environ, n_raw * sizeof(char *)) == 0))
                return 0;
        raw = malloc((n_raw + 1) * sizeof(char *));
        vars = malloc((n_raw + 1) * sizeof(EnvVar));
        if (!raw || !vars || env_set_init(&seen, on_stack, 256, n_raw, &heap) < 0)
                return -ENOMEM;
        if (n_raw > 0)
                memcpy(raw, environ, n_raw * sizeof(char *));
        for (size_t i = 0; i < n_raw; i++)
                if (!env_is_private(raw[i]))
                        vars[n++] = env_var(raw[i]);
        free(base.raw);
        free(base.vars);
        base.n = env_dedup(vars, n, &seen);
        base.n_raw = n_raw;
        base.raw = TAKE_PTR(raw);
        base.vars = TAKE_PTR(vars);
        return 0;
}

char *env_put(char **at, const char *key, const char *value) {
        char *var = *at;
        size_t k = strlen(key), v = strlen(value) + 1;

        memcpy(var, key, k);
        memcpy(var + k, value, v);
        *at = var + k + v;
        return var;
}

int spawn_build_env(const JobConfig *cfg, const SpawnCreds *creds, char *const *withheld,
                    char *const *extra, char ***ret) {
        /* The variables after the daemon's: a user's HOME, USER and LOGNAME (their strings
         * after the list, in the same allocation), env:, extra; few, deduplicated here. */
        size_t k = strv_length(cfg->env) + strv_length(extra) + 3, n_later = 0, n = 0, cap;
        size_t names = creds && creds->name ?       /* three NULs: the literal's and two */
                sizeof("HOME=USER=LOGNAME=") + 2 + strlen(creds->home) + 2 * strlen(creds->name) : 0;
        _cleanup_free_ EnvVar *later = NULL, *heap = NULL;
        EnvVar on_stack[64];
        EnvSet set;
        const char **all;
        char *at;
        int r;

        r = env_base();
        if (r < 0)
                return r;
        cap = base.n + k;
        later = malloc(k * sizeof(EnvVar));
        all = malloc((cap + 1) * sizeof(char *) + names);
        if (!later || !all || env_set_init(&set, on_stack, 64, k, &heap) < 0) {
                free(all);
                return -ENOMEM;
        }
        at = (char *) (all + cap + 1);
        if (names) {
                later[n_later++] = env_var(env_put(&at, "HOME=", creds->home));
                later[n_later++] = env_var(env_put(&at, "USER=", creds->name));
                later[n_later++] = env_var(env_put(&at, "LOGNAME=", creds->name));
        }
        for (char **e = cfg->env; e && *e; e++)
                later[n_later++] = env_var(*e);
        for (char *const *e = extra; e && *e; e++)
                later[n_later++] = env_var(*e);
        n_later = env_dedup(later, n_later, &set);
        /* The daemon's variables that no later entry replaces (set holds the later names),
         * then the later ones. */
        for (size_t i = 0; i < base.n; i++) {
                const EnvVar *v = &base.vars[i];

                if (env_set_find(&set, v)->kv)
                        continue;
                /* The daemon's secrets; a user: job has no env_keep (config/validate.c). */
                if (withheld && env_key_in(v->kv, withheld) && !env_key_in(v->kv, cfg->policy->env_keep))
                        continue;
                all[n++] = v->kv;
        }
        for (size_t i = 0; i < n_later; i++)
                all[n++] = later[i].kv;
        all[n] = NULL;
        *ret = (char **) all;
        return 0;
}

int spawn_main_env(char ***ret) {
        size_t n = 0;
        _cleanup_free_ const char **all = calloc(strv_length(environ) + 1, sizeof(char *));

        if (!all)
                return -ENOMEM;
        for (char **e = environ; e && *e; e++)
                if (!env_is_private(*e))
                        all[n++] = *e;
        *ret = strv_pack((char *const *) all);
        return *ret ? 0 : -ENOMEM;
}
