/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cronexpr.h"
#include "internal.h"
#include "parse.h"

/* Cron text in the config: `schedule:` and the `exclude:` entries (a date YYYY-MM-DD, or a
 * cron expression matched against the scheduled local time). cronexpr's 1-based column into
 * the text becomes a column in the file when the scalar's source text is the value. */

#define FAIL(j, r) ((r) < 0 ? ((j)->failed = true, true) : false)

char *config_strip(const char *s, size_t *ret_lead) {
        size_t lead = strspn(s, " \t\r\n"), len = strlen(s + lead);

        /* A block scalar ("schedule: >") ends with a newline that is not part of the value. */
        while (len > 0 && strchr(" \t\r\n", s[lead + len - 1]))
                len--;
        if (ret_lead)
                *ret_lead = lead;
        return strndup(s + lead, len);
}

int config_parse_schedule(const Scope *s, const Node *n, const char *what, const char *hash_key,
                          bool report, CronExpr *ret) {
        _cleanup_free_ char *text = NULL;
        const char *msg = NULL;
        unsigned col = 0;
        size_t lead;
        int r;

        text = config_strip(n->value, &lead);
        if (!text) {
                s->ctx->oom = true;
                return -ENOMEM;
        }
        r = cronexpr_parse(text, hash_key, ret, &col, &msg);
        if (r < 0) {
                if (report)
                        config_error_at(s, n->line,
                                        config_node_column_at(s->file, n,
                                                              lead + (col > 0 ? col - 1 : 0)),
                                        "invalid %s '%s': %s", what, text,
                                        msg ? msg : "syntax error");
                return -EINVAL;
        }
        return 0;
}
/* DIGITS-DIGITS-DIGITS: meant as a date (a cron expression has blanks), checked as one. */
static bool looks_like_date(const char *t) {
        for (int part = 0; part < 3; part++) {
                size_t n = strspn(t, "0123456789");

                if (n == 0)
                        return false;
                t += n;
                if (part < 2 && *t++ != '-')
                        return false;
        }
        return *t == 0;
}

/* Parses one exclude entry; reports only when `report` (defaults' entries are reported once,
 * then parsed again quietly for each job with the job's name as the hash key). */
int config_exclude_parse(const Scope *s, const Node *v, const char *hash_key, bool report,
                         Exclude *ret) {
        _cleanup_free_ char *text = NULL;
        Exclude x = {};
        int32_t y;
        int m, d, r;

        text = config_strip(v->value, NULL);
        if (!text) {
                s->ctx->oom = true;
                return -ENOMEM;
        }
        if (looks_like_date(text)) {
                r = parse_date(text, &y, &m, &d);
                if (r < 0) {
                        if (report)
                                config_error(s, v, "invalid date '%s' in 'exclude' "
                                             "(expected YYYY-MM-DD)", text);
                        return -EINVAL;
                }
                x = (Exclude) { .is_date = true, .year = y, .month = (int8_t) m,
                                .day = (int8_t) d };
        } else {
                r = config_parse_schedule(s, v, "exclude expression", hash_key, report, &x.expr);
                if (r < 0)
                        return r;
                if (x.expr.flags & (CRON_EVERY | CRON_REBOOT)) {
                        if (report)
                                config_error(s, v, "exclude '%s' must be a date (YYYY-MM-DD) "
                                             "or a calendar expression, not %s", text,
                                             x.expr.flags & CRON_EVERY ? "@every" : "@reboot");
                        return -EINVAL;
                }
        }
        x.text = TAKE_PTR(text);
        *ret = x;
        return 0;
}

static void spec_exclude_one(const Scope *s, const Node *v, const char *key, const char *hash_key,
                             JobSpec *j) {
        const char *t;
        Exclude x;
        int r;

        r = config_get_string(s, v, key, &t);
        if (FAIL(j, r))
                return;
        r = config_exclude_parse(s, v, hash_key, true, &x);
        if (FAIL(j, r))
                return;
        free(x.text);
        j->excludes[j->n_excludes++] = v;
}

void config_spec_exclude(const Scope *s, const Node *v, JobSpec *j) {
        const char *hash_key = j->name ? j->name : "";

        if (v->invalid || v->is_null)
                return;
        free(j->excludes);
        j->n_excludes = 0;
        j->excludes = calloc(v->kind == NODE_SEQUENCE ? v->n_items + 1 : 1, sizeof(Node *));
        if (!j->excludes) {
                s->ctx->oom = true;
                return;
        }
        if (v->kind == NODE_SEQUENCE)
                for (size_t i = 0; i < v->n_items; i++) {
                        char key[32];

                        (void) snprintf(key, sizeof(key), "exclude[%zu]", i);
                        spec_exclude_one(s, v->items[i], key, hash_key, j);
                }
        else if (config_node_is_string(v))
                spec_exclude_one(s, v, "exclude", hash_key, j);
        else {
                (void) config_type_error(s, v, "exclude", "a string or a sequence of strings");
                j->failed = true;
        }
}
