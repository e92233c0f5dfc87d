/* SPDX-License-Identifier: MIT */
/* A job's output: key (or defaults'): where each run's captured output is kept.
 *   output:
 *     s3:
 *       bucket: logs            # default: the S3 lease's bucket (needed otherwise)
 *       prefix: solocron        # default: the lease's prefix
 *       max_size: 1MiB          # bytes of an object at most (the tail is kept)
 *       gzip: false             # Content-Encoding: gzip
 *       endpoint, region, path_style, ca_file   # as in lease:; default: the S3 lease's
 *   output: s3                  # short for {s3: {}}: all of it from the S3 lease
 *   output: none                # this job keeps no output, whatever defaults: say
 * A job's keys are merged one by one over defaults' (output: none in a job drops them all).
 * The connection keys are parsed as the lease's (s3_keys.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "parse.h"

static const char *const output_keys[_OUTPUT_KEY_MAX] = {
        [S3_KEY_BUCKET] = "bucket",
        [S3_KEY_ENDPOINT] = "endpoint",
        [S3_KEY_REGION] = "region",
        [S3_KEY_PATH_STYLE] = "path_style",
        [S3_KEY_CA_FILE] = "ca_file",
        [OUTPUT_KEY_PREFIX] = "prefix",
        [OUTPUT_KEY_MAX_SIZE] = "max_size",
        [OUTPUT_KEY_GZIP] = "gzip",
};

#define SET(o, k) ((o)->set |= UINT32_C(1) << (k))
#define HAS(o, k) (((o)->set >> (k)) & 1)

/* "1048576", "512K", "512KiB", "1M", "1MiB": bytes, OUTPUT_MAX_SIZE_MIN..OUTPUT_MAX_SIZE_MAX. */
static int output_size(const Scope *s, const Node *v, uint64_t *ret) {
        static const char *const expected = "a size in bytes, optionally with K, M or G "
                                            "(or KiB, MiB, GiB), e.g. 1MiB";
        char digits[32];
        uint64_t n, mult = 1;
        size_t len;
        const char *u;

        if (v->invalid)
                return -EINVAL;
        if (!config_node_is_string(v))
                return config_type_error(s, v, "output.s3.max_size", expected);
        len = strspn(v->value, "0123456789");
        u = v->value + len;
        if (len == 0 || len >= sizeof(digits))
                return config_type_error(s, v, "output.s3.max_size", expected);
        if (*u) {
                static const char units[] = "KMG";
                const char *p = strchr(units, *u);

                if (!p || (u[1] && strcmp(u + 1, "iB") != 0))
                        return config_type_error(s, v, "output.s3.max_size", expected);
                mult = UINT64_C(1) << (10 * (p - units + 1));
        }
        memcpy(digits, v->value, len);
        digits[len] = 0;
        if (parse_uint64(digits, UINT64_MAX / mult, &n) < 0 || n * mult < OUTPUT_MAX_SIZE_MIN ||
            n * mult > OUTPUT_MAX_SIZE_MAX) {
                config_error(s, v, "'output.s3.max_size' must be 1KiB to 64MiB, not '%s'",
                             v->value);
                return -EINVAL;
        }
        *ret = n * mult;
        return 0;
}

static void output_s3(const Scope *s, const Node *v, OutputSpec *o) {
        if (v->invalid || v->is_null)
                return;
        if (v->kind != NODE_MAPPING) {
                (void) config_type_error(s, v, "output.s3", "a mapping (bucket, prefix, …)");
                o->invalid = true;
                return;
        }
        for (size_t i = 0; i + 1 < v->n_items; i += 2) {
                const Node *k = v->items[i], *x = v->items[i + 1];
                int key = k->invalid ? -1 : config_s3_key(k->value), r;

                if (k->invalid)
                        continue;
                if (key >= 0)
                        r = config_s3_value(s, "output.s3", (S3Key) key, x, &o->str[key],
                                            &o->path_style);
                else if (strcmp(k->value, "prefix") == 0) {
                        key = OUTPUT_KEY_PREFIX;
                        r = config_get_string(s, x, "output.s3.prefix", &o->prefix);
                        if (r >= 0 && (!*o->prefix || o->prefix[0] == '/' ||
                                       o->prefix[strlen(o->prefix) - 1] == '/')) {
                                config_error(s, x, "'output.s3.prefix' must not be empty, nor "
                                             "begin or end with '/'");
                                r = -EINVAL;
                        }
                } else if (strcmp(k->value, "max_size") == 0) {
                        key = OUTPUT_KEY_MAX_SIZE;
                        r = output_size(s, x, &o->max_size);
                } else if (strcmp(k->value, "gzip") == 0) {
                        key = OUTPUT_KEY_GZIP;
                        r = config_get_bool(s, x, "output.s3.gzip", &o->gzip);
                } else {
                        config_unknown_key(s, k, "output.s3", output_keys, _OUTPUT_KEY_MAX);
                        o->invalid = true;
                        continue;
                }
                if (r < 0)
                        o->invalid = true;
                else
                        SET(o, key);
        }
}

void config_spec_output(const Scope *s, const Node *v, JobSpec *j) {
        static const char *const kinds[] = { "s3" };
        OutputSpec *o = &j->output;

        *o = (OutputSpec) { .node = v };
        if (v->invalid) {
                o->invalid = j->failed = true;
                return;
        }
        if (config_node_is_string(v) && strcmp(v->value, "none") == 0) {
                o->none = true;
                return;
        }
        if (config_node_is_string(v) && strcmp(v->value, "s3") == 0)
                return;                 /* short for {s3: {}} */
        if (v->kind != NODE_MAPPING) {
                (void) config_type_error(s, v, "output", "a mapping ({s3: {bucket: …}}), 's3' "
                                         "or 'none'");
                o->invalid = j->failed = true;
                return;
        }
        for (size_t i = 0; i + 1 < v->n_items; i += 2) {
                const Node *k = v->items[i];

                if (k->invalid)
                        continue;
                if (strcmp(k->value, "s3") != 0) {
                        config_unknown_key(s, k, "output", kinds, ELEMENTSOF(kinds));
                        o->invalid = true;
                        continue;
                }
                output_s3(s, v->items[i + 1], o);
        }
        if (o->invalid)
                j->failed = true;
}

/* The job's output:, else the defaults'; NULL when neither keeps output. */
static bool output_wanted(const JobSpec *d, const JobSpec *j) {
        if (j->output.node)
                return !j->output.none;
        return d->output.node && !d->output.none;
}

/* The job's value of key, else the defaults' (unless the job said none). */
static const OutputSpec *pick(const JobSpec *d, const JobSpec *j, int key) {
        if (HAS(&j->output, key))
                return &j->output;
        if (HAS(&d->output, key))
                return &d->output;
        return NULL;
}

bool config_output_check(const Scope *s, const JobSpec *d, const JobSpec *j) {
        const LeaseConfig *l = &s->ctx->config->lease;
        const OutputSpec *b, *e, *p;
        bool lease_s3 = l->backend == LEASE_BACKEND_S3;
        const Node *at;
        Scope ds = *s;

        if (!output_wanted(d, j) || j->output.invalid || d->output.invalid)
                return true;    /* nothing to keep, or said already */
        at = j->output.node ?: d->output.node;
        if (!j->output.node) {
                ds.job = NULL;
                ds.prefix = "defaults: ";
        }
        b = pick(d, j, S3_KEY_BUCKET);
        if (!b && !lease_s3) {
                config_error(&ds, at, "'output.s3' needs a 'bucket' (only the s3 lease "
                             "backend lends its own)");
                return false;
        }
        e = pick(d, j, S3_KEY_ENDPOINT);
        p = pick(d, j, S3_KEY_PATH_STYLE);
        if ((e ? e->str[S3_KEY_ENDPOINT] : lease_s3 ? l->endpoint : NULL) &&
            config_s3_endpoint_is_ip(e ? e->str[S3_KEY_ENDPOINT] : l->endpoint) &&
            !(p ? p->path_style : lease_s3 && l->path_style)) {
                config_error(&ds, at, "'output.s3': the endpoint is an IP address: "
                             "virtual-hosted-style URLs need a host name (set path_style: true)");
                return false;
        }
        return true;
}

void config_output_free(OutputS3Config *o) {
        if (!o)
                return;
        free(o->bucket);
        free(o->prefix);
        free(o->endpoint);
        free(o->region);
        free(o->ca_file);
        free(o);
}

static bool str_equal(const char *a, const char *b) {
        return a == b || (a && b && strcmp(a, b) == 0);
}

static bool output_equal(const OutputS3Config *a, const OutputS3Config *b) {
        return str_equal(a->bucket, b->bucket) && str_equal(a->prefix, b->prefix) &&
               str_equal(a->endpoint, b->endpoint) && str_equal(a->region, b->region) &&
               str_equal(a->ca_file, b->ca_file) && a->max_size == b->max_size &&
               a->path_style == b->path_style && a->gzip == b->gzip;
}

static int dup_or_null(const char *s, char **ret) {
        *ret = s ? strdup(s) : NULL;
        return s && !*ret ? -ENOMEM : 0;
}

int config_output_build(ConfigCtx *ctx, const JobSpec *d, const JobSpec *j,
                        const OutputS3Config **ret) {
        const LeaseConfig *l = &ctx->config->lease;
        bool lease_s3 = l->backend == LEASE_BACKEND_S3;
        const char *lease_str[_S3_KEY_MAX] = {
                [S3_KEY_BUCKET] = l->bucket, [S3_KEY_ENDPOINT] = l->endpoint,
                [S3_KEY_REGION] = l->region, [S3_KEY_CA_FILE] = l->ca_file,
        };
        char **dst[_S3_KEY_MAX];
        const OutputSpec *o;
        OutputS3Config *n, **a;
        int r = 0;

        *ret = NULL;
        if (!output_wanted(d, j))
                return 0;
        n = calloc(1, sizeof(OutputS3Config));
        if (!n)
                return -ENOMEM;
        dst[S3_KEY_BUCKET] = &n->bucket;
        dst[S3_KEY_ENDPOINT] = &n->endpoint;
        dst[S3_KEY_REGION] = &n->region;
        dst[S3_KEY_CA_FILE] = &n->ca_file;
        for (int k = 0; k < _S3_KEY_MAX; k++) {
                if (k == S3_KEY_PATH_STYLE)
                        continue;
                o = pick(d, j, k);
                if (r >= 0)
                        r = dup_or_null(o ? o->str[k] : lease_s3 ? lease_str[k] : NULL, dst[k]);
        }
        o = pick(d, j, S3_KEY_PATH_STYLE);
        n->path_style = o ? o->path_style : lease_s3 && l->path_style;
        o = pick(d, j, OUTPUT_KEY_PREFIX);
        if (r >= 0)
                r = dup_or_null(o ? o->prefix : l->prefix ?: "solocron", &n->prefix);
        o = pick(d, j, OUTPUT_KEY_MAX_SIZE);
        n->max_size = o ? o->max_size : OUTPUT_MAX_SIZE_DEFAULT;
        o = pick(d, j, OUTPUT_KEY_GZIP);
        n->gzip = o && o->gzip;
        if (r < 0 || !n->bucket) {
                config_output_free(n);
                return r < 0 ? r : -EINVAL;     /* config_output_check() said so */
        }

        for (size_t i = ctx->config->n_outputs; i-- > 0;)
                if (output_equal(ctx->config->outputs[i], n)) {
                        config_output_free(n);
                        *ret = ctx->config->outputs[i];
                        return 0;
                }
        a = reallocarray(ctx->config->outputs, ctx->config->n_outputs + 1, sizeof(*a));
        if (!a) {
                config_output_free(n);
                return -ENOMEM;
        }
        ctx->config->outputs = a;
        a[ctx->config->n_outputs++] = n;
        *ret = n;
        return 0;
}
