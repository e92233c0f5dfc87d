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

/* heap_peek_all(): every entry with the earliest key, each once, and no other. */
TEST(peek_all_finds_every_entry_with_the_earliest_key) {
        enum { N = 500 };
        HeapEntry *e = calloc(N, sizeof(HeapEntry)), **all = calloc(N, sizeof(HeapEntry *));
        Heap h = {};

        ASSERT_TRUE(e && all);
        ASSERT_EQ(heap_peek_all(&h, all), 0);
        srand(7);
        for (int round = 0; round < 50; round++) {
                size_t want = 0, n;

                for (int i = 0; i < N; i++) {
                        heap_entry_init(&e[i]);
                        ASSERT_OK(heap_set_key(&h, &e[i], 10 + rand() % (round + 2)));
                }
                for (int i = 0; i < N; i++)
                        want += e[i].key == heap_peek(&h)->key;
                n = heap_peek_all(&h, all);
                ASSERT_EQ(n, want);
                for (size_t i = 0; i < n; i++) {
                        ASSERT_EQ(all[i]->key, heap_peek(&h)->key);
                        for (size_t k = 0; k < i; k++)
                                ASSERT_TRUE(all[k] != all[i]);
                }
                for (int i = 0; i < N; i++)
                        heap_remove(&h, &e[i]);
        }
        heap_done(&h);
        free(all);
        free(e);
}

TESTS_MAIN
