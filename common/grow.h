/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/* data (of *cap bytes) reallocated to hold at least need bytes: the capacity doubles from
 * first (or from *cap). The new pointer with *cap updated, or NULL (data and *cap left as
 * they were) when out of memory. */
void *grow_buffer(void *data, size_t *cap, size_t need, size_t first);
