/* SPDX-License-Identifier: MIT */
/* Writing the job table of a crontab read by crontab.c (the rules are there). */
#include <stdlib.h>
#include <string.h>

#include "crontab_internal.h"
#include "macro.h"

/* A YAML double-quoted scalar; '$' doubled where ${VAR} expansion would read it. */
static void put_quoted(FILE *out, const char *s) {
        fputc('"', out);
        for (; *s; s++) {
                unsigned char ch = *s;

                if (ch == '"' || ch == '\\')
                        fprintf(out, "\\%c", ch);
                else if (ch == '\n')
                        fputs("\\n", out);
                else if (ch == '\t')
                        fputs("\\t", out);
                else if (ch < 0x20 || ch == 0x7f)
                        fprintf(out, "\\x%02x", ch);
                else if (ch == '$' && (s[1] == '$' || s[1] == '{'))
                        fputs("$$", out);
                else
                        fputc(ch, out);
        }
        fputc('"', out);
}

/* A comment's text: valid UTF-8 kept, every other byte and control character as '?'. */
static void put_comment(FILE *out, const char *indent, const char *s) {
        fprintf(out, "%s#", indent);
        while (*s) {
                size_t k = 1;

                while (k <= 4 && s[k - 1] && !crontab_utf8_valid(s, k))
                        k++;
                if (k > 4 || !s[k - 1] || (k == 1 && ((unsigned char) *s < 0x20 || *s == 0x7f) &&
                                           *s != '\t')) {
                        fputc('?', out);
                        s++;
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

