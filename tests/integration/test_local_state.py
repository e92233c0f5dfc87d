# SPDX-License-Identifier: MIT
"""The files a daemon keeps on one host: the local lease, the state file, the pid file; and
what it does when another process, a full disk or a planted symlink gets in the way."""
import json
import os
import shutil
import stat
import subprocess
import tempfile
import time

import pytest

from conftest import BIN, SLOT_SIZE, Daemon, clean_env, hold_slot, local_slot

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def test_a_held_lease_lock_never_blocks_the_loop(daemon, tmp_path):
    # Another process holds the lock of one job's lease record for 4 s. The daemon does not
    # wait for it in its loop: the other job keeps firing every second; the blocked firing
    # runs once election_timeout has passed, unrecorded (the local lease cannot be "down"),
    # said once; and claims are recorded again once the lock is free.
    state = tmp_path / "state"
    d = daemon("""
        lease:
          election_timeout: 1s
        jobs:
          - name: locked
            schedule: "*/2 * * * * *"
            command: 'echo "lease=$SOLOCRON_LEASE"'
          - name: tick
            schedule: "* * * * * *"
            command: ["true"]
    """)
    assert d.output("locked") == "lease=won"
    lease = state / "leases" / "jobs.lease"
    assert stat.S_IMODE(os.stat(state / "leases").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(lease).st_mode) == 0o600
    holder = hold_slot(state, "locked", 4)
    try:
        held_from = time.time()
        n_ticks = len(d.find("run_finished", job="tick"))
        unavailable = d.event("lease_unavailable", job="locked", timeout=10)
        assert "another process holds its lock" in unavailable["msg"]
        assert d.output("locked", count=2)[1] == "lease=unavailable"
        # Ticks went on while the lock was held: at least two more in the 2+ s since.
        d.event("run_finished", job="tick", count=n_ticks + 2, timeout=5)
        assert time.time() - held_from < 4, "the loop waited for the lock"
        d.event("lease_recovered", timeout=10)
    finally:
        holder.kill()
        holder.wait()
    assert len(d.find("lease_unavailable")) == 1         # once, not per firing
    assert d.output("locked", count=4)[3] == "lease=won"


def test_an_unwritable_lease_record_still_runs_the_firing(daemon, tmp_path):
    # A directory where the records should be: the claim cannot be written. On one host the
    # firing runs (on_store_down is for shared stores), and the error is logged once.
    leases = tmp_path / "state" / "leases"
    (leases / "jobs.lease").mkdir(parents=True)
    d = daemon("""
        jobs:
          - name: careful
            schedule: "* * * * * *"
            command: 'echo "ran lease=$SOLOCRON_LEASE token=$SOLOCRON_FENCING_TOKEN"'
    """)
    assert d.output("careful", count=3) == ["ran lease=unavailable token="] * 3
    assert len(d.find("lease_unavailable")) == 1
    assert "Is a directory" in d.find("lease_unavailable")[0]["msg"]


@needs_root
def test_full_state_filesystem(tmp_path):
    # The state directory on a tiny tmpfs that is full: firings run, the lease and state
    # errors are logged once each, and everything is recorded again once there is room.
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.check_call(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(mnt)])
    d = None
    try:
        (mnt / "state").mkdir()
        filler = mnt / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"x" * 4096) > 0:
                pass
        except OSError:
            pass
        os.close(fd)
        table = tmp_path / "t.yaml"
        table.write_text("""
jobs:
  - name: hourly
    schedule: "* * * * * *"
    catch_up: 1h
    command: 'echo "lease=$SOLOCRON_LEASE"'
""")
        d = Daemon(str(table), tmp_path, "--state-dir", str(mnt / "state"))
        assert d.output("hourly", count=3) == ["lease=unavailable"] * 3
        assert len(d.find("lease_unavailable")) == 1
        assert "No space left on device" in d.find("lease_unavailable")[0]["msg"]
        d.event("state_save_failed")
        n = len(d.find("run_finished", job="hourly"))
        d.event("run_finished", job="hourly", count=n + 2)
        assert len(d.find("state_save_failed")) == 1       # said once
        filler.unlink()
        d.event("lease_recovered", timeout=10)
        d.event("state_saved", timeout=10)
        assert d.stop() == 0
        saved = json.loads((mnt / "state" / "state.json").read_text())
        assert "hourly" in saved["jobs"]
    finally:
        if d:
            d.stop()
        subprocess.call(["umount", str(mnt)])


def test_planted_symlinks_are_not_followed(tmp_path):
    # Symlinks at the names the temporary files had (predictable before), at the lease's
    # records and at an older solocron's record of a job: the files they point to stay
    # untouched.
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    work = tmp_path / "w"
    (work / "state" / "leases").mkdir(parents=True)
    pid_file = work / "solocron.pid"
    os.symlink(victim, str(pid_file) + ".tmp")
    os.symlink(victim, work / "state" / "leases" / "jobs.lease")
    os.symlink(victim, work / "state" / "leases" / "job-other.lease")
    table = tmp_path / "t.yaml"
    table.write_text("""
jobs:
  - name: saver
    schedule: "* * * * * *"
    catch_up: 1h
    command: ["true"]
  - name: other
    schedule: "* * * * * *"
    command: ["true"]
""")
    d = Daemon(str(table), work)
    try:
        d.event("ready")
        for name in (f"state.json.{d.proc.pid}.tmp", "state.json.tmp"):
            os.symlink(victim, work / "state" / name)
        d.event("run_finished", job="saver", count=2)
        unavailable = d.event("lease_unavailable")         # ELOOP: not followed
        assert "Too many levels of symbolic links" in unavailable["msg"], unavailable
        assert d.stop() == 0
    finally:
        d.stop()
    assert victim.read_text() == "precious\n"
    assert json.loads((work / "state" / "state.json").read_text())["jobs"]["saver"]
    assert not os.path.islink(work / "state" / "state.json")
    assert not [n for n in os.listdir(work / "state") if n.endswith(".tmp") and
                not os.path.islink(work / "state" / n)]


@needs_root
def test_default_pid_file_of_a_non_root_daemon():
    # Without $XDG_RUNTIME_DIR, a non-root daemon keeps its pid file in a 0700 directory
    # of its own in /tmp, and refuses one that someone else made first.
    work = tempfile.mkdtemp(prefix="solocron-test-")
    os.chmod(work, 0o777)
    private = "/tmp/solocron-65534"
    shutil.rmtree(private, ignore_errors=True)
    path = os.path.join(work, "t.yaml")
    with open(path, "w") as f:
        f.write("jobs: []\n")
    os.chmod(path, 0o644)
    env = {k: v for k, v in clean_env().items() if k not in ("XDG_RUNTIME_DIR", "RUNTIME_DIRECTORY")}
    cmd = [*NOBODY, BIN, "run", "-c", path, "--state-dir", os.path.join(work, "state"),
           "--log-format", "json"]
    try:
        os.mkdir(private, 0o777)                        # planted by root
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=15,
                           stdin=subprocess.DEVNULL)
        assert r.returncode == 1
        assert "refusing '/tmp/solocron-65534' for the pid file" in r.stderr
        os.rmdir(private)

        proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True,
                                stdin=subprocess.DEVNULL)
        try:
            for line in proc.stderr:
                if json.loads(line)["event"] == "ready":
                    break
            st = os.lstat(private)
            assert stat.S_ISDIR(st.st_mode) and st.st_uid == 65534
            assert stat.S_IMODE(st.st_mode) == 0o700
            with open(os.path.join(private, "solocron.pid")) as f:
                assert int(f.read()) == proc.pid
            r = subprocess.run([*NOBODY, BIN, "reload"], env=env, capture_output=True,
                               text=True, timeout=15)
            assert r.returncode == 0, r.stderr
        finally:
            proc.terminate()
            assert proc.wait(timeout=15) == 0
        assert not os.path.exists(os.path.join(private, "solocron.pid"))
    finally:
        shutil.rmtree(private, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def test_a_claim_that_waited_for_the_lock_has_its_own_key(daemon, tmp_path):
    # The lock is held across one firing of `locked` and one of `tick`, for less than
    # election_timeout: the claim waits, then wins; meanwhile `tick` claims its own firing.
    # The job still gets its own lease key (it was the store's last key claimed, tick's).
    import calendar
    d = daemon("""
        lease:
          election_timeout: 3s
        jobs:
          - name: locked
            schedule: "*/2 * * * * *"
            command: 'echo "$SOLOCRON_LEASE $SOLOCRON_SCHEDULED_TIME $SOLOCRON_LEASE_KEY"'
          - name: tick
            schedule: "* * * * * *"
            command: ["true"]
    """)
    first = d.event("run_finished", job="locked")
    t = calendar.timegm(time.strptime(first["scheduled"], "%Y-%m-%dT%H:%M:%SZ"))
    time.sleep(max(0.0, t + 1.3 - time.time()))       # between two firings of `locked`
    holder = hold_slot(tmp_path / "state", "locked", 1.9)
    try:
        lines = d.output("locked", count=2)
    finally:
        holder.wait()
    status, scheduled, key = lines[1].split(" ")
    assert status == "won"
    assert key.endswith(f"/leases/jobs.lease#locked@{scheduled}"), key
    assert not d.find("lease_unavailable")


def test_stopping_during_a_run_whose_claim_waited_is_clean(daemon, tmp_path):
    # A claim that waited for the lock keeps a timer; its run is still going when the daemon
    # is told to stop. The run ends (terminated), its claim's timer closes, and the store
    # closes only after that timer: under ASan+UBSan the fixture fails on a use after free.
    import calendar
    import signal
    flag = tmp_path / "long"
    d = daemon(f"""
        lease:
          election_timeout: 3s
        jobs:
          - name: locked
            schedule: "*/2 * * * * *"
            command: 'echo "$SOLOCRON_LEASE $SOLOCRON_SCHEDULED_TIME"; [ -e {flag} ] && exec sleep 60'
    """)
    first = d.event("run_finished", job="locked")
    t = calendar.timegm(time.strptime(first["scheduled"], "%Y-%m-%dT%H:%M:%SZ"))
    flag.touch()
    time.sleep(max(0.0, t + 1.5 - time.time()))       # just before the next firing
    holder = hold_slot(tmp_path / "state", "locked", 1.0)
    try:
        status, scheduled = d.output("locked", count=2)[1].split(" ")
    finally:
        holder.wait()
    assert status == "won"      # after waiting: the lock was held across this firing
    assert calendar.timegm(time.strptime(scheduled, "%Y-%m-%dT%H:%M:%SZ")) == t + 2
    d.signal(signal.SIGTERM)
    fin = d.event("run_finished", job="locked", count=2)[1]
    assert fin["result"] == "terminated"
    assert d.stop() == 0


def test_an_older_solocrons_lease_files_are_taken_over(daemon, tmp_path):
    # Before jobs.lease, each job had job-NAME.lease and job-NAME.history. At the job's first
    # firing under this solocron both are taken over: the fencing token goes on counting,
    # the old history joins the history file, and the old files go.
    leases = tmp_path / "state" / "leases"
    leases.mkdir(parents=True, mode=0o700)
    old = {"job": "old", "scheduled": "2026-01-01T00:00:00Z", "holder": "vm", "pid": 1,
           "run": "0123456789abcdef", "attempt": 1, "status": "succeeded", "token": 41,
           "started": "2026-01-01T00:00:00Z", "finished": "2026-01-01T00:00:01Z",
           "duration_ms": 1000, "exit_status": 0}
    (leases / "job-old.lease").write_text(json.dumps(old, separators=(",", ":")) + "   ")
    (leases / "job-old.history").write_text(json.dumps(old, separators=(",", ":")) + "\n")
    d = daemon("""
        jobs:
          - name: old
            schedule: "* * * * * *"
            command: 'echo "$SOLOCRON_FENCING_TOKEN"'
    """)
    assert d.output("old", count=2) == ["42", "43"]
    d.event("run_finished", job="old", count=2)
    d.stop()
    assert not (leases / "job-old.lease").exists()
    assert not (leases / "job-old.history").exists()
    lines = [json.loads(l) for l in (leases / "history").read_text().splitlines()]
    assert lines[0]["token"] == 41 and [l["token"] for l in lines[1:3]] == [42, 43]


def test_a_record_another_process_wrote_in_a_slot_is_read_again(daemon, tmp_path):
    # The daemon remembers the record it last wrote in a slot, so as not to parse it back at
    # the job's next firing; a record another process wrote there since is read, not assumed.
    import fcntl
    d = daemon("""
        jobs:
          - name: fenced
            schedule: "* * * * * *"
            command: 'echo "$SOLOCRON_FENCING_TOKEN"'
    """)
    d.event("run_finished", job="fenced", count=2)
    path = tmp_path / "state" / "leases" / "jobs.lease"
    off, _ = local_slot(tmp_path / "state", "fenced")
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX, SLOT_SIZE, off)     # as another daemon would
        rec = json.loads(os.pread(fd, SLOT_SIZE, off))
        assert rec["token"] < 500
        rec["token"] = 500
        text = json.dumps(rec, separators=(",", ":")).encode()
        os.pwrite(fd, text + b" " * (SLOT_SIZE - 1 - len(text)) + b"\n", off)
    finally:
        os.close(fd)                                        # unlocks
    d.event("output", job="fenced", line="501")
    d.event("output", job="fenced", line="502")


def test_the_history_file_is_trimmed_to_its_newest_records(daemon, tmp_path):
    # A test build lowers the trim size (32 MiB) to 2000 bytes: the history file keeps its
    # newest half at each trim, goes on growing after one, and its lines stay whole records.
    d = daemon("""
        jobs:
          - name: busy
            schedule: "* * * * * *"
            command: ["true"]
    """, env=clean_env(SOLOCRON_TEST_HISTORY_TRIM="2000"))
    d.event("run_finished", job="busy", count=12, timeout=30)
    last = d.find("run_finished", job="busy")[-1]["run"]
    d.stop()
    history = tmp_path / "state" / "leases" / "history"
    text = history.read_text()
    assert len(text) <= 2000 + 400, len(text)
    runs = [json.loads(l)["run"] for l in text.splitlines()]
    first = d.find("run_finished", job="busy")[0]["run"]
    assert first not in runs and last in runs, (runs, first, last)
    assert not (tmp_path / "state" / "leases" / "history.tmp").exists()
