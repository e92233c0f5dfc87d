/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The node tree built by load.c, and positions in a file's source text. */

Node *config_node_get(const Node *n, const char *key) {
        if (!n || n->kind != NODE_MAPPING)
                return NULL;
        for (size_t i = 0; i + 1 < n->n_items; i += 2)
                if (!n->items[i]->invalid && n->items[i]->kind == NODE_SCALAR &&
                    strcmp(n->items[i]->value, key) == 0)
                        return n->items[i + 1];
        return NULL;
}

const char *config_node_describe(const Node *n, char *buf, size_t size) {
        size_t len, max = 40;

        if (n->kind == NODE_MAPPING)
                return "a mapping";
        if (n->kind == NODE_SEQUENCE)
                return "a sequence";
        if (n->is_null)
                return "null";
        len = strcspn(n->value, "\n");
        if (len > max) {
                len = max;
                while (len > 0 && ((unsigned char) n->value[len] & 0xC0) == 0x80)
                        len--;     /* do not cut a UTF-8 sequence */
        }
        (void) snprintf(buf, size, "'%.*s%s'", (int) len, n->value,
                        len < n->length ? "..." : "");
        return buf;
}

unsigned config_node_column_at(const ConfigFile *cf, const Node *n, size_t offset) {
        ConfigFile *f = (ConfigFile *) cf;      /* only the lazily built line index changes */
        size_t a, b, len;
        unsigned col;

        if (n->kind != NODE_SCALAR || n->has_props || n->changed || offset > n->length ||
            n->line - 1 != n->end_line0 || n->quote == '|' || n->quote == '>')
                return n->column;
        a = config_file_offset(f, n->line - 1, n->column - 1);
        b = config_file_offset(f, n->end_line0, n->end_col0);
        if (a == SIZE_MAX || b == SIZE_MAX || b < a)
                return n->column;
        if (n->quote) {
                if (b - a < 2)
                        return n->column;
                a++;
                b--;
        }
        /* Quoted text with escapes ('' or \x) differs from the value: no exact column. */
        len = b - a;
        if (len != n->length || memcmp(f->source + a, n->value, len) != 0)
                return n->column;
        col = n->column + (n->quote ? 1 : 0);
        for (size_t i = 0; i < offset; i++)
                col += ((unsigned char) n->value[i] & 0xC0) != 0x80;
        return col;
}
