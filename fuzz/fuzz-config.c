/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the YAML job-table loader, from bytes to Config or diagnostics. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *fuzz_getenv(const char *name, void *userdata) {
        (void) userdata;
        return name[0] == 'A' ? "value" : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ConfigLoadOptions opts = { .getenv = fuzz_getenv };
        ConfigDiags diags = {};
        Config *c = NULL;
        char path[64];
        int fd, r;

        /* config_load() reads a path; a memfd gives one without touching the disk. */
        fd = memfd_create("fuzz.yaml", MFD_CLOEXEC);
        if (fd < 0)
                return 0;
        if (write(fd, data, size) != (ssize_t) size) {
                close(fd);
                return 0;
        }
        (void) snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        r = config_load(path, &opts, &c, &diags);
        if (r == 0 && !c)
                abort();
        if (r < 0 && diags.n_errors == 0)
                abort();                /* a refused table always says why */
        for (size_t i = 0; i < diags.n; i++)
                free(config_diag_format(&diags.items[i]));
        config_diags_done(&diags);
        config_free(c);
        close(fd);
        return 0;
}
