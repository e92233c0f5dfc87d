# SPDX-License-Identifier: MIT
"""solocron as a container's PID 1 beside its main process: signals are forwarded, orphans
are reaped without stealing any job's exit status, and it exits with the main process's
status. Real PID namespaces (unshare --pid) when root."""
import os
import signal
import time

import pytest


HELPERS = os.path.join(os.path.dirname(__file__), "helpers")
MAIN = os.path.join(HELPERS, "main_process.py")
UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc"]

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="PID namespaces need root")

ORPHAN_TABLE = """
    shutdown_grace: 5s
    jobs:
      - name: orphaner
        schedule: "* * * * * *"
        # the subshell exits at once; its sleep is re-parented to PID 1
        command: '(sleep 0.3 </dev/null >/dev/null 2>&1 &); echo left an orphan'
        overlap: allow
      - name: failing
        schedule: "* * * * * *"
        command: 'exit 3'
"""


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return []


def state_of(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("State:"):
                    return line.split()[1]
    except FileNotFoundError:
        return None


def solocron_pid(d):
    """The host pid of solocron inside the namespace (the child of unshare)."""
    pid = d.pid()
    assert pid, "unshare has no child"
    return pid


def records(path):
    try:
        with open(path) as f:
            return [line.split() for line in f]
    except FileNotFoundError:
        return []


def wait_record(path, name, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hits = [r for r in records(path) if r[0] == name]
        if hits:
            return hits[0]
        time.sleep(0.02)
    raise AssertionError(f"main process never recorded {name}: {records(path)}")


def assert_no_zombies(pid, timeout=5):
    """Orphans die 0.3 s after they start; as PID 1 solocron must reap them."""
    deadline = time.monotonic() + timeout
    while True:
        zombies = [c for c in children(pid) if state_of(c) == "Z"]
        if not zombies:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"zombies left under solocron: {zombies}")
        time.sleep(0.05)


@needs_root
def test_pid1_reaps_orphans_and_keeps_job_statuses(daemon, tmp_path):
    rec = str(tmp_path / "main.log")
    d = daemon(ORPHAN_TABLE, "--log-level", "debug", "--", "/usr/bin/python3", MAIN, rec,
               argv_prefix=UNSHARE)
    pid = solocron_pid(d)
    wait_record(rec, "START")
    d.event("orphan_reaped", count=4)
    finished = d.event("run_finished", job="orphaner", count=4)
    assert all(f["result"] == "succeeded" and f["status"] == "0" for f in finished)
    failed = d.event("run_finished", job="failing", count=3)
    assert all(f["result"] == "failed" and f["status"] == "3" for f in failed)
    assert_no_zombies(pid)
    d.signal(signal.SIGTERM)
    rc = d.wait(timeout=15)
    assert rc == 3                      # the main process's own status
    # every run that started also finished: no exit status was stolen by the reaper
    started = {r["run"] for r in d.find("run_started")}
    ended = {r["run"] for r in d.find("run_finished")}
    assert started == ended


@needs_root
def test_signals_are_forwarded_to_the_main_process(daemon, tmp_path):
    rec = str(tmp_path / "main.log")
    d = daemon("jobs: []\n", "--", "/usr/bin/python3", MAIN, rec, argv_prefix=UNSHARE)
    start = wait_record(rec, "START")
    pid = solocron_pid(d)
    # the main process leads its own process group (solocron, PID 1, leads another)
    assert start[1].split("=")[1] == start[2].split("=")[1] != "1"
    for sig in ("HUP", "QUIT", "USR1", "USR2", "WINCH", "TTIN", "TTOU", "INT"):
        os.kill(pid, getattr(signal, "SIG" + sig))
        wait_record(rec, sig)
    # SIGINT was forwarded and also means "stop": the main process ignores it here, so
    # solocron waits for it; SIGTERM then ends it with its status.
    os.kill(pid, signal.SIGTERM)
    wait_record(rec, "TERM")
    assert d.wait(timeout=15) == 3


@needs_root
def test_reload_on_hup_keeps_sighup(daemon, tmp_path):
    rec = str(tmp_path / "main.log")
    d = daemon("jobs: []\n", "--reload-on-hup", "--", "/usr/bin/python3", MAIN, rec,
               argv_prefix=UNSHARE)
    wait_record(rec, "START")
    os.kill(solocron_pid(d), signal.SIGHUP)
    d.event("reloaded")
    assert not [r for r in records(rec) if r[0] == "HUP"]


@needs_root
def test_shutdown_order_main_first_then_jobs_within_grace(daemon, tmp_path):
    rec = str(tmp_path / "main.log")
    d = daemon("""
        shutdown_grace: 3s
        jobs:
          - name: stubborn
            schedule: "* * * * * *"
            command: 'trap "" TERM; echo up; sleep 60'
    """, "--", "/usr/bin/python3", MAIN, rec, "0.5", argv_prefix=UNSHARE)
    d.event("output", job="stubborn")
    t0 = time.monotonic()
    os.kill(solocron_pid(d), signal.SIGTERM)
    rc = d.proc.wait(timeout=15)
    elapsed = time.monotonic() - t0
    d.drained()
    assert rc == 3
    term = wait_record(rec, "TERM")
    exited = [r for r in records(rec) if r[0] == "EXIT"][0]
    assert float(exited[1]) - float(term[1]) >= 0.5
    main_exit = d.find("main_exited")[0]
    job_end = d.find("run_finished", job="stubborn")[0]
    assert job_end["status"] == "SIGKILL"       # ignored SIGTERM, killed at the grace's end
    assert job_end["time"] >= main_exit["time"]  # jobs are stopped after the main process
    assert 3.0 <= elapsed < 5.0, elapsed


@needs_root
def test_main_exit_stops_solocron_with_its_status(daemon, tmp_path):
    rec = str(tmp_path / "main.log")
    d = daemon("""
        jobs:
          - name: sleeper
            schedule: "* * * * * *"
            command: 'echo up; exec sleep 60'
    """, "--", "/usr/bin/python3", MAIN, rec, "0", "2.5", argv_prefix=UNSHARE)
    d.event("output", job="sleeper")
    assert d.wait(timeout=15) == 5
    fin = d.find("run_finished", job="sleeper")[0]
    assert fin["result"] == "terminated" and fin["status"] == "SIGTERM"


@needs_root
def test_main_killed_by_signal_gives_128_plus_n(daemon, tmp_path):
    d = daemon("jobs: []\n", "--", "/bin/sh", "-c", "kill -KILL $$", argv_prefix=UNSHARE)
    assert d.wait(timeout=15) == 128 + 9


def test_subreaper_mode_reaps_orphans(daemon):
    d = daemon(ORPHAN_TABLE, "--subreaper", "--log-level", "debug")
    d.event("orphan_reaped", count=3)
    assert_no_zombies(d.proc.pid)
    finished = d.event("run_finished", job="orphaner", count=3)
    assert all(f["result"] == "succeeded" for f in finished)


def test_main_process_that_cannot_start(daemon):
    d = daemon("jobs: []\n", "--", "/nonexistent/gunicorn")
    assert d.wait(timeout=15) == 127
    assert "cannot start the main process '/nonexistent/gunicorn'" in d.find("main_failed")[0]["msg"]


def test_main_section_in_the_table_with_restart_on_failure(daemon, tmp_path):
    runs = tmp_path / "runs"
    d = daemon(f"""
        main:
          command: 'echo started >> {runs}; exit 4'
          restart: on-failure
          restart_backoff: 100ms
          restart_max_backoff: 200ms
        jobs: []
    """)
    d.event("main_restart", count=3)
    assert runs.read_text().count("started") >= 3
    d.signal(signal.SIGTERM)
    assert d.wait(timeout=15) == 4
    d.event("stopped")


def test_command_line_main_wins_over_the_table(daemon, tmp_path):
    d = daemon("""
        main:
          command: ["/bin/false"]
        jobs: []
    """, "--", "/bin/sh", "-c", "exit 6")
    assert d.wait(timeout=15) == 6
    assert d.find("main_process")
