/* SPDX-License-Identifier: MIT */
/* The five libcrypto functions common/sigv4.c uses, resolved with dlopen() on first use
 * instead of linking libcrypto: mapping and relocating libcrypto costs about 1.4 MiB of
 * resident memory at start-up, which a daemon on the local lease never needs. (When S3 is
 * used, libcurl has loaded libcrypto already.) The definitions below take the place of the
 * library's own symbols in the daemon binary; their prototypes come from OpenSSL's headers,
 * so a mismatch fails to compile. Unit tests link the real libcrypto instead. */
#include <stdbool.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "dlib.h"
#include "macro.h"

static struct {
        __typeof__(ERR_clear_error) *err_clear_error;
        __typeof__(EVP_Digest) *evp_digest;
        __typeof__(EVP_sha256) *evp_sha256;
        __typeof__(HMAC) *hmac;
} crypto;

static bool cryptolib_load(void) {
        static Dlib lib;
        static const DlibSym syms[] = {
                DLIB_SYM(crypto.err_clear_error, "ERR_clear_error"),
                DLIB_SYM(crypto.evp_digest, "EVP_Digest"),
                DLIB_SYM(crypto.evp_sha256, "EVP_sha256"),
                DLIB_SYM(crypto.hmac, "HMAC"),
        };

        return dlib_load(&lib, "libcrypto.so.3", syms, ELEMENTSOF(syms)) >= 0;
}

void ERR_clear_error(void) {
        if (cryptolib_load())
                crypto.err_clear_error();
}

int EVP_Digest(const void *data, size_t count, unsigned char *md, unsigned int *size,
               const EVP_MD *type, ENGINE *impl) {
        return cryptolib_load() ? crypto.evp_digest(data, count, md, size, type, impl) : 0;
}

const EVP_MD *EVP_sha256(void) {
        return cryptolib_load() ? crypto.evp_sha256() : NULL;
}

unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len, const unsigned char *d,
                    size_t n, unsigned char *md, unsigned int *md_len) {
        return cryptolib_load() ? crypto.hmac(evp_md, key, key_len, d, n, md, md_len) : NULL;
}

/* Wiping secrets must not depend on the library being there. */
void OPENSSL_cleanse(void *ptr, size_t len) {
        volatile unsigned char *p = ptr;

        while (len--)
                *p++ = 0;
}
