/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "macro.h"
#include "reterr.h"
#include "secretfile.h"

int secret_file_read(const char *path, const char *what, char **ret, char **reterr_message) {
        _cleanup_free_ char *line = NULL;
        struct stat st;
        size_t cap = 0;
        ssize_t n;
        FILE *f;
        int r;

        f = fopen(path, "re");
        if (!f) {
                r = -errno;
                return reterr_printf(reterr_message, r, "%s '%s': %s", what, path, strerror(-r));
        }
        if (fstat(fileno(f), &st) < 0 || (st.st_mode & 0077)) {
                (void) fclose(f);
                return reterr_printf(reterr_message, -EPERM, "%s '%s' may be read by others "
                                     "(mode %03o): chmod 600 it", what, path,
                                     (unsigned) (st.st_mode & 0777));
        }
        n = getline(&line, &cap, f);
        (void) fclose(f);
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                line[--n] = 0;
        if (n <= 0)
                return reterr_printf(reterr_message, -EINVAL, "%s '%s' is empty", what, path);
        *ret = TAKE_PTR(line);
        return 0;
}
