/* SPDX-License-Identifier: MIT */
/* The lease: section: which store elects one replica per firing, and how.
 *   lease:
 *     backend: local | etcd | s3 | redis | postgres  # local (default): flock in the state dir
 *     prefix: solocron                    # keys are PREFIX/JOB/SCHEDULED-UTC
 *     ttl: 30s                            # renewed every ttl/3 while a run lasts
 *     election_timeout: 10s               # then on_store_down (a job key) decides
 *     history: 30d                        # how long proof-of-run records are kept
 *     stagger: 200ms                      # rank r of a firing claims after r x stagger
 *     candidates: 3                       # ranks beyond try only when all those failed
 *     elect_ahead: 100ms                  # elect this long before the firing (local: 0)
 *     ca_file: /etc/ssl/private-ca.pem    # etcd and s3: the CA to verify the servers with
 *     # etcd: endpoints (required), username, password, cert_file, key_file
 *     # s3: bucket (required), endpoint, region, path_style, max_clock_skew
 *     # redis: endpoints (required, redis://HOST:PORT/DB), username, password_file
 *     # postgres: dsn or dsn_file (one of them required; libpq's syntax) */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "parse.h"
#include "strv.h"

static const char *const lease_keys[] = {
        "backend", "prefix", "ttl", "election_timeout", "history",
        "ca_file",
        "endpoints", "username", "password", "cert_file", "key_file",
        "bucket", "endpoint", "region", "path_style", "max_clock_skew",
        "password_file",
        "dsn", "dsn_file",
        "stagger", "candidates", "elect_ahead",
};
static const char *const backend_names[_LEASE_BACKEND_MAX] = {
        "local", "etcd", "s3", "redis", "postgres",
};

#define B(x) (1U << LEASE_BACKEND_##x)
#define B_ANY (B(LOCAL) | B(ETCD) | B(S3) | B(REDIS) | B(POSTGRES))
/* The backends each key applies to, in lease_keys' order; and how to name them in an error. */
static const unsigned key_backends[] = {
        B_ANY, B_ANY, B_ANY, B_ANY, B_ANY,
        B(ETCD) | B(S3),
        B(ETCD) | B(REDIS), B(ETCD) | B(REDIS), B(ETCD), B(ETCD), B(ETCD),
        B(S3), B(S3), B(S3), B(S3), B(S3),
        B(REDIS),
        B(POSTGRES), B(POSTGRES),
        B_ANY, B_ANY, B_ANY,
};
static const char *const key_backends_text[] = {
        "", "", "", "", "",
        "the etcd and s3 backends",
        "the etcd and redis backends", "the etcd and redis backends", "the etcd backend",
        "the etcd backend", "the etcd backend",
        "the s3 backend", "the s3 backend", "the s3 backend", "the s3 backend", "the s3 backend",
        "the redis backend",
        "the postgres backend", "the postgres backend",
        "", "", "",
};

void config_lease_defaults(LeaseConfig *l) {
        *l = (LeaseConfig) {
                .backend = LEASE_BACKEND_LOCAL,
                .ttl = 30 * USEC_PER_SEC,
                .election_timeout = 10 * USEC_PER_SEC,
                .history = 30 * 86400 * USEC_PER_SEC,
                .max_clock_skew = 5 * USEC_PER_SEC,
                .stagger = 200 * USEC_PER_MSEC,
                .candidates = 3,
        };
}

void config_lease_done(LeaseConfig *l) {
        free(l->prefix);
        strv_free(l->endpoints);
        free(l->username);
        free(l->password);
        free(l->password_file);
        free(l->dsn);
        free(l->dsn_file);
        free(l->ca_file);
        free(l->cert_file);
        free(l->key_file);
        free(l->bucket);
        free(l->endpoint);
        free(l->region);
        strv_free(l->env_used);
}

static void lease_endpoints(const Scope *s, const Node *v, LeaseConfig *l) {
        const Node *const *items = &v;
        size_t n = 1;

        if (v->invalid)
                return;
        if (v->kind == NODE_SEQUENCE) {
                items = (const Node *const *) v->items;
                n = v->n_items;
        }
        if (n == 0) {
                config_error(s, v, "'lease.endpoints' must not be empty");
                return;
        }
        strv_free(l->endpoints);
        l->endpoints = calloc(n + 1, sizeof(char *));
        if (!l->endpoints) {
                s->ctx->oom = true;
                return;
        }
        for (size_t i = 0; i < n; i++) {
                const char *t;

                if (config_get_string(s, items[i], "lease.endpoints", &t) < 0)
                        continue;
                l->endpoints[i] = strdup(t);
                if (!l->endpoints[i])
                        s->ctx->oom = true;
        }
}

/* What follows a redis:// URL's host: [:PORT][/DB], digits only, the port 1..65535. */
static bool redis_port_db_valid(const char *rest) {
        const char *p = rest[0] == '[' ? strchr(rest, ']') : rest + strcspn(rest, ":/");
        uint64_t port = 6379;
        char buf[6];
        size_t n;

        if (!p)
                return false;
        if (rest[0] == '[')
                p++;
        if (*p == ':') {
                n = strspn(++p, "0123456789");
                if (n == 0 || n > 5)
                        return false;
                memcpy(buf, p, n);
                buf[n] = 0;
                if (parse_uint64(buf, 65535, &port) < 0)
                        return false;
                p += n;
        }
        if (*p == '/' && p[1]) {
                n = strspn(++p, "0123456789");
                if (n == 0 || n > 6)
                        return false;
                p += n;
        } else if (*p == '/')
                p++;
        return *p == 0 && port >= 1 && port <= 65535;
}

/* Each endpoint fits the backend: http(s):// for etcd; redis://HOST[:PORT][/DB] for redis,
 * without credentials (username: and password_file: keep them out of the table). */
static void check_endpoints(const Scope *s, const Node *endpoints, LeaseBackendKind backend) {
        const Node *const *items = &endpoints;
        size_t n = 1;

        if (endpoints->kind == NODE_SEQUENCE) {
                items = (const Node *const *) endpoints->items;
                n = endpoints->n_items;
        }
        for (size_t i = 0; i < n; i++) {
                const char *t = items[i]->value, *rest;

                if (!config_node_is_string(items[i]) || items[i]->invalid)
                        continue;
                if (backend == LEASE_BACKEND_ETCD && strncmp(t, "http://", 7) != 0 &&
                    strncmp(t, "https://", 8) != 0)
                        config_error(s, items[i], "etcd endpoint '%s' must start with http:// or "
                                     "https://", t);
                if (backend != LEASE_BACKEND_REDIS)
                        continue;
                if (strncmp(t, "rediss://", 9) == 0) {
                        config_error(s, items[i], "redis endpoint '%s': TLS (rediss://) is not "
                                     "supported; use redis:// on a trusted network or a TLS "
                                     "tunnel", t);
                        continue;
                }
                if (strncmp(t, "redis://", 8) != 0) {
                        config_error(s, items[i], "redis endpoint '%s' must look like "
                                     "redis://HOST:6379/0", t);
                        continue;
                }
                rest = t + 8;
                if (memchr(rest, '@', strcspn(rest, "/")))
                        config_error(s, items[i], "redis endpoint '%s' carries credentials: put "
                                     "them in 'username' and 'password_file'", t);
                else if (rest[0] == 0 || rest[0] == '/' || rest[0] == ':')
                        config_error(s, items[i], "redis endpoint '%s' has no host (e.g. "
                                     "redis://127.0.0.1:6379/0)", t);
                else if (!redis_port_db_valid(rest))
                        config_error(s, items[i], "redis endpoint '%s': the port must be 1 to "
                                     "65535 and the database a number (redis://HOST:6379/0)", t);
        }
}

/* An http:// URL whose host is this machine: localhost, 127.0.0.0/8 or [::1]. */
static bool endpoint_is_loopback(const char *url) {
        const char *host = url + strlen("http://"), *end = host + strcspn(host, "/?#"), *at;
        char name[64];
        struct in6_addr a6;
        struct in_addr a4;
        size_t n;

        while ((at = memchr(host, '@', (size_t) (end - host))))
                host = at + 1;                  /* user:password@ */
        if (*host == '[') {
                host++;
                n = strcspn(host, "]");
        } else
                n = strcspn(host, ":/?#");
        if (n >= sizeof(name))
                return false;
        memcpy(name, host, n);
        name[n] = 0;
        if (strcasecmp(name, "localhost") == 0)
                return true;
        if (inet_pton(AF_INET, name, &a4) == 1)
                return (ntohl(a4.s_addr) >> 24) == 127;
        return inet_pton(AF_INET6, name, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

/* A password sent over plain HTTP crosses the network in clear (and so does the token etcd
 * gives for it, on every request): a warning at each such endpoint. */
static void warn_password_over_http(const Scope *s, const Node *endpoints) {
        const Node *const *items = &endpoints;
        size_t n = 1;

        if (endpoints->kind == NODE_SEQUENCE) {
                items = (const Node *const *) endpoints->items;
                n = endpoints->n_items;
        }
        for (size_t i = 0; i < n; i++) {
                const char *url = items[i]->value;

                if (!config_node_is_string(items[i]) || items[i]->invalid ||
                    strncmp(url, "http://", 7) != 0 || endpoint_is_loopback(url))
                        continue;
                config_diag_add(s->ctx, CONFIG_WARNING, s->file, items[i]->line, items[i]->column,
                                "lease: the etcd password goes to '%s' unencrypted (and so does "
                                "the token etcd gives for it): use https://", url);
        }
}

/* An S3 connection key (s3_keys.c, shared with output.s3). */
static void lease_s3_value(const Scope *s, S3Key k, const Node *v, LeaseConfig *l) {
        char **dst[_S3_KEY_MAX] = {
                [S3_KEY_BUCKET] = &l->bucket, [S3_KEY_ENDPOINT] = &l->endpoint,
                [S3_KEY_REGION] = &l->region, [S3_KEY_CA_FILE] = &l->ca_file,
        };
        const char *t = NULL;

        if (config_s3_value(s, "lease", k, v, &t, &l->path_style) < 0 || !t)
                return;
        free(*dst[k]);
        *dst[k] = strdup(t);
        if (!*dst[k])
                s->ctx->oom = true;
}

void config_check_lease(const Scope *s, const Node *v) {
        LeaseConfig *l = &s->ctx->config->lease;
        const Node *seen[ELEMENTSOF(lease_keys)] = {}, *endpoints = NULL;
        int i;

        if (v->invalid || v->is_null)
                return;
        if (v->kind != NODE_MAPPING) {
                (void) config_type_error(s, v, "lease", "a mapping (backend, …)");
                return;
        }
        for (size_t k = 0; k + 1 < v->n_items; k += 2) {
                const Node *key = v->items[k], *x = v->items[k + 1];
                size_t which = ELEMENTSOF(lease_keys);

                if (key->invalid)
                        continue;
                for (size_t n = 0; n < ELEMENTSOF(lease_keys); n++)
                        if (strcmp(key->value, lease_keys[n]) == 0)
                                which = n;
                if (which == ELEMENTSOF(lease_keys)) {
                        config_unknown_key(s, key, "lease", lease_keys, ELEMENTSOF(lease_keys));
                        continue;
                }
                seen[which] = key;
                switch (which) {
                case 0:
                        if (config_get_enum(s, x, "lease.backend", "lease backend", backend_names,
                                            _LEASE_BACKEND_MAX, &i) >= 0)
                                l->backend = (LeaseBackendKind) i;
                        break;
                case 1: config_set_nonempty_string(s, x, "lease.prefix", &l->prefix); break;
                case 2: (void) config_get_duration(s, x, "lease.ttl", false, &l->ttl); break;
                case 3: (void) config_get_duration(s, x, "lease.election_timeout", false,
                                                   &l->election_timeout); break;
                case 4: (void) config_get_duration(s, x, "lease.history", false, &l->history); break;
                case 5: lease_s3_value(s, S3_KEY_CA_FILE, x, l); break;
                case 6:
                        lease_endpoints(s, x, l);
                        endpoints = x;
                        break;
                case 7: config_set_nonempty_string(s, x, "lease.username", &l->username); break;
                case 8: config_set_nonempty_string(s, x, "lease.password", &l->password); break;
                case 9: config_set_nonempty_string(s, x, "lease.cert_file", &l->cert_file); break;
                case 10: config_set_nonempty_string(s, x, "lease.key_file", &l->key_file); break;
                case 11: lease_s3_value(s, S3_KEY_BUCKET, x, l); break;
                case 12: lease_s3_value(s, S3_KEY_ENDPOINT, x, l); break;
                case 13: lease_s3_value(s, S3_KEY_REGION, x, l); break;
                case 14: lease_s3_value(s, S3_KEY_PATH_STYLE, x, l); break;
                case 15: (void) config_get_duration(s, x, "lease.max_clock_skew", false,
                                                    &l->max_clock_skew); break;
                case 16:
                        config_set_nonempty_string(s, x, "lease.password_file", &l->password_file);
                        if (l->password_file && l->password_file[0] != '/')
                                config_error(s, x, "'lease.password_file' must be an absolute "
                                             "path, not '%s'", l->password_file);
                        break;
                case 17: config_set_nonempty_string(s, x, "lease.dsn", &l->dsn); break;
                case 18:
                        config_set_nonempty_string(s, x, "lease.dsn_file", &l->dsn_file);
                        if (l->dsn_file && l->dsn_file[0] != '/')
                                config_error(s, x, "'lease.dsn_file' must be an absolute path, "
                                             "not '%s'", l->dsn_file);
                        break;
                case 19: (void) config_get_duration(s, x, "lease.stagger", false, &l->stagger); break;
                case 20:
                        if (config_get_int(s, x, "lease.candidates", 1, 1000, &i) >= 0)
                                l->candidates = (unsigned) i;
                        break;
                case 21:
                        (void) config_get_duration(s, x, "lease.elect_ahead", false,
                                                   &l->elect_ahead);
                        break;
                }
        }

        /* Settings of another backend are mistakes, not noise. */
        for (size_t k = 0; k < ELEMENTSOF(lease_keys); k++)
                if (seen[k] && !(key_backends[k] & (1U << l->backend)))
                        config_error(s, seen[k], "'lease.%s' applies to %s, not '%s'",
                                     seen[k]->value, key_backends_text[k],
                                     backend_names[l->backend]);
        if (l->backend == LEASE_BACKEND_ETCD && !l->endpoints)
                config_error(s, v, "lease: the etcd backend needs 'endpoints' (e.g. "
                             "[\"http://127.0.0.1:2379\"])");
        if (l->backend == LEASE_BACKEND_REDIS && !l->endpoints)
                config_error(s, v, "lease: the redis backend needs 'endpoints' (e.g. "
                             "[\"redis://127.0.0.1:6379/0\"])");
        if (endpoints && !endpoints->invalid)
                check_endpoints(s, endpoints, l->backend);
        if (l->backend == LEASE_BACKEND_POSTGRES && !l->dsn == !l->dsn_file)
                config_error(s, v, "lease: the postgres backend needs exactly one of 'dsn' (e.g. "
                             "\"host=127.0.0.1 dbname=app user=solocron\") or 'dsn_file'");
        if (l->backend == LEASE_BACKEND_REDIS && l->username && !l->password_file)
                config_error(s, v, "lease: a redis 'username' needs its 'password_file' (AUTH "
                             "USERNAME PASSWORD)");
        if (l->backend == LEASE_BACKEND_S3 && !l->bucket)
                config_error(s, v, "lease: the s3 backend needs 'bucket'");
        if (l->ttl % USEC_PER_SEC != 0 || l->ttl < 2 * USEC_PER_SEC)
                config_error(s, v, "lease: 'ttl' must be whole seconds, at least 2s (etcd's minimum)");
        if (seen[19] && l->stagger > l->election_timeout)
                config_error(s, seen[19], "lease: 'stagger' (%llu ms) must not exceed "
                             "'election_timeout': a lower rank would wait longer than a claim "
                             "may take", (unsigned long long) (l->stagger / USEC_PER_MSEC));
        if (!seen[21] && l->backend != LEASE_BACKEND_LOCAL)
                l->elect_ahead = 100 * USEC_PER_MSEC;
        if (seen[21] && l->elect_ahead > USEC_PER_SEC)
                config_error(s, seen[21], "lease: 'elect_ahead' (%llu ms) must be at most 1s",
                             (unsigned long long) (l->elect_ahead / USEC_PER_MSEC));
        if ((l->cert_file != NULL) != (l->key_file != NULL))
                config_error(s, v, "lease: 'cert_file' and 'key_file' go together (mTLS)");
        if (l->backend == LEASE_BACKEND_ETCD && l->password && endpoints && !endpoints->invalid)
                warn_password_over_http(s, endpoints);
}

static bool str_equal(const char *a, const char *b) {
        return a == b || (a && b && strcmp(a, b) == 0);
}

bool config_lease_equal(const LeaseConfig *a, const LeaseConfig *b) {
        return a->backend == b->backend && str_equal(a->prefix, b->prefix) && a->ttl == b->ttl &&
               a->election_timeout == b->election_timeout && a->history == b->history &&
               strv_equal(a->endpoints, b->endpoints) && str_equal(a->username, b->username) &&
               str_equal(a->password, b->password) &&
               str_equal(a->password_file, b->password_file) && str_equal(a->dsn, b->dsn) &&
               str_equal(a->dsn_file, b->dsn_file) && str_equal(a->ca_file, b->ca_file) &&
               str_equal(a->cert_file, b->cert_file) && str_equal(a->key_file, b->key_file) &&
               str_equal(a->bucket, b->bucket) && str_equal(a->endpoint, b->endpoint) &&
               str_equal(a->region, b->region) && a->path_style == b->path_style &&
               a->max_clock_skew == b->max_clock_skew && a->stagger == b->stagger &&
               a->candidates == b->candidates && a->elect_ahead == b->elect_ahead;
}
