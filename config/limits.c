/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "internal.h"
#include "parse.h"

/* limits: {NAME: VALUE | {soft: VALUE, hard: VALUE}, ...}
 *
 * A scalar sets soft = hard. Sizes are bytes with an optional K, M, G or T (powers of 1024),
 * counts (nofile, nproc) are plain numbers, cpu is whole seconds (a duration or a number);
 * "unlimited" (or "infinity") is RLIM_INFINITY everywhere. Resources are kept in the table's
 * order, which is also the order of JobConfig.limits. */

typedef enum LimitKind { LIMIT_SIZE, LIMIT_COUNT, LIMIT_CPU } LimitKind;

static const struct {
        const char *name;
        int resource;
        LimitKind kind;
} limit_table[CONFIG_N_LIMITS] = {
        { "as", RLIMIT_AS, LIMIT_SIZE },
        { "core", RLIMIT_CORE, LIMIT_SIZE },
        { "cpu", RLIMIT_CPU, LIMIT_CPU },
        { "data", RLIMIT_DATA, LIMIT_SIZE },
        { "fsize", RLIMIT_FSIZE, LIMIT_SIZE },
        { "memlock", RLIMIT_MEMLOCK, LIMIT_SIZE },
        { "nofile", RLIMIT_NOFILE, LIMIT_COUNT },
        { "nproc", RLIMIT_NPROC, LIMIT_COUNT },
        { "stack", RLIMIT_STACK, LIMIT_SIZE },
};

#define FAIL(j, r) ((r) < 0 ? ((j)->failed = true, true) : false)

static int limit_value(const Scope *s, const Node *n, const char *key, bool is_cpu,
                       bool is_count, uint64_t *ret) {
        const char *expected =
                is_cpu ? "whole seconds (e.g. 10m, 3600) or 'unlimited'" :
                is_count ? "a number or 'unlimited'" :
                "a size in bytes, optionally with K, M, G or T, or 'unlimited'";
        uint64_t v, mult = 1;
        size_t len;
        int r;

        if (n->invalid)
                return -EINVAL;
        if (!config_node_is_string(n))
                return config_type_error(s, n, key, expected);
        if (strcmp(n->value, "unlimited") == 0 || strcmp(n->value, "infinity") == 0) {
                *ret = RLIM_INFINITY;
                return 0;
        }
        len = n->length;
        if (is_cpu && parse_uint64(n->value, RLIM_INFINITY - 1, &v) < 0) {
                usec_t u;

                if (parse_duration(n->value, &u) < 0 || u % USEC_PER_SEC != 0)
                        return config_type_error(s, n, key, expected);
                *ret = u / USEC_PER_SEC;
                return 0;
        }
        if (is_cpu) {
                *ret = v;
                return 0;
        }
        if (!is_count && len > 1) {
                const char *units = "KMGT";
                const char *u = strchr(units, n->value[len - 1]);

                if (u) {
                        mult = UINT64_C(1) << (10 * (u - units + 1));
                        len--;
                }
        }
        char digits[32];

        if (len == 0 || len >= sizeof(digits))
                return config_type_error(s, n, key, expected);
        memcpy(digits, n->value, len);
        digits[len] = 0;
        r = parse_uint64(digits, UINT64_MAX, &v);
        if (r == -EINVAL)
                return config_type_error(s, n, key, expected);
        if (r < 0 || v > (RLIM_INFINITY - 1) / mult) {
                config_error(s, n, "'%s' is too large: '%s'", key, n->value);
                return -EINVAL;
        }
        *ret = v * mult;
        return 0;
}

static void spec_limit(const Scope *s, const Node *v, size_t idx, JobSpec *j) {
        LimitKind kind = limit_table[idx].kind;
        char key[64], sub[80];
        uint64_t soft, hard;
        int r;

        (void) snprintf(key, sizeof(key), "limits.%s", limit_table[idx].name);
        if (v->invalid) {
                j->failed = true;
                return;
        }
        if (v->kind == NODE_MAPPING) {
                static const char *const sh[] = { "soft", "hard" };
                const Node *ns = NULL, *nh = NULL;
                bool bad = false;

                for (size_t i = 0; i + 1 < v->n_items; i += 2) {
                        const Node *k = v->items[i];

                        if (k->invalid)
                                continue;
                        if (strcmp(k->value, "soft") == 0)
                                ns = v->items[i + 1];
                        else if (strcmp(k->value, "hard") == 0)
                                nh = v->items[i + 1];
                        else {
                                config_unknown_key(s, k, key, sh, ELEMENTSOF(sh));
                                bad = true;
                        }
                }
                if (!ns || !nh) {
                        config_error(s, v, "'%s' needs both 'soft' and 'hard'", key);
                        j->failed = true;
                        return;
                }
                (void) snprintf(sub, sizeof(sub), "%s.soft", key);
                r = limit_value(s, ns, sub, kind == LIMIT_CPU, kind == LIMIT_COUNT, &soft);
                bad = bad || r < 0;
                (void) snprintf(sub, sizeof(sub), "%s.hard", key);
                r = limit_value(s, nh, sub, kind == LIMIT_CPU, kind == LIMIT_COUNT, &hard);
                bad = bad || r < 0;
                if (bad) {
                        j->failed = true;
                        return;
                }
                if (soft > hard) {
                        config_error(s, ns, "'%s': the soft limit is above the hard limit", key);
                        j->failed = true;
                        return;
                }
        } else {
                r = limit_value(s, v, key, kind == LIMIT_CPU, kind == LIMIT_COUNT, &soft);
                if (FAIL(j, r))
                        return;
                hard = soft;
        }
        j->limits[idx] = (JobLimit) {
                .resource = limit_table[idx].resource,
                .soft = soft,
                .hard = hard,
        };
        j->limits_set |= UINT32_C(1) << idx;
}

void config_spec_limits(const Scope *s, const Node *v, JobSpec *j) {
        const char *names[CONFIG_N_LIMITS];

        if (v->invalid || v->is_null)
                return;
        if (v->kind != NODE_MAPPING) {
                (void) config_type_error(s, v, "limits", "a mapping");
                j->failed = true;
                return;
        }
        for (size_t i = 0; i < CONFIG_N_LIMITS; i++)
                names[i] = limit_table[i].name;
        for (size_t i = 0; i + 1 < v->n_items; i += 2) {
                const Node *k = v->items[i];
                size_t idx;

                if (k->invalid)
                        continue;
                for (idx = 0; idx < CONFIG_N_LIMITS; idx++)
                        if (strcmp(k->value, limit_table[idx].name) == 0)
                                break;
                if (idx == CONFIG_N_LIMITS) {
                        config_unknown_key(s, k, "limits", names, CONFIG_N_LIMITS);
                        j->failed = true;
                        continue;
                }
                spec_limit(s, v->items[i + 1], idx, j);
        }
}
