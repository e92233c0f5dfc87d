/* SPDX-License-Identifier: MIT */
/* The status page. Its markup, style and script are status_page.html, compiled in by
 * status_page_embed.py; the jobs table is rendered here, into the page, from the same state
 * as /v1/jobs, so that a browser without JavaScript (or curl) sees the jobs. The page's
 * script then redraws the table from /v1/jobs. Everything rendered is escaped: the host
 * name, the schedule and the zone ("<+0330>-3:30" is one) are text from outside. */
#include <stdio.h>

#include "daemon_internal.h"
#include "macro.h"
#include "status_page.h"
#include "status_page_html.h"
#include "timeutil.h"
#include "tz.h"

/* Nothing runs but the page's own script and style, known by their hashes; the script
 * talks to this server only. */
#define STATUS_PAGE_CSP                                                                 \
        "default-src 'none'; script-src " STATUS_PAGE_SCRIPT_HASHES "; "                \
        "style-src " STATUS_PAGE_STYLE_HASHES "; connect-src 'self'; base-uri 'none'; " \
        "form-action 'none'; frame-ancestors 'none'"

static void put_escaped(FILE *f, const char *s) {
        static const char *const entities[256] = {
                ['&'] = "&amp;", ['<'] = "&lt;", ['>'] = "&gt;", ['"'] = "&quot;", ['\''] = "&#39;",
        };

        for (; *s; s++) {
                const char *e = entities[(unsigned char) *s];

                if (e)
                        fputs(e, f);
                else
                        fputc(*s, f);
        }
}

/* <tag>text</tag>, the text escaped */
static void put_element(FILE *f, const char *tag, const char *text) {
        fprintf(f, "<%s>", tag);
        put_escaped(f, text);
        fprintf(f, "</%s>", tag);
}

static void render_next(FILE *f, const Job *j) {
        char utc[RFC3339_UTC_MAX], local[RFC3339_LOCAL_MAX];
        TzOffset off;
        int64_t t;

        if (!j->cfg->enabled || !j->next.has) {
                fputs("<td>none</td>", f);
                return;
        }
        t = j->next.firing.f.t;
        tz_offset_at(j->cfg->tz, t, &off);
        fprintf(f, "<td><time datetime=\"%s\">%s</time>%s</td>", format_rfc3339_utc(t, utc),
                format_rfc3339_offset(t, off.utoff, local),
                j->next.firing.excluded ? " (excluded)" : "");
}

static void render_last(FILE *f, const Job *j) {
        const RecentRun *rr = job_stats_recent(j->stats, 0);
        char ended[RFC3339_UTC_MAX];
        const char *result;

        if (!rr) {
                fputs("<td>none yet</td>", f);
                return;
        }
        result = run_result_to_string(rr->result);
        fprintf(f, "<td><span class=\"mark %s\" title=\"ended %s\">%s", result,
                format_rfc3339_utc(rr->ended, ended), result);
        if (rr->status != 0)
                fprintf(f, " (%lld)", (long long) rr->status);
        fputs("</span></td>", f);
}

static void render_table(FILE *f, Daemon *d) {
        fputs("<table id=\"jobs\">\n<caption>Jobs on ", f);
        put_escaped(f, daemon_hostname());
        fputs("</caption>\n<thead><tr><th scope=\"col\">Job</th><th scope=\"col\">Schedule</th>"
              "<th scope=\"col\">Zone</th><th scope=\"col\">Next firing (job's zone)</th>"
              "<th scope=\"col\">State</th><th scope=\"col\">Last result</th></tr></thead>\n"
              "<tbody>\n", f);
        for (size_t i = 0; i < d->n_jobs; i++) {
                const Job *j = d->jobs[i];

                fputs("<tr><th scope=\"row\">", f);
                put_escaped(f, j->cfg->name);
                fputs("</th><td>", f);
                put_element(f, "code", j->cfg->schedule_text);
                fputs("</td>", f);
                put_element(f, "td", tz_name(j->cfg->tz));
                render_next(f, j);
                fprintf(f, "<td>%s</td>", !j->cfg->enabled ? "disabled" :
                                          j->cfg->suspend ? "suspended" :
                                          j->paused ? "paused" : "active");
                render_last(f, j);
                fputs("</tr>\n", f);
        }
        if (d->n_jobs == 0)
                fputs("<tr><td colspan=\"6\">No jobs.</td></tr>\n", f);
        fputs("</tbody>\n</table>", f);
}

void status_page_respond(Daemon *d, ApiExchange *x) {
        _cleanup_free_ char *page = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&page, &size);
        bool failed;

        if (!f) {
                api_respond(x, 500, "text/plain; charset=utf-8", "out of memory\n", 14);
                return;
        }
        fwrite(status_page_before, 1, sizeof(status_page_before), f);
        render_table(f, d);
        fwrite(status_page_after, 1, sizeof(status_page_after), f);
        failed = ferror(f);
        if (fclose(f) != 0 || failed) {
                api_respond(x, 500, "text/plain; charset=utf-8", "out of memory\n", 14);
                return;
        }
        api_respond_headers(x, 200, "text/html; charset=utf-8",
                            "Content-Security-Policy: " STATUS_PAGE_CSP "\r\n", page, size);
}
