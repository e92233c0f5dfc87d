/* SPDX-License-Identifier: MIT */
/* Writing the job table of a crontab read by crontab.c (the rules are there). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crontab_internal.h"
#include "macro.h"

/* The length of the valid UTF-8 character at s (1..4), or 0; its code point in *ret. */
static size_t utf8_char(const char *s, uint32_t *ret) {
        unsigned char c = *s;
        size_t k = 1;
        uint32_t v;

        while (k <= 4 && s[k - 1] && !crontab_utf8_valid(s, k))
                k++;
        if (k > 4 || !s[k - 1])
                return 0;
        v = k == 1 ? c : c & (0x3f >> (k - 1));
        for (size_t i = 1; i < k; i++)
                v = v << 6 | ((unsigned char) s[i] & 0x3f);
        *ret = v;
        return k;
}

/* What YAML does not take as it is: control characters (C0 but tab, DEL, C1), the line
 * breaks NEL, LS and PS (a comment would end there), and the non-characters U+FFFE/FFFF. */
static bool yaml_unprintable(uint32_t v) {
        return (v < 0x20 && v != '\t') || (v >= 0x7f && v <= 0x9f) || v == 0x2028 ||
               v == 0x2029 || v == 0xfffe || v == 0xffff;
}

/* A YAML double-quoted scalar of valid UTF-8; '$' doubled where ${VAR} expansion would
 * read it. */
static void put_quoted(FILE *out, const char *s) {
        fputc('"', out);
        while (*s) {
                uint32_t v = 0;
                size_t k = utf8_char(s, &v);

                if (k == 0) {           /* not reached: the text was checked */
                        v = (unsigned char) *s;
                        k = 1;
                }
                if (v == '"' || v == '\\')
                        fprintf(out, "\\%c", (char) v);
                else if (v == '\n')
                        fputs("\\n", out);
                else if (v == '\t')
                        fputs("\\t", out);
                else if (yaml_unprintable(v))
                        fprintf(out, v <= 0xff ? "\\x%02x" : "\\u%04x", (unsigned) v);
                else if (v == '$' && (s[1] == '$' || s[1] == '{'))
                        fputs("$$", out);
                else
                        fwrite(s, 1, k, out);
                s += k;
        }
        fputc('"', out);
}

/* A comment's text: valid UTF-8 kept, every other byte and every character YAML does not
 * take (see above) as '?'. */
static void put_comment(FILE *out, const char *indent, const char *s) {
        fprintf(out, "%s#", indent);
        while (*s) {
                uint32_t v = 0;
                size_t k = utf8_char(s, &v);

                if (k == 0 || yaml_unprintable(v)) {
                        fputc('?', out);
                        s += k ? k : 1;
                        continue;
                }
                fwrite(s, 1, k, out);
                s += k;
        }
        fputc('\n', out);
}

/* The environment of a job: the variables in effect, each name once (the last value, at
 * the place of its first), less the ones that are not environment. */
static char **job_env(const Conv *c, size_t n_vars) {
        char **env = calloc(2 * n_vars + 1, sizeof(char *));
        size_t k = 0;

        if (!env)
                return NULL;
        for (size_t i = 0; i < n_vars; i++) {
                const Var *v = &c->vars[i];
                bool seen = false;

                if (crontab_var_special(v->name))
                        continue;
                for (size_t j = 0; j < k && !seen; j += 2)
                        seen = strcmp(env[j], v->name) == 0;
                if (seen)
                        continue;
                env[k++] = v->name;
                env[k++] = (char *) crontab_var_get(c, n_vars, v->name);
        }
        return env;     /* borrowed strings: free() the array only */
}

static void put_env(FILE *out, const char *indent, char **env) {
        if (!env[0])
                return;
        fprintf(out, "%senv:\n", indent);
        for (size_t i = 0; env[i]; i += 2) {
                fprintf(out, "%s  %s: ", indent, env[i]);
                put_quoted(out, env[i + 1]);
                fputc('\n', out);
        }
}

/* Everything a job needs is on it, no defaults: (an included file has none). */
static void put_job(Conv *c, FILE *out, const Item *it) {
        _cleanup_free_ char **env = job_env(c, it->n_vars);

        if (!env) {
                c->oom = true;
                return;
        }
        fprintf(out, "  - name: %s\n    schedule: ", it->name);
        put_quoted(out, it->schedule);
        fputs("\n    command: ", out);
        if (it->shell) {
                fputc('[', out);
                put_quoted(out, it->shell);
                fputs(", \"-c\", ", out);
                put_quoted(out, it->command);
                fputc(']', out);
        } else
                put_quoted(out, it->command);
        fputc('\n', out);
        if (it->user) {
                fputs("    user: ", out);
                put_quoted(out, it->user);
                fputc('\n', out);
        }
        fputs("    timezone: ", out);
        put_quoted(out, it->zone);
        fputs("\n    overlap: allow\n", out);
        put_env(out, "    ", env);
}

void crontab_put_table(Conv *c, FILE *out) {
        _cleanup_free_ char *first = NULL, *zone = NULL;

        /* comment lines: the file's name may hold anything, a newline included */
        if (asprintf(&first, " Converted from %s by `solocron import-crontab`%s.", c->o->source,
                     c->o->user_column ? " (system format: user column)" : "") < 0 ||
            asprintf(&zone, " The zone cron ran in: %s (%s).",
                     c->o->zone, c->o->zone_origin ? c->o->zone_origin : "given") < 0) {
                c->oom = true;
                return;
        }
        put_comment(out, "", first);
        fputs("# It has jobs only: use it as the table (`solocron check -c FILE` checks it,\n"
              "# `solocron next -c FILE` lists its firings), or put it where the table's\n"
              "# include: reads (conf.d/*.yaml). Each job keeps what cron gave it: overlap:\n"
              "# allow (cron starts every firing, whatever still runs), env: from the\n"
              "# crontab's variables, and as timezone: the zone cron ran in or a CRON_TZ.\n", out);
        put_comment(out, "", zone);
        fputs("# Unlike cron, solocron logs each line of a job's output (it mails nothing); a\n"
              "# job runs in solocron's working directory, with solocron's environment plus\n"
              "# env:, as solocron's user unless it has user:.\n", out);
        fputs(c->n_jobs > 0 ? "jobs:\n" : "jobs: []\n", out);
        for (size_t i = 0; i < c->n_items; i++) {
                const Item *it = &c->items[i];
                _cleanup_free_ char *t = NULL;

                switch (it->kind) {
                case ITEM_BLANK:
                        fputc('\n', out);
                        break;
                case ITEM_COMMENT:
                        put_comment(out, "  ", it->text);
                        break;
                case ITEM_VARIABLE:
                case ITEM_BAD:
                        if (asprintf(&t, it->kind == ITEM_BAD ?
                                             " NOT CONVERTED (line %1$u: %2$s): %3$s" :
                                     " line %1$u: %3$s (%2$s)", it->line,
                                     it->kind == ITEM_BAD ? it->why : it->note, it->text) < 0)
                                c->oom = true;
                        else
                                put_comment(out, "  ", t);
                        break;
                case ITEM_JOB:
                        put_job(c, out, it);
                        break;
                }
        }
}

