/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cryptolib.h"
#include "dlib.h"
#include "macro.h"

/* The prototypes come from OpenSSL's headers: a mismatch fails to compile. */
static __typeof__(ERR_clear_error) *sym_ERR_clear_error;
static __typeof__(EVP_Digest) *sym_EVP_Digest;
static __typeof__(EVP_sha256) *sym_EVP_sha256;
static __typeof__(HMAC) *sym_HMAC;

DLIB_ELF_NOTE(crypto, "SigV4 signatures of the S3 lease", "recommended", "libcrypto.so.3");

static int cryptolib_load(void) {
        static Dlib lib;
        static const DlibSym syms[] = {
                DLIB_SYM(sym_ERR_clear_error, "ERR_clear_error"),
                DLIB_SYM(sym_EVP_Digest, "EVP_Digest"),
                DLIB_SYM(sym_EVP_sha256, "EVP_sha256"),
                DLIB_SYM(sym_HMAC, "HMAC"),
        };

        return dlib_load(&lib, "libcrypto.so.3", syms, ELEMENTSOF(syms));
}

/* The one boundary where libcrypto's error queue becomes an errno (STYLE B4). */
static int crypto_failed(void) {
        sym_ERR_clear_error();
        return -EIO;
}

static int crypto_sha256(const void *data, size_t len, uint8_t ret[static SIGV4_SHA256_LEN]) {
        unsigned n = 0;
        int r = cryptolib_load();

        if (r < 0)
                return r;
        if (sym_EVP_Digest(data, len, ret, &n, sym_EVP_sha256(), NULL) != 1 || n != SIGV4_SHA256_LEN)
                return crypto_failed();
        return 0;
}

static int crypto_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                              uint8_t ret[static SIGV4_SHA256_LEN]) {
        unsigned n = 0;
        int r = cryptolib_load();

        if (r < 0)
                return r;
        if (key_len > INT32_MAX)
                return -EINVAL;
        if (!sym_HMAC(sym_EVP_sha256(), key, (int) key_len, data, len, ret, &n) ||
            n != SIGV4_SHA256_LEN)
                return crypto_failed();
        return 0;
}

const SigV4Crypto cryptolib_sigv4 = {
        .sha256 = crypto_sha256,
        .hmac_sha256 = crypto_hmac_sha256,
};
