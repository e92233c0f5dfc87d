# SPDX-License-Identifier: MIT
"""solocron import-crontab on real crontabs (/etc/crontab and the /etc/cron.d files Debian
packages ship: tests/install-deps installs cron, sysstat, anacron and php-common) and on
crontabs written here with every rule. Each result must pass `solocron check`, and `solocron
next` must list the firings that cron's own rules give (computed below, independently of
solocron, minute by minute from the crontab's fields)."""
import datetime
import glob
import os
import re
import subprocess
from zoneinfo import ZoneInfo

import pytest

from conftest import Daemon, run

FROM, UNTIL = "2027-01-01T00:00:00Z", "2027-03-01T00:00:00Z"   # no DST change in the zones used

# --- cron's rules (Vixie cron's entry.c; "N/S" as cronie reads it) -------------------------

MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
          "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
          "@hourly": "0 * * * *"}
RANGES = [(0, 59, None), (0, 23, None), (1, 31, None),
          (1, 12, "jan feb mar apr may jun jul aug sep oct nov dec".split()),
          (0, 7, "sun mon tue wed thu fri sat".split())]


def cron_set(text, i):
    lo, hi, names = RANGES[i]

    def value(s):
        return names.index(s.lower()) + lo if names and s.isalpha() else int(s)

    out = set()
    for item in text.split(","):
        base, _, step = item.partition("/")
        if base == "*":
            a, b = lo, hi
        elif "-" in base:
            a, b = (value(x) for x in base.split("-"))
        else:
            a = value(base)
            b = hi if step else a
        out.update(range(a, b + 1, int(step or 1)))
    return {0 if (i == 4 and v == 7) else v for v in out}


def cron_firings(fields, zone, start, end):
    """UTC instants in [start, end) at which cron runs an entry with these five fields."""
    f = fields.split()
    minute, hour, dom, month, dow = (cron_set(f[i], i) for i in range(5))
    star = f[2].startswith("*") or f[4].startswith("*")
    tz = ZoneInfo(zone)
    day = start.astimezone(tz).date() - datetime.timedelta(days=1)
    out = []
    while day <= end.astimezone(tz).date():
        d_ok, w_ok = day.day in dom, (day.isoweekday() % 7) in dow
        if day.month in month and ((d_ok and w_ok) if star else (d_ok or w_ok)):
            for h in sorted(hour):
                for m in sorted(minute):
                    t = datetime.datetime(day.year, day.month, day.day, h, m, tzinfo=tz)
                    if start <= t < end:
                        out.append(t.astimezone(datetime.timezone.utc))
        day += datetime.timedelta(days=1)
    return out


def cron_entries(text):
    """(fields or macro, zone variable in effect) of each entry line, in order."""
    entries, zone = [], None
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$", s)
        if m:
            if m.group(1) == "CRON_TZ":     # TZ is only the commands' environment
                zone = m.group(2).strip("'\"").lstrip(":") or zone
            continue
        if s.startswith("@"):
            entries.append((s.split()[0], zone))
        else:
            entries.append((" ".join(s.split()[:5]), zone))
    return entries


def utc(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


# --- helpers ------------------------------------------------------------------------------

def import_crontab(path, *args):
    return run("import-crontab", str(path), "--timezone", "UTC", *args)


def job_names(table_text):
    return re.findall(r"^  - name: (\S+)$", table_text, re.M)


def check_same_firings(crontab_text, table_path):
    """solocron next over [FROM, UNTIL) == cron's firings, entry by entry."""
    table_text = open(table_path).read()
    names = job_names(table_text)
    entries = cron_entries(crontab_text)
    assert len(names) == len(entries), (names, entries)
    r = run("next", "-c", table_path, "--from", FROM, "--until", UNTIL)
    assert r.returncode == 0, r.stderr
    got = {}
    for line in r.stdout.splitlines():
        name, _local, _abbr, t = line.split()[:4]
        got.setdefault(name, []).append(utc(t))
    start, end = utc(FROM), utc(UNTIL)
    for name, (fields, zone) in zip(names, entries):
        if fields == "@reboot":
            assert name not in got
            continue
        want = cron_firings(MACROS.get(fields, fields), zone or "UTC", start, end)
        mine = got.get(name, [])
        assert mine == want, f"{name} ({fields}): {len(mine)} firings, cron {len(want)}"
    return names


def convert_and_check(tmp_path, path, *args):
    r = import_crontab(path, *args)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    out = tmp_path / (os.path.basename(str(path)) + ".yaml")
    out.write_text(r.stdout)
    c = run("check", "-c", str(out))
    assert c.returncode == 0, c.stderr + r.stdout
    return str(out), r.stdout


# --- real crontabs -------------------------------------------------------------------------

REAL = ["/etc/crontab"] + sorted(p for p in glob.glob("/etc/cron.d/*")
                                 if not os.path.basename(p).startswith("."))


@pytest.mark.parametrize("path", REAL)
def test_real_system_crontabs(tmp_path, path):
    if not os.path.exists(path):
        pytest.skip(f"{path} is missing (tests/install-deps installs Debian's cron)")
    out, table = convert_and_check(tmp_path, path)       # the user column: by its path
    text = open(path).read()
    names = check_same_firings(text, out)
    assert names and len(set(names)) == len(names)
    assert table.count('    user: "root"\n') == len(names)
    # every comment line is carried over
    for line in text.splitlines():
        if line.strip().startswith("#"):
            assert "  #" + line.strip()[1:] in table


def test_debian_packages_installed_their_crontabs():
    """The packages tests/install-deps installs put their files where the test above looks."""
    if not os.path.exists("/etc/crontab"):
        pytest.skip("Debian's cron is not installed")
    for f in ("/etc/cron.d/sysstat", "/etc/cron.d/anacron", "/etc/cron.d/php"):
        assert f in REAL, f


# --- every rule ------------------------------------------------------------------------------

EVERY_RULE = r"""# A crontab with every rule.
# mail goes here under cron
MAILTO=ops@example.com
SHELL=/bin/bash
PATH=/usr/local/bin:/usr/bin:/bin
GREETING = "hello  there"
*/15 9-17 * * mon-fri   echo business hours
0 0 1,15 * *            echo fifteenth
0 12 1 * 7              echo first or sunday   # dom/dow: either
0 6 * jan-feb sun       echo winter sunday
5/20 * * * *            echo cronie step
*/90 3 * * *            echo ninety
0 */7 */10 * *          echo steps
@daily                  echo daily
@hourly                 echo hourly
@weekly                 echo weekly
@monthly                echo monthly
@yearly                 echo yearly
CRON_TZ=America/New_York
30 8 * * 1-5            echo new york
TZ=Asia/Tokyo
0 0 * * *               echo still new york
@reboot                 echo reboot
"""


def test_every_rule_same_firings_as_cron(tmp_path):
    src = tmp_path / "crontab"
    src.write_text(EVERY_RULE)
    out, table = convert_and_check(tmp_path, src)
    names = check_same_firings(EVERY_RULE, out)
    assert len(names) == 15
    assert "  # line 3: MAILTO=ops@example.com (cron mailed" in table
    assert "MAILTO:" not in table and "CRON_TZ:" not in table
    assert 'command: ["/bin/bash", "-c", "echo business hours"]' in table
    assert '    timezone: "America/New_York"\n' in table
    assert '      GREETING: "hello  there"\n' in table
    assert '      TZ: "Asia/Tokyo"\n' in table        # still the job's environment
    assert 'schedule: "0 3 * * *"' in table             # cron reads */90 minutes as 0
    assert "  # A crontab with every rule.\n  # mail goes here under cron\n" in table
    assert table.count("    overlap: allow\n") == 15

    # jobs only: a table can include it as it is
    (tmp_path / "conf.d").mkdir()
    os.rename(out, tmp_path / "conf.d" / "crontab.yaml")
    main = tmp_path / "main.yaml"
    main.write_text("include: conf.d/*.yaml\njobs:\n  - name: own\n    schedule: '@daily'\n"
                    "    command: 'true'\n")
    c = run("check", "-c", str(main))
    assert c.returncode == 0, c.stderr
    assert len(c.stdout.splitlines()) == 16


STDIN_AND_ENV = r"""SHELL=/bin/bash
GREETING='hello  there'
MAILTO=""
@reboot cat > {out}/stdin.txt%line one%line \%two%%last
@reboot echo "$GREETING|$SHELL|${{BASH_VERSION:+bash}}|$$" | sed 's/|[0-9]*$/|pid/' > {out}/env.txt
@reboot date +\%Y > {out}/percent.txt
"""


def test_converted_jobs_run_as_under_cron(tmp_path):
    """The % rule, SHELL and the variables, run for real (@reboot runs at the daemon's start):
    what the jobs see is what cron's do_command.c gives them."""
    outdir = tmp_path / "out"
    outdir.mkdir()
    src = tmp_path / "crontab"
    src.write_text(STDIN_AND_ENV.format(out=outdir))
    table, _ = convert_and_check(tmp_path, src)
    d = Daemon(table, tmp_path)
    try:
        done = d.event("run_finished", count=3)
        assert [r["result"] for r in done] == ["succeeded"] * 3, d.raw
    finally:
        assert d.stop() == 0
    assert (outdir / "stdin.txt").read_text() == "line one\nline %two\n\nlast\n"
    assert (outdir / "env.txt").read_text() == "hello  there|/bin/bash|bash|pid\n"
    assert (outdir / "percent.txt").read_text() == datetime.date.today().strftime("%Y\n")


# --- what cannot be converted ----------------------------------------------------------------

BAD = """# ok
0 1 * * * echo ok
0 22-2 * * * echo wraps
0 0 L * * echo quartz
@Daily echo case
"""


def test_unconvertible_lines_are_reported_with_line_numbers(tmp_path):
    src = tmp_path / "crontab"
    src.write_text(BAD)
    r = import_crontab(src)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.splitlines() == [
        f"{src}:3: invalid hour field '22-2': descending range (cron matches nothing or "
        "refuses it)",
        f"{src}:4: invalid day-of-month field 'L': expected a number or a name",
        f"{src}:5: unknown macro (cron has @reboot, @yearly, @annually, @monthly, @weekly, "
        "@daily, @midnight, @hourly)",
        f"{src}: 3 lines not converted; nothing printed (--force prints the table with them "
        "as comments)"]
    forced = import_crontab(src, "--force")
    assert forced.returncode == 0 and forced.stderr.count("\n") == 3
    assert "  # NOT CONVERTED (line 3: invalid hour field '22-2': descending range (cron matches " \
           "nothing or refuses it)): 0 22-2 * * * echo wraps\n" in forced.stdout
    out = tmp_path / "t.yaml"
    out.write_text(forced.stdout)
    c = run("check", "-c", str(out))
    assert c.returncode == 0, c.stderr
    assert c.stdout.startswith("echo-ok\t0 1 * * *\tUTC\t"), c.stdout


def test_stdin_user_column_and_usage(tmp_path):
    p = subprocess.run([os.environ.get("SOLOCRON_BIN", "build/daemon/solocron"), "import-crontab",
                        "--user-column", "--timezone", "Europe/Berlin"],
                       input="0 5 * * * backup /usr/local/bin/backup --all\n", capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert "# The zone cron ran in: Europe/Berlin (--timezone).\n" in p.stdout
    assert '    timezone: "Europe/Berlin"\n    overlap: allow\n' in p.stdout
    assert '  - name: backup\n    schedule: "0 5 * * *"\n' in p.stdout
    assert '    user: "backup"\n' in p.stdout
    assert "Converted from (stdin)" in p.stdout

    # without --timezone: the zone cron ran in is this machine's
    src = tmp_path / "crontab"
    src.write_text("0 5 * * * date\n")
    r = run("import-crontab", str(src))
    assert r.returncode == 0, r.stderr
    if os.path.islink("/etc/localtime"):
        zone = os.readlink("/etc/localtime").split("zoneinfo/", 1)[1]
        assert f"# The zone cron ran in: {zone} (this machine's, from /etc/localtime;" in r.stdout
        assert f'    timezone: "{zone}"\n' in r.stdout

    r = run("import-crontab", "--timezone", "Mars/Olympus", str(tmp_path))
    assert r.returncode == 64 and "--timezone: unknown time zone 'Mars/Olympus'" in r.stderr
    r = run("import-crontab", str(tmp_path / "missing"))
    assert r.returncode == 1 and "cannot open" in r.stderr
    r = run("import-crontab", "a", "b")
    assert r.returncode == 64
