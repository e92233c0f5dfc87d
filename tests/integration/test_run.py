# SPDX-License-Identifier: MIT
"""solocron run: firing, supervising and timing out jobs, as a user would see it."""
import calendar
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import ctx_switches, BIN, Daemon, clean_env, run, local_slot, maps_library


def utc_seconds(rfc3339):
    return calendar.timegm(time.strptime(rfc3339[:19], "%Y-%m-%dT%H:%M:%S"))


def record_time(rec):
    return utc_seconds(rec["time"]) + int(rec["time"][20:23]) / 1000


def test_fires_on_the_second_with_small_lag(daemon):
    d = daemon("""
        jobs:
          - name: tick
            schedule: "* * * * * *"
            command: ["true"]
    """)
    d.event("ready")
    starts = d.event("run_started", job="tick", count=3)
    finished = d.event("run_finished", job="tick", count=3)
    for f in finished:
        assert f["result"] == "succeeded"
    scheduled = [utc_seconds(f["scheduled"]) for f in finished]
    assert scheduled[1] - scheduled[0] == 1 and scheduled[2] - scheduled[1] == 1
    # A sanity bound only; the measured lag is reported by bench/.
    by_run = {s["run"]: s for s in starts}
    for f in finished:
        lag = record_time(by_run[f["run"]]) - utc_seconds(f["scheduled"])
        assert 0 <= lag < 0.5, lag


def test_no_wakeups_while_idle(daemon):
    d = daemon("""
        jobs:
          - name: yearly
            schedule: "@yearly"
            command: ["true"]
          - name: far
            schedule: "0 0 0 1 1 * 2199"
            command: ["true"]
    """)
    d.event("ready")
    time.sleep(0.5)             # let start-up finish its last writes
    before = ctx_switches(d.proc.pid)
    time.sleep(10)              # the measurement window itself
    after = ctx_switches(d.proc.pid)
    assert after == before, f"{after - before} context switches in 10 s of idling"


def test_environment_passes_through(daemon):
    d = daemon("""
        jobs:
          - name: envjob
            schedule: "* * * * * *"
            command: 'echo "$FROM_CONTAINER|$LOG_LEVEL|$SOLOCRON_JOB|$SOLOCRON_RUN_ID|$SOLOCRON_SCHEDULED_TIME|$SOLOCRON_ATTEMPT|$NOTIFY_SOCKET$WATCHDOG_PID|$(env | grep -c ^LOG_LEVEL=)"'
            env: {LOG_LEVEL: debug}
    """, env=clean_env(FROM_CONTAINER="secret-from-docker-run", LOG_LEVEL="info",
                       NOTIFY_SOCKET="/nonexistent/notify", WATCHDOG_PID="1"))
    rec = d.event("output", job="envjob")
    fields = rec["line"].split("|")
    assert fields[0] == "secret-from-docker-run"
    assert fields[1] == "debug"                    # the job's env: wins
    assert fields[2] == "envjob"
    assert fields[3] == rec["run"] and len(fields[3]) == 16
    assert fields[4].endswith("Z") and utc_seconds(fields[4]) > 0
    assert fields[5] == "1"
    assert fields[6] == ""                         # the service manager's variables are ours
    assert fields[7] == "1"                        # replaced, not added twice


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_user_switching(daemon):
    d = daemon("""
        jobs:
          - name: as-nobody
            schedule: "* * * * * *"
            command: 'echo "$(id -u) $(id -g) $HOME $USER $(umask)"'
            user: nobody
            umask: "0027"
    """)
    line = d.output("as-nobody")
    uid, gid, home, user, umask = line.split()
    assert (uid, user) == ("65534", "nobody")
    assert gid == "65534"
    assert home == "/nonexistent"
    assert umask == "0027"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to nobody first")
def test_user_switch_refused_when_not_root():
    import shutil
    import tempfile
    # pytest's own tmp dirs are private to root; nobody needs one it can use.
    work = tempfile.mkdtemp(prefix="solocron-nobody-")
    os.chmod(work, 0o777)
    path = os.path.join(work, "solocron.yaml")
    with open(path, "w") as f:
        f.write('jobs:\n  - name: as-root\n    schedule: "* * * * * *"\n'
                '    command: ["id"]\n    user: root\n')
    os.chmod(path, 0o644)
    d = Daemon(path, work, argv_prefix=["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])
    try:
        rec = d.event("run_failed", job="as-root")
        assert "cannot switch to user 'root': solocron runs as uid 65534, not root" in rec["msg"]
        fin = d.event("run_finished", job="as-root")
        assert fin["result"] == "failed"
        assert d.proc.poll() is None            # the daemon keeps running
    finally:
        d.stop()
        shutil.rmtree(work, ignore_errors=True)


def test_missing_binary_is_a_failed_run_not_a_crash(daemon):
    d = daemon("""
        jobs:
          - name: ghost
            schedule: "* * * * * *"
            command: ["/nonexistent/program", "x"]
    """)
    rec = d.event("run_failed", job="ghost")
    assert "cannot execute '/nonexistent/program'" in rec["msg"]
    assert d.event("run_finished", job="ghost")["result"] == "failed"
    d.event("run_failed", job="ghost", count=2)  # and the next firing is tried again
    assert d.proc.poll() is None


def test_program_lookup_as_execvp(daemon, tmp_path):
    # As execvp() would: a script without a #! line runs under /bin/sh, and a relative PATH
    # entry is looked up in the job's workdir, where it runs.
    work = tmp_path / "w"
    work.mkdir()
    script = work / "noshebang"
    script.write_text("echo plain script $1\n")
    script.chmod(0o755)
    d = daemon(f"""
        jobs:
          - name: plain
            schedule: "* * * * * *"
            command: ["{script}", "arg"]
          - name: relative
            schedule: "* * * * * *"
            workdir: {work}
            env: {{PATH: ".:/usr/bin:/bin"}}
            command: ["noshebang", "found"]
    """)
    assert d.output("plain") == "plain script arg"
    assert d.output("relative") == "plain script found"


def test_job_gets_only_stdin_stdout_stderr(daemon):
    # The daemon holds a descriptor without close-on-exec (as libcurl's sockets are): its
    # jobs must not inherit it. (3 is the shell's own, listing the directory.)
    r, w = os.pipe()
    os.dup2(w, 20)
    try:
        d = daemon("""
            jobs:
              - name: fds
                schedule: "* * * * * *"
                command: 'cd /proc/self/fd && echo *'
        """, pass_fds=(20,))
        assert d.output("fds") == "0 1 2 3"
    finally:
        for fd in (r, w, 20):
            os.close(fd)


def test_many_jobs_at_once_under_a_low_descriptor_limit(daemon):
    # Started with a soft limit of 64 open files (systemd's default is 1024): 40 jobs at once
    # need 80 pipe ends, so the daemon raises its own soft limit to the hard one, and its
    # jobs still get the 64 it was started with.
    import resource

    def low_soft_limit():
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))

    if resource.getrlimit(resource.RLIMIT_NOFILE)[1] < 256:
        pytest.skip("the hard limit on open files is below 256 here")
    jobs = "".join(f"""
          - name: j{i:02d}
            schedule: "*/2 * * * * *"
            command: 'ulimit -Sn; sleep 1'""" for i in range(40))
    d = daemon("jobs:" + jobs + "\n", preexec=low_soft_limit)
    for i in range(40):
        assert d.output(f"j{i:02d}", timeout=20) == "64"
    assert not d.find("run_failed")


def test_timeout_escalates_to_sigkill(daemon):
    d = daemon("""
        jobs:
          - name: stubborn
            schedule: "* * * * * *"
            command: 'trap "" TERM; echo started; sleep 30'
            timeout: 1s
            kill_after: 1s
    """)
    run_id = d.event("output", job="stubborn")["run"]
    d.event("run_timeout", job="stubborn", run=run_id)
    d.event("run_killed", job="stubborn", run=run_id)
    fin = d.event("run_finished", job="stubborn", run=run_id)
    assert fin["result"] == "timed_out"
    assert fin["status"] == "SIGKILL"
    assert 2.0 <= int(fin["duration_usec"]) / 1e6 < 4


def test_overlap_skip(daemon):
    d = daemon("""
        jobs:
          - name: slow
            schedule: "* * * * * *"
            command: ["sleep", "2.5"]
    """)
    first = d.event("run_started", job="slow")
    skipped = d.event("firing_skipped", job="slow", count=2)
    assert all(s["run"] == first["run"] for s in skipped)
    assert "SKIPPED (still running)" in skipped[0]["msg"]


def test_overlap_queue_keeps_one(daemon):
    d = daemon("""
        jobs:
          - name: q
            schedule: "* * * * * *"
            command: ["sleep", "2.2"]
            overlap: queue
    """)
    d.event("firing_queued", job="q")
    d.event("firing_skipped", job="q")          # a second waiting firing is dropped
    first = d.event("run_finished", job="q")
    second = d.event("run_started", job="q", count=2)[1]
    assert record_time(second) - record_time(first) < 0.5  # the queued one starts at once


def test_overlap_replace(daemon):
    d = daemon("""
        jobs:
          - name: r
            schedule: "*/2 * * * * *"
            command: 'echo go; exec sleep 30'
            overlap: replace
    """)
    first = d.event("run_started", job="r")
    d.event("run_replaced", job="r")
    fin = d.event("run_finished", job="r", run=first["run"])
    assert fin["result"] == "terminated" and fin["status"] == "SIGTERM"
    second = d.event("run_started", job="r", count=2)[1]
    assert second["run"] != first["run"]


def test_overlap_allow(daemon):
    d = daemon("""
        jobs:
          - name: a
            schedule: "* * * * * *"
            command: ["sleep", "3"]
            overlap: allow
    """)
    d.event("run_started", job="a", count=3)
    assert not d.find("run_finished", job="a")  # three at once
    assert not d.find("firing_skipped", job="a")


def test_retry_fast(daemon):
    d = daemon("""
        jobs:
          - name: flaky
            schedule: "* * * * * *"
            command: 'echo attempt $SOLOCRON_ATTEMPT; exit 3'
            retry: {attempts: 3, backoff: 1s, max_backoff: 10s}
    """)
    starts = d.event("run_started", job="flaky", count=3)
    assert len({s["run"] for s in starts}) == 1    # one run, three attempts
    fails = d.event("attempt_failed", job="flaky", count=2)
    assert "retrying in 1.000s" in fails[0]["msg"]
    assert "retrying in 2.000s" in fails[1]["msg"]
    gap1 = record_time(starts[1]) - record_time(starts[0])
    gap2 = record_time(starts[2]) - record_time(starts[1])
    assert 1.0 <= gap1 < 1.6 and 2.0 <= gap2 < 2.6, (gap1, gap2)
    fin = d.event("run_finished", job="flaky")
    assert fin["result"] == "failed" and fin["status"] == "3" and fin["attempts"] == "3"
    assert [r["line"] for r in d.find("output", job="flaky", run=fin["run"])] == [
        "attempt 1", "attempt 2", "attempt 3"]


def test_retry_on_limits_what_is_retried(daemon):
    d = daemon("""
        jobs:
          - name: config-error
            schedule: "* * * * * *"
            command: 'exit 2'
            retry: {attempts: 5, backoff: 1s}
            retry_on: [timeout]
    """)
    fin = d.event("run_finished", job="config-error")
    assert fin["attempts"] == "1" and fin["result"] == "failed"
    assert not d.find("attempt_failed", job="config-error")


def write_state(workdir, job, last):
    os.makedirs(os.path.join(workdir, "state"), exist_ok=True)
    with open(os.path.join(workdir, "state", "state.json"), "w") as f:
        json.dump({"version": 1, "jobs": {job: {"last_completed": last}}}, f)


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def test_catch_up_after_restart(daemon, tmp_path):
    now = int(time.time())
    # An hourly job whose newest firing was 5-6 minutes ago: well past the lateness that
    # still counts as on time, whatever minute of the hour the test runs in.
    newest = (now // 60 - 5) * 60
    minute = newest // 60 % 60
    write_state(tmp_path, "hourly", iso(now - 3 * 3600))
    d = daemon(f"""
        jobs:
          - name: hourly
            schedule: "0 {minute} * * * *"
            command: 'echo caught up for $SOLOCRON_SCHEDULED_TIME'
            catch_up: 6h
    """)
    missed = d.event("firing_missed", job="hourly")
    assert missed["msg"].startswith("missed 2 firings")
    d.event("firing_catch_up", job="hourly")
    started = d.event("run_started", job="hourly")
    assert "(catch-up)" in started["msg"]
    assert d.output("hourly") == f"caught up for {iso(newest)}"
    d.event("run_finished", job="hourly")
    d.stop()
    with open(tmp_path / "state" / "state.json") as f:
        assert json.load(f)["jobs"]["hourly"]["last_completed"] == iso(newest)


def test_no_catch_up_skips_and_logs(daemon, tmp_path):
    now = int(time.time())
    # An hourly job whose newest firing was 30 minutes ago: three firings since the state's
    # last one (on the hour, the newest would be the one due now, whenever the test starts
    # in the first seconds of an hour).
    minute = (now // 60 - 30) % 60
    write_state(tmp_path, "hourly", iso(now - 3 * 3600))
    d = daemon(f"""
        jobs:
          - name: hourly
            schedule: "0 {minute} * * * *"
            command: ["true"]
    """)
    missed = d.event("firing_missed", job="hourly")
    assert missed["msg"].startswith("missed 3 firings") and "no catch_up set" in missed["msg"]
    d.event("ready")
    assert not d.find("run_started", job="hourly")


def test_output_lines_partial_and_long(daemon):
    d = daemon("""
        jobs:
          - name: chatty
            schedule: "* * * * * *"
            command: ["/bin/sh", "-c", "echo out1; echo err1 >&2; head -c 70000 /dev/zero | tr '\\\\0' x; echo; printf tail"]
    """)
    first = d.event("output", job="chatty")["run"]
    d.event("run_finished", job="chatty", run=first)
    by_stream = {}
    for r in d.find("output", job="chatty", run=first):
        by_stream.setdefault(r["stream"], []).append(r)
    assert [r["line"] for r in by_stream["stderr"]] == ["err1"]
    out = by_stream["stdout"]
    assert out[0]["line"] == "out1"
    assert len(out[1]["line"]) == 65536 and "continued" not in out[1]
    assert len(out[2]["line"]) == 70000 - 65536 and out[2]["continued"] is True
    assert out[3]["line"] == "tail"           # partial last line, flushed at exit


def test_incomplete_lines_of_several_streams_stay_apart(daemon):
    # Streams read into one shared buffer keep their incomplete lines apart. The sleeps inside
    # the jobs split their output into separate reads; the assertions hold whatever the reads.
    d = daemon("""
        jobs:
          - name: left
            schedule: "*/2 * * * * *"
            command: ["/bin/sh", "-c", "printf a1-; sleep 0.2; printf a2- >&2; sleep 0.2; echo a3; echo a4 >&2"]
          - name: right
            schedule: "*/2 * * * * *"
            command: ["/bin/sh", "-c", "sleep 0.1; echo b1; printf b2- >&2; sleep 0.2; echo b3 >&2"]
    """)
    for job, want in (("left", {"stdout": ["a1-a3"], "stderr": ["a2-a4"]}),
                      ("right", {"stdout": ["b1"], "stderr": ["b2-b3"]})):
        run_id = d.event("run_started", job=job)["run"]
        d.event("run_finished", job=job, run=run_id)
        got = {}
        for r in d.find("output", job=job, run=run_id):
            got.setdefault(r["stream"], []).append(r["line"])
        assert got == want, (job, got)


def test_text_log_format(daemon):
    d = daemon("""
        jobs:
          - name: hello
            schedule: "* * * * * *"
            command: ["echo", "hi there"]
    """, log_format="text")
    line = d.wait_for(lambda l: " stdout: hi there" in l)
    stamp, job, run_id, rest = line.split(" ", 3)
    assert stamp.endswith("Z") and job == "hello" and run_id.startswith("run=")
    assert rest == "stdout: hi there"
    d.wait_for(lambda l: l.startswith(stamp[:4]) and " finished result=succeeded status=0" in l)


def test_reload_good_and_broken_table(daemon):
    d = daemon("""
        jobs:
          - name: one
            schedule: "* * * * * *"
            command: ["echo", "one"]
    """)
    d.event("run_finished", job="one")
    with open(d.table_path, "w") as f:
        f.write('jobs:\n  - name: two\n    schedule: "* * * * * *"\n    command: ["echo", "two"]\n')
    r = run("reload", "--pid-file", d.pid_file)
    assert r.returncode == 0, r.stderr
    rec = d.event("reloaded")
    assert "(1 added, 0 kept, 1 removed)" in rec["msg"]
    d.event("run_finished", job="two")
    n_one = len(d.find("run_started", job="one"))

    with open(d.table_path, "w") as f:
        f.write('jobs:\n  - name: two\n    schedual: "* * * * * *"\n    command: ["echo", "two"]\n')
    d.signal(signal.SIGHUP)
    d.event("reload_failed")
    errors = [r["msg"] for r in d.find("config_error")]
    assert any(m.endswith(":3:5: job 'two': unknown key 'schedual' (did you mean 'schedule'?)")
               for m in errors), errors
    count = len(d.find("run_finished", job="two"))
    d.event("run_finished", job="two", count=count + 2)     # the old table keeps firing
    assert len(d.find("run_started", job="one")) == n_one


def test_libyaml_is_mapped_only_while_a_table_is_read(daemon):
    # config/yamlib.c: the idle daemon does not carry libyaml; a reload loads it again.
    d = daemon("""
        jobs:
          - name: one
            schedule: "* * * * * *"
            command: ["echo", "one"]
    """)
    d.event("run_finished", job="one")
    assert not maps_library(d, "libyaml")
    with open(d.table_path, "w") as f:
        f.write('jobs:\n  - name: two\n    schedule: "* * * * * *"\n    command: ["echo", "two"]\n')
    d.signal(signal.SIGHUP)
    d.event("reloaded")
    d.event("run_finished", job="two")
    assert not maps_library(d, "libyaml")


def test_jansson_is_mapped_when_json_is_first_needed(daemon, tmp_path):
    # daemon/dlopen/jsonlib.c: a daemon that has run nothing on the local lease (no state
    # file, no API) has no JSON to read or write; its first run writes a lease record.
    d = daemon("""
        jobs:
          - name: soon
            schedule: "0 0 0 1 1 * 2099"
            command: ["echo", "ran"]
    """)
    d.event("ready")
    assert not maps_library(d, "libjansson")
    with open(d.table_path, "w") as f:     # now every second (a start could be due at once)
        f.write('jobs:\n  - name: soon\n    schedule: "* * * * * *"\n    command: ["echo", "ran"]\n')
    d.signal(signal.SIGHUP)
    d.event("run_finished", job="soon")
    assert maps_library(d, "libjansson")
    # what the library wrote is whole: the lease record names this host, and the state
    # file (written at the stop) the firing
    assert d.stop() == 0
    _, record = local_slot(d.state_dir, "soon")
    assert record["holder"] == os.uname().nodename and record["status"] == "succeeded", record
    with open(os.path.join(d.state_dir, "state.json")) as f:
        assert "soon" in json.load(f)["jobs"]


@pytest.mark.skipif(not os.environ.get("SOLOCRON_TEST_HOOKS"), reason="needs a test build")
def test_without_jansson_runs_fail_clearly_and_the_state_file_is_kept(daemon, tmp_path):
    # A machine without libjansson (played by a test build loading another name): the
    # local lease cannot write its records, and says why (its jobs run without them, as
    # when the lease directory is unwritable); a start that must read the state file stops
    # (exit 1) and leaves the file as it was, instead of moving it aside as corrupt.
    env = clean_env(SOLOCRON_TEST_JANSSON_SONAME="libjansson-not-installed.so.4")
    d = daemon("""
        jobs:
          - name: tick
            schedule: "* * * * * *"
            command: ["echo", "ran"]
    """, env=env)
    bad = d.event("lease_unavailable", job="tick")
    assert "Can not access a needed shared library" in bad["msg"], bad
    d.event("run_finished", job="tick")
    assert any("cannot load libjansson-not-installed.so.4" in r["line"]
               for r in d.find("unparsable")), d.raw
    assert d.stop() == 0
    state = tmp_path / "state" / "state.json"
    state.write_text('{"version": 1, "jobs": {"tick": {"last_completed": "2026-01-01T00:00:00Z"}}}')
    r = subprocess.run([BIN, "run", "-c", d.table_path, "--state-dir", str(tmp_path / "state"),
                        "--pid-file", str(tmp_path / "again.pid")],
                       env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r.stderr
    assert "libjansson.so.4 cannot be loaded (Debian: apt-get install libjansson4)" in r.stderr
    assert "state.json" in r.stderr and "writable" not in r.stderr
    assert state.exists() and not (tmp_path / "state" / "state.json.corrupt").exists()


def test_unchanged_table_is_read_from_the_cache(daemon, tmp_path):
    # config/yamlcache.c: libyaml's events of each file are kept in STATE_DIR/cache, so that a
    # restart or a reload reads an unchanged file without parsing it again.
    table = """
        jobs:
          - name: one
            schedule: "* * * * * *"
            command: ["echo", "one"]
    """
    loaded = []
    for _ in range(3):
        d = daemon(table, "--log-level", "debug")
        loaded.append(d.event("table_loaded")["msg"])
        d.event("run_finished", job="one")
        assert d.stop() == 0
    # The first start makes the state directory after reading the table: nothing kept yet.
    assert [m.endswith(f"{n} of 1 files read from the cache") for m, n in
            zip(loaded, (0, 0, 1))] == [True] * 3, loaded
    cache = tmp_path / "state" / "cache"
    files = list(cache.iterdir())
    assert len(files) == 1 and files[0].stat().st_mode & 0o777 == 0o600
    assert cache.stat().st_mode & 0o777 == 0o700

    # A damaged cache file is parsed around, and an edited table is seen at once.
    files[0].write_bytes(files[0].read_bytes()[:-40] + b"\x01" * 40)
    d = daemon(table, "--log-level", "debug")
    assert d.event("table_loaded")["msg"].endswith("0 of 1 files read from the cache")
    d.event("run_finished", job="one")
    with open(d.table_path, "w") as f:
        f.write('jobs:\n  - name: two\n    schedule: "* * * * * *"\n    command: ["echo", "two"]\n')
    d.signal(signal.SIGHUP)
    d.event("reloaded")
    assert d.event("table_loaded", count=2)[-1]["msg"].endswith("0 of 1 files read from the cache")
    d.event("run_finished", job="two")


def test_sigterm_grace_then_sigkill(daemon):
    d = daemon("""
        shutdown_grace: 1s
        jobs:
          - name: stubborn
            schedule: "* * * * * *"
            command: 'trap "" TERM; echo up; sleep 60'
          - name: polite
            schedule: "* * * * * *"
            command: 'echo up; exec sleep 60'
    """)
    d.event("output", job="stubborn")
    d.event("output", job="polite")
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    rc = d.proc.wait(timeout=10)
    elapsed = time.monotonic() - t0
    d.drained()
    assert rc == 0
    assert 1.0 <= elapsed < 3.0, elapsed
    assert d.find("run_finished", job="polite")[0]["status"] == "SIGTERM"
    assert d.find("run_finished", job="stubborn")[0]["status"] == "SIGKILL"
    assert d.find("run_killed", job="stubborn")
    d.event("stopped")


def test_signals_during_the_last_moments_of_a_stop_do_not_kill_it(daemon, tmp_path):
    # Closing the signal watchers restores the default actions; a SIGTERM that came just
    # then killed the daemon (status -15) before its state was saved. Each daemon here gets
    # SIGTERM after SIGTERM until it has exited; every one exits 0 and logs `stopped`.
    for i in range(10):
        d = daemon("""
            jobs:
              - name: idle
                schedule: "0 0 1 1 *"
                command: "true"
        """, name=f"t{i}.yaml")
        d.event("ready")
        while d.proc.poll() is None:
            try:
                d.signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        assert d.wait() == 0, d.raw[-5:]
        assert d.find("stopped")


def test_bad_table_at_start_exits_2(tmp_path):
    p = tmp_path / "t.yaml"
    p.write_text("jobs:\n  - name: x\n    schedule: nope\n    command: [true]\n")
    r = subprocess.run([BIN, "run", "-c", str(p), "--state-dir", str(tmp_path / "s"),
                        "--pid-file", str(tmp_path / "pid")], capture_output=True, text=True,
                       timeout=10, env=clean_env())
    assert r.returncode == 2
    assert f"{p}:3:15:" in r.stderr


def test_reload_without_daemon(tmp_path):
    r = run("reload", "--pid-file", str(tmp_path / "none.pid"))
    assert r.returncode == 1
    assert "no pid file" in r.stderr


def test_jitter_delays_the_start_not_the_firing(daemon):
    d = daemon("""
        jobs:
          - name: jittery
            schedule: "*/3 * * * * *"
            command: 'echo $SOLOCRON_SCHEDULED_TIME'
            jitter: 2s
    """)
    jit = d.event("run_jitter", job="jittery", count=2)
    starts = d.event("run_started", job="jittery", count=2)
    outs = d.event("output", job="jittery", count=2)
    for j, s, o in zip(jit, starts, outs):
        assert s["run"] == j["run"] == o["run"]
        scheduled = utc_seconds(o["line"])
        delay = record_time(s) - scheduled
        assert 0 <= delay < 2.5, delay               # [0, jitter) plus start lag
        assert scheduled % 3 == 0                      # the firing keeps its identity
    fin = d.event("run_finished", job="jittery")
    assert utc_seconds(fin["scheduled"]) == utc_seconds(outs[0]["line"])


def test_workdir_nice_limits_umask(daemon, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    d = daemon(f"""
        jobs:
          - name: settings
            schedule: "* * * * * *"
            command: 'echo "$(pwd)|$(nice)|$(ulimit -n)|$(ulimit -Hn)|$(umask)"'
            workdir: {work}
            nice: 7
            umask: "0077"
            limits: {{nofile: {{soft: 123, hard: 456}}}}
    """)
    cwd, niceness, soft, hard, umask = d.output("settings").split("|")
    assert cwd == str(work)
    assert niceness == "7"
    assert (soft, hard) == ("123", "456")
    assert umask == "0077"


def test_missing_workdir_is_a_clear_failure(daemon, tmp_path):
    d = daemon(f"""
        jobs:
          - name: lost
            schedule: "* * * * * *"
            command: ["true"]
            workdir: {tmp_path}/nowhere
    """)
    rec = d.event("run_failed", job="lost")
    assert f"workdir '{tmp_path}/nowhere': No such file or directory" in rec["msg"]


def test_local_lease_two_daemons_one_run_per_firing(tmp_path):
    """Two daemons on one host with one state directory: each firing runs once."""
    ran = tmp_path / "ran"
    table = tmp_path / "t.yaml"
    table.write_text(f"""
jobs:
  - name: once
    schedule: "* * * * * *"
    command: 'echo "$SOLOCRON_SCHEDULED_TIME $SOLOCRON_RUN_ID" >> {ran}'
  - name: everywhere
    schedule: "* * * * * *"
    command: 'echo "$SOLOCRON_SCHEDULED_TIME" >> {ran}.all'
    lease: none
""")
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    a_dir.mkdir()
    b_dir.mkdir()
    state = ["--state-dir", str(tmp_path / "shared-state")]
    a = Daemon(str(table), a_dir, *state)
    b = Daemon(str(table), b_dir, *state)
    try:
        # Daemon a handles every firing: it either wins and runs it, or finds it held.
        handled = a.wait_for(lambda r: r.get("job") == "once" and
                             r.get("event") in ("run_finished", "firing_held"), count=6,
                             what="6 firings handled by daemon a")
        assert {r["event"] for r in handled} <= {"run_finished", "firing_held"}
        held = a.find("firing_held", job="once") + b.find("firing_held", job="once")
        assert held and "held by" in held[0]["msg"]
        # lease: none runs on both daemons
        a.event("run_finished", job="everywhere", count=2)
        b.event("run_finished", job="everywhere", count=2)
    finally:
        a.stop()
        b.stop()
    # they share the state file too: neither may trip over the other's save
    assert not a.find("state_save_failed") and not b.find("state_save_failed")
    lines = ran.read_text().split("\n")[:-1]
    firings = [l.split()[0] for l in lines]
    assert len(firings) >= 5
    assert len(firings) == len(set(firings)), "a firing ran twice"
    all_runs = (tmp_path / "ran.all").read_text().split()
    assert len(all_runs) > len(set(all_runs))   # the same firing on both daemons


def test_local_lease_record_is_the_proof_of_run(daemon, tmp_path):
    import socket
    second = (int(time.time()) + 2) % 60      # one firing a minute: no later claim overwrites
    d = daemon(f"""
        jobs:
          - name: proof
            schedule: "{second} * * * * *"
            command: 'exit 3'
    """)
    fin = d.event("run_finished", job="proof", timeout=70)     # a late start: the next minute
    d.stop()
    _, rec = local_slot(tmp_path / "state", "proof")
    assert rec["job"] == "proof" and rec["run"] == fin["run"]
    assert rec["scheduled"] == fin["scheduled"]
    assert rec["status"] == "failed" and rec["exit_status"] == 3
    assert rec["holder"] == socket.gethostname() and rec["pid"] == d.proc.pid
    assert rec["token"] >= 1 and rec["attempt"] == 1


def test_lease_key_and_fencing_token_reach_the_job(daemon):
    d = daemon("""
        jobs:
          - name: fenced
            schedule: "* * * * * *"
            command: 'echo "$SOLOCRON_LEASE_KEY|$SOLOCRON_FENCING_TOKEN"'
    """)
    first, second = d.output("fenced", count=2)
    key, token = first.split("|")
    assert key.endswith("/leases/jobs.lease#fenced@" + key.split("@")[-1])
    assert int(second.split("|")[1]) == int(token) + 1   # increases with every holder
