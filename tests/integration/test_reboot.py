# SPDX-License-Identifier: MIT
"""@reboot jobs: once when the daemon starts, never on a reload, on every replica."""
from conftest import Daemon, run

TABLE = """
jobs:
  - name: boot
    schedule: "@reboot"
    command: 'echo "booted $SOLOCRON_SCHEDULED_TIME" >> {log}'
  - name: tick
    schedule: "* * * * * *"
    command: ["true"]
"""


def lines(path):
    return path.read_text().splitlines() if path.exists() else []


def test_reboot_runs_once_at_start_not_on_reload(daemon, tmp_path):
    log = tmp_path / "boot.log"
    d = daemon(TABLE.format(log=log))
    d.event("run_finished", job="boot")
    assert len(lines(log)) == 1 and lines(log)[0].startswith("booted 20")
    assert not d.find("schedule_ended", job="boot")     # it never had a calendar

    # A reload, adding a second @reboot job: neither runs.
    with open(d.table_path, "a") as f:
        f.write(f"""
  - name: boot2
    schedule: "@REBOOT"
    command: 'echo boot2 >> {log}'
""")
    r = run("reload", "--pid-file", d.pid_file)
    assert r.returncode == 0, r.stderr
    assert "(1 added, 2 kept, 0 removed)" in d.event("reloaded")["msg"]
    n = len(d.find("run_finished", job="tick"))
    d.event("run_finished", job="tick", count=n + 2)    # the loop went on after the reload
    assert lines(log) == lines(log)[:1] and not d.find("run_started", job="boot2")
    assert len(d.find("run_started", job="boot")) == 1
    assert d.stop() == 0

    # The next start runs both, once each (the state file does not hold them back).
    d2 = Daemon(d.table_path, tmp_path)
    try:
        d2.event("run_finished", job="boot")
        d2.event("run_finished", job="boot2")
    finally:
        assert d2.stop() == 0
    assert sorted(l.split()[0] for l in lines(log)) == ["boot2", "booted", "booted"]


def test_reboot_is_not_elected_every_replica_runs_it(tmp_path):
    """Two daemons sharing a local lease: a calendar firing runs once, @reboot on both."""
    log = tmp_path / "boot.log"
    table = tmp_path / "t.yaml"
    table.write_text(TABLE.format(log=log))
    dirs = [tmp_path / "a", tmp_path / "b"]
    state = ["--state-dir", str(tmp_path / "shared-state")]
    daemons = []
    try:
        for p in dirs:
            p.mkdir()
            daemons.append(Daemon(str(table), p, *state))
        for d in daemons:
            d.event("run_finished", job="boot")
            d.event("run_finished", job="tick")
            assert not d.find("firing_held", job="boot")
    finally:
        for d in daemons:
            d.stop()
    assert [l.split()[0] for l in lines(log)] == ["booted", "booted"]
    # no election at all (not merely two different start seconds): no lease record for it
    records = (tmp_path / "shared-state" / "leases" / "jobs.lease").read_text()
    assert '{"job":"tick"' in records
    assert '{"job":"boot"' not in records


def test_reboot_in_check_and_next(table):
    path = table("""
        jobs:
          - name: warm-cache
            schedule: "@reboot"
            command: ["true"]
          - name: off
            schedule: "@reboot"
            command: ["true"]
            suspend: true
    """)
    r = run("check", "-c", path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["warm-cache\t@reboot\tUTC\twhen the daemon starts",
                                     "off\t@reboot\tUTC\twhen the daemon starts, suspended"]
    r = run("next", "-c", path, "warm-cache")
    assert r.returncode == 0 and r.stdout == "", (r.stdout, r.stderr)


def test_reboot_with_trailing_text_is_an_error(table):
    path = table("""
        jobs:
          - name: boot
            schedule: "@reboot now"
            command: ["true"]
    """)
    r = run("check", "-c", path)
    assert r.returncode == 2
    assert r.stderr.startswith(f"{path}:4:24: job 'boot': invalid schedule '@reboot now': "
                               "unexpected text after the macro"), r.stderr
