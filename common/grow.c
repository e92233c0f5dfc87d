/* SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdlib.h>

#include "grow.h"

void *grow_buffer(void *data, size_t *cap, size_t need, size_t first) {
        size_t c = *cap ? *cap : first ? first : 1;
        void *p;

        while (c < need) {
                if (c > SIZE_MAX / 2)
                        return NULL;
                c *= 2;
        }
        p = realloc(data, c);
        if (p)
                *cap = c;
        return p;
}
