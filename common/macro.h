/* SPDX-License-Identifier: MIT */
#pragma once

/* Small helpers shared by every layer: cleanup attributes and array sizes. */

#include <stdlib.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))

#include <stddef.h>

#define container_of(ptr, type, member) ((type *) ((char *) (ptr) - offsetof(type, member)))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* Hand a pointer out of a _cleanup_ scope. */
#define TAKE_PTR(p)                              \
        ({                                       \
                __typeof__(p) _ptr_ = (p);       \
                (p) = NULL;                      \
                _ptr_;                           \
        })

#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)  \
        static inline void func##p(type *p) {    \
                if (*p)                          \
                        func(*p);                \
        }

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

/* free(p), and NULL for the pointer it came from: `p = mfree(p);`. */
static inline void *mfree(void *p) {
        free(p);
        return NULL;
}
