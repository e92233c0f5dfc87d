/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

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
