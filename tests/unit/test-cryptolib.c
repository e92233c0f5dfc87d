/* SPDX-License-Identifier: MIT */
/* The daemon's own path to libcrypto: dlopen() on first use, calls through sym_ pointers.
 * This binary does not link libcrypto (tests/meson.build), so what is tested here is the
 * loading itself; test-sigv4 checks the signatures with the library linked. */
#include <dlfcn.h>
#include <errno.h>
#include <string.h>

#include "cryptolib.h"
#include "sigv4.h"
#include "tests.h"

static void hex(const uint8_t *d, char out[static 65]) {
        for (size_t i = 0; i < 32; i++)
                (void) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

TEST(not_loaded_before_use) {
        /* RTLD_NOLOAD: only a library already in the process answers. */
        ASSERT_TRUE(!dlopen("libcrypto.so.3", RTLD_NOW | RTLD_NOLOAD));
}

TEST(sha256_through_dlopen) {
        uint8_t md[SIGV4_SHA256_LEN];
        char out[65];

        ASSERT_OK(cryptolib_sigv4.sha256("abc", 3, md));
        hex(md, out);
        ASSERT_STREQ(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        ASSERT_TRUE(dlopen("libcrypto.so.3", RTLD_NOW | RTLD_NOLOAD));
}

TEST(hmac_sha256_through_dlopen) {
        /* RFC 4231, test case 2. */
        uint8_t mac[SIGV4_SHA256_LEN];
        char out[65];
        const char *data = "what do ya want for nothing?";

        ASSERT_OK(cryptolib_sigv4.hmac_sha256("Jefe", 4, data, strlen(data), mac));
        hex(mac, out);
        ASSERT_STREQ(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(sigv4_with_the_loaded_library) {
        /* The empty payload's hash, as S3 requests without a body carry it. */
        char out[SIGV4_SHA256_HEX_MAX];

        ASSERT_OK(sigv4_sha256_hex(&cryptolib_sigv4, "", 0, out));
        ASSERT_STREQ(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TESTS_MAIN
