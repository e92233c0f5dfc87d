/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the API's request parser (daemon/api/api_parse.c), fed in pieces the
 * way a socket delivers them, with pipelined requests, and the path check and the query's
 * parameters on each whole request. The first byte chooses the piece size. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_parse.h"
#include "httplib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ApiParse r;
        size_t piece, at = 0;

        if (size == 0)
                return 0;
        if (httplib_load() < 0)
                abort();                /* libhttp-parser is not installed */
        piece = 1 + data[0] % 64;
        data++;
        size--;
        api_parse_init(&r);
        while (at < size && !r.error) {
                size_t n = size - at < piece ? size - at : piece;
                size_t used = api_parse_feed(&r, (const char *) data + at, n);

                if (used > n || (r.error && (r.error < 400 || r.error > 599)))
                        abort();
                at += used;
                if (r.complete) {
                        const char *query;

                        if (!r.url)
                                abort();                /* a whole request has a target */
                        if (api_parse_split_url(r.url, &query)) {
                                char value[64];

                                if (r.url[0] != '/')
                                        abort();
                                if (api_query_get(query, "since", value, sizeof(value)) &&
                                    strlen(value) >= sizeof(value))
                                        abort();
                        }
                        if (r.body_size > API_MAX_BODY || r.head_size > API_MAX_HEAD)
                                abort();
                        api_parse_reset(&r);            /* the next pipelined request */
                } else if (!r.error && used < n)
                        abort();                        /* it takes all, or says why not */
        }
        api_parse_done(&r);
        return 0;
}
