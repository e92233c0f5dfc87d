/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The load's node tree lives in a pool: allocation is a pointer bump, and the whole tree goes
 * at once with the load context. A 1000-job table is some 7000 nodes, their values and item
 * arrays, which malloc() and free() one by one cost a fifth of the load. */

#define POOL_BLOCK_SIZE (64 * 1024)
#define POOL_ALIGN 8    /* the tree's nodes and item arrays need no more */

struct PoolBlock {
        PoolBlock *next;
        alignas(max_align_t) char data[];
};

/* size bytes aligned to align (a power of two), from the current block when they fit. */
static void *pool_take(Pool *p, size_t size, size_t align) {
        size_t pad = (size_t) -(uintptr_t) p->next & (align - 1);
        PoolBlock *b;

        if (p->next && pad <= p->left && size <= p->left - pad) {
                char *r = p->next + pad;

                p->next = r + size;
                p->left -= pad + size;
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

void *pool_alloc(Pool *p, size_t size) {
        return pool_take(p, size ? size : 1, POOL_ALIGN);
}

/* Text needs no alignment: a value of a few bytes takes a few bytes, not 16. */
char *pool_strndup(Pool *p, const char *s, size_t n) {
        char *c = pool_take(p, n + 1, 1);

        if (!c)
                return NULL;
        memcpy(c, s, n);
        c[n] = 0;
        return c;
}

struct PoolKept {
        PoolKept *next;
        void *mem;
};

int pool_keep(Pool *p, void *mem) {
        PoolKept *k = pool_alloc(p, sizeof(PoolKept));

        if (!k)
                return -ENOMEM;
        *k = (PoolKept) { .next = p->kept, .mem = mem };
        p->kept = k;
        return 0;
}

void pool_done(Pool *p) {
        for (PoolKept *k = p->kept; k; k = k->next)
                free(k->mem);
        while (p->blocks) {
                PoolBlock *b = p->blocks;

                p->blocks = b->next;
                free(b);
        }
        *p = (Pool) {};
}
