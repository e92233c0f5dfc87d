/* SPDX-License-Identifier: MIT */
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "internal.h"

/* libyaml's event API → a small tree of Nodes with 1-based line/column marks. This is the one
 * place where libyaml's errors (problem + problem_mark) become diagnostics.
 *
 * What the tree accepts beyond plain YAML 1.2 block/flow syntax:
 *   - one document per file (a second "---" is an error);
 *   - anchors and aliases: an alias shares the anchored node (every node lives in ctx->pool
 *     until the load ends); every alias is charged the anchored subtree's full size against
 *     CONFIG_MAX_NODES and its height against CONFIG_MAX_DEPTH, so "billion laughs" files are
 *     refused cheaply;
 *   - standard tags only (!!str, !!int, !!bool, !!float, !!null, !!seq, !!map);
 *   - mapping keys are non-null scalars, unique within their mapping; no merge keys ("<<").
 * Scalars keep their text; typing (null/bool/int/duration) happens in values.c. */

#define YAML_TAG_PREFIX "tag:yaml.org,2002:"

typedef struct Anchor {
        char *name;
        Node *node;             /* borrowed from the tree */
} Anchor;

typedef struct Builder {
        ConfigCtx *ctx;
        ConfigFile *f;
        Scope scope;
        Node *stack[CONFIG_MAX_DEPTH];
        size_t cap[CONFIG_MAX_DEPTH];
        size_t depth;
        Node *root;
        unsigned n_documents;
        Anchor *anchors;
        size_t n_anchors;
        bool failed;            /* fatal: the tree is dropped */
        bool strings_kept;      /* the events' strings live as long as the pool: not copied */
} Builder;

static void builder_done(Builder *b) {
        for (size_t i = 0; i < b->n_anchors; i++)
                free(b->anchors[i].name);
        free(b->anchors);
        b->root = NULL;         /* the nodes are in the context's pool */
}

/* As new, for the same file; the nodes stay in the pool until the load ends. */
static void builder_reset(Builder *b) {
        builder_done(b);
        *b = (Builder) { .ctx = b->ctx, .f = b->f, .scope = b->scope };
}

static void builder_oom(Builder *b) {
        b->ctx->oom = true;
        b->failed = true;
}

static const char *tag_display(const char *tag) {
        static const size_t l = sizeof(YAML_TAG_PREFIX) - 1;

        /* Only used in messages: "!!int" reads better than the full URI. */
        if (strncmp(tag, YAML_TAG_PREFIX, l) == 0)
                return tag + l;
        return tag;
}

/* Checks an explicit tag against the node kind. Unsupported tags are errors, not ignored:
 * "!vault ..." in a config that silently became a string would be a nasty surprise. */
static bool tag_ok(Builder *b, Node *n, const char *tag) {
        static const char *const scalar_tags[] = { "str", "int", "bool", "float", "null" };
        const char *t;

        if (!tag || strcmp(tag, "!") == 0)
                return true;
        t = tag_display(tag);
        if (t != tag) {
                if (n->kind == NODE_MAPPING && strcmp(t, "map") == 0)
                        return true;
                if (n->kind == NODE_SEQUENCE && strcmp(t, "seq") == 0)
                        return true;
                if (n->kind == NODE_SCALAR)
                        for (size_t i = 0; i < ELEMENTSOF(scalar_tags); i++)
                                if (strcmp(t, scalar_tags[i]) == 0) {
                                        if (strcmp(t, "null") == 0)
                                                n->is_null = true;
                                        else if (strcmp(t, "str") == 0)
                                                n->is_null = false;
                                        return true;
                                }
                config_error(&b->scope, n, "unsupported tag '!!%s'", t);
        } else
                config_error(&b->scope, n, "unsupported tag '%s'", t);
        n->invalid = true;
        return false;
}

_Static_assert(sizeof(void *) != 8 || sizeof(Node) <= 48, "a Node grew past 48 bytes");
_Static_assert(alignof(Node) <= 8 && alignof(Node *) <= 8, "the pool aligns to 8");

static Node *node_new(Builder *b, NodeKind kind, const yaml_mark_t *start, const yaml_mark_t *end,
                      bool has_props) {
        Node *n;

        if (b->ctx->n_nodes >= CONFIG_MAX_NODES) {
                config_error(&b->scope, NULL, "too many YAML nodes (more than %u)",
                             CONFIG_MAX_NODES);
                b->failed = true;
                return NULL;
        }
        n = pool_alloc(&b->ctx->pool, sizeof(Node));
        if (!n) {
                builder_oom(b);
                return NULL;
        }
        b->ctx->n_nodes++;
        *n = (Node) {
                .kind = kind,
                .weight = 1,
                .height = kind != NODE_SCALAR,
                .line = (unsigned) start->line + 1,
                .column = (unsigned) start->column + 1,
                .end_line0 = (unsigned) end->line,
                .end_col0 = (unsigned) end->column,
                .has_props = has_props,
        };
        return n;
}

/* Appends n to the open collection, or makes it the document root. */
static void builder_attach(Builder *b, Node *n) {
        Node *parent;
        size_t d = b->depth;

        if (d == 0) {
                b->root = n;
                return;
        }
        parent = b->stack[d - 1];
        if (parent->n_items == b->cap[d - 1]) {
                /* Grown by doubling in the pool: the old array is left behind, at most as
                 * much again as the final one. */
                size_t cap = b->cap[d - 1] ? b->cap[d - 1] * 2 : 8;
                Node **items = pool_alloc(&b->ctx->pool, cap * sizeof(Node *));

                if (!items) {
                        builder_oom(b);
                        return;
                }
                if (parent->n_items > 0)
                        memcpy(items, parent->items, parent->n_items * sizeof(Node *));
                parent->items = items;
                b->cap[d - 1] = cap;
        }
        parent->items[parent->n_items++] = n;
}

static int key_compare(const void *a, const void *b) {
        const Node *x = *(Node *const *) a, *y = *(Node *const *) b;
        int c = strcmp(x->value, y->value);

        if (c != 0)
                return c;
        if (x->line != y->line)
                return x->line < y->line ? -1 : 1;
        return x->column < y->column ? -1 : x->column > y->column;
}

/* A key that is no string or a merge key: reported and marked invalid. */
static bool builder_bad_key(Builder *b, Node *k) {
        char buf[64];

        if (k->kind != NODE_SCALAR || k->is_null) {
                config_error(&b->scope, k, "a mapping key must be a string, not %s",
                             config_node_describe(k, buf, sizeof(buf)));
                k->invalid = true;
        } else if (k->quote == 0 && strcmp(k->value, "<<") == 0) {
                config_error(&b->scope, k, "merge keys ('<<') are not supported");
                k->invalid = true;
        }
        return k->invalid;
}

/* builder_check_keys() of a mapping of at most 16 keys, none anchored (so none twice). */
static void builder_check_keys_few(Builder *b, Node *m, Node **keys) {
        size_t n_keys = 0;

        for (size_t i = 0; i + 1 < m->n_items; i += 2) {
                Node *k = m->items[i];

                if (k->invalid || builder_bad_key(b, k))
                        continue;
                for (size_t j = 0; j < n_keys; j++)
                        if (strcmp(k->value, keys[j]->value) == 0) {
                                config_error(&b->scope, k, "duplicate key '%s' (first defined "
                                             "at line %u)", k->value, keys[j]->line);
                                k->invalid = true;
                                break;
                        }
                keys[n_keys++] = k;
        }
}

/* Keys must be non-null scalars, not "<<", and unique. Bad keys are marked invalid so the
 * checks in validate.c skip their pairs quietly. */
static void builder_check_keys(Builder *b, Node *m) {
        _cleanup_free_ Node **keys = NULL;
        Node *few[16];
        size_t n_keys = 0;
        bool aliased = false;

        /* A small mapping (a job's) without anchored keys is checked in place: its keys are
         * in document order, so the first of equal keys is the earliest, as after the sort. */
        if (m->n_items / 2 <= ELEMENTSOF(few)) {
                for (size_t i = 0; i + 1 < m->n_items; i += 2)
                        aliased = aliased || m->items[i]->has_props;
                if (!aliased) {
                        builder_check_keys_few(b, m, few);
                        return;
                }
        }
        keys = calloc(m->n_items / 2 + 1, sizeof(Node *));
        if (!keys) {
                builder_oom(b);
                return;
        }
        for (size_t i = 0; i + 1 < m->n_items; i += 2) {
                Node *k = m->items[i];

                if (!k->invalid && !builder_bad_key(b, k))
                        keys[n_keys++] = k;
        }
        qsort(keys, n_keys, sizeof(Node *), key_compare);
        for (size_t i = 1, first = 0; i < n_keys; i++) {
                if (strcmp(keys[i]->value, keys[first]->value) != 0) {
                        first = i;
                        continue;
                }
                /* The same key node reached twice through an alias is no duplicate. */
                if (keys[i] == keys[first])
                        continue;
                config_error(&b->scope, keys[i], "duplicate key '%s' (first defined at line %u)",
                             keys[i]->value, keys[first]->line);
                keys[i]->invalid = true;
        }
}

static void builder_anchor(Builder *b, const yaml_char_t *anchor, Node *n) {
        Anchor *a;
        char *name;

        if (!anchor)
                return;
        name = strdup((const char *) anchor);
        a = name ? realloc(b->anchors, (b->n_anchors + 1) * sizeof(Anchor)) : NULL;
        if (!a) {
                free(name);
                builder_oom(b);
                return;
        }
        b->anchors = a;
        b->anchors[b->n_anchors++] = (Anchor) { .name = name, .node = n };
}

static void builder_scalar(Builder *b, const yaml_event_t *e) {
        const yaml_char_t *tag = e->data.scalar.tag, *anchor = e->data.scalar.anchor;
        Node *n;

        n = node_new(b, NODE_SCALAR, &e->start_mark, &e->end_mark, tag || anchor);
        if (!n)
                return;
        n->complete = true;
        switch (e->data.scalar.style) {
        case YAML_SINGLE_QUOTED_SCALAR_STYLE: n->quote = '\''; break;
        case YAML_DOUBLE_QUOTED_SCALAR_STYLE: n->quote = '"'; break;
        case YAML_LITERAL_SCALAR_STYLE: n->quote = '|'; break;
        case YAML_FOLDED_SCALAR_STYLE: n->quote = '>'; break;
        default: n->quote = 0; break;
        }
        n->length = (uint32_t) e->data.scalar.length;     /* the file is at most 16 MiB */
        n->value = b->strings_kept ? (char *) e->data.scalar.value :
                   pool_strndup(&b->ctx->pool, (const char *) e->data.scalar.value, n->length);
        if (!n->value) {
                builder_oom(b);
                return;
        }
        if (n->quote == 0 && n->length <= 4)
                n->is_null = n->length == 0 || strcmp(n->value, "~") == 0 ||
                             strcmp(n->value, "null") == 0 || strcmp(n->value, "Null") == 0 ||
                             strcmp(n->value, "NULL") == 0;
        if (strlen(n->value) != n->length) {
                config_error(&b->scope, n, "NUL characters are not allowed in strings");
                n->invalid = true;
        } else if (n->length > CONFIG_MAX_STRING) {
                config_error(&b->scope, n, "string is too long (more than %u bytes)",
                             CONFIG_MAX_STRING);
                n->invalid = true;
        }
        (void) tag_ok(b, n, (const char *) tag);
        builder_anchor(b, anchor, n);
        builder_attach(b, n);
}

static void builder_start(Builder *b, const yaml_event_t *e, NodeKind kind) {
        const yaml_char_t *tag, *anchor;
        Node *n;

        if (kind == NODE_MAPPING) {
                tag = e->data.mapping_start.tag;
                anchor = e->data.mapping_start.anchor;
        } else {
                tag = e->data.sequence_start.tag;
                anchor = e->data.sequence_start.anchor;
        }
        if (b->depth >= CONFIG_MAX_DEPTH) {
                yaml_mark_t m = e->start_mark;

                config_error_at(&b->scope, (unsigned) m.line + 1, (unsigned) m.column + 1,
                                "nesting is too deep (more than %u levels)", CONFIG_MAX_DEPTH);
                b->failed = true;
                return;
        }
        n = node_new(b, kind, &e->start_mark, &e->end_mark, tag || anchor);
        if (!n)
                return;
        (void) tag_ok(b, n, (const char *) tag);
        builder_anchor(b, anchor, n);
        builder_attach(b, n);
        if (b->failed)
                return;
        b->stack[b->depth] = n;
        b->cap[b->depth] = 0;
        b->depth++;
}

static void builder_end(Builder *b, const yaml_event_t *e) {
        Node *n;

        if (b->depth == 0) {            /* libyaml and the cache never end what was not begun */
                b->failed = true;
                return;
        }
        n = b->stack[--b->depth];

        n->end_line0 = (unsigned) e->end_mark.line;
        n->end_col0 = (unsigned) e->end_mark.column;
        for (size_t i = 0; i < n->n_items; i++) {
                n->weight += n->items[i]->weight;
                if (n->items[i]->height + 1 > n->height)
                        n->height = n->items[i]->height + 1;
        }
        n->complete = true;
        if (n->kind == NODE_MAPPING)
                builder_check_keys(b, n);
}

static void builder_alias(Builder *b, const yaml_event_t *e) {
        const char *name = (const char *) e->data.alias.anchor;
        yaml_mark_t m = e->start_mark;
        Node *target = NULL, *n;

        for (size_t i = b->n_anchors; i > 0; i--)
                if (strcmp(b->anchors[i - 1].name, name) == 0) {
                        target = b->anchors[i - 1].node;
                        break;
                }
        if (target && target->complete) {
                if (b->ctx->n_nodes + target->weight > CONFIG_MAX_NODES) {
                        config_error_at(&b->scope, (unsigned) m.line + 1, (unsigned) m.column + 1,
                                        "too many YAML nodes after expanding aliases "
                                        "(more than %u)",
                                        CONFIG_MAX_NODES);
                        b->failed = true;
                        return;
                }
                if (b->depth + target->height > CONFIG_MAX_DEPTH) {
                        config_error_at(&b->scope, (unsigned) m.line + 1, (unsigned) m.column + 1,
                                        "nesting is too deep (more than %u levels)",
                                        CONFIG_MAX_DEPTH);
                        b->failed = true;
                        return;
                }
                b->ctx->n_nodes += target->weight;
                builder_attach(b, target);      /* shared, not copied */
                return;
        }

        /* Keep the tree's shape with an invalid placeholder, and go on. */
        n = node_new(b, NODE_SCALAR, &e->start_mark, &e->end_mark, true);
        if (!n)
                return;
        n->complete = true;
        n->is_null = true;
        n->invalid = true;
        n->value = pool_strndup(&b->ctx->pool, "", 0);
        if (!n->value) {
                builder_oom(b);
                return;
        }
        if (target)
                config_error(&b->scope, n, "alias '*%s' refers to a node that contains it", name);
        else
                config_error(&b->scope, n, "undefined alias '*%s'", name);
        builder_attach(b, n);
}

static void builder_syntax_error(Builder *b, const yaml_parser_t *p) {
        unsigned line, col;

        if (p->error == YAML_MEMORY_ERROR) {
                builder_oom(b);
                return;
        }
        b->failed = true;
        if (p->error == YAML_READER_ERROR) {
                config_file_position(b->f, p->problem_offset, &line, &col);
                if (p->problem_value >= 0)
                        config_error_at(&b->scope, line, col, "invalid text: %s (#x%X)",
                                        p->problem, (unsigned) p->problem_value);
                else
                        config_error_at(&b->scope, line, col, "invalid text: %s", p->problem);
                return;
        }
        line = (unsigned) p->problem_mark.line + 1;
        col = (unsigned) p->problem_mark.column + 1;
        if (p->context)
                config_error_at(&b->scope, line, col, "syntax error: %s (%s at line %u, column %u)",
                                p->problem ? p->problem : "unknown problem", p->context,
                                (unsigned) p->context_mark.line + 1,
                                (unsigned) p->context_mark.column + 1);
        else
                config_error_at(&b->scope, line, col, "syntax error: %s",
                                p->problem ? p->problem : "unknown problem");
}

/* One event into the tree; *done once the document is over. */
static void builder_event(Builder *b, const yaml_event_t *e, bool *done) {
        switch (e->type) {
        case YAML_DOCUMENT_START_EVENT:
                if (++b->n_documents > 1) {
                        config_error_at(&b->scope, (unsigned) e->start_mark.line + 1,
                                        (unsigned) e->start_mark.column + 1,
                                        "only one YAML document is allowed per file");
                        *done = true;   /* keep the first, and check it */
                }
                break;
        case YAML_SCALAR_EVENT:
                builder_scalar(b, e);
                break;
        case YAML_SEQUENCE_START_EVENT:
                builder_start(b, e, NODE_SEQUENCE);
                break;
        case YAML_MAPPING_START_EVENT:
                builder_start(b, e, NODE_MAPPING);
                break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
                builder_end(b, e);
                break;
        case YAML_ALIAS_EVENT:
                builder_alias(b, e);
                break;
        case YAML_STREAM_END_EVENT:
                *done = true;
                break;
        default:
                break;
        }
}

/* The events kept from an earlier load of the same text (yamlcache.c): false when there are
 * none, or they prove not to be a whole stream, and the text is parsed. */
static bool parse_cached(Builder *b) {
        DiagMark mark = config_diags_mark(b->ctx);
        size_t n_nodes = b->ctx->n_nodes;
        CachedEvents c = {};
        yaml_event_t e;
        bool done = false, whole;

        if (!b->ctx->opts.cache_dir || yamlcache_fetch(b->ctx->opts.cache_dir, b->f, &c) < 0)
                return false;
        /* The scalars' values in the cached events end with a NUL: the nodes point into
         * them, and they are freed with the pool, not copied. */
        if (pool_keep(&b->ctx->pool, c.blob) == 0) {
                c.blob = NULL;
                b->strings_kept = true;
        }
        /* Read to the end even when the builder stops early: only a whole stream counts. */
        while (yamlcache_next(&c, &e))
                if (!done && !b->failed)
                        builder_event(b, &e, &done);
        whole = c.whole;
        yamlcache_done(&c);
        if (!whole) {
                /* Events that hash as written but are not a whole stream (a change of the
                 * encoding without a new format number): a miss after all. What the builder
                 * made of them goes, its diagnostics too; the text is parsed. */
                config_diags_undo(b->ctx, mark);
                b->ctx->n_nodes = n_nodes;
                builder_reset(b);
                return false;
        }
        if (done)
                b->ctx->config->n_files_cached++;
        return true;
}

static void parse_text(Builder *b) {
        _cleanup_free_ char *why = NULL;
        const char *cache_dir = b->ctx->opts.cache_dir;
        CacheRecording rec = { .failed = true };
        yaml_parser_t p;
        bool done = false;

        if (config_yaml_load(&why) < 0) {
                if (!why)
                        builder_oom(b);
                else
                        config_error_at(&b->scope, 0, 0, "%s", why);
                b->failed = true;
                return;
        }
        if (!config_yaml.parser_initialize(&p)) {
                builder_oom(b);
                return;
        }
        config_yaml.parser_set_input_string(&p, (const unsigned char *) b->f->source, b->f->size);
        /* Recorded for the cache when there is one. The events take some 1.5 times the text:
         * room for them at once, not by doubling. */
        if (cache_dir) {
                rec.cap = b->f->size * 2 + 4096;
                rec.data = malloc(rec.cap);
                rec.failed = !rec.data;
        }
        while (!done && !b->failed) {
                yaml_event_t e;

                if (!config_yaml.parser_parse(&p, &e)) {
                        builder_syntax_error(b, &p);
                        rec.failed = true;
                        break;
                }
                builder_event(b, &e, &done);
                if (!rec.failed)
                        yamlcache_record(&rec, &e);
                config_yaml.event_delete(&e);
        }
        config_yaml.parser_delete(&p);
        if (done && !b->failed && !rec.failed)
                (void) yamlcache_store(cache_dir, b->f, &rec);
        yamlcache_recording_done(&rec);
}

void config_file_parse(ConfigCtx *ctx, ConfigFile *f) {
        Builder b = { .ctx = ctx, .f = f, .scope = { .ctx = ctx, .file = f, .prefix = "" } };

        if (!parse_cached(&b))
                parse_text(&b);
        if (!b.failed) {
                f->root = TAKE_PTR(b.root);
                f->parsed = true;
        }
        builder_done(&b);
}
