/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "heap.h"

static void heap_place(Heap *h, size_t i, HeapEntry *e) {
        h->items[i] = e;
        e->index = i;
}

static void heap_sift_up(Heap *h, size_t i) {
        HeapEntry *e = h->items[i];

        while (i > 0) {
                size_t parent = (i - 1) / 2;

                if (h->items[parent]->key <= e->key)
                        break;
                heap_place(h, i, h->items[parent]);
                i = parent;
        }
        heap_place(h, i, e);
}

static void heap_sift_down(Heap *h, size_t i) {
        HeapEntry *e = h->items[i];

        for (;;) {
                size_t c = 2 * i + 1;

                if (c >= h->n)
                        break;
                if (c + 1 < h->n && h->items[c + 1]->key < h->items[c]->key)
                        c++;
                if (e->key <= h->items[c]->key)
                        break;
                heap_place(h, i, h->items[c]);
                i = c;
        }
        heap_place(h, i, e);
}

int heap_push(Heap *h, HeapEntry *e) {
        if (h->n == h->allocated) {
                size_t a = h->allocated ? h->allocated * 2 : 64;
                HeapEntry **p = realloc(h->items, a * sizeof(HeapEntry *));

                if (!p)
                        return -ENOMEM;
                h->items = p;
                h->allocated = a;
        }
        heap_place(h, h->n++, e);
        heap_sift_up(h, e->index);
        return 0;
}

void heap_remove(Heap *h, HeapEntry *e) {
        size_t i = e->index;
        HeapEntry *last;

        if (i == HEAP_NOT_QUEUED)
                return;
        e->index = HEAP_NOT_QUEUED;
        last = h->items[--h->n];
        if (i == h->n)
                return;
        heap_place(h, i, last);
        heap_sift_up(h, i);
        heap_sift_down(h, last->index);
}

int heap_set_key(Heap *h, HeapEntry *e, int64_t key) {
        bool earlier = key < e->key;

        e->key = key;
        if (e->index == HEAP_NOT_QUEUED)
                return heap_push(h, e);
        if (earlier)
                heap_sift_up(h, e->index);
        else
                heap_sift_down(h, e->index);
        return 0;
}

size_t heap_peek_all(const Heap *h, HeapEntry **ret) {
        size_t n = 0;

        if (h->n == 0)
                return 0;
        ret[n++] = h->items[0];
        /* A child's key is at least its parent's: the matches form a subtree at the top,
         * found by following each match's children (ret doubles as the queue). */
        for (size_t q = 0; q < n; q++)
                for (size_t c = 2 * ret[q]->index + 1; c <= 2 * ret[q]->index + 2 && c < h->n; c++)
                        if (h->items[c]->key == h->items[0]->key)
                                ret[n++] = h->items[c];
        return n;
}

void heap_done(Heap *h) {
        for (size_t i = 0; i < h->n; i++)
                h->items[i]->index = HEAP_NOT_QUEUED;
        free(h->items);
        *h = (Heap) {};
}
