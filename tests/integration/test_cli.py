# SPDX-License-Identifier: MIT
"""solocron check / next / --help / --version, as a user runs them."""
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import BIN, clean_env, run

ROOT = Path(__file__).resolve().parents[2]

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run as nobody")
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

NY_TABLE = """
    defaults:
      timezone: America/New_York
    jobs:
      - name: nightly
        schedule: "30 2 * * *"
        command: ["true"]
      - name: halfhourly
        schedule: "*/30 * * * *"
        command: "true"
"""


def test_version_and_help():
    r = run("--version")
    assert r.returncode == 0
    assert re.fullmatch(r"solocron \d+\.\d+\.\d+\n", r.stdout)
    r = run("--help")
    assert r.returncode == 0
    assert "check" in r.stdout and "next" in r.stdout


def test_usage_errors_exit_64():
    assert run().returncode == 64
    r = run("frobnicate")
    assert r.returncode == 64
    assert "unknown command 'frobnicate'" in r.stderr
    assert run("check", "--no-such-option").returncode == 64


def test_check_lists_jobs_with_next_firing(table):
    path = table(NY_TABLE)
    r = run("check", "-c", path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 2
    name, sched, zone, nxt = lines[0].split("\t")
    assert (name, sched, zone) == ("nightly", "30 2 * * *", "America/New_York")
    m = re.fullmatch(r"next (\S+) (E[SD]T) \((\S+Z)\)", nxt)
    assert m, nxt
    assert m.group(1)[11:16] in ("02:30", "03:00")  # 03:00 only on spring-forward day
    assert "OK, 2 jobs" in r.stderr


def test_check_quiet_prints_nothing_on_success(table):
    path = table(NY_TABLE)
    r = run("check", "-q", "-c", path)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    r = run("check", "-q", "-c", table("jobs: [{name: x}]\n", name="bad.yaml"))
    assert r.returncode == 2 and "missing required key 'schedule'" in r.stderr


@needs_root
def test_unreadable_include_directory_is_an_error():
    # An include: glob whose directory cannot be read would drop its jobs without a word.
    import shutil
    import tempfile
    work = tempfile.mkdtemp(prefix="solocron-include-")    # pytest's are private to root
    try:
        os.chmod(work, 0o755)
        conf = os.path.join(work, "conf.d")
        os.mkdir(conf, 0o700)                               # root's: nobody cannot list it
        with open(os.path.join(conf, "a.yaml"), "w") as f:
            f.write('jobs: [{name: a, schedule: "0 1 * * *", command: x}]\n')
        path = os.path.join(work, "solocron.yaml")
        with open(path, "w") as f:
            f.write("include: conf.d/*.yaml\njobs: []\n")
        r = run("check", "-c", path, prefix=NOBODY)
        assert r.returncode == 2, r.stderr
        assert re.search(r"solocron.yaml:1:10: cannot read directory '.*/conf.d' for "
                         r"'conf.d/\*.yaml': Permission denied", r.stderr), r.stderr
        os.chmod(conf, 0o755)
        r = run("check", "-c", path, prefix=NOBODY)
        assert r.returncode == 0 and r.stdout.startswith("a\t"), r.stderr
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_check_bad_table_reports_all_errors_exit_2(table):
    path = table("""
        jobs:
          - name: a
            scheduel: "0 1 * * *"
            command: ["true"]
          - name: b
            schedule: "0 0 30 2 *"
            command: ["true"]
            timezone: Mars/Olympus_Mons
    """)
    r = run("check", "-c", path)
    assert r.returncode == 2
    err = r.stderr
    assert re.search(re.escape(path) + r":4:5: job 'a': unknown key 'scheduel' \(did you mean 'schedule'\?\)", err), err
    assert "Mars/Olympus_Mons" in err
    assert re.search(r":7:\d+: job 'b': .*never", err), err
    assert r.stdout == ""


def test_check_warns_of_an_etcd_password_over_plain_http(table):
    path = table("""
        lease:
          backend: etcd
          endpoints: ["https://10.0.0.2:2379", "http://10.0.0.1:2379"]
          username: root
          password: pw
        jobs:
          - name: a
            schedule: "0 1 * * *"
            command: ["true"]
    """)
    r = run("check", "-c", path)
    assert r.returncode == 0, r.stderr      # a warning, not an error
    warnings = [line for line in r.stderr.splitlines() if "warning" in line]
    assert warnings == [f"{path}:4:40: warning: lease: the etcd password goes to "
                        "'http://10.0.0.1:2379' unencrypted (and so does the token etcd gives "
                        "for it): use https://"], r.stderr
    assert "OK, 1 job" in r.stderr


def test_missing_config_file_exit_2(tmp_path):
    r = run("check", "-c", str(tmp_path / "absent.yaml"))
    assert r.returncode == 2
    assert "absent.yaml" in r.stderr


def test_config_from_environment_and_c_wins(table, tmp_path):
    good = table(NY_TABLE)
    r = run("check", env=clean_env(SOLOCRON_CONFIG=good))
    assert r.returncode == 0, r.stderr
    r = run("check", "-c", str(tmp_path / "absent.yaml"), env=clean_env(SOLOCRON_CONFIG=good))
    assert r.returncode == 2


def test_next_marks_spring_forward_gap(table):
    path = table(NY_TABLE)
    r = run("next", "-c", path, "nightly", "--from", "2026-03-07T00:00", "-n", "3")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("nightly  2026-03-07T02:30:00-05:00 EST  2026-03-07T07:30:00Z")
    assert lines[1] == ("nightly  2026-03-08T03:00:00-04:00 EDT  2026-03-08T07:00:00Z"
                        "  02:30 skipped by DST, fired at 03:00 EDT")
    assert lines[2].startswith("nightly  2026-03-09T02:30:00-04:00 EDT  2026-03-09T06:30:00Z")
    assert len(lines) == 3


def test_next_fall_back_hour_star_fires_twice(table):
    path = table(NY_TABLE)
    r = run("next", "-c", path, "halfhourly", "--from", "2026-11-01T00:45",
            "--until", "2026-11-01T02:01")
    assert r.returncode == 0, r.stderr
    utc = [l.split("  ")[2] for l in r.stdout.splitlines()]
    assert utc == ["2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z", "2026-11-01T06:00:00Z",
                   "2026-11-01T06:30:00Z", "2026-11-01T07:00:00Z"]
    assert "repeated by DST, second occurrence (EST)" in r.stdout.splitlines()[2]


def test_next_fixed_hour_fall_back_fires_once(table):
    path = table("""
        jobs:
          - name: early
            schedule: "30 1 * * *"
            timezone: America/New_York
            command: ["true"]
    """)
    r = run("next", "-c", path, "--from", "2026-11-01T00:00Z", "-n", "2")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("early  2026-11-01T01:30:00-04:00 EDT  2026-11-01T05:30:00Z")
    assert "fired once (first occurrence, EDT)" in lines[0]
    assert lines[1].startswith("early  2026-11-02T01:30:00-05:00 EST")


def test_next_shows_excluded_firings(table):
    path = table("""
        defaults:
          exclude: ["* * 24-26 12 *"]
        jobs:
          - name: daily
            schedule: "0 9 * * *"
            exclude: ["2026-12-20"]
            command: ["true"]
    """)
    r = run("next", "-c", path, "--from", "2026-12-19T00:00Z", "--until", "2026-12-28T00:00Z")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 9
    excluded = [l for l in lines if "excluded" in l]
    assert len(excluded) == 4
    assert "2026-12-20T09:00:00Z  excluded by '2026-12-20', not run" in excluded[0]
    assert all("excluded by '* * 24-26 12 *'" in l for l in excluded[1:])


def test_next_merges_jobs_in_time_order_and_counts(table):
    path = table(NY_TABLE)
    r = run("next", "-c", path, "-n", "4", "--from", "2026-06-01T00:00Z")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 8
    times = [l.split("  ")[2] for l in lines]
    assert times == sorted(times)


def test_next_unknown_job_and_bad_time(table):
    path = table(NY_TABLE)
    r = run("next", "-c", path, "nope")
    assert r.returncode == 1
    assert "no job named 'nope'" in r.stderr
    r = run("next", "-c", path, "--from", "tomorrow")
    assert r.returncode == 64
    assert "invalid time 'tomorrow'" in r.stderr


def test_default_zone_from_cron_tz_then_tz(table):
    path = table("""
        jobs:
          - name: j
            schedule: "0 12 * * *"
            command: ["true"]
    """)
    for env, zone in ((clean_env(), "UTC"),
                      (clean_env(TZ=":Europe/London"), "Europe/London"),
                      (clean_env(TZ="Europe/London", CRON_TZ="Asia/Kathmandu"), "Asia/Kathmandu")):
        r = run("check", "-c", path, env=env)
        assert r.returncode == 0, r.stderr
        assert r.stdout.split("\t")[2] == zone


def test_example_table_is_valid():
    example = os.path.join(os.path.dirname(__file__), "..", "..", "packaging", "solocron.yaml")
    r = run("check", "-c", example)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("\n") == 3


def test_optional_libraries_are_listed_in_the_elf_note():
    # Loaded with dlopen() on first use, so not in DT_NEEDED: the .note.dlopen note says
    # which they are, for packagers (systemd's format: FDO notes of type 0x407c0c0a).
    import json
    import shutil
    import subprocess
    import tempfile
    if not shutil.which("objcopy") or not shutil.which("readelf"):
        pytest.skip("binutils is not installed")
    with tempfile.NamedTemporaryFile() as f:
        subprocess.run(["objcopy", "-O", "binary", "--only-section=.note.dlopen", BIN, f.name],
                       check=True)
        raw = f.read()
    notes, off = [], 0
    while off + 12 <= len(raw):
        namesz, descsz, ntype = (int.from_bytes(raw[off + k:off + k + 4], "little") for k in (0, 4, 8))
        name = raw[off + 12:off + 12 + namesz].rstrip(b"\0")
        start = off + 12 + ((namesz + 3) & ~3)
        desc = raw[start:start + descsz].rstrip(b"\0")
        assert (name, ntype) == (b"FDO", 0x407c0c0a)
        notes += json.loads(desc)
        off = start + ((descsz + 3) & ~3)
    sonames = {s for n in notes for s in n["soname"]}
    assert sonames == {"libcurl.so.4", "libcrypto.so.3", "libsystemd.so.0", "libyaml-0.so.2",
                       "libhiredis.so.0.14", "libpq.so.5", "libz.so.1",
                       "libhttp_parser.so.2.9", "libjansson.so.4"}, notes
    # libyaml is loaded only while a table is read, but every start needs it; jansson only
    # when JSON is first needed, but every daemon that runs a job does.
    for soname in ("libyaml-0.so.2", "libjansson.so.4"):
        assert [n["priority"] for n in notes if n["soname"] == [soname]] == ["required"]
    needed = subprocess.run(["readelf", "-d", BIN], capture_output=True, text=True).stdout
    for lib in ("libcurl", "libcrypto", "libhiredis", "libpq", "libz", "libhttp_parser",
                "libjansson"):
        assert lib not in needed                                    # dlopen()ed, not linked


def complete(line, table_path):
    """What bash completion offers for a command line (the cursor at its end)."""
    import shlex
    script = ROOT / "contrib" / "bash-completion" / "solocron"
    words = shlex.split(line) + ([""] if line.endswith(" ") else [])
    program = f"""
solocron() {{ {shlex.quote(BIN)} "$@"; }}
source {shlex.quote(str(script))}
COMP_WORDS=({" ".join(shlex.quote(w) for w in words)})
COMP_CWORD={len(words) - 1}
_solocron
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    r = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=30,
                       env=clean_env(SOLOCRON_CONFIG=str(table_path)))
    assert r.returncode == 0, r.stderr
    return sorted(r.stdout.split())


def test_bash_completion(table):
    path = table("""
        jobs:
          - name: backup
            schedule: "0 3 * * *"
            command: ["true"]
          - name: billing
            schedule: "0 4 * * *"
            command: ["true"]
        """)
    assert complete("solocron pa", path) == ["pause"]
    assert complete("solocron r", path) == ["reload", "resume", "run", "run-now"]
    assert complete("solocron run-now b", path) == ["backup", "billing"]
    assert complete("solocron history --", path) == sorted(
        ["--since", "--limit", "--json", "--socket", "--url", "--token-file", "--help"])
    assert complete(f"solocron pause -c {path} ba", path) == ["backup"]
    assert complete("solocron run --log-format j", path) == ["journal", "json"]
