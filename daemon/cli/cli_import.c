/* SPDX-License-Identifier: MIT */
/* `solocron import-crontab`: a crontab on stdout as a job table (common/crontab.c converts;
 * this reads the file, finds the zone cron ran in, and reports). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "crontab.h"
#include "fdio.h"
#include "macro.h"
#include "strv.h"
#include "tz.h"

#define IMPORT_MAX_BYTES (16u << 20)    /* a crontab larger than 16 MiB is refused */

/* All of fd, at most IMPORT_MAX_BYTES. */
static int read_all(int fd, char **ret, size_t *ret_n) {
        _cleanup_free_ char *buf = NULL;
        size_t n = 0, cap = 0;

        for (;;) {
                ssize_t k;

                if (n == cap) {
                        char *p;

                        if (cap >= IMPORT_MAX_BYTES)
                                return -EFBIG;
                        cap = cap ? cap * 2 : 65536;
                        p = realloc(buf, cap + 1);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                }
                k = read_full(fd, buf + n, cap - n);
                if (k < 0)
                        return (int) k;
                n += (size_t) k;
                if (n < cap)
                        break;          /* end of file */
        }
        if (!buf && !(buf = malloc(1)))
                return -ENOMEM;
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        *ret_n = n;
        return 0;
}

/* The zone cron ran in on this machine: /etc/localtime's link into zoneinfo, else Debian's
 * /etc/timezone, else UTC (glibc's choice without /etc/localtime). */
static void machine_zone(char *buf, size_t size, const char **ret_origin) {
        char link[512];
        ssize_t k = readlink("/etc/localtime", link, sizeof(link) - 1);
        const char *z;
        FILE *f;

        if (k > 0) {
                link[k] = 0;
                z = strstr(link, "zoneinfo/");
                if (z && snprintf(buf, size, "%s", z + strlen("zoneinfo/")) < (int) size) {
                        *ret_origin = "this machine's, from /etc/localtime; --timezone sets "
                                      "another";
                        return;
                }
        }
        f = fopen("/etc/timezone", "re");
        if (f) {
                bool ok = fgets(buf, (int) size, f) && buf[strspn(buf, " \t\n")];

                fclose(f);
                buf[strcspn(buf, " \t\n")] = 0;
                if (ok) {
                        *ret_origin = "this machine's, from /etc/timezone; --timezone sets another";
                        return;
                }
        }
        (void) snprintf(buf, size, "UTC");
        *ret_origin = "this machine names no zone, so UTC; --timezone sets another";
}

/* The files of the system format: /etc/crontab and /etc/cron.d/NAME. */
static bool system_crontab(const char *path) {
        const char *slash = strrchr(path, '/');

        return strcmp(path, "/etc/crontab") == 0 ||
               (slash && slash - path == 11 && strncmp(path, "/etc/cron.d", 11) == 0);
}

int cli_import_crontab(int argc, char **argv) {
        static const struct option options[] = {
                { "user-column", no_argument, NULL, 'u' },
                { "timezone", required_argument, NULL, 'z' },
                { "force", no_argument, NULL, 'f' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        CrontabOptions opts = {};
        const char *arg_file = "-", *arg_zone = NULL;
        bool arg_user_column = false, arg_force = false;
        _cleanup_free_ char *text = NULL, *yaml = NULL;
        _cleanup_strv_free_ char **problems = NULL;
        char zone[256];
        size_t n = 0;
        int fd, o, r;

        while ((o = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (o) {
                case 'u':
                        arg_user_column = true;
                        break;
                case 'z':
                        arg_zone = optarg;
                        break;
                case 'f':
                        arg_force = true;
                        break;
                case 'h':
                        printf("Usage: solocron import-crontab [FILE|-] [--user-column] "
                               "[--timezone ZONE] [--force]\n"
                               "Print a crontab as a job table; lines that cannot be converted are "
                               "reported (exit 1 unless --force).\n");
                        return EXIT_OK;
                default:
                        return EXIT_USAGE;
                }
        if (argc - optind > 1) {
                fprintf(stderr, "solocron import-crontab: unexpected argument '%s'\n",
                        argv[optind + 1]);
                return EXIT_USAGE;
        }
        if (optind < argc)
                arg_file = argv[optind];

        if (arg_zone) {
                Tz *tz = NULL;

                r = tz_load(arg_zone, NULL, &tz);
                tz_free(tz);
                if (r < 0) {
                        fprintf(stderr, "solocron import-crontab: --timezone: unknown time "
                                "zone '%s' (use an IANA name such as Europe/Berlin, or UTC)\n",
                                arg_zone);
                        return EXIT_USAGE;
                }
                opts.zone = arg_zone;
                opts.zone_origin = "--timezone";
        } else {
                machine_zone(zone, sizeof(zone), &opts.zone_origin);
                opts.zone = zone;
        }
        opts.user_column = arg_user_column || system_crontab(arg_file);
        opts.source = strcmp(arg_file, "-") == 0 ? "(stdin)" : arg_file;

        fd = strcmp(arg_file, "-") == 0 ? STDIN_FILENO : open(arg_file, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "solocron import-crontab: cannot open '%s': %m\n", arg_file);
                return EXIT_FAILURE_RUNTIME;
        }
        r = read_all(fd, &text, &n);
        if (fd != STDIN_FILENO)
                (void) close(fd);
        if (r < 0) {
                fprintf(stderr, "solocron import-crontab: cannot read '%s': %s\n", opts.source,
                        r == -EFBIG ? "larger than 16 MiB" : strerror(-r));
                return EXIT_FAILURE_RUNTIME;
        }
        r = crontab_convert(text, n, &opts, &yaml, &problems);
        if (r < 0) {
                fprintf(stderr, "solocron import-crontab: %s\n", strerror(-r));
                return EXIT_FAILURE_RUNTIME;
        }
        for (char **p = problems; p && *p; p++)
                fprintf(stderr, "%s\n", *p);
        if (problems && !arg_force) {
                fprintf(stderr, "%s: %zu line%s not converted; nothing printed (--force prints "
                        "the table with them as comments)\n", opts.source, strv_length(problems),
                        strv_length(problems) == 1 ? "" : "s");
                return EXIT_FAILURE_RUNTIME;
        }
        fputs(yaml, stdout);
        if (fflush(stdout) != 0) {
                fprintf(stderr, "solocron import-crontab: cannot write: %m\n");
                return EXIT_FAILURE_RUNTIME;
        }
        return EXIT_OK;
}
