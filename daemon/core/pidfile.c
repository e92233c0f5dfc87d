/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "macro.h"
#include "reterr.h"
#include "parse.h"
#include "pidfile.h"

/* Without a runtime directory, a non-root daemon's pid file is in a directory of its own in
 * /tmp, not at a name there that anyone could plant first. */
#define PIDFILE_TMP_DIR "/tmp/solocron-%u"

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
        return asprintf(&p, PIDFILE_TMP_DIR "/solocron.pid", (unsigned) geteuid()) < 0 ? NULL : p;
}

/* The default directory in /tmp: made 0700, and used only when it is a real directory of
 * ours that nobody else can write (else someone made it first: refuse). */
static int private_tmp_dir(const char *path, char **reterr_message) {
        char dir[64];
        struct stat st;

        (void) snprintf(dir, sizeof(dir), PIDFILE_TMP_DIR, (unsigned) geteuid());
        if (strncmp(path, dir, strlen(dir)) != 0 || path[strlen(dir)] != '/')
                return 0;       /* not the default */
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                goto fail;
        if (lstat(dir, &st) < 0)
                goto fail;
        if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 0077)) {
                return reterr_printf(reterr_message, -EPERM, "refusing '%s' for the pid file: not "
                                     "a directory of uid %u that only it can use (remove it, or "
                                     "use --pid-file)", dir, (unsigned) geteuid());
        }
        return 0;
fail: {
        int r = -errno;

        return reterr_printf(reterr_message, r, "cannot create '%s': %s (use --pid-file)", dir,
                             strerror(-r));
}
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

        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
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
        char buf[16];
        pid_t other;
        int n, r;

        r = private_tmp_dir(path, reterr_message);
        if (r < 0)
                return r;
        if (pidfile_read(path, &other) == 0 && other != getpid()) {
                return reterr_printf(reterr_message, -EEXIST, "solocron is already running as pid "
                                     "%d (pid file '%s'); give this one its own --pid-file",
                                     (int) other, path);
        }
        n = snprintf(buf, sizeof(buf), "%d\n", (int) getpid());
        r = atomicfile_write(path, buf, (size_t) n, 0644, false);
        if (r < 0)
                return reterr_printf(reterr_message, r, "cannot write pid file '%s': %s (use "
                                     "--pid-file)", path, strerror(-r));
        return 0;
}

void pidfile_remove(const char *path) {
        pid_t pid;

        if (pidfile_read(path, &pid) == 0 && pid == getpid())
                (void) unlink(path);
}
