/* SPDX-License-Identifier: MIT */
/* common/crontab.c: crontab text → job table text. The integration test
 * (test_import_crontab.py) loads what comes out with `solocron check` and compares the firings
 * with cron's; this one pins each rule's text. */
#include <errno.h>

#include "crontab.h"
#include "macro.h"
#include "strv.h"
#include "tests.h"

typedef struct Result {
        char *yaml;
        char **problems;
} Result;

static Result convert(const char *text, bool user_column) {
        CrontabOptions o = { .source = "tab", .zone = "UTC", .zone_origin = "test",
                             .user_column = user_column };
        Result r = {};

        ASSERT_OK(crontab_convert(text, strlen(text), &o, &r.yaml, &r.problems));
        return r;
}

static void result_done(Result *r) {
        free(r->yaml);
        strv_free(r->problems);
}

#define ASSERT_HAS(yaml, s)                                                      \
        do {                                                                     \
                if (!strstr((yaml), (s)))                                        \
                        TEST_FAIL("'%s' not in:\n%s", (s), (yaml));              \
        } while (0)

#define ASSERT_LACKS(yaml, s)                                                    \
        do {                                                                     \
                if (strstr((yaml), (s)))                                         \
                        TEST_FAIL("'%s' in:\n%s", (s), (yaml));                  \
        } while (0)

/* A field is kept as written when solocron reads the same set, else listed. */
TEST(fields) {
        static const struct {
                const char *line, *schedule;
        } cases[] = {
                { "*/15 * * * * x", "\"*/15 * * * *\"" },
                { "0 9 * * mon-fri x", "\"0 9 * * mon-fri\"" },
                { "0 9 1,15 JAN-mar 7 x", "\"0 9 1,15 JAN-mar 7\"" },
                { "5/10 * * * * x", "\"5/10 * * * *\"" },       /* cronie: 5 to 59 */
                { "*/90 * * * * x", "\"0 * * * *\"" },          /* cron: just 0 */
                { "0 */30 * * * x", "\"0 0 * * *\"" },
                { "0 0 * 1/7 * x", "\"0 0 * 1/7 *\"" },
                { "0 0 * */20 * x", "\"0 0 * 1 *\"" },
                { "0\t0 *  *\t* x", "\"0 0 * * *\"" },
                { "@reboot x", "\"@reboot\"" },
                { "@midnight x", "\"@midnight\"" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(result_done) Result r = convert(cases[i].line, false);
                char want[128];

                (void) snprintf(want, sizeof(want), "schedule: %s\n", cases[i].schedule);
                ASSERT_HAS(r.yaml, want);
                ASSERT_TRUE(!r.problems);
        }
}

/* What cannot be converted: on stderr with its line, kept as a comment in the table. */
TEST(problems) {
        static const struct {
                const char *line, *problem;
        } cases[] = {
                { "0 22-2 * * * x", "tab:2: invalid hour field '22-2': descending range" },
                { "60 * * * * x", "tab:2: invalid minute field '60': value out of range" },
                { "0 0 L * * x", "tab:2: invalid day-of-month field 'L': expected a number" },
                { "0 0 * * mon#2 x", "tab:2: invalid day-of-week field 'mon#2': unexpected" },
                { "0 0 * * monday x", "tab:2: invalid day-of-week field 'monday'" },
                { "0 0 * * */0 x", "tab:2: invalid day-of-week field '*/0': step 0" },
                { "0 0 */40 * * x", "tab:2: invalid day-of-month field '*/40': a step" },
                { "@Daily x", "tab:2: unknown macro" },
                { "@daily", "tab:2: expected a command" },
                { "0 0 * *", "tab:2: expected 5 time fields and a command" },
                { "0 0 * * * x \xff", "tab:2: not valid UTF-8" },
                { "CRON_TZ=Mars/Olympus", "tab:2: unknown time zone" },
                { "SHELL=bash", "tab:2: SHELL is not an absolute path" },
                { "SHELL=", "tab:2: SHELL is not an absolute path" },
                { "0 0 * * * cat%x%\\", "tab:2: standard input ending in" },
                { "0 0 30 feb * x", "tab:2: '0 0 30 feb *' never fires (cron never runs it)" },
                { "@daily  %input", "tab:2: the command before the first '%' is empty" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *text = NULL;
                _cleanup_(result_done) Result r = {};

                ASSERT_TRUE(asprintf(&text, "# first\n%s\n* * * * * ok\n", cases[i].line) > 0);
                r = convert(text, false);
                ASSERT_TRUE(r.problems && !r.problems[1]);
                if (strncmp(r.problems[0], cases[i].problem, strlen(cases[i].problem)) != 0)
                        TEST_FAIL("'%s': got '%s'", cases[i].line, r.problems[0]);
                ASSERT_HAS(r.yaml, "  # NOT CONVERTED (line 2: ");
                ASSERT_HAS(r.yaml, "  - name: ok\n");
        }
}

/* The '%' rule: the command ends at the first unescaped '%'; the rest is standard input. */
TEST(percent) {
        _cleanup_(result_done) Result a =
                convert("0 0 * * * mail -s \"100\\% done\" root%Hi,%%all done\n", false);
        _cleanup_(result_done) Result b = convert("0 0 * * * date +\\%F%\n", false);
        _cleanup_(result_done) Result c = convert("0 0 * * * cat%SOLOCRON_STDIN%x\\y\\%z\n", false);

        ASSERT_HAS(a.yaml, "command: \"exec <<'SOLOCRON_STDIN'\\nHi,\\n\\nall done\\n"
                           "SOLOCRON_STDIN\\nmail -s \\\"100% done\\\" root\"\n");
        ASSERT_HAS(b.yaml, "command: \"date +%F\"\n");          /* "%" then nothing: no input */
        ASSERT_HAS(c.yaml, "command: \"exec <<'SOLOCRON_STDIN_1'\\nSOLOCRON_STDIN\\n"
                           "x\\\\y%z\\nSOLOCRON_STDIN_1\\ncat\"\n");
}

/* Variables: env: in order (defaults: when all jobs share it), CRON_TZ/TZ the zone, MAILTO a
 * comment, SHELL the argv. */
TEST(variables) {
        _cleanup_(result_done) Result same =
                convert("A=1\nB = ' two '\n0 0 * * * x\n@hourly y\n", false);
        _cleanup_(result_done) Result r = convert(
                "MAILTO=ops@example.com\n"
                "0 1 * * * first\n"
                "SHELL=/bin/bash\n"
                "CRON_TZ=Europe/Berlin\n"
                "PATH=/bin\n"
                "0 2 * * * second\n"
                "TZ=:America/New_York\n"
                "0 3 * * * third\n"
                "CRON_TZ=\n", false);

        ASSERT_HAS(same.yaml, "    command: \"x\"\n    timezone: \"UTC\"\n    overlap: allow\n"
                              "    env:\n      A: \"1\"\n      B: \" two \"\n");
        ASSERT_HAS(same.yaml, "    command: \"y\"\n    timezone: \"UTC\"\n    overlap: allow\n"
                              "    env:\n      A: \"1\"\n      B: \" two \"\n");
        ASSERT_LACKS(same.yaml, "defaults:");

        ASSERT_TRUE(r.problems && strcmp(r.problems[0], "tab:9: unknown time zone") == 0);
        ASSERT_HAS(r.yaml, "  # line 1: MAILTO=ops@example.com (cron mailed");
        ASSERT_HAS(r.yaml, "  - name: first\n    schedule: \"0 1 * * *\"\n    command: \"first\"\n"
                           "    timezone: \"UTC\"\n    overlap: allow\n  # line 3");
        ASSERT_HAS(r.yaml, "  - name: second\n    schedule: \"0 2 * * *\"\n"
                           "    command: [\"/bin/bash\", \"-c\", \"second\"]\n"
                           "    timezone: \"Europe/Berlin\"\n    overlap: allow\n"
                           "    env:\n      SHELL: \"/bin/bash\"\n      PATH: \"/bin\"\n");
        ASSERT_HAS(r.yaml, "    command: [\"/bin/bash\", \"-c\", \"third\"]\n"
                           /* TZ is only env: */
                           "    timezone: \"Europe/Berlin\"\n    overlap: allow\n"
                           "    env:\n      SHELL: \"/bin/bash\"\n      PATH: \"/bin\"\n"
                           "      TZ: \":America/New_York\"\n");
        ASSERT_LACKS(r.yaml, "MAILTO: ");
        ASSERT_LACKS(r.yaml, "CRON_TZ: ");
}

TEST(user_column) {
        _cleanup_(result_done) Result r = convert("17 * * * * root cd / && run-parts --report "
                                                  "/etc/cron.hourly\n@reboot www-data\n", true);

        ASSERT_HAS(r.yaml, "  - name: run-parts-cron.hourly\n    schedule: \"17 * * * *\"\n"
                           "    command: \"cd / && run-parts --report /etc/cron.hourly\"\n"
                           "    user: \"root\"\n");
        ASSERT_TRUE(r.problems &&
                    strncmp(r.problems[0], "tab:2: expected a user and a command", 36) == 0);
}

/* Names from the command; alike ones get a hash of their entry (the same whatever the order),
 * the same entry twice then -2. '$' is doubled where ${VAR} would read it. */
TEST(names_and_dollars) {
#define BACKUP "/usr/bin/backup.sh --full > /dev/null 2>&1\n"
        _cleanup_(result_done) Result a = convert("0 0 * * * " BACKUP
                                                  "0 1 * * * " BACKUP
                                                  "0 1 * * * " BACKUP
                                                  "* * * * * FOO=1 nice -n 5 echo ${HOME} $$ $x\n"
                                                  "* * * * * 2>&1 >/dev/null\n", false);
        _cleanup_(result_done) Result b = convert("0 1 * * * " BACKUP, false);
        const char *h1, *h2;

        ASSERT_TRUE(!a.problems);
        h1 = strstr(a.yaml, "- name: backup.sh-");
        ASSERT_TRUE(h1);
        h2 = strstr(h1 + 1, "- name: backup.sh-");
        ASSERT_TRUE(h2 && strncmp(h1, h2, 22) != 0);
        ASSERT_HAS(a.yaml, "- name: backup.sh-");
        ASSERT_TRUE(strstr(h2 + 1, "-2\n"));
        ASSERT_HAS(b.yaml, "- name: backup.sh\n");     /* alone: no hash */
        ASSERT_HAS(a.yaml, "  - name: echo-home\n");
        ASSERT_HAS(a.yaml, "command: \"FOO=1 nice -n 5 echo $${HOME} $$$ $x\"\n");
        ASSERT_HAS(a.yaml, "  - name: job\n");
}

/* Bounds: 100000 lines, 256 variable lines (each job's env: is made from all of them). */
TEST(limits) {
        size_t n = 100001 * 2 + 64;
        _cleanup_free_ char *text = malloc(n);
        _cleanup_(result_done) Result lines = {}, vars = {};
        char *p = text;

        ASSERT_TRUE(text);
        for (int i = 0; i < 100000; i++)
                *p++ = '\n';
        p += snprintf(p, n - (size_t) (p - text), "* * * * * late\n");
        lines = convert(text, false);
        ASSERT_TRUE(lines.problems && !lines.problems[1]);
        ASSERT_STREQ(lines.problems[0], "tab:100001: too many lines (more than 100000); the "
                                        "rest is not read");
        ASSERT_LACKS(lines.yaml, "late");

        p = text;
        for (int i = 0; i < 257; i++)
                p += snprintf(p, n - (size_t) (p - text), "V%d=%d\n", i, i);
        (void) snprintf(p, n - (size_t) (p - text), "* * * * * x\n");
        vars = convert(text, false);
        ASSERT_TRUE(vars.problems && !vars.problems[1]);
        ASSERT_STREQ(vars.problems[0], "tab:257: too many variable lines (more than 256)");
        ASSERT_HAS(vars.yaml, "      V255: \"255\"\n");
}

TEST(empty_and_comments) {
        _cleanup_(result_done) Result e = convert("", false);
        _cleanup_(result_done) Result c = convert("  # caf\xc3\xa9 \xff\x01\n\n# b", false);

        ASSERT_HAS(e.yaml, "jobs: []\n");
        ASSERT_HAS(c.yaml, "jobs: []\n  # caf\xc3\xa9 ??\n\n  # b\n");
        ASSERT_TRUE(!c.problems);
}

/* What YAML does not take as it is: escaped in a value, '?' in a comment (a line separator
 * would end the comment and let the rest be read as YAML). */
TEST(unprintable) {
        _cleanup_(result_done) Result r =
                convert("# a\xe2\x80\xa8" "b: c\xc2\x82\n"
                        "* * * * * echo \xc2\x85\xe2\x80\xa9\xef\xbf\xbf\x7f\xc2\xa0\n", false);

        ASSERT_HAS(r.yaml, "  # a?b: c?\n");
        ASSERT_HAS(r.yaml, "command: \"echo \\x85\\u2029\\uffff\\x7f\xc2\xa0\"\n");
}

TESTS_MAIN
