/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <unistd.h>

#include "fdio.h"

ssize_t read_full(int fd, void *buf, size_t size) {
        size_t done = 0;

        while (done < size) {
                ssize_t k = read(fd, (char *) buf + done, size - done);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                done += (size_t) k;
        }
        return (ssize_t) done;
}

int write_all(int fd, const void *buf, size_t size) {
        for (size_t done = 0; done < size;) {
                ssize_t k = write(fd, (const char *) buf + done, size - done);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -EIO;
                done += (size_t) k;
        }
        return 0;
}
