/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the TZif reader and the POSIX TZ rule parser. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(const Tz *tz) {
        static const int64_t probes[] = { INT64_MIN / 2, -2000000000, 0, 1795413600, 4102444800,
                                          7258118400, INT64_MAX / 2 };

        for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
                TzOffset off;
                TzResolved res;

                tz_offset_at(tz, probes[i], &off);
                if (probes[i] < off.start || probes[i] >= off.end || !off.abbr)
                        abort();
                tz_resolve(tz, probes[i], &res);
                if (res.n < 0 || res.n > 2)
                        abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char path[64];
        Tz *tz = NULL;
        int fd;

        /* The bytes as a TZif file (through an absolute /proc path to a memfd)… */
        fd = memfd_create("fuzz.tzif", MFD_CLOEXEC);
        if (fd >= 0) {
                if (write(fd, data, size) == (ssize_t) size) {
                        (void) snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
                        if (tz_load(path, NULL, &tz) == 0)
                                exercise(tz);
                        tz = tz_free(tz);
                }
                close(fd);
        }

        /* …and as a POSIX TZ string (a name no zone file has). */
        if (size < 256 && !memchr(data, '/', size) && !memchr(data, '.', size)) {
                char *s = malloc(size + 1);

                if (!s)
                        return 0;
                memcpy(s, data, size);
                s[size] = 0;
                if (tz_load(s, "/nonexistent", &tz) == 0)
                        exercise(tz);
                tz_free(tz);
                free(s);
        }
        return 0;
}
