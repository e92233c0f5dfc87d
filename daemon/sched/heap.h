/* SPDX-License-Identifier: MIT */
#pragma once

/* A binary min-heap of entries keyed by an instant, with O(log n) insert, remove and
 * re-key of any entry (each entry remembers its slot). The scheduler keeps one entry per
 * job keyed by its next firing, so finding what is due never scans all jobs. */

#include <stddef.h>
#include <stdint.h>

#define HEAP_NOT_QUEUED SIZE_MAX

typedef struct HeapEntry {      /* embed in the owner; find it back with container_of */
        int64_t key;            /* Unix seconds of the next firing */
        size_t index;           /* slot in the heap, HEAP_NOT_QUEUED when not in it */
} HeapEntry;

typedef struct Heap {
        HeapEntry **items;
        size_t n, allocated;
} Heap;

static inline void heap_entry_init(HeapEntry *e) {
        e->key = 0;
        e->index = HEAP_NOT_QUEUED;
}

/* Add e (not yet in the heap) with its current key. -ENOMEM on failure. */
int heap_push(Heap *h, HeapEntry *e);
/* Remove e if queued; no-op otherwise. */
void heap_remove(Heap *h, HeapEntry *e);
/* Change e's key (queued or not: a queued entry moves, else it is added). */
int heap_set_key(Heap *h, HeapEntry *e, int64_t key);
/* The earliest entry, or NULL when empty. */
static inline HeapEntry *heap_peek(const Heap *h) {
        return h->n > 0 ? h->items[0] : NULL;
}
/* The entries whose key is the earliest one (the top and those under it with its key),
 * into ret (room for h->n entries), in no particular order; their number. */
size_t heap_peek_all(const Heap *h, HeapEntry **ret);
void heap_done(Heap *h);
