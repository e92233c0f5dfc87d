/* SPDX-License-Identifier: MIT */
#pragma once

/* libcrypto for SigV4, loaded with dlopen() on first use instead of linked: mapping and
 * relocating libcrypto costs about 1.4 MiB of resident memory at start-up, which a daemon on
 * the local lease never needs (when S3 is used, libcurl has loaded it already). */

#include "sigv4.h"

/* SHA-256 and HMAC-SHA256 through libcrypto's own functions, called through pointers
 * (sym_*): nothing of libcrypto's is defined in our binary. Each returns -EOPNOTSUPP when
 * libcrypto cannot be loaded, -EIO when it fails. */
extern const SigV4Crypto cryptolib_sigv4;
