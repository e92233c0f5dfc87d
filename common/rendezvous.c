/* SPDX-License-Identifier: MIT */
/* Rendezvous hashing of firings over a fleet's members (see rendezvous.h). */
#include <string.h>

#include "rendezvous.h"

static uint64_t fnv1a(const void *data, size_t n, uint64_t h) {
        const unsigned char *p = data;

        for (size_t i = 0; i < n; i++) {
                h ^= p[i];
                h *= UINT64_C(0x100000001b3);
        }
        return h;
}

/* MurmurHash3's finaliser: FNV's high bits alone mix poorly for short, similar keys. */
static uint64_t fmix64(uint64_t k) {
        k ^= k >> 33;
        k *= UINT64_C(0xff51afd7ed558ccd);
        k ^= k >> 33;
        k *= UINT64_C(0xc4ceb9fe1a85ec53);
        k ^= k >> 33;
        return k;
}

uint64_t rendezvous_weight(const char *member, const char *job, int64_t scheduled) {
        uint64_t h = UINT64_C(0xcbf29ce484222325), t = (uint64_t) scheduled;
        unsigned char le[8];

        h = fnv1a(member, strlen(member) + 1, h);
        h = fnv1a(job, strlen(job) + 1, h);
        for (size_t i = 0; i < 8; i++)
                le[i] = (unsigned char) (t >> (8 * i));
        return fmix64(fnv1a(le, sizeof(le), h));
}

unsigned rendezvous_rank(const char *self, const char *const *members, size_t n,
                         const char *job, int64_t scheduled) {
        uint64_t mine = rendezvous_weight(self, job, scheduled);
        unsigned rank = 0;

        for (size_t i = 0; i < n; i++) {
                uint64_t w;
                int c = strcmp(members[i], self);

                if (c == 0)
                        continue;
                w = rendezvous_weight(members[i], job, scheduled);
                if (w > mine || (w == mine && c < 0))
                        rank++;
        }
        return rank;
}

unsigned rendezvous_turn(unsigned rank, unsigned candidates) {
        return rank < candidates ? rank : candidates + 1;
}

unsigned rendezvous_fallback(unsigned n, unsigned candidates) {
        return n > 0 && n - 1 < candidates ? n - 1 : candidates;
}

bool rendezvous_looks(unsigned rank, unsigned n, unsigned candidates) {
        return rank <= 1 || rank == rendezvous_fallback(n, candidates);
}
