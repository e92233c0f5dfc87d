/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "parse.h"

/* Typed reads of scalar values. YAML typing is by text: a value is read as whatever the key
 * needs (so `attempts: "3"`, `attempts: 3` and `attempts: ${N:-3}` are all the integer 3),
 * except that a plain empty value, "~" or "null" is null and never a string.
 * Every message names the key: "'KEY' must be EXPECTED, not FOUND". */

#define DURATION_EXAMPLES "(e.g. 30s, 5m, 1h30m)"

bool config_node_is_string(const Node *n) {
        return n && n->kind == NODE_SCALAR && !n->is_null;
}

int config_type_error(const Scope *s, const Node *n, const char *key, const char *expected) {
        char buf[64];

        if (!n->invalid)
                config_error(s, n, "'%s' must be %s, not %s", key, expected,
                             config_node_describe(n, buf, sizeof(buf)));
        return -EINVAL;
}

/* A non-null scalar, else a type error naming `expected`. */
static int need_scalar(const Scope *s, const Node *n, const char *key, const char *expected) {
        if (n->invalid)
                return -EINVAL;
        if (!config_node_is_string(n))
                return config_type_error(s, n, key, expected);
        return 0;
}

int config_get_string(const Scope *s, const Node *n, const char *key, const char **ret) {
        int r;

        r = need_scalar(s, n, key, "a string");
        if (r < 0)
                return r;
        *ret = n->value;
        return 0;
}

void config_set_nonempty_string(const Scope *s, const Node *n, const char *key, char **ret) {
        const char *t;

        if (config_get_string(s, n, key, &t) < 0)
                return;
        if (!*t) {
                config_error(s, n, "'%s' must not be empty", key);
                return;
        }
        free(*ret);
        *ret = strdup(t);
        if (!*ret)
                s->ctx->oom = true;
}

int config_get_bool(const Scope *s, const Node *n, const char *key, bool *ret) {
        /* YAML 1.2 core schema only: yes/no/on/off are YAML 1.1 and a classic trap. */
        static const char *const yes[] = { "true", "True", "TRUE" };
        static const char *const no[] = { "false", "False", "FALSE" };
        int r;

        r = need_scalar(s, n, key, "true or false");
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcmp(n->value, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
                if (strcmp(n->value, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        }
        return config_type_error(s, n, key, "true or false");
}

int config_get_int(const Scope *s, const Node *n, const char *key, int min, int max, int *ret) {
        int r;

        r = need_scalar(s, n, key, "an integer");
        if (r < 0)
                return r;
        r = parse_int(n->value, min, max, ret);
        if (r == -ERANGE) {
                config_error(s, n, "'%s' must be between %d and %d, not %s", key, min, max,
                             n->value);
                return -EINVAL;
        }
        if (r < 0)
                return config_type_error(s, n, key, "an integer");
        return 0;
}

int config_get_duration(const Scope *s, const Node *n, const char *key, bool allow_none,
                        usec_t *ret) {
        const char *expected = allow_none ? "a duration " DURATION_EXAMPLES " or 'none'"
                                          : "a duration " DURATION_EXAMPLES;
        int r;

        r = need_scalar(s, n, key, expected);
        if (r < 0)
                return r;
        if (allow_none && strcmp(n->value, "none") == 0) {
                *ret = USEC_INFINITY;
                return 0;
        }
        r = parse_duration(n->value, ret);
        if (r == -ERANGE) {
                config_error(s, n, "'%s' is too long: '%s'", key, n->value);
                return -EINVAL;
        }
        if (r < 0)
                return config_type_error(s, n, key, expected);
        return 0;
}

/* "a, b, c or d" */
static void format_choices(const char *const *names, size_t n, char *buf, size_t size) {
        size_t o = 0;

        buf[0] = 0;
        for (size_t i = 0; i < n && o < size; i++) {
                const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
                int k = snprintf(buf + o, size - o, "%s%s", sep, names[i]);

                if (k < 0)
                        break;
                o += (size_t) k;
        }
}

int config_get_enum(const Scope *s, const Node *n, const char *key, const char *what,
                    const char *const *names, size_t n_names, int *ret) {
        char choices[128], expected[160], hint[96];
        int r;

        format_choices(names, n_names, choices, sizeof(choices));
        (void) snprintf(expected, sizeof(expected), "one of %s", choices);
        r = need_scalar(s, n, key, expected);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_names; i++)
                if (strcmp(n->value, names[i]) == 0) {
                        *ret = (int) i;
                        return 0;
                }
        config_error(s, n, "unknown %s '%s'%s; expected %s", what, n->value,
                     config_suggest_hint(n->value, names, n_names, hint, sizeof(hint)),
                     choices);
        return -EINVAL;
}

int config_get_umask(const Scope *s, const Node *n, const char *key, int *ret) {
        static const char *const expected =
                "an octal number from 0000 to 0777 (e.g. \"0022\")";
        const char *p;
        int v = 0;
        int r;

        r = need_scalar(s, n, key, expected);
        if (r < 0)
                return r;
        /* Always octal, also when written as a YAML integer: `umask: 022` means 022. */
        p = n->value;
        if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O'))
                p += 2;
        if (!*p)
                return config_type_error(s, n, key, expected);
        for (; *p; p++) {
                if (*p < '0' || *p > '7')
                        return config_type_error(s, n, key, expected);
                v = v * 8 + (*p - '0');
                if (v > 0777)
                        return config_type_error(s, n, key, expected);
        }
        *ret = v;
        return 0;
}

void config_unknown_key(const Scope *s, const Node *key, const char *where,
                        const char *const *valid, size_t n_valid) {
        char hint[96];

        if (key->invalid)
                return;
        config_error(s, key, "unknown key '%s'%s%s%s%s", key->value,
                     where ? " in '" : "", where ? where : "", where ? "'" : "",
                     config_suggest_hint(key->value, valid, n_valid, hint, sizeof(hint)));
}

bool config_job_name_valid(const char *name) {
        size_t n = strlen(name);

        /* A name is a path segment in lease keys and files: '.' and '..' are not names. */
        if (n == 0 || n > CONFIG_MAX_JOB_NAME || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                return false;
        for (const char *p = name; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' || *p == '-'))
                        return false;
        return true;
}

const char *config_job_prefix(const Node *job, size_t index, char *buf, size_t size) {
        const Node *name = config_node_get(job, "name");

        if (config_node_is_string(name) && !name->invalid && config_job_name_valid(name->value))
                (void) snprintf(buf, size, "job '%s': ", name->value);
        else
                (void) snprintf(buf, size, "job #%zu: ", index + 1);
        return buf;
}

