/* SPDX-License-Identifier: MIT */
/* `solocron exec-job`: the small helper that a job runs through when it needs what
 * posix_spawn() cannot set: supplementary groups (initgroups), umask, nice and rlimits. It
 * applies them in a safe order (nice and rlimits while still privileged, then groups, gid,
 * uid), then execs the command. Internal: spawner.c builds its command line. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec_job.h"
#include "parse.h"

/* Exit codes of the helper itself, as a shell would use them. */
#define EXIT_SETUP_FAILED 125
#define EXIT_CANNOT_EXEC 126
#define EXIT_NOT_FOUND 127

static int die(const char *what, const char *arg) {
        fprintf(stderr, "solocron exec-job: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "",
                strerror(errno));
        return EXIT_SETUP_FAILED;
}

static int apply_rlimit(const char *spec) {
        /* RESOURCE:SOFT:HARD, all decimal (RLIM_INFINITY spelled as its value). */
        char res[16], soft[24], hard[24];
        uint64_t s, h;
        int resource;

        if (sscanf(spec, "%15[0-9]:%23[0-9]:%23[0-9]", res, soft, hard) != 3 ||
            parse_int(res, 0, RLIMIT_NLIMITS - 1, &resource) < 0 ||
            parse_uint64(soft, UINT64_MAX, &s) < 0 || parse_uint64(hard, UINT64_MAX, &h) < 0) {
                errno = EINVAL;
                return die("bad --rlimit", spec);
        }
        if (setrlimit(resource, &(struct rlimit) { .rlim_cur = s, .rlim_max = h }) < 0)
                return die("setrlimit", spec);
        return 0;
}

int exec_job_main(int argc, char **argv) {
        static const struct option options[] = {
                { "uid", required_argument, NULL, 'u' },
                { "gid", required_argument, NULL, 'g' },
                { "initgroups", required_argument, NULL, 'i' },
                { "umask", required_argument, NULL, 'm' },
                { "nice", required_argument, NULL, 'n' },
                { "rlimit", required_argument, NULL, 'r' },
                {}
        };
        const char *initgroups_user = NULL;
        uint64_t uid = UINT64_MAX, gid = UINT64_MAX, mask;
        pid_t parent = getppid();
        int o, r, deathsig = 0;

        /* Changing credentials clears the parent-death signal spawner.c set: it is set again
         * below, so that this job, too, dies with a SIGKILLed daemon. */
        (void) prctl(PR_GET_PDEATHSIG, &deathsig);
        while ((o = getopt_long(argc, argv, "+", options, NULL)) >= 0)
                switch (o) {
                case 'u':
                        if (parse_uint64(optarg, UINT32_MAX - 1, &uid) < 0)
                                return errno = EINVAL, die("bad --uid", optarg);
                        break;
                case 'g':
                        if (parse_uint64(optarg, UINT32_MAX - 1, &gid) < 0)
                                return errno = EINVAL, die("bad --gid", optarg);
                        break;
                case 'i':
                        initgroups_user = optarg;
                        break;
                case 'm': {
                        const char *p = optarg;

                        mask = 0;
                        for (; *p >= '0' && *p <= '7'; p++)
                                mask = mask * 8 + (uint64_t) (*p - '0');
                        if (*p || p == optarg || mask > 0777)
                                return errno = EINVAL, die("bad --umask", optarg);
                        (void) umask((mode_t) mask);
                        break;
                }
                case 'n': {
                        int n;

                        if (parse_int(optarg, -20, 19, &n) < 0)
                                return errno = EINVAL, die("bad --nice", optarg);
                        if (setpriority(PRIO_PROCESS, 0, n) < 0)
                                return die("setpriority", optarg);
                        break;
                }
                case 'r':
                        r = apply_rlimit(optarg);
                        if (r != 0)
                                return r;
                        break;
                default:
                        return EXIT_SETUP_FAILED;
                }
        if (optind >= argc) {
                fprintf(stderr, "solocron exec-job: no command\n");
                return EXIT_SETUP_FAILED;
        }

        if (gid != UINT64_MAX) {
                if (initgroups_user ? initgroups(initgroups_user, (gid_t) gid) < 0
                                    : setgroups(1, &(gid_t) { (gid_t) gid }) < 0)
                        return die("cannot set supplementary groups", initgroups_user);
                if (setresgid((gid_t) gid, (gid_t) gid, (gid_t) gid) < 0)
                        return die("setgid", NULL);
        }
        if (uid != UINT64_MAX && setresuid((uid_t) uid, (uid_t) uid, (uid_t) uid) < 0)
                return die("setuid", NULL);
        if (deathsig && prctl(PR_SET_PDEATHSIG, deathsig) < 0)
                return die("prctl(PR_SET_PDEATHSIG)", NULL);
        if (deathsig && getppid() != parent)
                return EXIT_SETUP_FAILED;       /* the daemon died meanwhile */

        execvp(argv[optind], argv + optind);
        r = errno;
        fprintf(stderr, "solocron: cannot execute '%s': %s\n", argv[optind], strerror(r));
        return r == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC;
}
