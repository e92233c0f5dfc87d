/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "jsonlib.h"
#include "macro.h"
#include "reterr.h"
#include "parse.h"
#include "state.h"
#include "timeutil.h"

#define STATE_FILE "state.json"
#define STATE_VERSION 1

struct State {
        char *dir;
        char *path;
        json_t *jobs;           /* object: name → {"last_completed": "RFC 3339"}; NULL: none yet */
        bool dirty;
};

State *state_free(State *s) {
        if (!s)
                return NULL;
        json_decref(s->jobs);
        free(s->dir);
        free(s->path);
        free(s);
        return NULL;
}

const char *state_path(const State *s) {
        return s->path;
}

bool state_dirty(const State *s) {
        return s->dirty;
}

static int mkdir_p(const char *dir) {
        _cleanup_free_ char *p = strdup(dir);

        if (!p)
                return -ENOMEM;
        for (char *c = p + 1; *c; c++)
                if (*c == '/') {
                        *c = 0;
                        if (mkdir(p, 0755) < 0 && errno != EEXIST)
                                return -errno;
                        *c = '/';
                }
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* Parse the file's contents; NULL if it is not a state file we understand. */
static json_t *state_parse(const char *path) {
        json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, NULL), *jobs;

        if (!root)
                return NULL;
        jobs = json_object_get(root, "jobs");
        if (json_integer_value(json_object_get(root, "version")) != STATE_VERSION || !json_is_object(jobs)) {
                json_decref(root);
                return NULL;
        }
        json_incref(jobs);
        json_decref(root);
        return jobs;
}

int state_open(const char *dir, State **ret, char **reterr_message) {
        _cleanup_(state_freep) State *s = calloc(1, sizeof(State));
        int r;

        if (!s)
                return -ENOMEM;
        s->dir = strdup(dir);
        if (!s->dir || asprintf(&s->path, "%s/%s", dir, STATE_FILE) < 0)
                return -ENOMEM;
        r = mkdir_p(dir);
        if (r < 0) {
                return reterr_printf(reterr_message, r, "cannot create state directory '%s': %s",
                                     dir, strerror(-r));
        }
        if (access(s->path, F_OK) == 0) {
                r = jsonlib_load();     /* not a reason to move the file aside */
                if (r < 0)
                        return reterr_printf(reterr_message, r, "cannot read state file '%s': "
                                             "libjansson.so.4 cannot be loaded (Debian: "
                                             "apt-get install libjansson4)", s->path);
                s->jobs = state_parse(s->path);
                if (!s->jobs) {
                        _cleanup_free_ char *aside = NULL;

                        if (asprintf(&aside, "%s.corrupt", s->path) < 0)
                                return -ENOMEM;
                        (void) rename(s->path, aside);
                        (void) reterr_printf(reterr_message, 0, "state file '%s' is not valid, "
                                             "moved to '%s'; starting without catch-up history",
                                             s->path, aside);
                }
        }
        /* Without a file, s->jobs waits for the first job that completes: JSON (and the
         * library, daemon/dlopen/jsonlib.c) only when there is some. */
        *ret = TAKE_PTR(s);
        return 0;
}

bool state_get_last(const State *s, const char *job, int64_t *ret) {
        const char *v;
        bool absolute;
        int64_t t;

        if (!s->jobs)
                return false;
        v = json_string_value(json_object_get(json_object_get(s->jobs, job), "last_completed"));
        if (!v || parse_timestamp(v, &t, &absolute) < 0 || !absolute)
                return false;
        *ret = t;
        return true;
}

int state_set_last(State *s, const char *job, int64_t scheduled) {
        char buf[RFC3339_UTC_MAX];
        json_t *last;
        int64_t old;

        if (state_get_last(s, job, &old) && old >= scheduled)
                return 0;       /* never move backwards (a late retry of an older firing) */
        if (!s->jobs && !(s->jobs = json_object()))
                return -ENOMEM;
        format_rfc3339_utc(scheduled, buf);
        /* In place when the job has its entry: no objects built and freed per firing. */
        last = json_object_get(json_object_get(s->jobs, job), "last_completed");
        if (json_is_string(last)) {
                if (json_string_set(last, buf) < 0)
                        return -ENOMEM;
        } else if (json_object_set_new(s->jobs, job, json_pack("{s:s}", "last_completed", buf)) < 0)
                return -ENOMEM;
        s->dirty = true;
        return 0;
}

int state_save(State *s) {
        _cleanup_free_ char *text = NULL;
        json_t *root;
        int r;

        if (!s->dirty)
                return 0;
        root = json_pack("{s:i,s:O}", "version", STATE_VERSION, "jobs", s->jobs);
        if (!root)
                return -ENOMEM;
        text = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
        json_decref(root);
        if (!text)
                return -ENOMEM;
        /* A temporary name of its own per save: daemons sharing a state directory must not
         * rename each other's half-written file, nor follow a planted symlink. */
        r = atomicfile_write(s->path, text, strlen(text), 0644, true);
        if (r < 0)
                return r;
        s->dirty = false;
        return 0;
}
