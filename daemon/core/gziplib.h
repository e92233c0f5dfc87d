/* SPDX-License-Identifier: MIT */
#pragma once

/* gzip (RFC 1952) through zlib, loaded with dlopen() the first time an output upload asks for
 * it (output.s3.gzip): linked, libz would be mapped in every daemon, most of which never
 * compress anything. */

#include <stddef.h>

/* Loads zlib (once): 0, or -EOPNOTSUPP when it is not installed. */
int gzip_load(void);

/* in[0..n) compressed into a new buffer *ret of *ret_size bytes (the caller frees). Returns 0,
 * -EOPNOTSUPP (zlib is not installed), -ENOMEM or -EIO. */
int gzip_compress(const void *in, size_t n, char **ret, size_t *ret_size);
