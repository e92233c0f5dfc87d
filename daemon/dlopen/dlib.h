/* SPDX-License-Identifier: MIT */
#pragma once

/* An optional shared library, loaded with dlopen() the first time it is needed, for the
 * wrappers that keep one out of the idle daemon: sdlib.c (libsystemd), curlib.c (libcurl),
 * cryptolib.c (libcrypto). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "elfnote.h"

typedef struct Dlib {                   /* in static storage, zeroed: not tried yet */
        bool tried;
        int result;                     /* of the first dlib_load() */
} Dlib;

typedef struct DlibSym {
        const char *name;               /* as dlsym() knows it */
        void **ptr;                     /* where its address goes: a function pointer */
} DlibSym;

/* A DlibSym for the function pointer variable or field ptr. */
#define DLIB_SYM(ptr, name) { (name), (void **) &(ptr) }

/* Loads the library soname once (RTLD_NOW | RTLD_NODELETE: it is never unmapped, so the
 * addresses stay valid) and stores the address of each of the n_syms symbols through its
 * ptr. Later calls return what the first returned: 0, or -EOPNOTSUPP when the library is not
 * installed or lacks a symbol (then use none of the pointers). Not thread-safe: the daemon
 * loads from its loop thread only. */
int dlib_load(Dlib *lib, const char *soname, const DlibSym *syms, size_t n_syms);
