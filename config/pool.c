/* SPDX-License-Identifier: MIT */
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The load's node tree lives in a pool: allocation is a pointer bump, and the whole tree goes
 * at once with the load context. A 1000-job table is some 8000 nodes, their values and item
 * arrays, which malloc() and free() one by one cost a fifth of the load. */

#define POOL_BLOCK_SIZE (64 * 1024)

struct PoolBlock {
        PoolBlock *next;
        alignas(max_align_t) char data[];
};

void *pool_alloc(Pool *p, size_t size) {
        size_t a = alignof(max_align_t);
        PoolBlock *b;

        size = (size + a - 1) & ~(a - 1);
        if (size == 0)
                size = a;
        if (size <= p->left) {
                void *r = p->next;

                p->next += size;
                p->left -= size;
                return r;
        }
        /* A large allocation gets a block of its own; the current block stays in use. */
        if (size > POOL_BLOCK_SIZE / 4) {
                b = malloc(sizeof(PoolBlock) + size);
                if (!b)
                        return NULL;
                b->next = p->blocks ? p->blocks->next : NULL;
                if (p->blocks)
                        p->blocks->next = b;
                else
                        p->blocks = b;
                return b->data;
        }
        b = malloc(sizeof(PoolBlock) + POOL_BLOCK_SIZE);
        if (!b)
                return NULL;
        b->next = p->blocks;
        p->blocks = b;
        p->next = b->data + size;
        p->left = POOL_BLOCK_SIZE - size;
        return b->data;
}

char *pool_strndup(Pool *p, const char *s, size_t n) {
        char *c = pool_alloc(p, n + 1);

        if (!c)
                return NULL;
        memcpy(c, s, n);
        c[n] = 0;
        return c;
}

void pool_done(Pool *p) {
        while (p->blocks) {
                PoolBlock *b = p->blocks;

                p->blocks = b->next;
                free(b);
        }
        *p = (Pool) {};
}
