/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output_object.h"
#include "timeutil.h"

#define CUT_LINE_MAX 96

static size_t cut_line(uint64_t cut, size_t kept, char buf[static CUT_LINE_MAX]) {
        return (size_t) snprintf(buf, CUT_LINE_MAX, "[solocron: %llu bytes cut, the last %zu "
                                 "follow]\n", (unsigned long long) cut, kept);
}

static bool utf8_continuation(char c) {
        return ((unsigned char) c & 0xc0) == 0x80;
}

int output_body_build(const Capture *c, size_t max, char **ret, size_t *ret_size,
                      uint64_t *ret_cut) {
        uint64_t total = c->dropped + c->len, cut = 0;
        char line[CUT_LINE_MAX], *body, *p;
        CapturePiece pieces[2];
        size_t n_line = 0, kept = c->len, n, skip = 0;

        if (total > max) {
                /* The line's length depends on the numbers in it, which depend on it: the
                 * second round settles (a number only shrinks, by a digit at most). */
                for (int i = 0; i < 3; i++) {
                        n_line = cut_line(total - kept, kept, line);
                        kept = max > n_line ? max - n_line : 0;
                        if (kept > c->len)
                                kept = c->len;
                }
                n = capture_pieces(c, kept, pieces);
                /* Do not start inside a character: at most 3 continuation bytes. */
                for (size_t i = 0; i < n && skip < 3; i++) {
                        const char *d = pieces[i].data;
                        size_t k = 0;

                        while (k < pieces[i].len && skip < 3 && utf8_continuation(d[k]))
                                k++, skip++;
                        if (k < pieces[i].len)
                                break;
                }
                kept -= skip;
                cut = total - kept;
                n_line = cut_line(cut, kept, line);
        }
        body = malloc(n_line + kept + 1);
        if (!body)
                return -ENOMEM;
        memcpy(body, line, n_line);
        p = body + n_line;
        n = capture_pieces(c, kept, pieces);
        for (size_t i = 0; i < n; i++) {
                memcpy(p, pieces[i].data, pieces[i].len);
                p += pieces[i].len;
        }
        *p = 0;
        *ret = body;
        *ret_size = (size_t) (p - body);
        *ret_cut = cut;
        return 0;
}

char *output_object_key(const char *prefix, const char *job, int64_t scheduled,
                        const char *manual, const char *host, bool gzip) {
        char when[RFC3339_UTC_MAX], *key;

        if (asprintf(&key, "%s/%s/%s%s/output%s%s%s", prefix, job, manual ? "manual-" : "",
                     manual ?: format_rfc3339_utc(scheduled, when), host ? "-" : "", host ?: "",
                     gzip ? ".gz" : "") < 0)
                return NULL;
        return key;
}
