/* SPDX-License-Identifier: MIT */
#pragma once

/* NULL-terminated string vectors (argv, envp). Pure. */

#include <stdbool.h>
#include <stddef.h>

/* Frees every string and the vector; accepts NULL; returns NULL. */
char **strv_free(char **l);
static inline void strv_freep(char ***l) {
        strv_free(*l);
}
#define _cleanup_strv_free_ __attribute__((cleanup(strv_freep)))
size_t strv_length(char *const *l);
/* A deep copy; NULL when out of memory. A NULL l gives an empty vector. */
char **strv_copy(char *const *l);
/* A copy in one allocation, the pointers followed by the strings: release it with free(),
 * never strv_free(). NULL when out of memory; a NULL l gives an empty vector. */
char **strv_pack(char *const *l);
/* Same strings in the same order (NULL equals an empty vector). */
bool strv_equal(char *const *a, char *const *b);
/* Is s one of l's strings? (NULL l: no.) */
bool strv_contains(char *const *l, const char *s);
/* Append s (owned by the vector from now on) to *l, which holds *n strings. -ENOMEM (s is
 * freed) when out of memory, or when s is NULL (a failed strdup). */
int strv_push(char ***l, size_t *n, char *s);
