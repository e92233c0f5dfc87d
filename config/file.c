/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdio.h"
#include "internal.h"

/* One config file: its bytes (read whole, size-capped), positions in them, and its tree. */

ConfigFile *config_file_free(ConfigFile *f) {
        if (!f)
                return NULL;
        free(f->path);          /* f->root is in the context's pool */
        free(f->source);
        free(f->line_starts);
        free(f);
        return NULL;
}

static int file_index_lines(ConfigFile *f) {
        size_t n = 1;

        if (f->line_starts)
                return 0;
        for (size_t i = 0; i < f->size; i++)
                n += f->source[i] == '\n';
        f->line_starts = calloc(n, sizeof(size_t));
        if (!f->line_starts)
                return -ENOMEM;
        f->n_lines = 0;
        f->line_starts[f->n_lines++] = 0;
        for (size_t i = 0; i < f->size; i++)
                if (f->source[i] == '\n')
                        f->line_starts[f->n_lines++] = i + 1;
        return 0;
}

/* Byte offset of 0-based (line, column in characters), or SIZE_MAX. */
size_t config_file_offset(ConfigFile *f, unsigned line0, unsigned col0) {
        size_t o;

        if (file_index_lines(f) < 0 || line0 >= f->n_lines)
                return SIZE_MAX;
        o = f->line_starts[line0];
        for (unsigned c = 0; c < col0; c++) {
                if (o >= f->size || f->source[o] == '\n')
                        return SIZE_MAX;
                o++;
                while (o < f->size && ((unsigned char) f->source[o] & 0xC0) == 0x80)
                        o++;
        }
        return o;
}

/* 1-based (line, column) of a byte offset, for libyaml's reader errors. */
void config_file_position(ConfigFile *f, size_t offset, unsigned *ret_line,
                          unsigned *ret_col) {
        size_t lo = 0, hi;
        unsigned col = 1;

        if (file_index_lines(f) < 0) {
                *ret_line = *ret_col = 1;
                return;
        }
        hi = f->n_lines;
        while (hi - lo > 1) {   /* last line start <= offset */
                size_t mid = (lo + hi) / 2;

                if (f->line_starts[mid] <= offset)
                        lo = mid;
                else
                        hi = mid;
        }
        for (size_t i = f->line_starts[lo]; i < offset && i < f->size; i++)
                col += ((unsigned char) f->source[i] & 0xC0) != 0x80;
        *ret_line = (unsigned) lo + 1;
        *ret_col = col;
}

/* Reads the whole file, refusing non-regular files and anything over the size limit. */
static int file_read(const char *path, char **ret, size_t *ret_size, struct stat *ret_st) {
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t size = 0;
        ssize_t k;
        int fd, r = 0;

        /* O_NONBLOCK: a FIFO must not hang the load; it is refused below anyway. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                r = -errno;
                goto finish;
        }
        if (S_ISDIR(st.st_mode)) {
                r = -EISDIR;
                goto finish;
        }
        if (!S_ISREG(st.st_mode)) {
                r = -EBADFD;
                goto finish;
        }
        if (st.st_size > (off_t) CONFIG_MAX_FILE_SIZE) {
                r = -EFBIG;
                goto finish;
        }
        buf = malloc((size_t) st.st_size + 1);
        if (!buf) {
                r = -ENOMEM;
                goto finish;
        }
        /* Read at most st_size bytes: a file growing meanwhile is cut, never overflows. */
        k = read_full(fd, buf, (size_t) st.st_size);
        if (k < 0) {
                r = (int) k;
                goto finish;
        }
        size = (size_t) k;
        buf[size] = 0;
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        *ret_st = st;
finish:
        (void) close(fd);
        return r;
}

static const char *read_error_string(int r, char *buf, size_t size) {
        if (r == -EBADFD)
                return "not a regular file";
        if (r == -EFBIG) {
                (void) snprintf(buf, size, "file is larger than %u MiB",
                                CONFIG_MAX_FILE_SIZE / (1024 * 1024));
                return buf;
        }
        return strerror(-r);
}

ConfigFile *config_file_load(ConfigCtx *ctx, const char *path, ConfigFile *parent,
                             const Scope *from, const Node *from_node, int *reterr) {
        _cleanup_(config_file_freep) ConfigFile *f = NULL;
        ConfigFile **files;
        char **paths;
        struct stat st = {};
        char buf[64];
        int r;

        f = calloc(1, sizeof(ConfigFile));
        if (!f || !(f->path = strdup(path))) {
                ctx->oom = true;
                *reterr = -ENOMEM;
                return NULL;
        }
        r = file_read(path, &f->source, &f->size, &st);
        if (r == -ENOMEM) {
                ctx->oom = true;
                *reterr = r;
                return NULL;
        }
        if (r < 0) {
                if (from)
                        config_error(from, from_node, "cannot read '%s': %s", path,
                                     read_error_string(r, buf, sizeof(buf)));
                else
                        config_diag_add_path(ctx, path, ctx->n_files, "cannot read '%s': %s",
                                             path, read_error_string(r, buf, sizeof(buf)));
                *reterr = r;
                return NULL;
        }
        f->dev = st.st_dev;
        f->ino = st.st_ino;
        f->parent = parent;
        f->depth = parent ? parent->depth + 1 : 0;

        /* The Config lists every file read, in the same order: jobs point at its copy. */
        files = realloc(ctx->files, (ctx->n_files + 1) * sizeof(ConfigFile *));
        if (files)
                ctx->files = files;
        paths = files ? realloc(ctx->config->files, (ctx->n_files + 2) * sizeof(char *)) : NULL;
        if (paths)
                ctx->config->files = paths;
        if (!paths || !(paths[ctx->n_files] = strdup(path))) {
                ctx->oom = true;
                *reterr = -ENOMEM;
                return NULL;
        }
        paths[ctx->n_files + 1] = NULL;
        f->index = ctx->n_files;
        ctx->files[ctx->n_files++] = f;
        config_file_parse(ctx, f);
        return TAKE_PTR(f);
}
