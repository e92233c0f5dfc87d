/* SPDX-License-Identifier: MIT */
/* crontab(5) → a solocron job table (YAML text).
 *
 * A crontab line, as Vixie cron reads it (Debian's cron; cronie alike):
 *
 *   line     = blank* [ comment | variable | entry ] ;
 *   comment  = "#" any* ;
 *   variable = name blank* "=" blank* value ;     (* name: letter or '_', then also digits *)
 *   entry    = ( fields | macro ) blank+ [ user blank+ ] command ;   (* user: --user-column *)
 *   fields   = field blank+ field blank+ field blank+ field blank+ field ;
 *                                                  (* minute hour day-of-month month day-of-week *)
 *   field    = item { "," item } ;
 *   item     = ( "*" | value [ "-" value ] ) [ "/" step ] ;
 *   value    = number | name ;                     (* names: jan..dec, sun..sat, any case *)
 *   macro    = "@reboot" | "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily"
 *            | "@midnight" | "@hourly" ;
 *
 * What each becomes:
 *   - comment: a YAML comment in the same place; a blank line stays blank.
 *   - fields: cron's sets (minute 0-59, hour 0-23, dom 1-31, month 1-12, dow 0-7 with 7 =
 *     Sunday; "N/S" runs from N to the end of the field, as cronie reads it). A field is
 *     written as in the crontab when solocron reads it as the same set, else as the list of
 *     its values (cron reads "*" + "/90" minutes as 0; solocron refuses the step). A
 *     descending range is refused: Vixie cron matches nothing with it, cronie refuses it.
 *     The dom/dow rule is the same in both (a field starting with '*' is unrestricted).
 *   - macro: the same macro (solocron has them all, @reboot included).
 *   - command: the first '%' not escaped as "\%" ends it ("\%" is '%'); the rest is the
 *     command's standard input, each '%' a newline, and a newline added at the end if there
 *     is none (OpenBSD/Vixie do_command.c). In the table the shell's standard input becomes
 *     a here-document before the command runs, the command itself left as it was written:
 *     "exec <<'SOLOCRON_STDIN'\nINPUT\nSOLOCRON_STDIN\nCOMMAND".
 *   - SHELL: cron runs `$SHELL -c COMMAND`. Another shell than /bin/sh makes the command the
 *     argv [SHELL, "-c", COMMAND] (solocron runs a string under /bin/sh -c).
 *   - CRON_TZ (cronie): the timezone: of the entries after it, else o->zone. TZ is only the
 *     commands' (Debian's cron schedules in one zone).
 *   - MAILTO, MAILFROM: comments (solocron logs each line of output; it mails nothing).
 *   - every other variable, SHELL, PATH and TZ included: env: of the entries after it, as cron
 *     puts them in the command's environment.
 *   - name: up to three words of the command (program and file names; not options, shell
 *     keywords, numbers, assignments, or files in /dev, /run, /proc, /sys), with a hash of the
 *     entry appended when two entries give the same words (names do not depend on the order
 *     of the lines).
 *   - `overlap: allow` on every job: cron starts every firing, whatever still runs.
 *   - the table has jobs: only (each with its timezone:), so that a table can include it.
 * Every '$' that solocron's ${VAR} expansion would read is doubled. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cronexpr.h"
#include "crontab_internal.h"
#include "macro.h"
#include "strv.h"
#include "tz.h"

#define CRONTAB_LINE_MAX 65536          /* bytes in one line; longer ones are refused */
#define CRONTAB_ENTRIES_MAX 10000       /* solocron's own limit on jobs in a table */
#define CRONTAB_VARIABLES_MAX 256       /* variable lines (each job's env: is made from all) */
#define CRONTAB_LINES_MAX 100000        /* the rest of a longer file is refused */
#define STDIN_DELIM "SOLOCRON_STDIN"

/* --- small helpers ------------------------------------------------------------------ */

static bool is_blank(char c) {
        return c == ' ' || c == '\t';
}

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

static bool is_name_start(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

/* Valid UTF-8 without NUL bytes (what the YAML loader accepts). */
bool crontab_utf8_valid(const char *s, size_t n) {
        const unsigned char *p = (const unsigned char *) s, *end = p + n;

        while (p < end) {
                unsigned c = *p, len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 :
                                                    (c >> 3) == 30 ? 4 : 0;
                uint32_t v;

                if (c == 0 || len == 0 || (size_t) (end - p) < len)
                        return false;
                v = len == 1 ? c : c & (0x3f >> (len - 1));
                for (unsigned i = 1; i < len; i++) {
                        if ((p[i] & 0xc0) != 0x80)
                                return false;
                        v = v << 6 | (p[i] & 0x3f);
                }
                /* overlong forms, surrogates, beyond U+10FFFF */
                if ((len == 2 && v < 0x80) || (len == 3 && v < 0x800) ||
                    (len == 4 && v < 0x10000) ||
                    (v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff)
                        return false;
                p += len;
        }
        return true;
}

static Item *conv_add(Conv *c, ItemKind kind, unsigned line, const char *text, size_t n) {
        Item *items, *it;

        if (c->oom)
                return NULL;
        if (c->n_items == c->allocated) {
                size_t a = c->allocated ? 2 * c->allocated : 64;

                items = realloc(c->items, a * sizeof(Item));
                if (!items) {
                        c->oom = true;
                        return NULL;
                }
                c->items = items;
                c->allocated = a;
        }
        items = c->items;
        it = &items[c->n_items];
        *it = (Item) { .kind = kind, .line = line };
        if (text && !(it->text = strndup(text, n))) {
                c->oom = true;
                return NULL;
        }
        c->n_items++;
        return it;
}

static void conv_problem(Conv *c, unsigned line, const char *text, size_t n, const char *why) {
        Item *it = conv_add(c, ITEM_BAD, line, text, n);
        char *m;

        if (!it)
                return;
        if (!(it->why = strdup(why))) {
                c->oom = true;
                return;
        }
        if (asprintf(&m, "%s:%u: %s", c->o->source, line, why) < 0 ||
            strv_push(&c->problems, &c->n_problems, m) < 0)
                c->oom = true;
}

/* --- commands ----------------------------------------------------------------------- */

/* Cron's '%' rule on raw → the command (*ret_cmd) and its standard input (*ret_input, NULL
 * when there is none), both owned; the same loops as do_command.c. */
static int split_percent(const char *raw, char **ret_cmd, char **ret_input) {
        size_t n = strlen(raw);
        _cleanup_free_ char *cmd = malloc(n + 1), *in = malloc(n + 2);
        const char *q = raw, *input = NULL;
        bool escaped = false, need_newline = false;
        char *p = cmd;

        if (!cmd || !in)
                return -ENOMEM;
        for (; *q; q++) {
                if (escaped) {
                        if (*q == '%')
                                p[-1] = '%';    /* "\%" is '%' */
                        else
                                *p++ = *q;
                        escaped = false;
                        continue;
                }
                if (*q == '%') {
                        input = q + 1;
                        break;
                }
                *p++ = *q;
                escaped = *q == '\\';
        }
        *p = 0;
        /* the input: '%' is a newline, "\%" is '%', any other "\x" stays; then a newline
         * unless the last character written was one */
        p = in;
        escaped = false;
        for (q = input; q && *q; q++) {
                char ch = *q;

                if (escaped) {
                        if (ch != '%')
                                *p++ = '\\';
                } else if (ch == '%')
                        ch = '\n';
                escaped = ch == '\\';
                if (!escaped) {
                        *p++ = ch;
                        need_newline = ch != '\n';
                }
        }
        if (escaped)
                *p++ = '\\';
        if (need_newline)
                *p++ = '\n';
        *p = 0;
        *ret_cmd = TAKE_PTR(cmd);
        *ret_input = p > in ? TAKE_PTR(in) : NULL;
        return 0;
}

static bool has_line(const char *text, const char *line) {
        size_t n = strlen(line);

        for (const char *p = text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
                if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == 0))
                        return true;
        return false;
}

/* The command as the shell will run it: with a here-document when there is input. */
static int make_command(const char *cmd, const char *input, char **ret) {
        char delim[sizeof(STDIN_DELIM) + 16] = STDIN_DELIM;

        if (!input)
                return (*ret = strdup(cmd)) ? 0 : -ENOMEM;
        for (unsigned i = 1; has_line(input, delim); i++)
                (void) snprintf(delim, sizeof(delim), "%s_%u", STDIN_DELIM, i);
        return asprintf(ret, "exec <<'%s'\n%s%s\n%s", delim, input, delim, cmd) < 0 ? -ENOMEM : 0;
}

static bool bourne_shell(const char *shell) {
        static const char *const shells[] = { "sh", "bash", "dash", "ash", "ksh", "mksh", "zsh",
                                              "busybox" };
        const char *b = strrchr(shell, '/');

        b = b ? b + 1 : shell;
        for (size_t i = 0; i < ELEMENTSOF(shells); i++)
                if (strcmp(b, shells[i]) == 0)
                        return true;
        return false;
}

/* --- lines -------------------------------------------------------------------------- */

const char *crontab_var_get(const Conv *c, size_t n_vars, const char *name) {
        for (size_t i = n_vars; i > 0; i--)
                if (strcmp(c->vars[i - 1].name, name) == 0)
                        return c->vars[i - 1].value;
        return NULL;
}

bool crontab_var_special(const char *name) {
        return strcmp(name, "CRON_TZ") == 0 || strcmp(name, "MAILTO") == 0 ||
               strcmp(name, "MAILFROM") == 0;
}

/* NAME = VALUE; false if the line is not one. */
static bool parse_variable(Conv *c, unsigned line, const char *s, size_t n) {
        const char *p = s, *end = s + n, *name_end, *v;
        const char *why = NULL;
        Var *vars;
        Item *it;
        size_t vn;

        if (!is_name_start(*p))
                return false;
        while (p < end && (is_name_start(*p) || is_digit(*p)))
                p++;
        name_end = p;
        while (p < end && is_blank(*p))
                p++;
        if (p == end || *p != '=')
                return false;
        for (v = p + 1; v < end && is_blank(*v); v++)
                ;
        while (end > v && is_blank(end[-1]))
                end--;
        vn = end - v;
        if (vn >= 2 && (v[0] == '"' || v[0] == '\'') && v[vn - 1] == v[0]) {
                v++;
                vn -= 2;
        }
        if (!crontab_utf8_valid(s, n))
                why = "not valid UTF-8";
        else if ((size_t) (name_end - s) == 7 && memcmp(s, "CRON_TZ", 7) == 0) {
                char zone[256];
                Tz *tz = NULL;

                (void) snprintf(zone, sizeof(zone), "%.*s", (int) vn, v);
                if (vn == 0 || vn >= sizeof(zone) || tz_load(zone, c->o->tzdir, &tz) < 0)
                        why = "unknown time zone";
                tz_free(tz);
        } else if ((size_t) (name_end - s) == 5 && memcmp(s, "SHELL", 5) == 0 &&
                   (vn == 0 || *v != '/'))
                why = "SHELL is not an absolute path (cron runs it as it is, without a PATH "
                      "search)";
        if (why) {
                conv_problem(c, line, s, n, why);
                return true;
        }
        if (c->n_vars == CRONTAB_VARIABLES_MAX) {
                conv_problem(c, line, s, n, "too many variable lines (more than 256)");
                return true;
        }
        vars = realloc(c->vars, (c->n_vars + 1) * sizeof(Var));
        if (!vars) {
                c->oom = true;
                return true;
        }
        c->vars = vars;
        vars[c->n_vars] = (Var) { strndup(s, name_end - s), strndup(v, vn) };
        if (!vars[c->n_vars].name || !vars[c->n_vars].value) {
                free(vars[c->n_vars].name);
                free(vars[c->n_vars].value);
                c->oom = true;
                return true;
        }
        /* ':' is glibc's marker for a zone file name; tz_load() skips it, so does the table */
        if (strcmp(vars[c->n_vars].name, "CRON_TZ") == 0 && vars[c->n_vars].value[0] == ':')
                memmove(vars[c->n_vars].value, vars[c->n_vars].value + 1, vn);
        c->n_vars++;
        it = conv_add(c, ITEM_VARIABLE, line, s, n);
        if (!it)
                return true;
        it->note = strcmp(c->vars[c->n_vars - 1].name, "CRON_TZ") == 0 ?
                           "timezone: of the jobs below" :
                   crontab_var_special(c->vars[c->n_vars - 1].name) ?
                           "cron mailed the jobs' output; solocron logs each line of it instead" :
                           "env: of the jobs below";
        return true;
}

static void parse_entry(Conv *c, unsigned line, const char *s, size_t n) {
        static const char *const macros[] = { "@reboot", "@yearly", "@annually", "@monthly",
                                              "@weekly", "@daily", "@midnight", "@hourly" };
        const char *p = s, *end = s + n, *f[5], *user = NULL, *shell;
        size_t len[5], user_len = 0;
        _cleanup_free_ char *raw = NULL, *cmd = NULL, *input = NULL;
        char *schedule = NULL;
        Item *it;
        int n_fields = 5;

        if (*p == '@') {
                size_t k = 0;

                while (p + k < end && !is_blank(p[k]))
                        k++;
                for (size_t i = 0; i < ELEMENTSOF(macros) && !schedule; i++)
                        if (k == strlen(macros[i]) && memcmp(p, macros[i], k) == 0)
                                schedule = strdup(macros[i]);
                if (!schedule) {
                        conv_problem(c, line, s, n, "unknown macro (cron has @reboot, @yearly, "
                                     "@annually, @monthly, @weekly, @daily, @midnight, @hourly)");
                        return;
                }
                p += k;
                n_fields = 0;
        }
        for (int i = 0; i < n_fields; i++) {
                while (p < end && is_blank(*p))
                        p++;
                f[i] = p;
                while (p < end && !is_blank(*p))
                        p++;
                len[i] = p - f[i];
                if (len[i] == 0) {
                        conv_problem(c, line, s, n, "expected 5 time fields and a command");
                        return;
                }
        }
        if (c->o->user_column) {
                while (p < end && is_blank(*p))
                        p++;
                user = p;
                while (p < end && !is_blank(*p))
                        p++;
                user_len = p - user;
        }
        while (p < end && is_blank(*p))
                p++;
        if (p == end || (c->o->user_column && user_len == 0)) {
                free(schedule);
                conv_problem(c, line, s, n, c->o->user_column ? "expected a user and a command "
                             "after the time fields" : "expected a command after the time fields");
                return;
        }
        if (!schedule) {
                char why[128];
                int r = crontab_convert_fields(f, len, &schedule, why);

                if (r < 0) {
                        if (r == -ENOMEM)
                                c->oom = true;
                        else
                                conv_problem(c, line, s, n, why);
                        return;
                }
        }
        if (!crontab_utf8_valid(s, n)) {
                free(schedule);
                conv_problem(c, line, s, n, "not valid UTF-8");
                return;
        }
        if (!(raw = strndup(p, end - p)) || split_percent(raw, &cmd, &input) < 0) {
                free(schedule);
                c->oom = true;
                return;
        }
        if (cmd[strspn(cmd, " \t")] == 0) {
                free(schedule);
                conv_problem(c, line, s, n, "the command before the first '%' is empty");
                return;
        }
        shell = crontab_var_get(c, c->n_vars, "SHELL");
        if (input && input[strlen(input) - 1] != '\n') {
                free(schedule);
                conv_problem(c, line, s, n, "standard input ending in '%\\' (cron writes no "
                             "final newline then; a here-document always has one)");
                return;
        }
        if (input && shell && !bourne_shell(shell)) {
                free(schedule);
                conv_problem(c, line, s, n, "standard input ('%') with a SHELL that is not a "
                             "Bourne shell");
                return;
        }
        if (c->n_jobs == CRONTAB_ENTRIES_MAX) {
                free(schedule);
                conv_problem(c, line, s, n, "too many entries (solocron takes 10000 jobs)");
                return;
        }
        it = conv_add(c, ITEM_JOB, line, NULL, 0);
        if (!it) {
                free(schedule);
                return;
        }
        it->schedule = schedule;
        it->n_vars = c->n_vars;
        it->shell = shell && strcmp(shell, "/bin/sh") != 0 ? shell : NULL;
        it->zone = crontab_var_get(c, c->n_vars, "CRON_TZ");
        if (!it->zone)
                it->zone = c->o->zone;
        if (make_command(cmd, input, &it->command) < 0 ||
            !(it->name = crontab_name_from_command(cmd)) ||
            (user && !(it->user = strndup(user, user_len))))
                c->oom = true;
        c->n_jobs++;
}

static void parse_line(Conv *c, unsigned line, const char *s, size_t n) {
        const char *p = s, *end = s + n;

        while (p < end && is_blank(*p))
                p++;
        if (n > CRONTAB_LINE_MAX) {
                conv_problem(c, line, s, 80, "line too long");
                return;
        }
        if (memchr(s, 0, n)) {
                conv_problem(c, line, s, 0, "a NUL byte in the line");
                return;
        }
        if (p == end)
                (void) conv_add(c, ITEM_BLANK, line, NULL, 0);
        else if (*p == '#')
                (void) conv_add(c, ITEM_COMMENT, line, p + 1, end - p - 1);
        else if (!parse_variable(c, line, p, end - p))
                parse_entry(c, line, p, end - p);
}

static void conv_done(Conv *c) {
        for (size_t i = 0; i < c->n_items; i++) {
                Item *it = &c->items[i];

                free(it->text);
                free(it->why);
                free(it->schedule);
                free(it->command);
                free(it->user);
                free(it->name);
        }
        free(c->items);
        for (size_t i = 0; i < c->n_vars; i++) {
                free(c->vars[i].name);
                free(c->vars[i].value);
        }
        free(c->vars);
        strv_free(c->problems);
}

int crontab_convert(const char *text, size_t n, const CrontabOptions *o, char **ret_yaml,
                    char ***ret_problems) {
        Conv c = { .o = o };
        char *yaml = NULL;
        size_t size = 0;
        unsigned line = 1;
        FILE *out;

        for (size_t at = 0; at < n && !c.oom; line++) {
                const char *nl = memchr(text + at, '\n', n - at);
                size_t len = nl ? (size_t) (nl - text - at) : n - at;

                if (line > CRONTAB_LINES_MAX) {
                        conv_problem(&c, line, "", 0, "too many lines (more than 100000); the "
                                     "rest is not read");
                        break;
                }
                parse_line(&c, line, text + at, len);
                at += len + 1;
        }
        if (!c.oom && crontab_unique_names(&c) < 0)
                c.oom = true;
        out = c.oom ? NULL : open_memstream(&yaml, &size);
        if (out) {
                crontab_put_table(&c, out);
                if (fclose(out) != 0)
                        c.oom = true;
        }
        if (c.oom || !out) {
                free(yaml);
                conv_done(&c);
                return -ENOMEM;
        }
        *ret_yaml = yaml;
        *ret_problems = TAKE_PTR(c.problems);
        conv_done(&c);
        return 0;
}
