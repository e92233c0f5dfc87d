/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "internal.h"      /* the table cache's writer, for broken events */
#include "macro.h"
#include "tests.h"
#include "tz.h"

/* Data-driven cases: every tests/data/config/ok-*.yaml must load without any diagnostic;
 * every bad-*.yaml must fail with exactly the lines of its bad-*.expected, in order. In the
 * lines, paths are relative to tests/data/config/ (the directory prefix is removed).
 * TEST_CONFIG_UPDATE=1 rewrites the .expected files from the actual output (review the diff).
 * The variables that ${} sees are the fixed table below, never the real environment. */

static const char *const test_env[] = {
        "HOME", "/home/test",
        "EMPTY", "",
        "JOB_NAME", "from-env",
        "SCHEDULE", "15 3 * * *",
        "ATTEMPTS", "4",
        NULL,
};

static const char *test_getenv(const char *name, void *userdata) {
        const char *const *table = userdata ? userdata : test_env;

        for (size_t i = 0; table[i]; i += 2)
                if (strcmp(table[i], name) == 0)
                        return table[i + 1];
        return NULL;
}

static ConfigLoadOptions test_opts(void) {
        return (ConfigLoadOptions) { .getenv = test_getenv };
}

static const char *data_dir(void) {
        const char *d = getenv("TEST_DATA");

        return d ? d : "tests/data";
}

/* s with every occurrence of `prefix` removed; caller frees. */
static char *strip_prefix(const char *s, const char *prefix) {
        size_t lp = strlen(prefix), o = 0;
        char *out = malloc(strlen(s) + 1);

        ASSERT_TRUE(out);
        while (*s) {
                if (lp > 0 && strncmp(s, prefix, lp) == 0) {
                        s += lp;
                        continue;
                }
                out[o++] = *s++;
        }
        out[o] = 0;
        return out;
}

/* All diagnostics as one string, a line each, with `prefix` removed. */
static char *diags_text(const ConfigDiags *d, const char *prefix) {
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        ASSERT_TRUE(f);
        for (size_t i = 0; i < d->n; i++) {
                _cleanup_free_ char *line = config_diag_format(&d->items[i]);
                _cleanup_free_ char *stripped = NULL;

                ASSERT_TRUE(line);
                stripped = strip_prefix(line, prefix);
                fprintf(f, "%s\n", stripped);
        }
        fclose(f);
        return text;
}

static char *read_text(const char *path) {
        _cleanup_free_ char *buf = NULL;
        size_t n = 0, cap = 0;
        FILE *f = fopen(path, "re");
        int c;

        if (!f)
                return NULL;
        while ((c = fgetc(f)) != EOF) {
                if (n + 2 > cap) {
                        cap = cap ? cap * 2 : 256;
                        buf = realloc(buf, cap);
                        ASSERT_TRUE(buf);
                }
                buf[n++] = (char) c;
        }
        fclose(f);
        if (!buf)
                return strdup("");
        buf[n] = 0;
        return TAKE_PTR(buf);
}

static void write_text(const char *path, const char *text) {
        FILE *f = fopen(path, "we");

        ASSERT_TRUE(f);
        fputs(text, f);
        ASSERT_EQ(fclose(f), 0);
}

static int name_compare(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* What a load gave, as text: every diagnostic, then the jobs and settings a cached load
 * must give alike (config/yamlcache.c keeps only libyaml's events, so all of it). */
static char *load_digest(int r, const Config *c, const ConfigDiags *d, const char *prefix) {
        _cleanup_free_ char *diags = diags_text(d, prefix);
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        ASSERT_TRUE(f);
        fprintf(f, "r=%d\n%s", r, diags);
        for (size_t i = 0; c && i < c->n_jobs; i++) {
                const JobConfig *j = &c->jobs[i];
                const char *buf[4];
                const JobPolicy *p = j->policy;

                fprintf(f, "%s %s:%u:%u [%s] %s %d%d%d tz=%s excl=%u desc=%s\n", j->name,
                        j->file, j->line, j->column, j->schedule_text, j->shell ? "sh" : "argv",
                        j->enabled, j->suspend, j->shell, tz_name(j->tz), j->n_excludes,
                        j->description ? j->description : "-");
                for (const char *const *a = config_job_argv(j, buf); *a; a++)
                        fprintf(f, "  arg %s\n", *a);
                for (char **e = j->env; e && *e; e++)
                        fprintf(f, "  env %s\n", *e);
                fprintf(f, "  policy %llu %llu %u %d %d %s %s %u\n",
                        (unsigned long long) p->timeout, (unsigned long long) p->jitter,
                        p->retry_attempts, (int) p->overlap, p->nice, p->user ? p->user : "-",
                        p->workdir ? p->workdir : "-", p->n_limits);
        }
        if (c)
                fprintf(f, "lease %d %s main %s api %s\n", (int) c->lease.backend,
                        c->lease.prefix ? c->lease.prefix : "-",
                        c->main.argv ? c->main.argv[0] : "-", c->api.listen ? c->api.listen : "-");
        ASSERT_EQ(fclose(f), 0);
        return text;
}

static size_t n_strings(char **l) {
        size_t n = 0;

        while (l && l[n])
                n++;
        return n;
}

/* Loads path three times: without a cache, into an empty cache, and from it: each must give
 * the same digest, and the last must have read every file that parsed from the cache. */
static void check_cached_alike(const char *path, const char *prefix, const ConfigLoadOptions *o) {
        char cache[] = "/tmp/test-config-cache-XXXXXX";
        _cleanup_free_ char *want = NULL, *cache_dir = NULL;
        ConfigLoadOptions opts = *o;

        ASSERT_TRUE(mkdtemp(cache));
        ASSERT_TRUE(asprintf(&cache_dir, "%s/cache", cache) > 0);
        opts.cache_dir = cache_dir;
        for (int pass = 0; pass < 3; pass++) {
                _cleanup_free_ char *got = NULL;
                ConfigDiags d = {};
                Config *c = NULL;
                int r = config_load(path, pass == 0 ? o : &opts, &c, &d);

                got = load_digest(r, c, &d, prefix);
                if (!want)
                        want = TAKE_PTR(got);
                else if (strcmp(want, got) != 0)
                        TEST_FAIL("%s: load %d with a cache differs.\n--- without\n%s--- with\n%s",
                                  path, pass, want, got);
                if (c && pass < 2)
                        ASSERT_EQ(c->n_files_cached, 0);
                if (c && pass == 2 && c->n_files_cached != n_strings(c->files))
                        TEST_FAIL("%s: %zu of %zu files from the cache", path, c->n_files_cached,
                                  n_strings(c->files));
                config_free(c);
                config_diags_done(&d);
        }
        {
                DIR *dp = opendir(cache_dir);
                struct dirent *de;

                while (dp && (de = readdir(dp))) {
                        _cleanup_free_ char *p = NULL;

                        ASSERT_TRUE(asprintf(&p, "%s/%s", cache_dir, de->d_name) > 0);
                        if (de->d_name[0] != '.')
                                ASSERT_EQ(unlink(p), 0);
                }
                if (dp)
                        closedir(dp);
        }
        (void) rmdir(cache_dir);
        ASSERT_EQ(rmdir(cache), 0);
}

static void run_case(const char *dir, const char *name, size_t *n_ok, size_t *n_bad) {
        ConfigLoadOptions opts = test_opts();
        _cleanup_free_ char *path = NULL, *prefix = NULL, *actual = NULL, *expected = NULL;
        _cleanup_free_ char *exp_path = NULL;
        ConfigDiags d = {};
        Config *c = NULL;
        bool bad = strncmp(name, "bad-", 4) == 0;
        int r;

        ASSERT_TRUE(asprintf(&path, "%s/%s", dir, name) > 0);
        ASSERT_TRUE(asprintf(&prefix, "%s/", dir) > 0);
        r = config_load(path, &opts, &c, &d);
        actual = diags_text(&d, prefix);

        if (!bad) {
                if (r < 0 || d.n > 0)
                        TEST_FAIL("%s: expected to load cleanly, got %d:\n%s", name, r, actual);
                ASSERT_TRUE(c);
                (*n_ok)++;
        } else {
                ASSERT_TRUE(asprintf(&exp_path, "%s/%.*s.expected", dir,
                                     (int) (strlen(name) - strlen(".yaml")), name) > 0);
                if (getenv("TEST_CONFIG_UPDATE"))
                        write_text(exp_path, actual);
                expected = read_text(exp_path);
                if (!expected)
                        TEST_FAIL("%s: missing %s", name, exp_path);
                if (r != -EINVAL || c)
                        TEST_FAIL("%s: expected -EINVAL, got %d", name, r);
                if (strcmp(expected, actual) != 0)
                        TEST_FAIL("%s: diagnostics differ.\n--- expected\n%s--- actual\n%s",
                                  name, expected, actual);
                ASSERT_TRUE(d.n_errors > 0);
                (*n_bad)++;
        }
        config_free(c);
        config_diags_done(&d);
        check_cached_alike(path, prefix, &opts);
}

TEST(data_driven) {
        _cleanup_free_ char *dir = NULL;
        char *names[512];
        size_t n = 0, n_ok = 0, n_bad = 0;
        struct dirent *de;
        DIR *dp;

        ASSERT_TRUE(asprintf(&dir, "%s/config", data_dir()) > 0);
        dp = opendir(dir);
        if (!dp)
                TEST_FAIL("cannot open %s (set TEST_DATA): %s", dir, strerror(errno));
        while ((de = readdir(dp))) {
                size_t l = strlen(de->d_name);
                bool yaml = l > 5 && strcmp(de->d_name + l - 5, ".yaml") == 0;
                bool expected = l > 9 && strcmp(de->d_name + l - 9, ".expected") == 0;

                if (strncmp(de->d_name, "bad-", 4) == 0 && expected) {
                        /* every .expected has its .yaml */
                        _cleanup_free_ char *y = NULL;
                        struct stat st;

                        ASSERT_TRUE(asprintf(&y, "%s/%.*s.yaml", dir, (int) (l - 9),
                                             de->d_name) > 0);
                        if (stat(y, &st) < 0)
                                TEST_FAIL("%s has no .yaml", de->d_name);
                }
                if (!yaml || (strncmp(de->d_name, "ok-", 3) != 0 &&
                              strncmp(de->d_name, "bad-", 4) != 0))
                        continue;
                ASSERT_TRUE(n < ELEMENTSOF(names));
                names[n] = strdup(de->d_name);
                ASSERT_TRUE(names[n]);
                n++;
        }
        closedir(dp);
        qsort(names, n, sizeof(char *), name_compare);
        for (size_t i = 0; i < n; i++) {
                run_case(dir, names[i], &n_ok, &n_bad);
                free(names[i]);
        }
        fprintf(stderr, "  %zu ok and %zu bad config files\n", n_ok, n_bad);
        ASSERT_TRUE(n_ok >= 5);
        ASSERT_TRUE(n_bad >= 25);
}

/* The documented example, field by field (with its includes). */
TEST(ok_full_file) {
        ConfigLoadOptions opts = test_opts();
        _cleanup_free_ char *path = NULL;
        const JobConfig *j;
        ConfigDiags d = {};
        Config *c = NULL;

        ASSERT_TRUE(asprintf(&path, "%s/config/ok-full.yaml", data_dir()) > 0);
        ASSERT_OK(config_load(path, &opts, &c, &d));
        ASSERT_EQ(d.n, 0);
        ASSERT_EQ(c->shutdown_grace, 60 * USEC_PER_SEC);
        ASSERT_EQ(c->lease.backend, LEASE_BACKEND_LOCAL);
        ASSERT_EQ(c->n_jobs, 5);
        ASSERT_STREQ(c->jobs[2].name, "included-first");
        ASSERT_STREQ(c->jobs[3].name, "included-second");
        ASSERT_STREQ(c->jobs[4].name, "included-nested");
        ASSERT_TRUE(strstr(c->files[0], "ok-full.yaml"));
        ASSERT_TRUE(strstr(c->files[1], "inc/ok/10-first.yaml"));
        ASSERT_TRUE(strstr(c->files[2], "inc/ok/20-second.yaml"));
        ASSERT_TRUE(strstr(c->files[3], "inc/ok/../nested-ok.yaml"));
        ASSERT_TRUE(!c->files[4]);

        j = config_find_job(c, "refresh-reference-data");
        ASSERT_TRUE(j == &c->jobs[0]);
        ASSERT_STREQ(j->description, "Refresh the reference data");
        ASSERT_TRUE(j->enabled);
        ASSERT_STREQ(tz_name(j->tz), "Europe/London");
        ASSERT_STREQ(j->argv[0], "python");
        ASSERT_STREQ(j->argv[1], "/app/batch_job.py");
        ASSERT_TRUE(!j->argv[2] && !j->shell);
        ASSERT_STREQ(j->env[0], "LOG_LEVEL=debug");
        ASSERT_STREQ(j->env[1], "REGION=us");
        ASSERT_STREQ(j->env[2], "HOME_DIR=/home/test");
        ASSERT_TRUE(!j->env[3]);
        ASSERT_EQ(j->policy->timeout, 3600 * USEC_PER_SEC);
        ASSERT_EQ(j->policy->kill_after, 10 * USEC_PER_SEC);
        ASSERT_EQ(j->policy->overlap, OVERLAP_QUEUE);
        ASSERT_EQ(j->policy->retry_attempts, 3);
        ASSERT_EQ(j->policy->retry_on, RETRY_ON_NONZERO | RETRY_ON_TIMEOUT);
        ASSERT_EQ(j->policy->jitter, 300 * USEC_PER_SEC);
        ASSERT_EQ(j->policy->catch_up, 6 * 3600 * USEC_PER_SEC);
        ASSERT_STREQ(j->policy->user, "app");
        ASSERT_STREQ(j->policy->workdir, "/app");
        ASSERT_EQ(j->policy->umask, 0022);
        ASSERT_EQ(j->policy->nice, 5);
        ASSERT_EQ(j->policy->n_limits, 9);
        ASSERT_EQ(j->policy->limits[6].resource, RLIMIT_NOFILE);
        ASSERT_EQ(j->policy->limits[6].soft, 1024);
        ASSERT_TRUE(j->policy->limits[6].hard == RLIM_INFINITY);
        ASSERT_EQ(j->n_excludes, 3);
        ASSERT_STREQ(j->excludes[2].text, "2027-01-01");

        j = config_find_job(c, "shell.job_2");
        ASSERT_TRUE(j);
        ASSERT_TRUE(!j->enabled);
        ASSERT_TRUE(j->schedule.flags & CRON_EVERY);
        ASSERT_TRUE(j->shell);
        ASSERT_STREQ(j->command, "echo \"cost: $5\" > /tmp/out\n");
        ASSERT_STREQ(tz_name(j->tz), "America/New_York");
        ASSERT_EQ(j->policy->timeout, USEC_INFINITY);
        ASSERT_EQ(j->policy->overlap, OVERLAP_ALLOW);
        ASSERT_EQ(j->policy->retry_on, RETRY_ON_SIGNAL);
        ASSERT_EQ(j->policy->umask, 0077);
        ASSERT_EQ(j->policy->nice, -20);
        ASSERT_STREQ(tz_name(c->jobs[2].tz), "America/New_York");     /* defaults reach includes */
        ASSERT_EQ(c->n_zones, 2);
        config_free(c);
        config_diags_done(&d);
}

/* A scratch directory per test, removed at the end. */
static char tmp_dir[64];

static void tmp_setup(void) {
        (void) snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/test-config-XXXXXX");
        ASSERT_TRUE(mkdtemp(tmp_dir));
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st;
        (void) flag;
        (void) ftw;
        return remove(p);
}

static void tmp_cleanup(void) {
        ASSERT_EQ(nftw(tmp_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* Writes tmp_dir/name (creating one level of directory if needed). */
static char *tmp_write(const char *name, const char *text) {
        char *path;
        char *slash;

        ASSERT_TRUE(asprintf(&path, "%s/%s", tmp_dir, name) > 0);
        slash = strrchr(path, '/');
        if (slash > path + strlen(tmp_dir)) {
                *slash = 0;
                (void) mkdir(path, 0700);
                *slash = '/';
        }
        write_text(path, text);
        return path;
}

typedef struct Loaded {
        Config *c;
        ConfigDiags d;
        char *text;             /* diagnostics, paths relative to tmp_dir */
        int r;
} Loaded;

static void loaded_done(Loaded *l) {
        config_free(l->c);
        config_diags_done(&l->d);
        free(l->text);
        *l = (Loaded) {};
}

static Loaded load_path_with(const char *path, const ConfigLoadOptions *opts) {
        _cleanup_free_ char *prefix = NULL;
        Loaded l = {};

        ASSERT_TRUE(asprintf(&prefix, "%s/", tmp_dir) > 0);
        l.r = config_load(path, opts, &l.c, &l.d);
        l.text = diags_text(&l.d, prefix);
        ASSERT_TRUE((l.r == 0) == (l.c != NULL));
        return l;
}

/* Loads YAML text from a scratch file main.yaml. */
static Loaded load_yaml_with(const char *yaml, const ConfigLoadOptions *opts) {
        _cleanup_free_ char *path = tmp_write("main.yaml", yaml);

        return load_path_with(path, opts);
}

static Loaded load_yaml(const char *yaml) {
        ConfigLoadOptions opts = test_opts();

        return load_yaml_with(yaml, &opts);
}

#define ASSERT_LOADS(l)                                                           \
        do {                                                                      \
                if ((l).r < 0)                                                    \
                        TEST_FAIL("load failed: %d\n%s", (l).r, (l).text);        \
                ASSERT_EQ((l).d.n, 0);                                            \
        } while (0)

#define ASSERT_DIAGS(l, expected) ASSERT_STREQ((l).text, expected)

/* One job with the given extra lines, in main.yaml. */
static Loaded load_job(const char *extra) {
        _cleanup_free_ char *yaml = NULL;

        ASSERT_TRUE(asprintf(&yaml, "jobs:\n"
                                    "  - name: j\n"
                                    "    schedule: \"0 1 * * *\"\n"
                                    "    command: \"true\"\n"
                                    "%s", extra) > 0);
        return load_yaml(yaml);
}

static const JobLimit *find_limit(const JobConfig *j, int resource) {
        for (size_t i = 0; i < j->policy->n_limits; i++)
                if (j->policy->limits[i].resource == resource)
                        return &j->policy->limits[i];
        return NULL;
}

TEST(builtin_defaults) {
        Loaded l;
        const JobConfig *j;

        tmp_setup();
        l = load_job("");
        ASSERT_LOADS(l);
        ASSERT_EQ(l.c->n_jobs, 1);
        ASSERT_EQ(l.c->shutdown_grace, 30 * USEC_PER_SEC);
        ASSERT_EQ(l.c->lease.backend, LEASE_BACKEND_LOCAL);
        ASSERT_TRUE(l.c->default_tz == tz_utc());
        ASSERT_EQ(l.c->n_zones, 0);
        ASSERT_TRUE(l.c->files[0] && !l.c->files[1]);
        j = config_find_job(l.c, "j");
        ASSERT_TRUE(j);
        ASSERT_TRUE(!config_find_job(l.c, "k"));
        ASSERT_STREQ(j->name, "j");
        ASSERT_TRUE(!j->description);
        ASSERT_TRUE(j->enabled);
        ASSERT_STREQ(j->schedule_text, "0 1 * * *");
        ASSERT_TRUE(j->tz == tz_utc());
        ASSERT_TRUE(j->shell);
        ASSERT_STREQ(j->command, "true");
        {
                const char *buf[4], *const *argv = config_job_argv(j, buf);

                ASSERT_STREQ(argv[0], "/bin/sh");
                ASSERT_STREQ(argv[1], "-c");
                ASSERT_STREQ(argv[2], "true");
                ASSERT_TRUE(!argv[3]);
        }
        ASSERT_TRUE(j->shell);
        ASSERT_TRUE(!j->env);                   /* none: no array at all */
        ASSERT_TRUE(!j->policy->limits && j->policy->n_limits == 0);
        ASSERT_TRUE(!j->excludes && j->n_excludes == 0);
        ASSERT_EQ(j->policy->timeout, USEC_INFINITY);
        ASSERT_EQ(j->policy->kill_after, 30 * USEC_PER_SEC);
        ASSERT_EQ(j->policy->overlap, OVERLAP_SKIP);
        ASSERT_EQ(j->policy->retry_attempts, 1);
        ASSERT_EQ(j->policy->retry_backoff, 10 * USEC_PER_SEC);
        ASSERT_EQ(j->policy->retry_max_backoff, 300 * USEC_PER_SEC);
        ASSERT_EQ(j->policy->retry_on, RETRY_ON_ALL);
        ASSERT_EQ(j->policy->jitter, 0);
        ASSERT_EQ(j->policy->catch_up, 0);
        ASSERT_TRUE(!j->policy->user && !j->policy->group && !j->policy->workdir);
        ASSERT_EQ(j->policy->umask, -1);
        ASSERT_TRUE(!j->policy->has_nice);
        ASSERT_EQ(j->policy->n_limits, 0);
        ASSERT_EQ(j->n_excludes, 0);
        ASSERT_EQ(j->line, 2);
        ASSERT_EQ(j->column, 5);
        ASSERT_TRUE(strstr(j->file, "/main.yaml"));
        loaded_done(&l);
        tmp_cleanup();
}

TEST(defaults_merging) {
        const JobConfig *a, *b;
        Loaded l;

        tmp_setup();
        l = load_yaml("shutdown_grace: 2m\n"
                      "defaults:\n"
                      "  timezone: America/New_York\n"
                      "  timeout: 1h\n"
                      "  kill_after: 5s\n"
                      "  overlap: queue\n"
                      "  retry: {attempts: 3, backoff: 20s}\n"
                      "  retry_on: [nonzero]\n"
                      "  jitter: 5m\n"
                      "  catch_up: 6h\n"
                      "  user: app\n"
                      "  group: staff\n"
                      "  workdir: /srv\n"
                      "  umask: \"0022\"\n"
                      "  nice: 10\n"
                      "  limits: {nofile: 4096, as: 1G}\n"
                      "  exclude: [\"2026-12-25\"]\n"
                      "jobs:\n"
                      "  - name: a\n"
                      "    schedule: \"0 1 * * *\"\n"
                      "    command: [\"/bin/a\"]\n"
                      "  - name: b\n"
                      "    schedule: \"0 1 * * *\"\n"
                      "    command: [\"/bin/b\", \"x\"]\n"
                      "    timezone: Europe/London\n"
                      "    timeout: none\n"
                      "    overlap: replace\n"
                      "    retry: {max_backoff: 1m}\n"
                      "    retry_on: []\n"
                      "    user: root\n"
                      "    umask: 077\n"
                      "    nice: -5\n"
                      "    limits: {nofile: 10, core: 0}\n"
                      "    exclude: \"* * 1 1 *\"\n"
                      "    enabled: false\n"
                      "    description: the b job\n");
        ASSERT_LOADS(l);
        ASSERT_EQ(l.c->shutdown_grace, 120 * USEC_PER_SEC);
        ASSERT_EQ(l.c->n_zones, 2);
        ASSERT_STREQ(tz_name(l.c->default_tz), "America/New_York");
        a = &l.c->jobs[0];
        b = &l.c->jobs[1];

        ASSERT_STREQ(tz_name(a->tz), "America/New_York");
        ASSERT_TRUE(a->tz == l.c->default_tz);
        ASSERT_TRUE(!a->shell);
        ASSERT_STREQ(a->argv[0], "/bin/a");
        ASSERT_TRUE(!a->argv[1]);
        ASSERT_EQ(a->policy->timeout, 3600 * USEC_PER_SEC);
        ASSERT_EQ(a->policy->kill_after, 5 * USEC_PER_SEC);
        ASSERT_EQ(a->policy->overlap, OVERLAP_QUEUE);
        ASSERT_EQ(a->policy->retry_attempts, 3);
        ASSERT_EQ(a->policy->retry_backoff, 20 * USEC_PER_SEC);
        ASSERT_EQ(a->policy->retry_max_backoff, 300 * USEC_PER_SEC);
        ASSERT_EQ(a->policy->retry_on, RETRY_ON_NONZERO);
        ASSERT_EQ(a->policy->jitter, 300 * USEC_PER_SEC);
        ASSERT_EQ(a->policy->catch_up, 6 * 3600 * USEC_PER_SEC);
        ASSERT_STREQ(a->policy->user, "app");
        ASSERT_STREQ(a->policy->group, "staff");
        ASSERT_STREQ(a->policy->workdir, "/srv");
        ASSERT_EQ(a->policy->umask, 0022);
        ASSERT_TRUE(a->policy->has_nice);
        ASSERT_EQ(a->policy->nice, 10);
        ASSERT_EQ(a->policy->n_limits, 2);
        ASSERT_EQ(find_limit(a, RLIMIT_NOFILE)->soft, 4096);
        ASSERT_EQ(find_limit(a, RLIMIT_AS)->hard, UINT64_C(1) << 30);
        ASSERT_EQ(a->n_excludes, 1);
        ASSERT_TRUE(a->excludes[0].is_date);
        ASSERT_EQ(a->excludes[0].year, 2026);
        ASSERT_EQ(a->excludes[0].month, 12);
        ASSERT_EQ(a->excludes[0].day, 25);
        ASSERT_STREQ(a->excludes[0].text, "2026-12-25");

        ASSERT_STREQ(tz_name(b->tz), "Europe/London");
        ASSERT_STREQ(b->argv[1], "x");
        ASSERT_EQ(b->policy->timeout, USEC_INFINITY);
        ASSERT_EQ(b->policy->overlap, OVERLAP_REPLACE);
        ASSERT_EQ(b->policy->retry_attempts, 3);        /* per-key merge of retry: */
        ASSERT_EQ(b->policy->retry_backoff, 20 * USEC_PER_SEC);
        ASSERT_EQ(b->policy->retry_max_backoff, 60 * USEC_PER_SEC);
        ASSERT_EQ(b->policy->retry_on, 0);
        ASSERT_STREQ(b->policy->user, "root");
        ASSERT_STREQ(b->policy->group, "staff");
        ASSERT_EQ(b->policy->umask, 0077);
        ASSERT_EQ(b->policy->nice, -5);
        ASSERT_EQ(b->policy->n_limits, 3);              /* per-resource merge of limits: */
        ASSERT_EQ(find_limit(b, RLIMIT_NOFILE)->soft, 10);
        ASSERT_EQ(find_limit(b, RLIMIT_CORE)->hard, 0);
        ASSERT_EQ(find_limit(b, RLIMIT_AS)->soft, UINT64_C(1) << 30);
        ASSERT_EQ(b->n_excludes, 2);            /* defaults' first, then the job's */
        ASSERT_TRUE(b->excludes[0].is_date);
        ASSERT_TRUE(!b->excludes[1].is_date);
        ASSERT_STREQ(b->excludes[1].text, "* * 1 1 *");
        ASSERT_TRUE(!b->enabled);
        ASSERT_STREQ(b->description, "the b job");
        loaded_done(&l);
        tmp_cleanup();
}

TEST(env_merging) {
        const JobConfig *j;
        Loaded l;

        tmp_setup();
        l = load_yaml("defaults:\n"
                      "  env: {A: a, B: b, C: c}\n"
                      "jobs:\n"
                      "  - name: j\n"
                      "    schedule: \"0 1 * * *\"\n"
                      "    command: \"true\"\n"
                      "    env: {D: d, B: job-b, PORT: 8080, FLAG: true, E: \"\"}\n"
                      "  - name: k\n"
                      "    schedule: \"0 1 * * *\"\n"
                      "    command: \"true\"\n");
        ASSERT_LOADS(l);
        j = &l.c->jobs[0];
        ASSERT_STREQ(j->env[0], "A=a");
        ASSERT_STREQ(j->env[1], "B=job-b");
        ASSERT_STREQ(j->env[2], "C=c");
        ASSERT_STREQ(j->env[3], "D=d");
        ASSERT_STREQ(j->env[4], "PORT=8080");
        ASSERT_STREQ(j->env[5], "FLAG=true");
        ASSERT_STREQ(j->env[6], "E=");
        ASSERT_TRUE(!j->env[7]);
        j = &l.c->jobs[1];
        ASSERT_STREQ(j->env[0], "A=a");
        ASSERT_STREQ(j->env[2], "C=c");
        ASSERT_TRUE(!j->env[3]);
        loaded_done(&l);
        tmp_cleanup();
}

TEST(expansion) {
        static const char *const env[] = {
                "X", "ex", "EMPTY", "", "N", "3", "S", "0 4 * * *", "NAME", "named", NULL,
        };
        ConfigLoadOptions opts = { .getenv = test_getenv, .getenv_userdata = (void *) env };
        const JobConfig *j;
        Loaded l;

        tmp_setup();
        l = load_yaml_with("jobs:\n"
                           "  - name: ${NAME}\n"
                           "    schedule: ${S}\n"
                           "    command: [\"${X}\", \"$${X}\", \"$X $ $$$\", \"${EMPTY:-dflt}\",\n"
                           "              \"${UNSET:-un set}\", \"${X:-no}\", \"${EMPTY}\", \"a${X}b${N}c\",\n"
                           "              \"${UNSET:-}\", \"$\"]\n"
                           "    retry: {attempts: \"${N}\"}\n"
                           "    env: {\"${X}\": \"${X}\"}\n",
                           &opts);
        ASSERT_LOADS(l);
        j = &l.c->jobs[0];
        ASSERT_STREQ(j->name, "named");
        ASSERT_STREQ(j->schedule_text, "0 4 * * *");
        ASSERT_STREQ(j->argv[0], "ex");
        ASSERT_STREQ(j->argv[1], "${X}");
        ASSERT_STREQ(j->argv[2], "$X $ $$");
        ASSERT_STREQ(j->argv[3], "dflt");
        ASSERT_STREQ(j->argv[4], "un set");
        ASSERT_STREQ(j->argv[5], "ex");
        ASSERT_STREQ(j->argv[6], "");
        ASSERT_STREQ(j->argv[7], "aexb3c");
        ASSERT_STREQ(j->argv[8], "");
        ASSERT_STREQ(j->argv[9], "$");
        ASSERT_EQ(j->policy->retry_attempts, 3);
        ASSERT_STREQ(j->env[0], "${X}=ex");     /* keys are never expanded */
        loaded_done(&l);

        /* Errors point at the '$'. Plain, quoted and escaped scalars. */
        l = load_yaml_with("jobs:\n"
                           "  - name: j\n"
                           "    schedule: \"0 1 * * *\"\n"
                           "    command: ab ${NOPE} ${X} ${NOPE2:-x} ${NOPE3}\n"
                           "    user: 'it''s ${NOPE}'\n"
                           "    group: \"\\t${NOPE}\"\n",
                           &opts);
        ASSERT_DIAGS(l, "main.yaml:4:17: job 'j': variable 'NOPE' is not set; write "
                        "${NOPE:-default}, or $${NOPE} for a literal\n"
                        "main.yaml:4:42: job 'j': variable 'NOPE3' is not set; write "
                        "${NOPE3:-default}, or $${NOPE3} for a literal\n"
                        "main.yaml:5:11: job 'j': variable 'NOPE' is not set; write "
                        "${NOPE:-default}, or $${NOPE} for a literal\n"
                        "main.yaml:6:12: job 'j': variable 'NOPE' is not set; write "
                        "${NOPE:-default}, or $${NOPE} for a literal\n");
        ASSERT_EQ(l.r, -EINVAL);
        loaded_done(&l);

        /* The process environment by default. */
        ASSERT_EQ(setenv("SOLOCRON_TEST_VAR", "from-process", 1), 0);
        l = load_yaml_with("jobs:\n"
                           "  - name: j\n"
                           "    schedule: \"0 1 * * *\"\n"
                           "    command: [\"${SOLOCRON_TEST_VAR}\"]\n",
                           NULL);
        ASSERT_LOADS(l);
        ASSERT_STREQ(l.c->jobs[0].argv[0], "from-process");
        loaded_done(&l);
        ASSERT_EQ(unsetenv("SOLOCRON_TEST_VAR"), 0);
        tmp_cleanup();
}

/* lease.stagger and lease.candidates: defaults, values, and what is refused. */
TEST(lease_stagger_and_candidates) {
        static const char jobs[] =
                "jobs:\n"
                "  - name: j\n"
                "    schedule: \"0 1 * * *\"\n"
                "    command: \"true\"\n";
        _cleanup_free_ char *set = NULL, *bad = NULL, *slow = NULL;
        Loaded l;

        tmp_setup();
        l = load_yaml(jobs);
        ASSERT_LOADS(l);
        ASSERT_EQ(l.c->lease.stagger, 200 * USEC_PER_MSEC);
        ASSERT_EQ(l.c->lease.candidates, 3);
        loaded_done(&l);
        ASSERT_TRUE(asprintf(&set, "lease:\n  stagger: 500ms\n  candidates: 5\n%s", jobs) > 0);
        l = load_yaml(set);
        ASSERT_LOADS(l);
        ASSERT_EQ(l.c->lease.stagger, 500 * USEC_PER_MSEC);
        ASSERT_EQ(l.c->lease.candidates, 5);
        loaded_done(&l);
        ASSERT_TRUE(asprintf(&bad, "lease:\n  candidates: 0\n%s", jobs) > 0);
        l = load_yaml(bad);
        ASSERT_DIAGS(l, "main.yaml:2:15: 'lease.candidates' must be between 1 and 1000, "
                        "not 0\n");
        loaded_done(&l);
        ASSERT_TRUE(asprintf(&slow, "lease:\n  election_timeout: 1s\n  stagger: 2s\n%s",
                             jobs) > 0);
        l = load_yaml(slow);
        ASSERT_DIAGS(l, "main.yaml:3:3: lease: 'stagger' (2000 ms) must not exceed "
                        "'election_timeout': a lower rank would wait longer than a claim may "
                        "take\n");
        loaded_done(&l);
        tmp_cleanup();
}

/* lease.elect_ahead: 0 for the local lease, 100ms for a store over the network, at most 1s. */
static const char elect_ahead_jobs[] =
        "jobs:\n"
        "  - name: j\n"
        "    schedule: \"0 1 * * *\"\n"
        "    command: \"true\"\n";
#define ETCD_LEASE "lease:\n  backend: etcd\n  endpoints: http://127.0.0.1:2379\n"

/* Loads `lease` (a lease: section, or "") before one job; the elect_ahead it gets. */
static usec_t loaded_elect_ahead(const char *lease) {
        _cleanup_free_ char *text = NULL;
        usec_t v;
        Loaded l;

        ASSERT_TRUE(asprintf(&text, "%s%s", lease, elect_ahead_jobs) > 0);
        l = load_yaml(text);
        ASSERT_LOADS(l);
        v = l.c->lease.elect_ahead;
        loaded_done(&l);
        return v;
}

TEST(lease_elect_ahead) {
        _cleanup_free_ char *big = NULL;
        Loaded l;

        tmp_setup();
        ASSERT_EQ(loaded_elect_ahead(""), 0);
        ASSERT_EQ(loaded_elect_ahead(ETCD_LEASE), 100 * USEC_PER_MSEC);
        ASSERT_EQ(loaded_elect_ahead(ETCD_LEASE "  elect_ahead: 0s\n"), 0);
        ASSERT_EQ(loaded_elect_ahead("lease:\n  elect_ahead: 250ms\n"), 250 * USEC_PER_MSEC);
        ASSERT_TRUE(asprintf(&big, ETCD_LEASE "  elect_ahead: 2s\n%s", elect_ahead_jobs) > 0);
        l = load_yaml(big);
        ASSERT_DIAGS(l, "main.yaml:4:3: lease: 'elect_ahead' (2000 ms) must be at most 1s\n");
        loaded_done(&l);
        tmp_cleanup();
}

/* The variables the lease: section reads are listed (once, in order), not those elsewhere;
 * env_keep merges defaults' and the job's names, and a user: job gets none. */
TEST(lease_variables_and_env_keep) {
        static const char *const env[] = {
                "PW", "secret", "USERNAME", "root", "PFX", "p", "JOBVAR", "x", NULL,
        };
        ConfigLoadOptions opts = { .getenv = test_getenv, .getenv_userdata = (void *) env };
        const JobConfig *j;
        Loaded l;

        tmp_setup();
        l = load_yaml_with("lease:\n"
                           "  backend: etcd\n"
                           "  endpoints: [http://127.0.0.1:2379]\n"
                           "  username: ${USERNAME}\n"
                           "  password: ${PW}\n"
                           "  prefix: ${PFX}-${PW}-${UNSET:-d}\n"
                           "defaults:\n"
                           "  env_keep: PW\n"
                           "jobs:\n"
                           "  - name: j\n"
                           "    schedule: \"0 1 * * *\"\n"
                           "    command: [\"${JOBVAR}\"]\n"
                           "    env_keep: [USERNAME]\n"
                           "  - name: k\n"
                           "    schedule: \"0 1 * * *\"\n"
                           "    command: \"true\"\n"
                           "  - name: u\n"
                           "    schedule: \"0 1 * * *\"\n"
                           "    command: \"true\"\n"
                           "    user: nobody\n",
                           &opts);
        ASSERT_LOADS(l);
        ASSERT_STREQ(l.c->lease.env_used[0], "USERNAME");
        ASSERT_STREQ(l.c->lease.env_used[1], "PW");
        ASSERT_STREQ(l.c->lease.env_used[2], "PFX");
        ASSERT_TRUE(!l.c->lease.env_used[3]);   /* UNSET was not read; JOBVAR is a job's */
        j = &l.c->jobs[0];
        ASSERT_STREQ(j->policy->env_keep[0], "PW");
        ASSERT_STREQ(j->policy->env_keep[1], "USERNAME");
        ASSERT_TRUE(!j->policy->env_keep[2]);
        ASSERT_STREQ(l.c->jobs[1].policy->env_keep[0], "PW");
        ASSERT_TRUE(!l.c->jobs[2].policy->env_keep);
        loaded_done(&l);

        l = load_yaml("jobs:\n  - {name: j, schedule: \"0 1 * * *\", command: x}\n");
        ASSERT_LOADS(l);
        ASSERT_TRUE(!l.c->lease.env_used);
        ASSERT_TRUE(!l.c->jobs[0].policy->env_keep);
        loaded_done(&l);
        tmp_cleanup();
}

TEST(include_globs) {
        _cleanup_free_ char *main_path = NULL;
        ConfigLoadOptions opts = test_opts();
        Loaded l;

        tmp_setup();
        free(tmp_write("conf.d/b.yaml", "jobs:\n  - {name: b, schedule: \"0 1 * * *\", command: x}\n"));
        free(tmp_write("conf.d/a.yaml", "jobs:\n  - {name: a, schedule: \"0 1 * * *\", command: x}\n"
                                          "include: ../more/*.yaml\n"));
        free(tmp_write("conf.d/c.yml", "not: [yaml, matched]\n"));
        free(tmp_write("conf.d/sub.yaml/x", ""));    /* a directory matching the glob */
        free(tmp_write("more/m.yaml", "jobs:\n  - {name: m, schedule: \"0 1 * * *\", command: x}\n"));
        free(tmp_write("more/empty.yaml", ""));
        main_path = tmp_write("main.yaml",
                              "include: [conf.d/*.yaml, nothing/*.yaml, conf.d/b.yaml]\n"
                              "jobs:\n  - {name: main, schedule: \"0 1 * * *\", command: x}\n");
        l = load_path_with(main_path, &opts);
        ASSERT_LOADS(l);
        ASSERT_EQ(l.c->n_jobs, 4);
        ASSERT_STREQ(l.c->jobs[0].name, "main");
        ASSERT_STREQ(l.c->jobs[1].name, "a");
        ASSERT_STREQ(l.c->jobs[2].name, "m");  /* depth first */
        ASSERT_STREQ(l.c->jobs[3].name, "b");  /* read once, though named twice */
        ASSERT_TRUE(strstr(l.c->jobs[1].file, "/conf.d/a.yaml"));
        ASSERT_EQ(l.c->jobs[1].line, 2);
        ASSERT_TRUE(strstr(l.c->files[0], "/main.yaml"));
        ASSERT_TRUE(strstr(l.c->files[1], "/conf.d/a.yaml"));
        ASSERT_TRUE(strstr(l.c->files[2], "/more/empty.yaml"));
        ASSERT_TRUE(strstr(l.c->files[3], "/more/m.yaml"));
        ASSERT_TRUE(strstr(l.c->files[4], "/conf.d/b.yaml"));
        ASSERT_TRUE(!l.c->files[5]);
        loaded_done(&l);

        /* A literal path that is missing is an error; a glob that matches nothing is not. */
        main_path = (free(main_path), tmp_write("main.yaml", "include: [gone.yaml, gone/*.yaml]\n"));
        l = load_path_with(main_path, &opts);
        ASSERT_DIAGS(l, "main.yaml:1:11: cannot read 'gone.yaml': No such file or directory\n");
        loaded_done(&l);
        tmp_cleanup();
}

TEST(include_errors) {
        _cleanup_free_ char *main_path = NULL;
        ConfigLoadOptions opts = test_opts();
        Loaded l;

        tmp_setup();
        /* The main file's own glob matches it: a loop. */
        main_path = tmp_write("main.yaml", "include: \"*.yaml\"\n");
        l = load_path_with(main_path, &opts);
        ASSERT_EQ(l.r, -EINVAL);
        ASSERT_TRUE(strstr(l.text, "main.yaml:1:10: include loop: '"));
        loaded_done(&l);

        /* CONFIG_MAX_INCLUDES */
        for (unsigned i = 0; i <= CONFIG_MAX_INCLUDES; i++) {
                char name[64];

                (void) snprintf(name, sizeof(name), "many/%03u.yaml", i);
                free(tmp_write(name, "jobs: []\n"));
        }
        main_path = (free(main_path), tmp_write("main.yaml", "include: many/*.yaml\n"));
        l = load_path_with(main_path, &opts);
        ASSERT_EQ(l.r, -EINVAL);
        ASSERT_DIAGS(l, "main.yaml:1:10: too many included files (more than 256)\n");
        loaded_done(&l);

        /* A directory that cannot be read is an error, not zero jobs (a loop of symlinks:
         * unreadable even for root; the integration test uses permissions). */
        {
                _cleanup_free_ char *a = NULL, *b = NULL;

                ASSERT_TRUE(asprintf(&a, "%s/conf.d", tmp_dir) > 0);
                ASSERT_TRUE(asprintf(&b, "%s/conf.e", tmp_dir) > 0);
                ASSERT_EQ(symlink(b, a), 0);
                ASSERT_EQ(symlink(a, b), 0);
        }
        main_path = (free(main_path), tmp_write("main.yaml", "include: conf.d/*.yaml\n"
                                                            "jobs: []\n"));
        l = load_path_with(main_path, &opts);
        ASSERT_EQ(l.r, -EINVAL);
        ASSERT_DIAGS(l, "main.yaml:1:10: cannot read directory 'conf.d' for 'conf.d/*.yaml': "
                        "Too many levels of symbolic links\n");
        loaded_done(&l);
        tmp_cleanup();
}

TEST(duplicate_names_across_files) {
        _cleanup_free_ char *main_path = NULL;
        ConfigLoadOptions opts = test_opts();
        Loaded l;

        tmp_setup();
        free(tmp_write("d/one.yaml", "jobs:\n  - {name: x, schedule: \"0 1 * * *\", command: x}\n"));
        free(tmp_write("d/two.yaml", "jobs:\n\n  - name: x\n    schedule: \"0 1 * * *\"\n"
                                       "    command: x\n"));
        main_path = tmp_write("main.yaml", "include: d/*.yaml\n");
        l = load_path_with(main_path, &opts);
        ASSERT_EQ(l.r, -EINVAL);
        /* The test strips the directory from the paths in the message, too. */
        ASSERT_DIAGS(l, "d/two.yaml:3:11: job 'x': duplicate job name "
                        "(first defined at d/one.yaml:2)\n");
        loaded_done(&l);
        tmp_cleanup();
}

/* job_error("key: value", "message") asserts the single diagnostic of a job with that line. */
static void assert_job_error(const char *extra, const char *expected) {
        _cleanup_free_ char *want = NULL;
        Loaded l = load_job(extra);

        ASSERT_EQ(l.r, -EINVAL);
        ASSERT_TRUE(asprintf(&want, "main.yaml:5:%s\n", expected) > 0);
        ASSERT_DIAGS(l, want);
        loaded_done(&l);
}

/* ping:, notify: and the hooks: inherited key by key from defaults:, `~` turning one off,
 * ${JOB} kept for send time, equal settings interned once. */
TEST(notifications) {
        _cleanup_free_ char *secret = NULL, *yaml = NULL;
        char *u;
        const JobConfig *a, *b, *c, *dd;
        const NotifyConfig *n;
        Loaded l;

        tmp_setup();
        secret = tmp_write("hook.secret", "s3cret\n");
        ASSERT_OK(chmod(secret, 0600));
        ASSERT_TRUE(asprintf(&yaml,
                      "defaults:\n"
                      "  ping: https://hc.example/ping/${JOB}\n"
                      "  notify:\n"
                      "    - {url: \"https://hooks.example/x\", secret_file: %s}\n"
                      "  on_failure: mail-admin\n"
                      "jobs:\n"
                      "  - name: a\n"
                      "    schedule: \"0 1 * * *\"\n"
                      "    command: \"true\"\n"
                      "  - name: b\n"
                      "    schedule: \"0 2 * * *\"\n"
                      "    command: \"true\"\n"
                      "    timeout: 5m\n"
                      "  - name: c\n"
                      "    schedule: \"0 3 * * *\"\n"
                      "    command: \"true\"\n"
                      "    ping: ~\n"
                      "    notify: [{url: \"http://127.0.0.1:1/s\", on: [success, missed], "
                      "format: slack}]\n"
                      "    on_failure: {command: [/bin/x, y], timeout: 10s, every_attempt: true}\n"
                      "    on_retry: [/bin/r]\n"
                      "  - name: d\n"
                      "    schedule: \"0 4 * * *\"\n"
                      "    command: \"true\"\n"
                      "    ping: ~\n"
                      "    notify: ~\n"
                      "    on_failure: ~\n", secret) > 0);
        l = load_yaml(yaml);
        ASSERT_LOADS(l);
        a = config_find_job(l.c, "a");
        b = config_find_job(l.c, "b");
        c = config_find_job(l.c, "c");
        dd = config_find_job(l.c, "d");
        n = a->policy->notify;
        ASSERT_TRUE(n);
        ASSERT_STREQ(n->ping, "https://hc.example/ping/${JOB}");
        ASSERT_EQ(n->n_webhooks, 1);
        ASSERT_STREQ(n->webhooks[0].url, "https://hooks.example/x");
        ASSERT_STREQ(n->webhooks[0].secret_file, secret);
        ASSERT_EQ(n->webhooks[0].on, NOTIFY_ON_DEFAULT);
        ASSERT_EQ(n->webhooks[0].format, WEBHOOK_JSON);
        ASSERT_TRUE(n->hooks[HOOK_ON_FAILURE]);
        ASSERT_TRUE(n->hooks[HOOK_ON_FAILURE]->shell);
        ASSERT_STREQ(n->hooks[HOOK_ON_FAILURE]->argv[2], "mail-admin");
        ASSERT_EQ(n->hooks[HOOK_ON_FAILURE]->timeout, NOTIFY_HOOK_TIMEOUT_DEFAULT);
        ASSERT_TRUE(!n->hooks[HOOK_ON_FAILURE]->every_attempt);
        ASSERT_TRUE(!n->hooks[HOOK_ON_SUCCESS] && !n->hooks[HOOK_ON_RETRY]);
        /* b differs in its policy, not in its notifications: one NotifyConfig for both. */
        ASSERT_TRUE(a->policy != b->policy);
        ASSERT_TRUE(b->policy->notify == n);
        n = c->policy->notify;
        ASSERT_TRUE(n && n != a->policy->notify);
        ASSERT_TRUE(!n->ping);
        ASSERT_EQ(n->webhooks[0].on, NOTIFY_ON_SUCCESS | NOTIFY_ON_MISSED);
        ASSERT_EQ(n->webhooks[0].format, WEBHOOK_SLACK);
        ASSERT_TRUE(!n->webhooks[0].secret_file);
        ASSERT_TRUE(!n->hooks[HOOK_ON_FAILURE]->shell);
        ASSERT_STREQ(n->hooks[HOOK_ON_FAILURE]->argv[1], "y");
        ASSERT_EQ(n->hooks[HOOK_ON_FAILURE]->timeout, 10 * USEC_PER_SEC);
        ASSERT_TRUE(n->hooks[HOOK_ON_FAILURE]->every_attempt);
        ASSERT_STREQ(n->hooks[HOOK_ON_RETRY]->argv[0], "/bin/r");
        ASSERT_TRUE(!dd->policy->notify);       /* everything turned off: nothing at all */
        ASSERT_EQ(l.c->n_notifies, 2);
        loaded_done(&l);

        /* A table without notifications has none. */
        l = load_job("");
        ASSERT_LOADS(l);
        ASSERT_TRUE(!l.c->jobs[0].policy->notify);
        ASSERT_EQ(l.c->n_notifies, 0);
        loaded_done(&l);

        u = notify_ping_url("https://hc.example/p/${JOB}-${JOB}", "backup", "/start", "ab12");
        ASSERT_STREQ(u, "https://hc.example/p/backup-backup/start?rid=ab12");
        free(u);
        u = notify_ping_url("https://hc.example/uuid/", "x", "/fail", NULL);
        ASSERT_STREQ(u, "https://hc.example/uuid/fail");
        free(u);
        u = notify_ping_url("https://hc.example/uuid", "x", "", "r");
        ASSERT_STREQ(u, "https://hc.example/uuid?rid=r");
        free(u);
        tmp_cleanup();
}

TEST(notification_errors) {
        _cleanup_free_ char *open_secret = NULL, *line = NULL;

        tmp_setup();
        assert_job_error("    ping: ftp://hc.example/x\n",
                         "11: job 'j': 'ping' must be an http:// or https:// URL, not "
                         "'ftp://hc.example/x'");
        assert_job_error("    ping: https:///x\n", "11: job 'j': 'ping' has no host: 'https:///x'");
        assert_job_error("    ping: https://hc.example/x?a=1\n",
                         "11: job 'j': 'ping' must not have a query or a fragment "
                         "('https://hc.example/x?a=1'): solocron adds /start, /fail and "
                         "?rid=RUN_ID to it");
        assert_job_error("    ping: \"https://hc.example/a b\"\n",
                         "11: job 'j': 'ping' must not contain blanks or control characters "
                         "(percent-encode them: %20 for a space)");
        assert_job_error("    notify: {url: http://x}\n",
                         "13: job 'j': 'notify' must be a sequence of webhooks ([{url: …, on: "
                         "[failure], format: json}]), not a mapping");
        assert_job_error("    notify: [{url: http://x, on: [failure, recoverd]}]\n",
                         "44: job 'j': unknown notify event 'recoverd' (did you mean "
                         "'recovered'?); expected failure, missed, recovered or success");
        assert_job_error("    notify: [{url: http://x, format: teams}]\n",
                         "38: job 'j': unknown webhook format 'teams'; expected json or slack");
        assert_job_error("    notify: [{on: [failure]}]\n",
                         "14: job 'j': a 'notify' entry needs a 'url'");
        assert_job_error("    notify: [{url: http://x, secret: /x}]\n",
                         "30: job 'j': unknown key 'secret' in 'notify[]'");
        assert_job_error("    notify: [{url: http://x, secret_file: relative}]\n",
                         "43: job 'j': 'secret_file' must be an absolute path, not 'relative'");
        assert_job_error("    notify: [{url: http://x, secret_file: /nonexistent/s}]\n",
                         "43: job 'j': notify secret_file '/nonexistent/s': No such file or "
                         "directory");
        open_secret = tmp_write("open.secret", "x\n");
        ASSERT_OK(chmod(open_secret, 0644));
        ASSERT_TRUE(asprintf(&line, "    notify: [{url: http://x, secret_file: %s}]\n",
                             open_secret) > 0);
        {
                Loaded l = load_job(line);

                ASSERT_EQ(l.r, -EINVAL);
                ASSERT_TRUE(strstr(l.text, "chmod 600"));
                loaded_done(&l);
        }
        assert_job_error("    on_failure: {timeout: 5s}\n", "17: job 'j': 'on_failure' needs a 'command'");
        assert_job_error("    on_failure: {command: x, timeout: 0}\n",
                         "39: job 'j': 'on_failure.timeout' must be more than 0: a hook that "
                         "hangs is killed at its timeout");
        assert_job_error("    on_success: {command: x, every_attempt: true}\n",
                         "30: job 'j': 'every_attempt' is for 'on_failure' only ('on_success' "
                         "runs once per successful firing)");
        assert_job_error("    on_retry: \"\"\n", "15: job 'j': 'command' must not be empty");
        assert_job_error("    on_failure: {command: x, timout: 5s}\n",
                         "30: job 'j': unknown key 'timout' in 'on_failure' (did you mean "
                         "'timeout'?)");
        tmp_cleanup();
}

TEST(value_errors) {
        tmp_setup();
        assert_job_error("    enabled: 1\n", "14: job 'j': 'enabled' must be true or false, not '1'");
        assert_job_error("    enabled: on\n", "14: job 'j': 'enabled' must be true or false, not 'on'");
        assert_job_error("    enabled:\n", "13: job 'j': 'enabled' must be true or false, not null");
        assert_job_error("    description: [a]\n",
                         "18: job 'j': 'description' must be a string, not a sequence");
        assert_job_error("    timeout: 0.5h\n",
                         "14: job 'j': 'timeout' must be a duration (e.g. 30s, 5m, 1h30m) or "
                         "'none', not '0.5h'");
        assert_job_error("    kill_after: 99999999999999999999999s\n",
                         "17: job 'j': 'kill_after' is too long: '99999999999999999999999s'");
        assert_job_error("    overlap: Skip\n",
                         "14: job 'j': unknown overlap policy 'Skip' (did you mean 'skip'?); "
                         "expected skip, queue, replace or allow");
        assert_job_error("    overlap: {a: 1}\n",
                         "14: job 'j': 'overlap' must be one of skip, queue, replace or allow, "
                         "not a mapping");
        assert_job_error("    retry: {attempts: 1000000000000}\n",
                         "23: job 'j': 'retry.attempts' must be between 1 and 100, not "
                         "1000000000000");
        assert_job_error("    retry: {attempts: -1}\n",
                         "23: job 'j': 'retry.attempts' must be between 1 and 100, not -1");
        assert_job_error("    nice: \"\"\n", "11: job 'j': 'nice' must be an integer, not ''");
        assert_job_error("    user: {}\n", "11: job 'j': 'user' must be a string, not a mapping");
        assert_job_error("    workdir: ''\n", "14: job 'j': 'workdir' must not be empty");
        assert_job_error("    env: x\n", "10: job 'j': 'env' must be a mapping, not 'x'");
        assert_job_error("    limits: {nofile: unlimitd}\n",
                         "22: job 'j': 'limits.nofile' must be a number or 'unlimited', not "
                         "'unlimitd'");
        assert_job_error("    limits: {cpu: 1.5}\n",
                         "19: job 'j': 'limits.cpu' must be whole seconds (e.g. 10m, 3600) or "
                         "'unlimited', not '1.5'");
        assert_job_error("    exclude: \"2026-1-1\"\n",
                         "14: job 'j': invalid date '2026-1-1' in 'exclude' (expected YYYY-MM-DD)");
        tmp_cleanup();
}

/* output: {s3: …}: merged key by key over defaults:, the rest from the S3 lease; jobs with
 * the same settings share one; none turns it off. */
TEST(output_s3_resolution) {
        const OutputS3Config *a, *b, *c, *e;
        Loaded l;

        tmp_setup();
        l = load_yaml("lease: {backend: s3, bucket: fleet, endpoint: \"https://minio:9000\", "
                      "region: eu-west-1, path_style: true, prefix: pfx}\n"
                      "defaults:\n"
                      "  output: {s3: {max_size: 64KiB}}\n"
                      "jobs:\n"
                      "  - {name: a, schedule: \"* * * * *\", command: \"true\"}\n"
                      "  - {name: b, schedule: \"* * * * *\", command: \"true\", timeout: 5s}\n"
                      "  - {name: c, schedule: \"* * * * *\", command: \"true\",\n"
                      "     output: {s3: {bucket: logs, gzip: true, prefix: out/x,\n"
                      "                   path_style: false,\n"
                      "                   endpoint: \"https://logs.example\"}}}\n"
                      "  - {name: d, schedule: \"* * * * *\", command: \"true\", output: none}\n"
                      "  - {name: e, schedule: \"* * * * *\", command: \"true\", output: s3}\n");
        ASSERT_LOADS(l);
        a = config_find_job(l.c, "a")->policy->output;
        b = config_find_job(l.c, "b")->policy->output;
        c = config_find_job(l.c, "c")->policy->output;
        e = config_find_job(l.c, "e")->policy->output;
        ASSERT_TRUE(a && a == b);                       /* interned */
        ASSERT_STREQ(a->bucket, "fleet");
        ASSERT_STREQ(a->endpoint, "https://minio:9000");
        ASSERT_STREQ(a->region, "eu-west-1");
        ASSERT_TRUE(a->path_style);
        ASSERT_STREQ(a->prefix, "pfx");
        ASSERT_EQ(a->max_size, 64 * 1024);
        ASSERT_TRUE(!a->gzip);
        ASSERT_STREQ(c->bucket, "logs");
        ASSERT_STREQ(c->endpoint, "https://logs.example");
        ASSERT_STREQ(c->region, "eu-west-1");           /* not given: the lease's */
        ASSERT_TRUE(!c->path_style && c->gzip);
        ASSERT_STREQ(c->prefix, "out/x");
        ASSERT_EQ(c->max_size, 64 * 1024);              /* the defaults' */
        ASSERT_TRUE(!config_find_job(l.c, "d")->policy->output);
        ASSERT_TRUE(e == a);                            /* s3 = {s3: {}} over the defaults */
        ASSERT_EQ(l.c->n_outputs, 2);
        loaded_done(&l);

        /* Another backend lends nothing: the bucket is needed; the prefix is the lease's. */
        l = load_job("    output: {s3: {bucket: logs, max_size: 1M}}\n");
        ASSERT_LOADS(l);
        a = l.c->jobs[0].policy->output;
        ASSERT_STREQ(a->bucket, "logs");
        ASSERT_TRUE(!a->endpoint && !a->region && !a->ca_file && !a->path_style);
        ASSERT_STREQ(a->prefix, "solocron");
        ASSERT_EQ(a->max_size, 1024 * 1024);
        loaded_done(&l);
        l = load_job("");
        ASSERT_LOADS(l);
        ASSERT_TRUE(!l.c->jobs[0].policy->output);      /* default: not kept */
        loaded_done(&l);

        assert_job_error("    output: s3\n",
                         "13: job 'j': 'output.s3' needs a 'bucket' (only the s3 lease backend "
                         "lends its own)");
        assert_job_error("    output: file\n",
                         "13: job 'j': 'output' must be a mapping ({s3: {bucket: …}}), 's3' or "
                         "'none', not 'file'");
        assert_job_error("    output: {s3: {bucket: b, max_size: 1T}}\n",
                         "40: job 'j': 'output.s3.max_size' must be a size in bytes, optionally "
                         "with K, M or G (or KiB, MiB, GiB), e.g. 1MiB, not '1T'");
        assert_job_error("    output: {s3: {bucket: b, prefix: /x}}\n",
                         "38: job 'j': 'output.s3.prefix' must not be empty, nor begin or end "
                         "with '/'");
        assert_job_error("    output: {s3: {bucket: b, endpoint: \"ftp://x\"}}\n",
                         "40: job 'j': 'output.s3.endpoint' must look like https://HOST[:PORT], "
                         "not 'ftp://x'");
        assert_job_error("    output: {gcs: {}}\n",
                         "14: job 'j': unknown key 'gcs' in 'output'");
        tmp_cleanup();
}

/* An etcd password to a plain http:// endpoint on another host is a warning (the table
 * loads), placed at that endpoint; https:// and this machine's own addresses are not. */
TEST(etcd_password_over_plain_http) {
        static const char lease[] =
                "lease:\n"
                "  backend: etcd\n"
                "  endpoints:\n"
                "    - http://10.0.0.1:2379\n"
                "    - https://10.0.0.2:2379\n"
                "    - http://127.0.0.1:2379\n"
                "    - http://[::1]:2379\n"
                "    - http://user@LocalHost:2379/\n"
                "    - http://localhost@etcd.example:2379\n"
                "  username: root\n";
        static const char jobs[] =
                "jobs:\n"
                "  - name: j\n"
                "    schedule: \"0 1 * * *\"\n"
                "    command: \"true\"\n";
        _cleanup_free_ char *with = NULL, *without = NULL;
        Loaded l;

        tmp_setup();
        ASSERT_TRUE(asprintf(&with, "%s  password: pw\n%s", lease, jobs) > 0);
        ASSERT_TRUE(asprintf(&without, "%s%s", lease, jobs) > 0);
        l = load_yaml(with);
        if (l.r < 0 || !l.c)
                TEST_FAIL("a warning must not stop the table: %d\n%s", l.r, l.text);
        ASSERT_EQ(l.d.n_errors, 0);
        ASSERT_DIAGS(l, "main.yaml:4:7: warning: lease: the etcd password goes to "
                        "'http://10.0.0.1:2379' unencrypted (and so does the token etcd gives "
                        "for it): use https://\n"
                        "main.yaml:9:7: warning: lease: the etcd password goes to "
                        "'http://localhost@etcd.example:2379' unencrypted (and so does the token "
                        "etcd gives for it): use https://\n");
        ASSERT_STREQ(l.c->lease.password, "pw");
        loaded_done(&l);
        l = load_yaml(without);
        ASSERT_LOADS(l);
        loaded_done(&l);
        tmp_cleanup();
}

TEST(durations) {
        Loaded l;

        tmp_setup();
        l = load_job("    timeout: 1h30m\n    kill_after: 500ms\n    jitter: 0\n"
                     "    catch_up: 2d\n    retry: {backoff: 1w, max_backoff: 90s}\n");
        ASSERT_LOADS(l);
        ASSERT_EQ(l.c->jobs[0].policy->timeout, 5400 * USEC_PER_SEC);
        ASSERT_EQ(l.c->jobs[0].policy->kill_after, 500 * USEC_PER_MSEC);
        ASSERT_EQ(l.c->jobs[0].policy->jitter, 0);
        ASSERT_EQ(l.c->jobs[0].policy->catch_up, 2 * 86400 * USEC_PER_SEC);
        ASSERT_EQ(l.c->jobs[0].policy->retry_backoff, 7 * 86400 * USEC_PER_SEC);
        ASSERT_EQ(l.c->jobs[0].policy->retry_max_backoff, 90 * USEC_PER_SEC);
        loaded_done(&l);

        l = load_job("    timeout: 0\n");         /* 0 disables, like none */
        ASSERT_LOADS(l);
        ASSERT_EQ(l.c->jobs[0].policy->timeout, USEC_INFINITY);
        loaded_done(&l);

        l = load_yaml("shutdown_grace: 0\n");
        ASSERT_LOADS(l);
        ASSERT_EQ(l.c->shutdown_grace, 0);
        ASSERT_EQ(l.c->n_jobs, 0);
        loaded_done(&l);
        tmp_cleanup();
}

TEST(limits) {
        const JobConfig *j;
        Loaded l;

        tmp_setup();
        l = load_job("    limits:\n"
                     "      as: 1G\n"
                     "      data: 512M\n"
                     "      stack: 8M\n"
                     "      memlock: 64K\n"
                     "      fsize: 2T\n"
                     "      core: unlimited\n"
                     "      nofile: {soft: 1024, hard: 4096}\n"
                     "      nproc: {soft: 10, hard: unlimited}\n"
                     "      cpu: 10m\n");
        ASSERT_LOADS(l);
        j = &l.c->jobs[0];
        ASSERT_EQ(j->policy->n_limits, 9);
        ASSERT_EQ(find_limit(j, RLIMIT_AS)->soft, UINT64_C(1) << 30);
        ASSERT_EQ(find_limit(j, RLIMIT_AS)->hard, UINT64_C(1) << 30);
        ASSERT_EQ(find_limit(j, RLIMIT_DATA)->soft, UINT64_C(512) << 20);
        ASSERT_EQ(find_limit(j, RLIMIT_STACK)->soft, UINT64_C(8) << 20);
        ASSERT_EQ(find_limit(j, RLIMIT_MEMLOCK)->soft, UINT64_C(64) << 10);
        ASSERT_EQ(find_limit(j, RLIMIT_FSIZE)->soft, UINT64_C(2) << 40);
        ASSERT_TRUE(find_limit(j, RLIMIT_CORE)->soft == RLIM_INFINITY);
        ASSERT_EQ(find_limit(j, RLIMIT_NOFILE)->soft, 1024);
        ASSERT_EQ(find_limit(j, RLIMIT_NOFILE)->hard, 4096);
        ASSERT_EQ(find_limit(j, RLIMIT_NPROC)->soft, 10);
        ASSERT_TRUE(find_limit(j, RLIMIT_NPROC)->hard == RLIM_INFINITY);
        ASSERT_EQ(find_limit(j, RLIMIT_CPU)->soft, 600);
        loaded_done(&l);

        l = load_job("    limits: {cpu: 3600, stack: 1000, core: 0}\n");
        ASSERT_LOADS(l);
        j = &l.c->jobs[0];
        ASSERT_EQ(find_limit(j, RLIMIT_CPU)->hard, 3600);
        ASSERT_EQ(find_limit(j, RLIMIT_STACK)->hard, 1000);
        ASSERT_EQ(find_limit(j, RLIMIT_CORE)->hard, 0);
        loaded_done(&l);
        tmp_cleanup();
}

TEST(umask_forms) {
        static const struct {
                const char *text;
                int value;
        } cases[] = {
                { "0022", 0022 }, { "\"0022\"", 0022 }, { "022", 0022 }, { "'0o027'", 0027 },
                { "0", 0 }, { "777", 0777 }, { "\"0777\"", 0777 }, { "7", 07 },
        };

        tmp_setup();
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *extra = NULL;
                Loaded l;

                ASSERT_TRUE(asprintf(&extra, "    umask: %s\n", cases[i].text) > 0);
                l = load_job(extra);
                ASSERT_LOADS(l);
                ASSERT_EQ(l.c->jobs[0].policy->umask, cases[i].value);
                loaded_done(&l);
        }
        assert_job_error("    umask: 0o\n",
                         "12: job 'j': 'umask' must be an octal number from 0000 to 0777 "
                         "(e.g. \"0022\"), not '0o'");
        tmp_cleanup();
}

TEST(anchors_and_aliases) {
        Loaded l;

        tmp_setup();
        l = load_yaml("jobs:\n"
                      "  - name: a\n"
                      "    schedule: &s \"0 1 * * *\"\n"
                      "    command: &c [run, \"${HOME}\"]\n"
                      "    limits: &l {nofile: 10}\n"
                      "  - name: b\n"
                      "    schedule: *s\n"
                      "    command: *c\n"
                      "    limits: *l\n");
        ASSERT_LOADS(l);
        ASSERT_STREQ(l.c->jobs[1].schedule_text, "0 1 * * *");
        ASSERT_STREQ(l.c->jobs[1].argv[1], "/home/test");
        ASSERT_EQ(l.c->jobs[1].policy->n_limits, 1);
        loaded_done(&l);

        /* An error in a shared node is reported once. */
        l = load_yaml("jobs:\n"
                      "  - name: a\n"
                      "    schedule: \"0 1 * * *\"\n"
                      "    command: \"true\"\n"
                      "    env: &e {A: \"${NOPE}\"}\n"
                      "  - name: b\n"
                      "    schedule: \"0 1 * * *\"\n"
                      "    command: \"true\"\n"
                      "    env: *e\n");
        ASSERT_DIAGS(l, "main.yaml:5:18: job 'a': variable 'NOPE' is not set; write "
                        "${NOPE:-default}, or $${NOPE} for a literal\n");
        loaded_done(&l);
        tmp_cleanup();
}

TEST(default_tz_option) {
        ConfigLoadOptions opts = test_opts();
        Loaded l;

        tmp_setup();
        opts.default_tz = "Asia/Tokyo";
        l = load_yaml_with("jobs:\n  - {name: j, schedule: \"0 1 * * *\", command: x}\n", &opts);
        ASSERT_LOADS(l);
        ASSERT_STREQ(tz_name(l.c->jobs[0].tz), "Asia/Tokyo");
        ASSERT_TRUE(l.c->default_tz == l.c->jobs[0].tz);
        ASSERT_EQ(l.c->n_zones, 1);
        loaded_done(&l);

        /* defaults.timezone wins over the option */
        l = load_yaml_with("defaults: {timezone: UTC}\n"
                           "jobs:\n  - {name: j, schedule: \"0 1 * * *\", command: x}\n", &opts);
        ASSERT_LOADS(l);
        ASSERT_TRUE(l.c->jobs[0].tz == tz_utc());
        loaded_done(&l);

        opts.default_tz = "Nowhere/Special";
        l = load_yaml_with("jobs: []\n", &opts);
        ASSERT_EQ(l.r, -EINVAL);
        ASSERT_DIAGS(l, "main.yaml: unknown default time zone 'Nowhere/Special'\n");
        loaded_done(&l);

        /* Each distinct zone is loaded once. */
        l = load_yaml("defaults: {timezone: Europe/Paris}\n"
                      "jobs:\n"
                      "  - {name: a, schedule: \"0 1 * * *\", command: x, timezone: Europe/Paris}\n"
                      "  - {name: b, schedule: \"0 1 * * *\", command: x, timezone: Asia/Tokyo}\n"
                      "  - {name: c, schedule: \"0 1 * * *\", command: x, timezone: Asia/Tokyo}\n"
                      "  - {name: d, schedule: \"0 1 * * *\", command: x}\n");
        ASSERT_LOADS(l);
        ASSERT_EQ(l.c->n_zones, 2);
        ASSERT_TRUE(l.c->jobs[0].tz == l.c->jobs[3].tz);
        ASSERT_TRUE(l.c->jobs[1].tz == l.c->jobs[2].tz);
        loaded_done(&l);
        tmp_cleanup();
}

TEST(unreadable_main_file) {
        ConfigLoadOptions opts = test_opts();
        ConfigDiags d = {};
        Config *c = NULL;
        _cleanup_free_ char *s = NULL;

        ASSERT_EQ(config_load("/nonexistent/solocron.yaml", &opts, &c, &d), -ENOENT);
        ASSERT_TRUE(!c);
        ASSERT_EQ(d.n, 1);
        ASSERT_EQ(d.n_errors, 1);
        ASSERT_EQ(d.items[0].line, 0);
        s = config_diag_format(&d.items[0]);
        ASSERT_STREQ(s, "/nonexistent/solocron.yaml: cannot read '/nonexistent/solocron.yaml': "
                        "No such file or directory");

        /* Diagnostics are appended. */
        ASSERT_EQ(config_load("/", &opts, &c, &d), -EISDIR);
        ASSERT_EQ(d.n, 2);
        ASSERT_STREQ(d.items[1].message, "cannot read '/': Is a directory");
        config_diags_done(&d);
        ASSERT_EQ(d.n, 0);
        config_diags_done(&d);
}

TEST(diag_format) {
        ConfigDiag d = { .severity = CONFIG_ERROR, .file = (char *) "f.yaml", .line = 3,
                         .column = 7, .message = (char *) "boom" };
        char *s;

        s = config_diag_format(&d);
        ASSERT_STREQ(s, "f.yaml:3:7: boom");
        free(s);
        d.column = 0;
        s = config_diag_format(&d);
        ASSERT_STREQ(s, "f.yaml:3: boom");
        free(s);
        d.line = 0;
        s = config_diag_format(&d);
        ASSERT_STREQ(s, "f.yaml: boom");
        free(s);
        d.severity = CONFIG_WARNING;
        s = config_diag_format(&d);
        ASSERT_STREQ(s, "f.yaml: warning: boom");
        free(s);
        ASSERT_TRUE(!config_free(NULL));
        ASSERT_TRUE(!config_find_job(NULL, "x"));
}

/* Loads a table of n jobs named j0, j1, …, each running "echo N". */
static Loaded load_n_jobs(unsigned n) {
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);
        Loaded l;

        ASSERT_TRUE(f);
        fprintf(f, "jobs:\n");
        for (unsigned i = 0; i < n; i++)
                fprintf(f, "  - {name: j%u, schedule: \"0 1 * * *\", command: \"echo %u\"}\n", i, i);
        fclose(f);
        l = load_yaml(text);
        free(text);
        return l;
}

TEST(too_many_jobs) {
        Loaded l;

        tmp_setup();
        l = load_n_jobs(CONFIG_MAX_JOBS + 1);
        ASSERT_EQ(l.r, -EINVAL);
        ASSERT_DIAGS(l, "main.yaml:10002:5: too many jobs (more than 10000)\n");
        loaded_done(&l);
        tmp_cleanup();
}

TEST(many_jobs_in_order) {
        /* 3000 jobs: the jobs: sequence outgrows the node pool's blocks (its item array is
         * copied as it doubles), and every job keeps its own name and packed command, and the
         * file path the Config holds once. */
        char name[16], cmd[32];
        Loaded l;

        tmp_setup();
        l = load_n_jobs(3000);
        ASSERT_EQ(l.r, 0);
        ASSERT_EQ(l.c->n_jobs, 3000);
        for (unsigned i = 0; i < 3000; i++) {
                const JobConfig *j = &l.c->jobs[i];

                (void) snprintf(name, sizeof(name), "j%u", i);
                (void) snprintf(cmd, sizeof(cmd), "echo %u", i);
                ASSERT_STREQ(j->name, name);
                ASSERT_TRUE(j->shell);
                ASSERT_STREQ(j->command, cmd);
                ASSERT_TRUE(j->file == l.c->files[0]);
                ASSERT_EQ(j->line, i + 2);
        }
        loaded_done(&l);
        tmp_cleanup();
}

TEST(hostile_input) {
        Loaded l;

        tmp_setup();
        /* Deep flow nesting, long strings. */
        {
                static const char head[] = "jobs:\n  - name: \"", tail[] = "\"\n";
                char *yaml = malloc(70000 + sizeof(head) + sizeof(tail));

                ASSERT_TRUE(yaml);
                memcpy(yaml, head, sizeof(head) - 1);
                memset(yaml + sizeof(head) - 1, 'a', 70000);
                memcpy(yaml + sizeof(head) - 1 + 70000, tail, sizeof(tail));
                l = load_yaml(yaml);
                free(yaml);
                ASSERT_EQ(l.r, -EINVAL);
                ASSERT_DIAGS(l, "main.yaml:2:5: job #1: missing required key 'schedule'\n"
                                "main.yaml:2:5: job #1: missing required key 'command'\n"
                                "main.yaml:2:11: string is too long (more than 65536 bytes)\n");
                loaded_done(&l);
        }
        /* An alias that expands past the limit of a job: refused without building it. */
        l = load_yaml("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                      "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                      "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                      "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                      "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                      "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                      "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n");
        ASSERT_EQ(l.r, -EINVAL);
        ASSERT_TRUE(strstr(l.text, "too many YAML nodes after expanding aliases"));
        loaded_done(&l);
        tmp_cleanup();
}

/* The one cache file in dir (config/yamlcache.c names it by a hash of the table's path). */
static char *cache_file(const char *dir) {
        DIR *dp = opendir(dir);
        struct dirent *de;
        char *found = NULL;

        ASSERT_TRUE(dp);
        while ((de = readdir(dp)))
                if (de->d_name[0] != '.') {
                        ASSERT_TRUE(!found);
                        ASSERT_TRUE(asprintf(&found, "%s/%s", dir, de->d_name) > 0);
                }
        closedir(dp);
        ASSERT_TRUE(found);
        return found;
}

/* path (job 'a') loads cleanly without the cache, and the next load from it: the cache
 * file was missed, then written anew. */
static void assert_miss_then_hit(const char *path, const ConfigLoadOptions *opts) {
        Loaded l = load_path_with(path, opts);

        ASSERT_LOADS(l);
        ASSERT_EQ(l.c->n_files_cached, 0);
        ASSERT_STREQ(l.c->jobs[0].name, "a");
        loaded_done(&l);
        l = load_path_with(path, opts);
        ASSERT_LOADS(l);
        ASSERT_EQ(l.c->n_files_cached, 1);
        loaded_done(&l);
}

/* Loads path for what the load leaves behind (in the cache). */
static void load_and_drop(const char *path, const ConfigLoadOptions *opts) {
        Loaded l = load_path_with(path, opts);

        loaded_done(&l);
}

/* Checks that dir holds n files, and makes them all 31 days old. */
static void cache_dir_count_and_age(const char *dir, size_t n) {
        const struct timespec old[2] = { { .tv_sec = time(NULL) - 31 * 86400 },
                                         { .tv_sec = time(NULL) - 31 * 86400 } };
        DIR *dp = opendir(dir);
        struct dirent *de;
        size_t found = 0;

        ASSERT_TRUE(dp);
        while ((de = readdir(dp)))
                if (de->d_name[0] != '.') {
                        found++;
                        ASSERT_EQ(utimensat(dirfd(dp), de->d_name, old, 0), 0);
                }
        closedir(dp);
        ASSERT_EQ(found, n);
}

static void file_patch(const char *path, long offset, int whence, const char *bytes) {
        FILE *f = fopen(path, "r+e");

        ASSERT_TRUE(f);
        ASSERT_EQ(fseek(f, offset, whence), 0);
        fputs(bytes, f);
        ASSERT_EQ(fclose(f), 0);
}

/* A table read again unchanged comes from the cache; anything else about the cache file is a
 * miss, and the table is parsed (the data-driven test checks the two give the same). */
TEST(table_cache) {
        static const char job[] = "jobs:\n  - {name: a, schedule: \"0 1 * * *\", command: x}\n";
        _cleanup_free_ char *main_path = NULL, *cache_dir = NULL, *file = NULL, *gone = NULL;
        ConfigLoadOptions opts = test_opts();
        struct stat st;
        Loaded l;

        tmp_setup();
        ASSERT_TRUE(asprintf(&cache_dir, "%s/cache", tmp_dir) > 0);
        opts.cache_dir = cache_dir;
        free(tmp_write("inc.yaml", "jobs:\n  - {name: b, schedule: \"0 2 * * *\", command: y}\n"));
        main_path = tmp_write("main.yaml", "include: inc.yaml\njobs:\n"
                                           "  - {name: a, schedule: \"0 1 * * *\", command: x}\n");
        l = load_path_with(main_path, &opts);
        ASSERT_LOADS(l);
        ASSERT_EQ(l.c->n_files_cached, 0);
        loaded_done(&l);
        ASSERT_EQ(stat(cache_dir, &st), 0);
        ASSERT_EQ(st.st_mode & 07777, 0700);
        l = load_path_with(main_path, &opts);
        ASSERT_LOADS(l);
        ASSERT_EQ(l.c->n_files_cached, 2);     /* an include is kept on its own */
        ASSERT_EQ(l.c->n_jobs, 2);
        loaded_done(&l);
        /* The include dropped: what the cache held for it goes with the next load once a
         * month old, and a write left half done too (a recent one may be another daemon's,
         * sharing the state directory). */
        free(tmp_write("cache/0123456789abcdef.events.77.tmp", "x"));
        main_path = (free(main_path), tmp_write("main.yaml", job));
        load_and_drop(main_path, &opts);
        cache_dir_count_and_age(cache_dir, 3);
        load_and_drop(main_path, &opts);        /* a hit: main's entry is touched */
        cache_dir_count_and_age(cache_dir, 1);
        free(file);
        file = cache_file(cache_dir);
        ASSERT_EQ(stat(file, &st), 0);
        ASSERT_TRUE(time(NULL) - st.st_mtime > 30 * 86400);
        load_and_drop(main_path, &opts);
        ASSERT_EQ(stat(file, &st), 0);
        ASSERT_TRUE(time(NULL) - st.st_mtime < 3600);
        tmp_cleanup();

        tmp_setup();
        free(cache_dir);
        ASSERT_TRUE(asprintf(&cache_dir, "%s/cache", tmp_dir) > 0);
        opts.cache_dir = cache_dir;
        main_path = (free(main_path), tmp_write("main.yaml", job));
        load_and_drop(main_path, &opts);
        free(file);
        file = cache_file(cache_dir);
        ASSERT_EQ(stat(file, &st), 0);
        ASSERT_EQ(st.st_mode & 07777, 0600);

        /* The same size, another text: parsed, and the new text is the one seen. */
        main_path = (free(main_path), tmp_write("main.yaml",
                     "jobs:\n  - {name: b, schedule: \"0 1 * * *\", command: x}\n"));
        l = load_path_with(main_path, &opts);
        ASSERT_LOADS(l);
        ASSERT_EQ(l.c->n_files_cached, 0);
        ASSERT_STREQ(l.c->jobs[0].name, "b");
        loaded_done(&l);
        main_path = (free(main_path), tmp_write("main.yaml", job));
        load_and_drop(main_path, &opts);

        /* A text longer than the piece compared at a time, changed near its end only, the
         * same size: a miss too. */
        {
                _cleanup_free_ char *big = malloc(32768);
                size_t n = 0;

                ASSERT_TRUE(big);
                n += (size_t) snprintf(big, 32768, "jobs:\n");
                for (int i = 0; i < 300; i++)
                        n += (size_t) snprintf(big + n, 32768 - n, "  - {name: j%03d, schedule: "
                                               "\"0 1 * * *\", command: x}\n", i);
                ASSERT_TRUE(n > 3 * 8192 / 2 && n < 32768);
                main_path = (free(main_path), tmp_write("main.yaml", big));
                load_and_drop(main_path, &opts);
                l = load_path_with(main_path, &opts);
                ASSERT_EQ(l.c->n_files_cached, 1);
                loaded_done(&l);
                memcpy(strstr(big, "j299"), "k299", 4);
                main_path = (free(main_path), tmp_write("main.yaml", big));
                l = load_path_with(main_path, &opts);
                ASSERT_LOADS(l);
                ASSERT_EQ(l.c->n_files_cached, 0);
                ASSERT_EQ(l.c->n_jobs, 300);
                ASSERT_STREQ(l.c->jobs[299].name, "k299");
                loaded_done(&l);
                main_path = (free(main_path), tmp_write("main.yaml", job));
                load_and_drop(main_path, &opts);
        }

        /* A damaged event (a byte of the last one's marks), a short file, a file others may
         * write: each a miss, then written anew. */
        file_patch(file, -1, SEEK_END, "\x7f");
        assert_miss_then_hit(main_path, &opts);
        ASSERT_EQ(truncate(file, 100), 0);
        assert_miss_then_hit(main_path, &opts);
        ASSERT_EQ(chmod(file, 0666), 0);
        assert_miss_then_hit(main_path, &opts);

        /* The text of a table the cache holds in another form: a syntax error is never
         * kept, and the next good text is parsed. */
        main_path = (free(main_path), tmp_write("main.yaml", "jobs: [\n"));
        l = load_path_with(main_path, &opts);
        ASSERT_EQ(l.r, -EINVAL);
        loaded_done(&l);
        ASSERT_EQ(stat(file, &st), 0);          /* the good text's events are still there */
        main_path = (free(main_path), tmp_write("main.yaml", job));
        l = load_path_with(main_path, &opts);
        ASSERT_EQ(l.c->n_files_cached, 1);
        loaded_done(&l);

        /* A cache directory that others may write in is not used, neither read nor
         * written. */
        ASSERT_EQ(chmod(cache_dir, 0777), 0);
        l = load_path_with(main_path, &opts);
        ASSERT_LOADS(l);
        ASSERT_EQ(l.c->n_files_cached, 0);
        loaded_done(&l);
        ASSERT_EQ(unlink(file), 0);
        load_and_drop(main_path, &opts);
        ASSERT_TRUE(stat(file, &st) < 0 && errno == ENOENT);
        ASSERT_EQ(chmod(cache_dir, 0700), 0);

        /* No cache without its parent directory, or when the cache is not a directory:
         * loads as without one. */
        ASSERT_TRUE(asprintf(&gone, "%s/no/cache", tmp_dir) > 0);
        opts.cache_dir = gone;
        l = load_path_with(main_path, &opts);
        ASSERT_LOADS(l);
        ASSERT_EQ(l.c->n_files_cached, 0);
        loaded_done(&l);
        ASSERT_TRUE(stat(gone, &st) < 0 && errno == ENOENT);
        opts.cache_dir = main_path;
        l = load_path_with(main_path, &opts);
        ASSERT_LOADS(l);
        ASSERT_EQ(l.c->n_files_cached, 0);
        loaded_done(&l);
        tmp_cleanup();
}

/* A cache file that hashes as written but whose events do not make a whole stream (what a
 * change of the encoding without a new format number would leave): a miss, then replaced.
 * Made through the cache's own writer, so only the events are wrong. */
TEST(table_cache_broken_events) {
        static const char job[] = "jobs:\n  - {name: a, schedule: \"0 1 * * *\", command: x}\n";
        static const yaml_event_type_t streams[][36] = {
                { YAML_MAPPING_END_EVENT, YAML_STREAM_END_EVENT },      /* an end at depth 0 */
                { YAML_SEQUENCE_START_EVENT, YAML_MAPPING_END_EVENT, YAML_STREAM_END_EVENT },
                { YAML_STREAM_START_EVENT, YAML_DOCUMENT_START_EVENT }, /* cut short */
                { YAML_SEQUENCE_START_EVENT, YAML_STREAM_END_EVENT,     /* ended inside */
                  YAML_SEQUENCE_END_EVENT, YAML_STREAM_END_EVENT },
                { [0 ... 32] = YAML_SEQUENCE_START_EVENT },             /* 33 deep */
        };
        _cleanup_free_ char *main_path = NULL, *cache_dir = NULL, *why = NULL;
        ConfigLoadOptions opts = test_opts();

        tmp_setup();
        ASSERT_TRUE(asprintf(&cache_dir, "%s/cache", tmp_dir) > 0);
        ASSERT_EQ(mkdir(cache_dir, 0700), 0);
        opts.cache_dir = cache_dir;
        main_path = tmp_write("main.yaml", job);
        for (size_t i = 0; i < ELEMENTSOF(streams); i++) {
                ConfigFile f = { .path = main_path, .source = (char *) job, .size = strlen(job) };
                CacheRecording rec = {};

                ASSERT_EQ(config_yaml_load(&why), 0);
                for (size_t j = 0; j < ELEMENTSOF(streams[i]) && streams[i][j]; j++)
                        yamlcache_record(&rec, &(yaml_event_t) { .type = streams[i][j] });
                ASSERT_EQ(yamlcache_store(cache_dir, &f, &rec), 0);
                yamlcache_recording_done(&rec);
                config_yaml_release();
                assert_miss_then_hit(main_path, &opts);
        }

        /* Events whose first part gives an error (an unknown tag) and that then stop short:
         * what was made of them goes, that error too, and the text loads cleanly. */
        {
                ConfigFile f = { .path = main_path, .source = (char *) job, .size = strlen(job) };
                yaml_event_t tagged = { .type = YAML_SCALAR_EVENT };
                CacheRecording rec = {};

                tagged.data.scalar.value = (yaml_char_t *) "a";
                tagged.data.scalar.length = 1;
                tagged.data.scalar.tag = (yaml_char_t *) "!odd";
                ASSERT_EQ(config_yaml_load(&why), 0);
                yamlcache_record(&rec, &(yaml_event_t) { .type = YAML_STREAM_START_EVENT });
                yamlcache_record(&rec, &(yaml_event_t) { .type = YAML_DOCUMENT_START_EVENT });
                yamlcache_record(&rec, &tagged);
                yamlcache_record(&rec, &(yaml_event_t) { .type = YAML_DOCUMENT_END_EVENT });
                ASSERT_EQ(yamlcache_store(cache_dir, &f, &rec), 0);
                yamlcache_recording_done(&rec);
                config_yaml_release();
                assert_miss_then_hit(main_path, &opts);
        }
        tmp_cleanup();
}

TESTS_MAIN
