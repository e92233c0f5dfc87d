/* SPDX-License-Identifier: MIT */
#pragma once

/* The project's non-cryptographic hashes. Some of their values are kept (cache file names,
 * local lease slots) or agreed on by a fleet ("H" fields, rendezvous ranks): never change
 * what they compute. */

#include <stddef.h>
#include <stdint.h>

#define FNV1A64_OFFSET UINT64_C(0xcbf29ce484222325)

/* 64-bit FNV-1a of the n bytes at p, continued from h (FNV1A64_OFFSET to start). */
static inline uint64_t fnv1a64(uint64_t h, const void *p, size_t n) {
        const unsigned char *s = p;

        for (size_t i = 0; i < n; i++)
                h = (h ^ s[i]) * UINT64_C(0x100000001b3);
        return h;
}

/* MurmurHash3's 64-bit finaliser: FNV's bits alone mix poorly for short, similar keys. */
static inline uint64_t fmix64(uint64_t k) {
        k ^= k >> 33;
        k *= UINT64_C(0xff51afd7ed558ccd);
        k ^= k >> 33;
        k *= UINT64_C(0xc4ceb9fe1a85ec53);
        k ^= k >> 33;
        return k;
}
