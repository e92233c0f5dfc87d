/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"

void capture_init(Capture *c, size_t cap) {
        *c = (Capture) { .cap = cap };
}

void capture_done(Capture *c) {
        free(c->buf);
        *c = (Capture) {};
}

int capture_append(Capture *c, const void *p, size_t n) {
        const char *s = p;
        size_t tail, first;

        if (c->cap == 0 || n == 0)
                return 0;
        if (!c->buf) {
                c->buf = malloc(c->cap);
                if (!c->buf) {
                        c->dropped += n;
                        return -ENOMEM;
                }
        }
        if (n >= c->cap) {
                /* Only the last cap bytes of p stay: everything held before falls off. */
                c->dropped += c->len + (n - c->cap);
                memcpy(c->buf, s + (n - c->cap), c->cap);
                c->head = 0;
                c->len = c->cap;
                return 0;
        }
        if (c->len + n > c->cap) {
                size_t over = c->len + n - c->cap;

                c->head = (c->head + over) % c->cap;
                c->len -= over;
                c->dropped += over;
        }
        tail = (c->head + c->len) % c->cap;
        first = c->cap - tail < n ? c->cap - tail : n;
        memcpy(c->buf + tail, s, first);
        memcpy(c->buf, s + first, n - first);
        c->len += n;
        return 0;
}

void capture_mark_attempt(Capture *c, unsigned attempt) {
        char line[64];
        int k;

        if (c->len == 0 && c->dropped == 0)
                return;
        if (c->len > 0 && c->buf[(c->head + c->len - 1) % c->cap] != '\n')
                (void) capture_append(c, "\n", 1);
        k = snprintf(line, sizeof(line), "--- solocron: attempt %u ---\n", attempt);
        (void) capture_append(c, line, (size_t) k);
}

size_t capture_pieces(const Capture *c, size_t max, CapturePiece ret[static 2]) {
        size_t n = c->len < max ? c->len : max, start, first;

        if (n == 0)
                return 0;
        start = (c->head + (c->len - n)) % c->cap;
        first = c->cap - start < n ? c->cap - start : n;
        ret[0] = (CapturePiece) { c->buf + start, first };
        if (first == n)
                return 1;
        ret[1] = (CapturePiece) { c->buf, n - first };
        return 2;
}

size_t capture_copy(const Capture *c, size_t max, char *dst) {
        CapturePiece p[2];
        size_t k = capture_pieces(c, max, p), n = 0;

        for (size_t i = 0; i < k; i++) {
                memcpy(dst + n, p[i].data, p[i].len);
                n += p[i].len;
        }
        return n;
}

int capture_dup(const Capture *c, size_t max, char **ret, size_t *ret_len) {
        size_t n = c->len < max ? c->len : max;
        char *s = malloc(n + 1);

        if (!s)
                return -ENOMEM;
        n = capture_copy(c, max, s);
        s[n] = '\0';
        *ret = s;
        if (ret_len)
                *ret_len = n;
        return 0;
}
