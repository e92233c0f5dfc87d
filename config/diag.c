/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Diagnostics are collected in the context while every file is checked, then sorted by
 * (file, line, column) so the output reads top to bottom however the checks were ordered
 * (defaults before jobs, included files parsed before the main file is validated). */

/* Stop storing far beyond what is shown, so a hostile file cannot make the list grow. */
#define DIAGS_STORE_MAX (CONFIG_MAX_ERRORS * 10)
#define DIAG_MESSAGE_MAX 1024u

/* One diagnostic is one line: control characters from the file (a key or value with a
 * newline) are escaped, and a message quoting a huge value is cut. */
static char *message_clean(const char *m) {
        size_t n = 0, o = 0;
        char *out;

        for (const char *p = m; *p && n < DIAG_MESSAGE_MAX; p++)
                n += (unsigned char) *p < 0x20 || *p == 0x7f ? 4 : 1;
        out = malloc(n + 16);    /* room for the last escape and "..." */
        if (!out)
                return NULL;
        for (const char *p = m; *p && o < DIAG_MESSAGE_MAX; p++) {
                unsigned char c = (unsigned char) *p;

                if (c == '\n' || c == '\t' || c == '\r') {
                        out[o++] = '\\';
                        out[o++] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
                } else if (c < 0x20 || c == 0x7f)
                        o += (size_t) snprintf(out + o, 5, "\\x%02x", c);
                else
                        out[o++] = (char) c;
                if (o >= DIAG_MESSAGE_MAX && p[1]) {
                        while (o > 0 && ((unsigned char) out[o - 1] & 0xC0) == 0x80)
                                o--;    /* do not cut a UTF-8 sequence */
                        if (o > 0 && ((unsigned char) out[o - 1] & 0xC0) == 0xC0)
                                o--;
                        memcpy(out + o, "...", 3);
                        o += 3;
                        break;
                }
        }
        out[o] = 0;
        return out;
}

_printf_(8, 0)
static void diag_add_va(ConfigCtx *ctx, ConfigSeverity severity, const char *path,
                        size_t file_index, unsigned line, unsigned column, const char *prefix,
                        const char *fmt, va_list ap) {
        _cleanup_free_ char *msg = NULL, *full = NULL, *file = NULL;
        PendingDiag *p;

        if (ctx->n_diags >= DIAGS_STORE_MAX) {
                ctx->n_dropped++;
                return;
        }
        if (vasprintf(&msg, fmt, ap) < 0) {
                msg = NULL;
                ctx->oom = true;
                return;
        }
        if (asprintf(&full, "%s%s", prefix ? prefix : "", msg) < 0) {
                full = NULL;
                ctx->oom = true;
                return;
        }
        free(msg);
        msg = message_clean(full);
        if (!msg) {
                ctx->oom = true;
                return;
        }

        file = strdup(path);
        if (!file) {
                ctx->oom = true;
                return;
        }
        p = realloc(ctx->diags, (ctx->n_diags + 1) * sizeof(PendingDiag));
        if (!p) {
                ctx->oom = true;
                return;
        }
        ctx->diags = p;
        ctx->diags[ctx->n_diags] = (PendingDiag) {
                .d = {
                        .severity = severity,
                        .file = TAKE_PTR(file),
                        .line = line,
                        .column = line > 0 ? column : 0,
                        .message = TAKE_PTR(msg),
                },
                .file_index = file_index,
                .seq = ctx->n_diags,
        };
        ctx->n_diags++;
        if (severity == CONFIG_ERROR)
                ctx->n_errors++;
}

DiagMark config_diags_mark(const ConfigCtx *ctx) {
        return (DiagMark) { ctx->n_diags, ctx->n_errors, ctx->n_dropped };
}

void config_diags_undo(ConfigCtx *ctx, DiagMark m) {
        for (size_t i = m.n_diags; i < ctx->n_diags; i++) {
                free(ctx->diags[i].d.file);
                free(ctx->diags[i].d.message);
        }
        ctx->n_diags = m.n_diags;
        ctx->n_errors = m.n_errors;
        ctx->n_dropped = m.n_dropped;
}

void config_diag_add(ConfigCtx *ctx, ConfigSeverity severity, const ConfigFile *f,
                     unsigned line, unsigned column, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        diag_add_va(ctx, severity, f->path, f->index, line, column, NULL, fmt, ap);
        va_end(ap);
}

void config_diag_add_path(ConfigCtx *ctx, const char *path, size_t file_index,
                          const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        diag_add_va(ctx, CONFIG_ERROR, path, file_index, 0, 0, NULL, fmt, ap);
        va_end(ap);
}

static const char *scope_prefix(const Scope *s, char *buf, size_t size) {
        if (!s->job)
                return s->prefix;
        if (s->by_index) {
                (void) snprintf(buf, size, "job #%zu: ", s->job_index + 1);
                return buf;
        }
        return config_job_prefix(s->job, s->job_index, buf, size);
}

void config_error(const Scope *s, const Node *n, const char *fmt, ...) {
        char prefix[CONFIG_MAX_JOB_NAME + 16];
        va_list ap;

        va_start(ap, fmt);
        diag_add_va(s->ctx, CONFIG_ERROR, s->file->path, s->file->index, n ? n->line : 0,
                    n ? n->column : 0, scope_prefix(s, prefix, sizeof(prefix)), fmt, ap);
        va_end(ap);
}

void config_error_at(const Scope *s, unsigned line, unsigned column, const char *fmt, ...) {
        char prefix[CONFIG_MAX_JOB_NAME + 16];
        va_list ap;

        va_start(ap, fmt);
        diag_add_va(s->ctx, CONFIG_ERROR, s->file->path, s->file->index, line, column,
                    scope_prefix(s, prefix, sizeof(prefix)), fmt, ap);
        va_end(ap);
}

static int pending_compare(const void *a, const void *b) {
        const PendingDiag *x = a, *y = b;

        if (x->file_index != y->file_index)
                return x->file_index < y->file_index ? -1 : 1;
        if (x->d.line != y->d.line)
                return x->d.line < y->d.line ? -1 : 1;
        if (x->d.column != y->d.column)
                return x->d.column < y->d.column ? -1 : 1;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool pending_same(const PendingDiag *x, const PendingDiag *y) {
        return x->file_index == y->file_index && x->d.line == y->d.line &&
               x->d.column == y->d.column && x->d.severity == y->d.severity &&
               strcmp(x->d.message, y->d.message) == 0;
}

static void diag_done(ConfigDiag *d) {
        free(d->file);
        free(d->message);
        *d = (ConfigDiag) {};
}

int config_diags_flush(ConfigCtx *ctx, ConfigDiags *out) {
        size_t n_keep = 0, n_shown_errors = 0;
        bool truncated = ctx->n_dropped > 0;
        const char *main_path = NULL;
        ConfigDiag *items;

        if (ctx->n_diags > 0) {
                qsort(ctx->diags, ctx->n_diags, sizeof(PendingDiag), pending_compare);
                main_path = ctx->diags[0].d.file;
        }
        if (ctx->n_files > 0)
                main_path = ctx->files[0]->path;

        /* Aliased nodes are checked once per use; show each problem once. */
        for (size_t i = 0; i < ctx->n_diags; i++) {
                PendingDiag *p = &ctx->diags[i];

                if ((n_keep > 0 && pending_same(&ctx->diags[n_keep - 1], p)) ||
                    (p->d.severity == CONFIG_ERROR && n_shown_errors >= CONFIG_MAX_ERRORS)) {
                        if (p->d.severity == CONFIG_ERROR && n_shown_errors >= CONFIG_MAX_ERRORS)
                                truncated = true;
                        diag_done(&p->d);
                        continue;
                }
                if (p->d.severity == CONFIG_ERROR)
                        n_shown_errors++;
                ctx->diags[n_keep++] = *p;
        }
        ctx->n_diags = n_keep;

        items = realloc(out->items, (out->n + n_keep + 1) * sizeof(ConfigDiag));
        if (!items) {
                ctx->oom = true;
                return -ENOMEM;
        }
        out->items = items;
        for (size_t i = 0; i < n_keep; i++) {
                out->items[out->n++] = ctx->diags[i].d;
                if (ctx->diags[i].d.severity == CONFIG_ERROR)
                        out->n_errors++;
        }
        ctx->n_diags = 0;

        if (truncated && main_path) {
                ConfigDiag d = { .severity = CONFIG_ERROR };

                d.file = strdup(main_path);
                if (asprintf(&d.message, "too many errors; only the first %u are shown",
                             CONFIG_MAX_ERRORS) < 0)
                        d.message = NULL;
                if (!d.file || !d.message) {
                        diag_done(&d);
                        ctx->oom = true;
                        return -ENOMEM;
                }
                out->items[out->n++] = d;
                out->n_errors++;
        }
        return 0;
}

char *config_diag_format(const ConfigDiag *d) {
        const char *sev = d->severity == CONFIG_WARNING ? "warning: " : "";
        char *s;
        int r;

        if (d->line == 0)
                r = asprintf(&s, "%s: %s%s", d->file, sev, d->message);
        else if (d->column == 0)
                r = asprintf(&s, "%s:%u: %s%s", d->file, d->line, sev, d->message);
        else
                r = asprintf(&s, "%s:%u:%u: %s%s", d->file, d->line, d->column, sev, d->message);
        return r < 0 ? NULL : s;
}

void config_diags_done(ConfigDiags *d) {
        if (!d)
                return;
        for (size_t i = 0; i < d->n; i++)
                diag_done(&d->items[i]);
        free(d->items);
        *d = (ConfigDiags) {};
}

static char lower(char c) {
        return c >= 'A' && c <= 'Z' ? (char) (c - 'A' + 'a') : c;
}

/* Optimal string alignment distance (Levenshtein plus adjacent transpositions), ignoring
 * case. Words longer than the buffer are never "close". */
#define SUGGEST_MAX_LEN 64
static size_t edit_distance(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b);
        size_t d[SUGGEST_MAX_LEN + 1][SUGGEST_MAX_LEN + 1];

        if (la > SUGGEST_MAX_LEN || lb > SUGGEST_MAX_LEN)
                return SIZE_MAX;
        for (size_t i = 0; i <= la; i++)
                d[i][0] = i;
        for (size_t j = 0; j <= lb; j++)
                d[0][j] = j;
        for (size_t i = 1; i <= la; i++)
                for (size_t j = 1; j <= lb; j++) {
                        size_t cost = lower(a[i - 1]) != lower(b[j - 1]);
                        size_t v = d[i - 1][j] + 1;

                        if (d[i][j - 1] + 1 < v)
                                v = d[i][j - 1] + 1;
                        if (d[i - 1][j - 1] + cost < v)
                                v = d[i - 1][j - 1] + cost;
                        if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
                            lower(a[i - 2]) == lower(b[j - 1]) && d[i - 2][j - 2] + 1 < v)
                                v = d[i - 2][j - 2] + 1;
                        d[i][j] = v;
                }
        return d[la][lb];
}

const char *config_suggest(const char *word, const char *const *candidates, size_t n) {
        size_t len = strlen(word), best_d = SIZE_MAX, limit;
        const char *best = NULL;

        /* One edit for short words, else two or a third of the length, whichever is more. */
        limit = len <= 4 ? 1 : len / 3 > 2 ? len / 3 : 2;
        for (size_t i = 0; i < n; i++) {
                size_t d = edit_distance(word, candidates[i]);

                if (d <= limit && d < best_d) {
                        best_d = d;
                        best = candidates[i];
                }
        }
        return best;
}

const char *config_suggest_hint(const char *word, const char *const *candidates, size_t n,
                                char *buf, size_t size) {
        const char *s = config_suggest(word, candidates, n);

        if (!s || size == 0)
                return "";
        if ((size_t) snprintf(buf, size, " (did you mean '%s'?)", s) >= size)
                return "";
        return buf;
}
