/* SPDX-License-Identifier: MIT */
/* Job names from commands (rules in crontab.c). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crontab_internal.h"
#include "hash.h"
#include "macro.h"

#define CRONTAB_NAME_MAX 48
#define CRONTAB_NAME_WORDS 3

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

static char lower(char c) {
        return c >= 'A' && c <= 'Z' ? (char) (c - 'A' + 'a') : c;
}

static uint64_t fnv1a(const char *s, uint64_t h) {
        static const unsigned char separator = 0xff;    /* between strings */

        return fnv1a64(fnv1a64(h, s, strlen(s)), &separator, 1);
}

static bool stop_word(const char *w) {
        static const char *const words[] = {
                "cd", "test", "[", "[[", "]", "]]", "exec", "env", "nice", "ionice", "nohup",
                "sudo", "command", "if", "then", "else", "elif", "fi", "do", "done", "for", "while",
                "until", "true", "false", "sh", "bash", "dash", "sleep", "in", "case", "esac",
        };

        for (size_t i = 0; i < ELEMENTSOF(words); i++)
                if (strcmp(w, words[i]) == 0)
                        return true;
        return false;
}

/* /dev/null, /run/systemd/system: no part of what a job is. */
static bool system_path(const char *w, size_t n) {
        static const char *const dirs[] = { "/dev/", "/run/", "/proc/", "/sys/" };

        for (size_t i = 0; i < ELEMENTSOF(dirs); i++)
                if (n > strlen(dirs[i]) && memcmp(w, dirs[i], strlen(dirs[i])) == 0)
                        return true;
        return false;
}

/* Up to three words of cmd: "run-parts-cron.hourly". */
char *crontab_name_from_command(const char *cmd) {
        static const char seps[] = " \t\n;&|(){}<>`'\"";
        char words[CRONTAB_NAME_WORDS][CRONTAB_NAME_MAX + 1];
        char name[CRONTAB_NAME_MAX + 1] = "";
        size_t len_name = 0;
        unsigned n_words = 0;
        const char *p = cmd;

        while (*p && n_words < CRONTAB_NAME_WORDS) {
                size_t len = strcspn(p, seps), k = 0;
                char w[CRONTAB_NAME_MAX + 1];
                const char *base = p, *end = p + len;
                bool dup = false;

                if (len == 0) {
                        p++;
                        continue;
                }
                p = end;
                if (*base == '-' || memchr(base, '$', len) || memchr(base, '=', len) ||
                    strspn(base, "0123456789") >= len || system_path(base, len))
                        continue;
                for (const char *s = base; s < end; s++)
                        if (*s == '/')
                                base = s + 1;
                for (const char *s = base; s < end && k < CRONTAB_NAME_MAX; s++) {
                        char ch = lower(*s);

                        w[k++] = (ch >= 'a' && ch <= 'z') || is_digit(ch) || ch == '.' ||
                                 ch == '_' ||
                                 ch == '-' ? ch : '-';
                }
                while (k > 0 && (w[k - 1] == '-' || w[k - 1] == '.'))
                        k--;
                w[k] = 0;
                k = strspn(w, "-.");
                if (!w[k] || stop_word(w + k))
                        continue;
                for (unsigned i = 0; i < n_words; i++)
                        dup = dup || strcmp(words[i], w + k) == 0;
                if (dup)
                        continue;
                if (len_name + strlen(w + k) + 1 > CRONTAB_NAME_MAX)
                        break;
                (void) snprintf(words[n_words++], sizeof(words[0]), "%s", w + k);
                len_name += (size_t) snprintf(name + len_name, sizeof(name) - len_name, "%s%s",
                                              len_name ? "-" : "", w + k);
        }
        return strdup(name[0] ? name : "job");
}

static unsigned entry_hash(const Item *it) {
        return (unsigned) (fnv1a(it->command, fnv1a(it->schedule, fnv1a(it->user ? it->user : "",
                                                                        FNV1A64_OFFSET))) &
                           0xffff);
}

/* Names that came out alike get a hash of their entry; the same entry written twice then
 * gets "-2", "-3" in order. */
int crontab_unique_names(Conv *c) {
        _cleanup_free_ Item **jobs = calloc(c->n_jobs + 1, sizeof(Item *));
        _cleanup_free_ bool *alike = calloc(c->n_jobs + 1, sizeof(bool));
        size_t n = 0;

        if (!jobs || !alike)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_items; i++)
                if (c->items[i].kind == ITEM_JOB)
                        jobs[n++] = &c->items[i];
        for (size_t i = 0; i < n; i++)
                for (size_t k = i + 1; k < n; k++)
                        if (strcmp(jobs[i]->name, jobs[k]->name) == 0)
                                alike[i] = alike[k] = true;
        for (size_t i = 0; i < n; i++) {
                char *m;

                if (!alike[i])
                        continue;
                if (asprintf(&m, "%s-%04x", jobs[i]->name, entry_hash(jobs[i])) < 0)
                        return -ENOMEM;
                free(jobs[i]->name);
                jobs[i]->name = m;
        }
        for (size_t i = 0; i < n; i++) {
                unsigned dups = 1;

                for (size_t k = i + 1; k < n; k++) {
                        char *m;

                        if (strcmp(jobs[i]->name, jobs[k]->name) != 0)
                                continue;
                        if (asprintf(&m, "%s-%u", jobs[k]->name, ++dups) < 0)
                                return -ENOMEM;
                        free(jobs[k]->name);
                        jobs[k]->name = m;
                }
        }
        return 0;
}

