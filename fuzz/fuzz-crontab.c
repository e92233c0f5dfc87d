/* SPDX-License-Identifier: MIT */
/* libFuzzer target: crontab → job table (import-crontab). Whatever the input, every line is
 * either converted or reported, and a conversion without a problem loads as a table. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "crontab.h"
#include "strv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The table loads, or the fuzzer stops: a conversion that passed must pass `solocron check`. */
static void must_load(const char *yaml) {
        ConfigLoadOptions opts = {};
        ConfigDiags diags = {};
        Config *c = NULL;
        char path[64];
        int fd = memfd_create("fuzz.yaml", MFD_CLOEXEC);
        size_t n = strlen(yaml);

        if (fd < 0)
                return;
        if (write(fd, yaml, n) != (ssize_t) n) {
                close(fd);
                return;
        }
        (void) snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        if (config_load(path, &opts, &c, &diags) < 0) {
                for (size_t i = 0; i < diags.n; i++) {
                        char *line = config_diag_format(&diags.items[i]);

                        fprintf(stderr, "%s\n", line ? line : "?");
                        free(line);
                }
                fprintf(stderr, "--- table:\n%s\n", yaml);
                abort();
        }
        config_diags_done(&diags);
        config_free(c);
        close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        CrontabOptions o = { .source = "fuzz", .zone = "UTC", .zone_origin = "fuzz",
                             .user_column = size > 0 && data[0] & 1 };
        char *yaml = NULL, **problems = NULL;

        if (crontab_convert((const char *) data, size, &o, &yaml, &problems) < 0)
                return 0;
        if (!yaml)
                abort();
        for (char **p = problems; p && *p; p++)
                if (strncmp(*p, "fuzz:", 5) != 0)
                        abort();        /* every problem names its line */
        if (!problems)
                must_load(yaml);
        free(yaml);
        strv_free(problems);
        return 0;
}
