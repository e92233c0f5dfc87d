/* SPDX-License-Identifier: MIT */
#pragma once

/* An optional shared library, loaded with dlopen() the first time it is needed, for the
 * wrappers that keep one out of the idle daemon: sdlib.c (libsystemd), curlib.c (libcurl),
 * cryptolib.c (libcrypto). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* Records an optional library in the binary's ".note.dlopen" ELF note, as systemd does
 * (https://systemd.io/ELF_DLOPEN_METADATA/), so that packagers and tools see what may be
 * loaded at run time: `readelf --notes solocron`. One note per library:
 * DLIB_ELF_NOTE(curl, "fleet leases (etcd, S3)", "recommended", "libcurl.so.4"). */
#define DLIB_ELF_NOTE_TYPE 0x407c0c0a   /* "FDO" notes: dlopen metadata */
#define DLIB_ELF_NOTE_JSON(feature, description, priority, soname)                       \
        "[{\"feature\":\"" #feature "\",\"description\":\"" description "\","            \
        "\"priority\":\"" priority "\",\"soname\":[\"" soname "\"]}]"
#define DLIB_ELF_NOTE(feature, description, priority, soname)                            \
        __attribute__((used, section(".note.dlopen"), aligned(4)))                        \
        static const struct {                                                             \
                uint32_t n_namesz, n_descsz, n_type;                                      \
                char name[4];                                                             \
                char desc[(sizeof(DLIB_ELF_NOTE_JSON(feature, description, priority,      \
                                                     soname)) + 3) & ~(size_t) 3];         \
        } dlib_elf_note_##feature = {                                                     \
                .n_namesz = 4,                                                            \
                .n_descsz = sizeof(DLIB_ELF_NOTE_JSON(feature, description, priority, soname)), \
                .n_type = DLIB_ELF_NOTE_TYPE,                                             \
                .name = "FDO",                                                            \
                .desc = DLIB_ELF_NOTE_JSON(feature, description, priority, soname),       \
        }
