/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "parse.h"
#include "pidfile.h"

char *pidfile_default(void) {
        const char *dir = getenv("RUNTIME_DIRECTORY");
        char *p = NULL;

        if (dir && *dir)
                return asprintf(&p, "%s/solocron.pid", dir) < 0 ? NULL : p;
        if (geteuid() == 0)
                return strdup("/run/solocron.pid");
        dir = getenv("XDG_RUNTIME_DIR");
        if (dir && *dir)
                return asprintf(&p, "%s/solocron.pid", dir) < 0 ? NULL : p;
        return asprintf(&p, "/tmp/solocron-%u.pid", (unsigned) geteuid()) < 0 ? NULL : p;
}

/* Is pid a running solocron? (/proc/PID/comm says so.) */
static bool is_solocron(pid_t pid) {
        char path[64], comm[32] = {};
        FILE *f;

        (void) snprintf(path, sizeof(path), "/proc/%d/comm", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return false;
        if (!fgets(comm, sizeof(comm), f))
                comm[0] = 0;
        fclose(f);
        return strncmp(comm, "solocron", 8) == 0;
}

int pidfile_read(const char *path, pid_t *ret) {
        char buf[32] = {};
        uint64_t pid;
        ssize_t n;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        n = read(fd, buf, sizeof(buf) - 1);
        (void) close(fd);
        if (n < 0)
                return -EBADMSG;
        buf[strcspn(buf, "\n")] = 0;
        if (parse_uint64(buf, INT32_MAX, &pid) < 0 || pid == 0)
                return -EBADMSG;
        if (!is_solocron((pid_t) pid))
                return -ESRCH;
        *ret = (pid_t) pid;
        return 0;
}

int pidfile_write(const char *path, char **reterr_message) {
        _cleanup_free_ char *tmp = NULL;
        char buf[16];
        pid_t other;
        int fd, n;

        if (pidfile_read(path, &other) == 0 && other != getpid()) {
                if (asprintf(reterr_message, "solocron is already running as pid %d (pid file '%s'); "
                             "give this one its own --pid-file", (int) other, path) < 0)
                        *reterr_message = NULL;
                return -EEXIST;
        }
        if (asprintf(&tmp, "%s.tmp", path) < 0)
                return -ENOMEM;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                goto fail;
        n = snprintf(buf, sizeof(buf), "%d\n", (int) getpid());
        if (write(fd, buf, (size_t) n) != n) {
                (void) close(fd);
                goto fail;
        }
        (void) close(fd);
        if (rename(tmp, path) < 0)
                goto fail;
        return 0;
fail:
        n = -errno;
        (void) unlink(tmp);
        if (asprintf(reterr_message, "cannot write pid file '%s': %s (use --pid-file)", path,
                     strerror(-n)) < 0)
                *reterr_message = NULL;
        return n;
}

void pidfile_remove(const char *path) {
        pid_t pid;

        if (pidfile_read(path, &pid) == 0 && pid == getpid())
                (void) unlink(path);
}
