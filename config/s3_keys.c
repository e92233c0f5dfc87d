/* SPDX-License-Identifier: MIT */
/* The S3 connection keys, one parser for the two sections that have them:
 *   lease: {backend: s3, bucket, endpoint, region, path_style, ca_file}
 *   output: {s3: {bucket, endpoint, region, path_style, ca_file, …}}
 * Each value is checked as daemon/aws/s3.c will want it, so that `solocron check` says what
 * is wrong instead of the first request. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "parse.h"

const char *const config_s3_keys[_S3_KEY_MAX] = {
        [S3_KEY_BUCKET] = "bucket",
        [S3_KEY_ENDPOINT] = "endpoint",
        [S3_KEY_REGION] = "region",
        [S3_KEY_PATH_STYLE] = "path_style",
        [S3_KEY_CA_FILE] = "ca_file",
};

int config_s3_key(const char *key) {
        for (int k = 0; k < _S3_KEY_MAX; k++)
                if (strcmp(key, config_s3_keys[k]) == 0)
                        return k;
        return -1;
}

/* "http[s]://HOST[:PORT][/]": the host part, or NULL. */
static const char *endpoint_host(const char *e, size_t *ret_len) {
        const char *rest;
        size_t n;

        if (strncasecmp(e, "https://", 8) == 0)
                rest = e + 8;
        else if (strncasecmp(e, "http://", 7) == 0)
                rest = e + 7;
        else
                return NULL;
        n = strcspn(rest, "/?#@ \t\r\n");
        if (n == 0 || (rest[n] != 0 && strcmp(rest + n, "/") != 0))
                return NULL;
        *ret_len = n;
        return rest;
}

bool config_s3_endpoint_is_ip(const char *endpoint) {
        size_t n;
        const char *host = endpoint_host(endpoint, &n);

        return host && (host[0] == '[' || strspn(host, "0123456789.") == strcspn(host, ":/"));
}

int config_s3_value(const Scope *s, const char *where, S3Key k, const Node *v,
                    const char **ret_string, bool *ret_bool) {
        char key[64];
        const char *t;
        size_t n;

        (void) snprintf(key, sizeof(key), "%s.%s", where, config_s3_keys[k]);
        if (k == S3_KEY_PATH_STYLE)
                return config_get_bool(s, v, key, ret_bool);
        if (config_get_string(s, v, key, &t) < 0)
                return -EINVAL;
        if (!*t) {
                config_error(s, v, "'%s' must not be empty", key);
                return -EINVAL;
        }
        switch (k) {
        case S3_KEY_BUCKET:
                if (!parse_name_ok(t, ".-_", 255)) {
                        config_error(s, v, "'%s': invalid S3 bucket name '%s' (letters, digits, "
                                     "'.', '-' and '_')", key, t);
                        return -EINVAL;
                }
                break;
        case S3_KEY_ENDPOINT:
                if (!endpoint_host(t, &n)) {
                        config_error(s, v, "'%s' must look like https://HOST[:PORT], not '%s'",
                                     key, t);
                        return -EINVAL;
                }
                break;
        case S3_KEY_REGION:
                if (!parse_name_ok(t, "-_", 64)) {
                        config_error(s, v, "'%s': invalid S3 region '%s' (e.g. eu-west-1)", key, t);
                        return -EINVAL;
                }
                break;
        default:
                break;
        }
        *ret_string = t;
        return 0;
}
