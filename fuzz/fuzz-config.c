/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the YAML job-table loader, from bytes to Config or diagnostics; each input
 * is also loaded through the table cache, which must give the same. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *fuzz_getenv(const char *name, void *userdata) {
        (void) userdata;
        return name[0] == 'A' ? "value" : NULL;
}

/* What a load gave: its result, every diagnostic and every job's name. */
static char *load(const char *path, const char *cache_dir) {
        ConfigLoadOptions opts = { .getenv = fuzz_getenv, .cache_dir = cache_dir };
        ConfigDiags diags = {};
        Config *c = NULL;
        char *text = NULL;
        size_t text_size = 0;
        FILE *f = open_memstream(&text, &text_size);
        int r;

        if (!f)
                abort();
        r = config_load(path, &opts, &c, &diags);
        if (r == 0 && !c)
                abort();
        if (r < 0 && diags.n_errors == 0 && r != -ENOMEM)
                abort();                /* a refused table always says why */
        fprintf(f, "%d\n", r);
        for (size_t i = 0; i < diags.n; i++) {
                char *line = config_diag_format(&diags.items[i]);

                fprintf(f, "%s\n", line ? line : "?");
                free(line);
        }
        for (size_t i = 0; c && i < c->n_jobs; i++)
                fprintf(f, "%s %s\n", c->jobs[i].name, c->jobs[i].schedule_text);
        config_diags_done(&diags);
        config_free(c);
        if (fclose(f) != 0)
                abort();
        return text;
}

/* The table cache (config/yamlcache.c): one directory for the process, ours and 0700,
 * removed at exit. */
static char cache[] = "/tmp/fuzz-config-cache-XXXXXX";

static void cache_remove(void) {
        DIR *d = opendir(cache);
        struct dirent *de;

        while (d && (de = readdir(d)))
                if (de->d_name[0] != '.')
                        (void) unlinkat(dirfd(d), de->d_name, 0);
        if (d)
                closedir(d);
        (void) rmdir(cache);
}

static const char *cache_dir(void) {
        static bool made;

        if (!made) {
                if (!mkdtemp(cache))
                        abort();
                made = true;
                atexit(cache_remove);
        }
        return cache;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char path[64], *plain, *recorded, *replayed;
        int fd;

        /* config_load() reads a path; a memfd gives one without touching the disk. */
        fd = memfd_create("fuzz.yaml", MFD_CLOEXEC);
        if (fd < 0)
                return 0;
        if (write(fd, data, size) != (ssize_t) size) {
                close(fd);
                return 0;
        }
        (void) snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        /* Without the cache, into it, and from it: the same table and diagnostics. */
        plain = load(path, NULL);
        recorded = load(path, cache_dir());
        replayed = load(path, cache_dir());
        if (strcmp(plain, recorded) != 0 || strcmp(plain, replayed) != 0)
                abort();
        free(plain);
        free(recorded);
        free(replayed);
        close(fd);
        return 0;
}
