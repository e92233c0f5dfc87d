/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include <zlib.h>

#include "dlib.h"
#include "gziplib.h"
#include "macro.h"

/* The prototypes come from zlib.h: a mismatch fails to compile. deflateInit2() is a macro
 * over deflateInit2_(). */
static __typeof__(deflateInit2_) *sym_deflateInit2_;
static __typeof__(deflate) *sym_deflate;
static __typeof__(deflateEnd) *sym_deflateEnd;
static __typeof__(deflateBound) *sym_deflateBound;
static __typeof__(zlibVersion) *sym_zlibVersion;

DLIB_ELF_NOTE(zlib, "gzip of run output kept in S3 (output.s3.gzip)", "suggested", "libz.so.1");

int gzip_load(void) {
        static Dlib lib;
        static const DlibSym syms[] = {
                DLIB_SYM(sym_deflateInit2_, "deflateInit2_"),
                DLIB_SYM(sym_deflate, "deflate"),
                DLIB_SYM(sym_deflateEnd, "deflateEnd"),
                DLIB_SYM(sym_deflateBound, "deflateBound"),
                DLIB_SYM(sym_zlibVersion, "zlibVersion"),
        };

        return dlib_load(&lib, "libz.so.1", syms, ELEMENTSOF(syms));
}

int gzip_compress(const void *in, size_t n, char **ret, size_t *ret_size) {
        z_stream z = {};
        size_t bound;
        char *out;
        int r = gzip_load();

        if (r < 0)
                return r;
        if (n > UINT32_MAX)
                return -EINVAL;
        /* windowBits 15 + 16: a gzip header and trailer instead of zlib's. */
        if (sym_deflateInit2_(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                              sym_zlibVersion(), (int) sizeof(z_stream)) != Z_OK)
                return -ENOMEM;
        bound = sym_deflateBound(&z, (uLong) n);
        out = malloc(bound ?: 1);
        if (!out) {
                (void) sym_deflateEnd(&z);
                return -ENOMEM;
        }
        z.next_in = (Bytef *) in;
        z.avail_in = (uInt) n;
        z.next_out = (Bytef *) out;
        z.avail_out = (uInt) bound;
        r = sym_deflate(&z, Z_FINISH);
        *ret_size = z.total_out;
        (void) sym_deflateEnd(&z);
        if (r != Z_STREAM_END) {
                free(out);
                return -EIO;
        }
        /* Give back what the bound over-estimated: only the object stays while it uploads. */
        *ret = realloc(out, *ret_size ?: 1) ?: out;
        return 0;
}
