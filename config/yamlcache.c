/* SPDX-License-Identifier: MIT */
/* libyaml's events for a file, kept from an earlier load (ConfigLoadOptions.cache_dir), so
 * that a table read again unchanged is not parsed again: a restart, or a reload whose
 * includes did not change. Nothing but libyaml's work is kept: the tree, the expansion of
 * ${VAR}, the zones and every check run on each load as before, so a cached file gives the
 * same table and the same diagnostics as the text would.
 *
 * One file per table file in the cache directory, named by a hash of its path:
 *   header | the file's path | libyaml's path | the file's text | the events
 * It is used only when the path and the whole text are the same (compared byte for byte),
 * the libyaml file that made it is still in place unchanged (its inode, size and mtime, as
 * when it was loaded), the directory and the file are ours and no one else may write them,
 * and the events hash as when they were written and make a whole, balanced stream (checked
 * as they are replayed, in the same pass: what was built from a stream found broken partway
 * is dropped, its diagnostics too). Anything else, a short or damaged file included, is a
 * miss: the text is parsed and the file written again. A hit touches the file's mtime:
 * entries no load uses for 30 days are removed. Writing is best effort (a read-only or full
 * disk costs nothing but the next parse). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#include "fdio.h"
#include "grow.h"
#include "hash.h"
#include "internal.h"

#define CACHE_MAGIC "solocron"
#define CACHE_FORMAT 1u            /* bump when the layout or the events' encoding changes */
#define CACHE_KEEP_SEC (30 * 86400) /* an entry no load of ours uses is removed this old */

typedef struct CacheHeader {
        char magic[8];
        uint32_t format;
        uint32_t path_size;
        uint32_t lib_path_size;
        uint32_t n_events;
        uint64_t source_size;
        uint64_t events_size;
        uint64_t events_hash;           /* of the events: a damaged file is a miss */
        uint64_t lib_dev, lib_ino, lib_size;
        int64_t lib_mtime_sec, lib_mtime_nsec;
} CacheHeader;

/* --- recording ----------------------------------------------------------------------- */

/* Each event: one byte of type (low 4 bits) and scalar style (high 4), then varints (7 bits
 * a byte, low first) of the start mark's line and column, the end mark's line after the
 * start's and its column; then its strings: a scalar's value, tag and anchor, a collection's
 * tag and anchor, an alias's anchor, each as a varint of its length + 1 (0: none), the
 * bytes and a NUL. Some 9 bytes a scalar besides its text. */
static uint8_t *reserve(CacheRecording *r, size_t n) {
        if (r->failed)
                return NULL;
        if (r->size + n > r->cap) {
                uint8_t *d = grow_buffer(r->data, &r->cap, r->size + n, 16384);

                if (!d) {
                        r->failed = true;       /* no cache this time; the load goes on */
                        return NULL;
                }
                r->data = d;
        }
        return r->data + r->size;
}

static void put_varint(CacheRecording *r, uint64_t v) {
        uint8_t *d = reserve(r, 10);

        if (!d)
                return;
        for (; v >= 0x80; v >>= 7)
                *d++ = (uint8_t) (v | 0x80);
        *d++ = (uint8_t) v;
        r->size = (size_t) (d - r->data);
}

static void put_string(CacheRecording *r, const yaml_char_t *s, size_t n) {
        uint8_t *d;

        put_varint(r, s ? n + 1 : 0);
        if (!s || !(d = reserve(r, n + 1)))
                return;
        memcpy(d, s, n);
        d[n] = 0;               /* NUL-terminated, as libyaml's are */
        r->size += n + 1;
}

static void put_cstring(CacheRecording *r, const yaml_char_t *s) {
        put_string(r, s, s ? strlen((const char *) s) : 0);
}

void yamlcache_record(CacheRecording *r, const yaml_event_t *e) {
        uint8_t *d = reserve(r, 1);

        if (!d)
                return;
        if (e->end_mark.line < e->start_mark.line) {
                r->failed = true;       /* never seen from libyaml; not kept rather than wrong */
                return;
        }
        *d = (uint8_t) ((unsigned) e->type |
                        (e->type == YAML_SCALAR_EVENT ? (unsigned) e->data.scalar.style << 4 : 0));
        r->size++;
        put_varint(r, e->start_mark.line);
        put_varint(r, e->start_mark.column);
        put_varint(r, e->end_mark.line - e->start_mark.line);
        put_varint(r, e->end_mark.column);
        switch (e->type) {
        case YAML_SCALAR_EVENT:
                put_string(r, e->data.scalar.value, e->data.scalar.length);
                put_cstring(r, e->data.scalar.tag);
                put_cstring(r, e->data.scalar.anchor);
                break;
        case YAML_SEQUENCE_START_EVENT:
                put_cstring(r, e->data.sequence_start.tag);
                put_cstring(r, e->data.sequence_start.anchor);
                break;
        case YAML_MAPPING_START_EVENT:
                put_cstring(r, e->data.mapping_start.tag);
                put_cstring(r, e->data.mapping_start.anchor);
                break;
        case YAML_ALIAS_EVENT:
                put_cstring(r, e->data.alias.anchor);
                break;
        default:
                break;
        }
        r->n_events++;
}

void yamlcache_recording_done(CacheRecording *r) {
        free(r->data);
        *r = (CacheRecording) {};
}

/* --- the cache file ------------------------------------------------------------------ */

/* A quick 64-bit hash, 8 bytes a step: it tells a damaged file from a good one, nothing more
 * (the files are ours: no one to guard against but the disk). */
static uint64_t hash_bytes(const uint8_t *p, size_t n) {
        uint64_t h = n ^ UINT64_C(0x9e3779b97f4a7c15), w;

        for (; n >= 8; p += 8, n -= 8) {
                memcpy(&w, p, 8);
                h = ((h ^ w) << 29 | (h ^ w) >> 35) * UINT64_C(0xff51afd7ed558ccd);
        }
        w = 0;
        memcpy(&w, p, n);
        h = (h ^ w) * UINT64_C(0xc4ceb9fe1a85ec53);
        return h ^ h >> 33;
}

#define CACHE_NAME_MAX 32          /* "0123456789abcdef.events" and its NUL */

static void cache_name(const char *path, char name[static CACHE_NAME_MAX]) {
        uint64_t h = fnv1a64(FNV1A64_OFFSET, path, strlen(path));

        (void) snprintf(name, CACHE_NAME_MAX, "%016llx.events", (unsigned long long) h);
}

static char *cache_path(const char *dir, const char *path) {
        char name[CACHE_NAME_MAX], *p;

        cache_name(path, name);
        return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

void yamlcache_prune(const char *dir, char *const *files) {
        _cleanup_free_ char (*keep)[CACHE_NAME_MAX] = NULL;
        size_t n = 0;
        struct dirent *de;
        struct stat st;
        DIR *dp;

        while (files && files[n])
                n++;
        keep = calloc(n ? n : 1, sizeof(*keep));
        if (!keep || !(dp = opendir(dir)))
                return;
        for (size_t i = 0; i < n; i++)
                cache_name(files[i], keep[i]);
        while ((de = readdir(dp))) {
                bool kept = de->d_name[0] == '.';

                for (size_t i = 0; !kept && i < n; i++)
                        kept = strcmp(keep[i], de->d_name) == 0;
                /* Daemons that share a state directory share this one: another's entries
                 * are touched by its every load, so only those unused for long go. */
                if (!kept && fstatat(dirfd(dp), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                    time(NULL) - st.st_mtime > CACHE_KEEP_SEC)
                        (void) unlinkat(dirfd(dp), de->d_name, 0);
        }
        closedir(dp);
}

static bool lib_matches(const CacheHeader *h, const char *lib_path) {
        struct stat st;

        return stat(lib_path, &st) == 0 && (uint64_t) st.st_dev == h->lib_dev &&
               (uint64_t) st.st_ino == h->lib_ino && (uint64_t) st.st_size == h->lib_size &&
               st.st_mtim.tv_sec == h->lib_mtime_sec && st.st_mtim.tv_nsec == h->lib_mtime_nsec;
}

int yamlcache_dir_make(const char *dir) {
        struct stat st;

        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return -errno;  /* ENOENT: the state directory is not made yet (first start) */
        if (lstat(dir, &st) < 0)
                return -errno;
        /* Ours, a directory, and no one else may write in it: else it is not used at all. */
        return S_ISDIR(st.st_mode) && st.st_uid == geteuid() && !(st.st_mode & 022) ? 0 : -EPERM;
}

int yamlcache_store(const char *dir, const ConfigFile *f, const CacheRecording *rec) {
        _cleanup_free_ char *path = NULL, *tmp = NULL;
        CacheHeader h = { .format = CACHE_FORMAT };
        const struct stat *lib_st;
        const char *lib;
        int fd, r = 0;

        if (rec->failed || !rec->data)
                return -ENOMEM;
        if (config_yaml_identity(&lib, &lib_st) < 0)
                return -ENOENT;
        memcpy(h.magic, CACHE_MAGIC, sizeof(h.magic));
        h.path_size = (uint32_t) strlen(f->path);
        h.lib_path_size = (uint32_t) strlen(lib);
        h.n_events = (uint32_t) rec->n_events;
        h.source_size = f->size;
        h.events_size = rec->size;
        h.events_hash = hash_bytes(rec->data, rec->size);
        h.lib_dev = lib_st->st_dev;
        h.lib_ino = lib_st->st_ino;
        h.lib_size = (uint64_t) lib_st->st_size;
        h.lib_mtime_sec = lib_st->st_mtim.tv_sec;
        h.lib_mtime_nsec = lib_st->st_mtim.tv_nsec;

        const struct { const void *p; size_t n; } parts[] = {
                { &h, sizeof(h) },
                { f->path, h.path_size },
                { lib, h.lib_path_size },
                { f->source, f->size },
                { rec->data, rec->size },
        };

        path = cache_path(dir, f->path);
        if (!path || asprintf(&tmp, "%s.XXXXXX", path) < 0)
                return -ENOMEM;
        fd = mkostemp(tmp, O_CLOEXEC);          /* 0600, a name no one could have made */
        if (fd < 0)
                return -errno;
        for (size_t i = 0; r == 0 && i < ELEMENTSOF(parts); i++)
                r = write_all(fd, parts[i].p, parts[i].n);      /* ENOSPC, EDQUOT, … */
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                (void) unlink(tmp);
        return r;
}

static bool get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
        *v = 0;
        for (unsigned shift = 0; *p < end && shift < 64; shift += 7) {
                uint8_t c = *(*p)++;

                *v |= (uint64_t) (c & 0x7f) << shift;
                if (!(c & 0x80))
                        return true;
        }
        return false;
}

static bool get_string(const uint8_t **p, const uint8_t *end, yaml_char_t **s, size_t *n) {
        uint64_t l;

        if (!get_varint(p, end, &l))
                return false;
        *s = NULL;
        *n = 0;
        if (l-- == 0)
                return true;
        if ((uint64_t) (end - *p) <= l || (*p)[l] != 0)
                return false;
        *s = (yaml_char_t *) *p;        /* points into the blob, NUL-terminated */
        *n = (size_t) l;
        *p += l + 1;
        return true;
}

static bool get_mark(const uint8_t **p, const uint8_t *end, size_t line_base, yaml_mark_t *m) {
        uint64_t line, column;

        if (!get_varint(p, end, &line) || !get_varint(p, end, &column) ||
            line > UINT32_MAX || column > UINT32_MAX)
                return false;
        *m = (yaml_mark_t) { .line = line_base + line, .column = column };
        return true;
}

/* Decodes the event at *p into *e (its strings point into the blob); false when the bytes
 * are not a well-formed event. */
static bool get_event(const uint8_t **p, const uint8_t *end, yaml_event_t *e) {
        yaml_char_t *tag, *anchor;
        size_t n, unused;
        unsigned style;

        *e = (yaml_event_t) {};
        if (*p >= end)
                return false;
        e->type = (yaml_event_type_t) (**p & 0x0f);
        style = **p >> 4;
        (*p)++;
        if (e->type > YAML_MAPPING_END_EVENT || style > YAML_FOLDED_SCALAR_STYLE ||
            !get_mark(p, end, 0, &e->start_mark) ||
            !get_mark(p, end, e->start_mark.line, &e->end_mark))
                return false;
        switch (e->type) {
        case YAML_SCALAR_EVENT:
                if (!get_string(p, end, &e->data.scalar.value, &n) || !e->data.scalar.value)
                        return false;
                e->data.scalar.length = n;
                e->data.scalar.style = (yaml_scalar_style_t) style;
                return get_string(p, end, &e->data.scalar.tag, &unused) &&
                       get_string(p, end, &e->data.scalar.anchor, &unused);
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
                if (!get_string(p, end, &tag, &unused) || !get_string(p, end, &anchor, &unused))
                        return false;
                if (e->type == YAML_MAPPING_START_EVENT) {
                        e->data.mapping_start.tag = tag;
                        e->data.mapping_start.anchor = anchor;
                } else {
                        e->data.sequence_start.tag = tag;
                        e->data.sequence_start.anchor = anchor;
                }
                return true;
        case YAML_ALIAS_EVENT:
                return get_string(p, end, &e->data.alias.anchor, &unused) && e->data.alias.anchor;
        default:
                return true;
        }
}

/* Whether e, read after the events before it, keeps them a part of a whole stream as
 * recorded from a parse that reached its end: every collection closed by its own kind of
 * end, no deeper than the builder takes, and the last a stream's end or the second
 * document's start (where the builder stops), the n-th and at the end of the bytes. Marks c
 * whole at that last one. */
static bool event_fits(CachedEvents *c, const yaml_event_t *e) {
        _Static_assert(YAML_SEQUENCE_END_EVENT == YAML_SEQUENCE_START_EVENT + 1 &&
                       YAML_MAPPING_END_EVENT == YAML_MAPPING_START_EVENT + 1,
                       "each END follows its START in libyaml's enum");

        switch (e->type) {
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
                if (c->depth == CONFIG_MAX_DEPTH)
                        return false;
                c->open[c->depth++] = (uint8_t) e->type;
                return true;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
                return c->depth > 0 && c->open[--c->depth] + 1u == (unsigned) e->type;
        case YAML_DOCUMENT_START_EVENT:
                if (++c->n_documents < 2)
                        return true;
                break;                  /* the builder stops at a second document */
        case YAML_STREAM_END_EVENT:
                break;
        default:
                return true;
        }
        c->whole = c->left == 1 && c->depth == 0 && c->events == c->end;
        return c->whole;
}

/* The next n bytes of fd are s: read and compared a piece at a time, so that the text of a
 * large table is not copied whole into memory touched for nothing else. */
static int read_equal(int fd, const void *s, size_t n) {
        const uint8_t *q = s;
        uint8_t buf[8192];

        while (n > 0) {
                size_t k = n < sizeof(buf) ? n : sizeof(buf);

                if (read_full(fd, buf, k) != (ssize_t) k)
                        return -EIO;
                if (memcmp(buf, q, k) != 0)
                        return -ESTALE;
                q += k;
                n -= k;
        }
        return 0;
}

int yamlcache_fetch(const char *dir, const ConfigFile *f, CachedEvents *ret) {
        _cleanup_free_ char *path = NULL, *lib = NULL;
        _cleanup_free_ uint8_t *blob = NULL;
        _cleanup_(closep) int fd = -1;
        const uint8_t *p;
        CacheHeader h;
        struct stat st;
        size_t size;
        int r;

        path = cache_path(dir, f->path);
        if (!path)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        /* Only a file of ours that no one else could have written stands for the text. */
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
            (st.st_mode & 022) || (uint64_t) st.st_size < sizeof(h))
                return -EPERM;
        if (read_full(fd, &h, sizeof(h)) != (ssize_t) sizeof(h))
                return -EIO;
        /* Sizes checked one by one before anything is allocated or added up. */
        if (memcmp(h.magic, CACHE_MAGIC, sizeof(h.magic)) != 0 || h.format != CACHE_FORMAT ||
            h.source_size != f->size || h.path_size != strlen(f->path) ||
            h.lib_path_size == 0 || h.lib_path_size > PATH_MAX ||
            h.events_size > (uint64_t) st.st_size ||
            (uint64_t) st.st_size - sizeof(h) > SIZE_MAX ||
            (uint64_t) st.st_size - sizeof(h) != (uint64_t) h.path_size + h.lib_path_size +
                                                 h.source_size + h.events_size)
                return -ESTALE;
        if ((r = read_equal(fd, f->path, h.path_size)) < 0)
                return r;
        lib = malloc(h.lib_path_size + 1);
        if (!lib)
                return -ENOMEM;
        if (read_full(fd, lib, h.lib_path_size) != (ssize_t) h.lib_path_size)
                return -EIO;
        lib[h.lib_path_size] = 0;
        if (strlen(lib) != h.lib_path_size || !lib_matches(&h, lib))
                return -ESTALE;
        if ((r = read_equal(fd, f->source, f->size)) < 0)
                return r;
        size = (size_t) h.events_size;
        blob = malloc(size ? size : 1);
        if (!blob)
                return -ENOMEM;
        if (read_full(fd, blob, size) != (ssize_t) size)
                return -EIO;
        p = blob;
        if (hash_bytes(p, h.events_size) != h.events_hash)
                return -EBADMSG;        /* written anew after the parse */
        (void) futimens(fd, NULL);      /* in use: yamlcache_prune() keeps it */
        *ret = (CachedEvents) {
                .events = p,
                .end = p + h.events_size,
                .left = h.n_events,
                .blob = TAKE_PTR(blob),
        };
        return 0;
}

bool yamlcache_next(CachedEvents *c, yaml_event_t *e) {
        if (c->whole || c->left == 0)
                return false;
        if (!get_event(&c->events, c->end, e) || !event_fits(c, e)) {
                c->left = 0;            /* not a whole stream: nothing more is read */
                return false;
        }
        c->left--;
        return true;
}

void yamlcache_done(CachedEvents *c) {
        free(c->blob);
        *c = (CachedEvents) {};
}
