/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "strv.h"

char **strv_free(char **l) {
        if (!l)
                return NULL;
        for (char **p = l; *p; p++)
                free(*p);
        free(l);
        return NULL;
}

size_t strv_length(char *const *l) {
        size_t n = 0;

        while (l && l[n])
                n++;
        return n;
}

char **strv_copy(char *const *l) {
        size_t n = strv_length(l);
        char **c = calloc(n + 1, sizeof(char *));

        if (!c)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                c[i] = strdup(l[i]);
                if (!c[i])
                        return strv_free(c);
        }
        return c;
}

char **strv_pack(char *const *l) {
        size_t n = strv_length(l), size = (n + 1) * sizeof(char *);
        char **c, *p;

        for (size_t i = 0; i < n; i++)
                size += strlen(l[i]) + 1;
        c = malloc(size);
        if (!c)
                return NULL;
        p = (char *) (c + n + 1);
        for (size_t i = 0; i < n; i++) {
                size_t len = strlen(l[i]) + 1;

                c[i] = memcpy(p, l[i], len);
                p += len;
        }
        c[n] = NULL;
        return c;
}

bool strv_equal(char *const *a, char *const *b) {
        size_t n = strv_length(a);

        if (n != strv_length(b))
                return false;
        for (size_t i = 0; i < n; i++)
                if (strcmp(a[i], b[i]) != 0)
                        return false;
        return true;
}

bool strv_contains(char *const *l, const char *s) {
        for (; l && *l; l++)
                if (strcmp(*l, s) == 0)
                        return true;
        return false;
}

int strv_push(char ***l, size_t *n, char *s) {
        char **p = s ? reallocarray(*l, *n + 2, sizeof(char *)) : NULL;

        if (!p) {
                free(s);
                return -ENOMEM;
        }
        p[(*n)++] = s;
        p[*n] = NULL;
        *l = p;
        return 0;
}
