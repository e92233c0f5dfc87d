/* SPDX-License-Identifier: MIT */
#include <stdlib.h>

#include "heap.h"
#include "tests.h"

static void check_heap(const Heap *h) {
        for (size_t i = 0; i < h->n; i++) {
                ASSERT_EQ(h->items[i]->index, i);
                if (i > 0)
                        ASSERT_TRUE(h->items[(i - 1) / 2]->key <= h->items[i]->key);
        }
}

TEST(random_operations_keep_order) {
        enum { N = 2000 };
        HeapEntry *e = calloc(N, sizeof(HeapEntry));
        Heap h = {};

        ASSERT_TRUE(e);
        srand(42);
        for (int i = 0; i < N; i++) {
                heap_entry_init(&e[i]);
                ASSERT_OK(heap_set_key(&h, &e[i], rand() % 100000));
        }
        check_heap(&h);
        for (int round = 0; round < 20000; round++) {
                HeapEntry *x = &e[rand() % N];

                switch (rand() % 3) {
                case 0:
                        heap_remove(&h, x);
                        ASSERT_EQ(x->index, HEAP_NOT_QUEUED);
                        break;
                default:
                        ASSERT_OK(heap_set_key(&h, x, rand() % 100000));
                }
        }
        check_heap(&h);
        /* Popping yields ascending keys. */
        int64_t last = INT64_MIN;
        HeapEntry *top;
        while ((top = heap_peek(&h))) {
                ASSERT_TRUE(top->key >= last);
                last = top->key;
                heap_remove(&h, top);
        }
        heap_done(&h);
        free(e);
}

TESTS_MAIN
