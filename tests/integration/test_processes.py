# SPDX-License-Identifier: MIT
"""What a job leaves behind, what it may see, and who it runs as: process groups after a
timeout, a shutdown or a SIGKILLed daemon; SIGPIPE; the daemon's secrets; user lookups."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import BIN, Daemon, clean_env
from test_run import record_time

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def group_members(pgid):
    """Live (not zombie) processes whose process group is pgid."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry))
    return found


def wait_group_empty(pgid, timeout=5):
    """Processes die asynchronously after a SIGKILL: wait for it, up to timeout."""
    deadline = time.monotonic() + timeout
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return group_members(pgid)


def started_pgid(d, job):
    """The process group of job's first run (its first process's pid)."""
    start = d.event("run_started", job=job)
    return int(start["msg"].split("pid=")[1].split()[0])


def private_workdir():
    """A directory nobody (uid 65534) can use: pytest's own are private to root."""
    work = tempfile.mkdtemp(prefix="solocron-test-")
    os.chmod(work, 0o777)
    return work


# --- process groups ------------------------------------------------------------------


# A child that ignores SIGTERM, and says so once it does (the runs are signalled at once).
IMMUNE = ("(trap '' TERM; echo > $SOLOCRON_RUN_ID.armed; exec sleep 300) & "
          "while [ ! -e $SOLOCRON_RUN_ID.armed ]; do sleep 0.01; done; echo armed; ")


def test_timed_out_run_leaves_no_process_behind(daemon, tmp_path):
    # The leader obeys SIGTERM; its child ignores it. The SIGKILL escalation goes on after
    # the leader's exit, and the run ends only then: overlap: skip cannot start a copy
    # beside a survivor.
    d = daemon(f"""
        jobs:
          - name: stubborn
            schedule: "*/3 * * * * *"
            timeout: 1s
            kill_after: 1s
            workdir: {tmp_path}
            command: "{IMMUNE} sleep 303"
    """)
    pgid = started_pgid(d, "stubborn")
    d.event("run_timeout", job="stubborn")
    killed = d.event("run_killed", job="stubborn")
    assert f"process group {pgid}" in killed["msg"]
    fin = d.event("run_finished", job="stubborn")
    assert fin["result"] == "timed_out"
    assert not wait_group_empty(pgid), "the SIGTERM-immune child outlived its run"
    # Killed at the end of kill_after after the timeout, not earlier.
    assert float(fin["duration"].rstrip("s")) >= 2.0
    assert not d.find("firing_skipped", job="stubborn")


def test_leftovers_of_a_successful_job_are_stopped(daemon, tmp_path):
    # Policy (as systemd's KillMode=control-group): the run is its process group; what the
    # job left running there gets SIGTERM when it exits, SIGKILL after kill_after.
    d = daemon(f"""
        jobs:
          - name: leaver
            schedule: "*/2 * * * * *"
            kill_after: 1s
            workdir: {tmp_path}
            command: "sleep 301 & {IMMUNE}"
    """)
    pgid = started_pgid(d, "leaver")
    d.event("run_leftovers", job="leaver")
    fin = d.event("run_finished", job="leaver")
    assert fin["result"] == "succeeded" and fin["status"] == "0"
    assert d.find("run_killed", job="leaver"), "\n".join(d.raw)  # the TERM-immune one
    assert not wait_group_empty(pgid)


def test_shutdown_kills_what_the_leader_left(daemon, tmp_path):
    # The leader exits on SIGTERM, its child does not: the daemon waits for the group and
    # SIGKILLs it at the end of the shutdown grace; nothing outlives the daemon.
    d = daemon(f"""
        shutdown_grace: 1s
        jobs:
          - name: long
            schedule: "* * * * * *"
            workdir: {tmp_path}
            command: "{IMMUNE} sleep 302"
    """)
    pgid = started_pgid(d, "long")
    d.event("output", job="long")
    d.signal(signal.SIGTERM)
    assert d.wait(timeout=15) == 0
    fin = d.find("run_finished", job="long")[0]
    assert fin["result"] == "terminated"
    assert not wait_group_empty(pgid), "a job's process outlived the daemon"


# --- jobs started off the loop (daemon/proc/spawn_queue.c) ------------------------------
# The test hook SOLOCRON_TEST_SPAWN_ANSWER_DELAY_MS holds the spawn thread's answer back, so
# that what can happen between a child's exec and the loop hearing of it does happen.


def test_jobs_that_exit_before_their_start_is_heard_of(daemon, tmp_path):
    # 40 jobs due at once exit at once, each with its own status, while their starts are
    # still on their way: the reaper has reaped them, and keeps each exit for its run.
    jobs = "".join(f"""
          - name: quick{i}
            schedule: "*/2 * * * * *"
            command: "exit {i + 1}"
""" for i in range(40))
    d = daemon("jobs:" + jobs, "--log-level", "debug",
               env=clean_env(SOLOCRON_TEST_SPAWN_ANSWER_DELAY_MS="300"))
    for i in range(40):
        fin = d.event("run_finished", job=f"quick{i}", timeout=30)
        assert fin["result"] == "failed" and fin["status"] == str(i + 1), fin
    assert not d.find("orphan_reaped"), "a job's exit was taken for an orphan's"


def stop_before_start_is_heard_of(d, job, has_started):
    """SIGTERM d once job's process runs (has_started() says so) but before the loop has
    heard of its start (the answer held back); d exits with 0."""
    d.event("firing_won", job=job, timeout=20)
    deadline = time.monotonic() + 5
    while not has_started():
        assert time.monotonic() < deadline, "the job did not start"
        time.sleep(0.01)
    assert not d.find("run_started", job=job)
    d.signal(signal.SIGTERM)
    assert d.wait(timeout=15) == 0


def test_shutdown_while_a_job_is_being_started(daemon, tmp_path):
    # SIGTERM reaches the daemon between the child's exec and the loop hearing of it: the
    # run is stopped as soon as it is heard of, and the daemon exits without waiting for
    # the job's own end (it would sleep for 300 s).
    d = daemon(f"""
        jobs:
          - name: slow-start
            schedule: "*/2 * * * * *"
            workdir: {tmp_path}
            command: "echo > started; exec sleep 300"
    """, "--log-level", "debug", env=clean_env(SOLOCRON_TEST_SPAWN_ANSWER_DELAY_MS="1500"))
    stop_before_start_is_heard_of(d, "slow-start", lambda: (tmp_path / "started").exists())
    pgid = started_pgid(d, "slow-start")
    fin = d.find("run_finished", job="slow-start")[0]
    assert fin["result"] == "terminated" and fin["status"] == "SIGTERM", fin
    assert not wait_group_empty(pgid), "a job's process outlived the daemon"


def test_shutdown_grace_holds_for_a_job_being_started(daemon, tmp_path):
    # Stopped while being started, the run gets what the shutdown gives a running one:
    # SIGTERM, then SIGKILL at the end of shutdown_grace (3 s), not after its kill_after.
    d = daemon(f"""
        shutdown_grace: 3s
        jobs:
          - name: stubborn
            schedule: "*/2 * * * * *"
            kill_after: 1s
            workdir: {tmp_path}
            command: "{IMMUNE} sleep 303"
    """, "--log-level", "debug", env=clean_env(SOLOCRON_TEST_SPAWN_ANSWER_DELAY_MS="1500"))
    stop_before_start_is_heard_of(d, "stubborn", lambda: list(tmp_path.glob("*.armed")))
    stopping = record_time(d.find("stopping")[0])
    killed = record_time(d.find("run_killed", job="stubborn")[0])
    assert killed - stopping >= 2.5, (stopping, killed)
    assert d.find("run_finished", job="stubborn")[0]["result"] == "terminated"


def sigkill_daemon_with_job(tmp_path, command, env):
    table = tmp_path / "t.yaml"
    table.write_text(f"""
jobs:
  - name: victim
    schedule: "* * * * * *"
    command: {command}
""")
    d = Daemon(str(table), tmp_path, env=env)
    pgid = started_pgid(d, "victim")
    d.event("output", job="victim")             # its shell has started the children
    assert group_members(pgid)
    d.proc.kill()
    d.proc.wait()
    return d, pgid


def test_sigkilled_daemon_takes_its_jobs_along(tmp_path):
    # Neither PID 1 nor under systemd: the guard process kills the job's whole group.
    d, pgid = sigkill_daemon_with_job(
        tmp_path, "'sleep 300 & sleep 301 & echo started; wait'", clean_env())
    assert not wait_group_empty(pgid), "the job runs on after its daemon was SIGKILLed"
    d.thread.join(timeout=5)
    assert any("the daemon is gone; killing 1 process group" in l for l in d.raw)


def test_the_guard_starts_with_the_first_job(daemon):
    # Nothing to guard before a job runs: no guard process until the first one starts.
    second = (int(time.time()) + 3) % 60
    d = daemon(f"""
        jobs:
          - name: later
            schedule: "{second} * * * * *"
            command: ["true"]
    """)
    d.event("ready")

    def guards():
        # The daemon's children by their PPid in /proc (its task's `children` file can miss
        # one while another child exits), and which of them run `solocron guard`.
        out = []
        for k in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{k}/stat", "rb") as f:
                    ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
                if ppid == d.pid():
                    with open(f"/proc/{k}/cmdline", "rb") as f:
                        out.append(f.read().split(b"\0")[1:2] == [b"guard"])
            except (FileNotFoundError, ProcessLookupError):
                pass
        return sum(out)

    assert guards() == 0
    d.event("run_finished", job="later", timeout=70)
    # Read again until it shows (a loaded machine has twice shown none at the first look,
    # with no guard_failed or guard_exited logged); one guard, never two.
    deadline = time.monotonic() + 10
    while guards() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert guards() == 1, [r for r in d.records if "guard" in r.get("event", "")]


def test_sigkilled_daemon_parent_death_signal(tmp_path):
    # Under systemd ($INVOCATION_ID) there is no guard (the unit's cgroup is killed); the
    # job's own process still dies with the daemon (PR_SET_PDEATHSIG).
    d, pgid = sigkill_daemon_with_job(
        tmp_path, "['/bin/sh', '-c', 'echo started; exec sleep 300']",
        clean_env(INVOCATION_ID="0123456789abcdef"))
    assert not wait_group_empty(pgid), "the job's process survived its daemon"


# --- signals and descriptors ---------------------------------------------------------


def test_closed_log_pipe_does_not_kill_the_daemon(tmp_path):
    # `solocron run | head -2`: the daemon keeps running when its log is gone, and still
    # stops cleanly; its jobs get SIGPIPE at its default action.
    marks = tmp_path / "marks"
    table = tmp_path / "t.yaml"
    table.write_text(f"""
jobs:
  - name: ticker
    schedule: "* * * * * *"
    command: 'echo tick >> {marks}; grep ^SigIgn: /proc/self/status >> {marks}; yes | head -1'
""")
    pid_file = tmp_path / "solocron.pid"
    proc = subprocess.Popen([BIN, "run", "-c", str(table), "--state-dir", str(tmp_path / "state"),
                             "--pid-file", str(pid_file), "--log-format", "json"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=clean_env())
    try:
        for _ in range(2):
            proc.stderr.readline()
        proc.stderr.close()                     # what `head -2` does
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (not marks.exists() or
                                               marks.read_text().count("tick") < 3):
            time.sleep(0.1)
        assert proc.poll() is None, f"the daemon died with status {proc.returncode}"
        assert marks.read_text().count("tick") >= 3
        ignored = int(marks.read_text().splitlines()[1].split()[1], 16)
        assert not ignored & (1 << (signal.SIGPIPE - 1)), "a job inherited an ignored SIGPIPE"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert not pid_file.exists()
        assert (tmp_path / "state" / "state.json").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --- the daemon's secrets ------------------------------------------------------------


SECRETS = dict(AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI",
               AWS_SESSION_TOKEN="session-token", AWS_CONTAINER_AUTHORIZATION_TOKEN="ecs-token",
               LEASE_PREFIX_VAR="from-lease-section", APP_SETTING="app")
SHOW = ('echo "$AWS_ACCESS_KEY_ID|$AWS_SECRET_ACCESS_KEY|$AWS_SESSION_TOKEN|'
        '$AWS_CONTAINER_AUTHORIZATION_TOKEN|$LEASE_PREFIX_VAR|$APP_SETTING|$SOLOCRON_LEASE"')


def test_jobs_do_not_get_what_the_lease_consumes(daemon, tmp_path):
    # An S3 lease (its store is not reachable here: the jobs have lease: none) reads the
    # AWS credential chain and, through ${...}, LEASE_PREFIX_VAR. Jobs get neither, unless
    # they keep it; the rest of the container's environment passes through.
    main_out = tmp_path / "main.env"
    d = daemon(f"""
        lease:
          backend: s3
          bucket: b
          endpoint: http://127.0.0.1:9
          path_style: true
          prefix: ${{LEASE_PREFIX_VAR}}
        defaults:
          lease: none
        jobs:
          - name: plain
            schedule: "* * * * * *"
            command: '{SHOW}'
          - name: keeper
            schedule: "* * * * * *"
            env_keep: [AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY]
            command: '{SHOW}'
    """, "--", "/bin/sh", "-c", f'echo "$NOTIFY_SOCKET|$WATCHDOG_USEC|$APP_SETTING" > {main_out}; '
         "exec sleep 300",
        env=clean_env(**SECRETS, NOTIFY_SOCKET="/nonexistent/notify", WATCHDOG_USEC="1000000000"))
    withheld = d.event("env_withheld")
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "LEASE_PREFIX_VAR"):
        assert name in withheld["msg"]
    assert d.output("plain") == "|||||app|none"
    assert d.output("keeper") == "AKIDEXAMPLE|wJalrXUtnFEMI||||app|none"
    deadline = time.monotonic() + 10
    while not main_out.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert main_out.read_text() == "||app\n"       # the service manager's are the daemon's


@needs_root
def test_user_job_never_gets_the_secrets(daemon):
    d = daemon(f"""
        lease:
          backend: s3
          bucket: b
          endpoint: http://127.0.0.1:9
          path_style: true
          prefix: ${{LEASE_PREFIX_VAR}}
        defaults:
          lease: none
          env_keep: [AWS_SECRET_ACCESS_KEY, LEASE_PREFIX_VAR]
        jobs:
          - name: as-nobody
            schedule: "* * * * * *"
            user: nobody
            command: '{SHOW}'
    """, env=clean_env(**SECRETS))
    assert d.output("as-nobody") == "|||||app|none"


# --- users ---------------------------------------------------------------------------


@needs_root
def test_non_root_daemon_runs_jobs_as_its_own_user():
    # user: naming the daemon's own user needs no switch (initgroups would fail: EPERM).
    work = private_workdir()
    path = os.path.join(work, "solocron.yaml")
    with open(path, "w") as f:
        f.write('jobs:\n  - name: self\n    schedule: "* * * * * *"\n'
                '    command: \'echo "$(id -u) $USER"\'\n    user: nobody\n    umask: "0077"\n')
    os.chmod(path, 0o644)
    d = Daemon(path, work, argv_prefix=NOBODY)
    try:
        assert d.output("self") == "65534 nobody"
        assert d.event("run_finished", job="self")["result"] == "succeeded"
    finally:
        d.stop()
        shutil.rmtree(work, ignore_errors=True)


def lowest_free_fd(pid):
    used = {int(fd) for fd in os.listdir(f"/proc/{pid}/fd")}
    return min(n for n in range(len(used) + 1) if n not in used)


@needs_root
def test_transient_user_lookup_failure_is_retried(daemon):
    # With its descriptor limit at what it holds, the daemon's lookup of user: fails with
    # EMFILE: a transient failure, tried again (not "user does not exist"), until the
    # limit is back and the job runs.
    d = daemon("""
        jobs:
          - name: as-nobody
            schedule: "*/2 * * * * *"
            user: nobody
            command: 'echo "ran as $(id -un)"'
    """)
    d.event("ready")
    hard = int(subprocess.check_output(["prlimit", "--pid", str(d.proc.pid), "--nofile",
                                        "--output=HARD", "--noheadings", "--raw"]).split()[0])
    subprocess.check_call(["prlimit", "--pid", str(d.proc.pid),
                           f"--nofile={lowest_free_fd(d.proc.pid)}:{hard}"])
    failed = d.event("lookup_failed", job="as-nobody")
    assert "cannot look up user 'nobody': Too many open files; trying again in 1s" in failed["msg"]
    # That run's own lines: a firing due before the limit was lowered may have run already.
    run = failed["run"]
    assert not d.find("run_finished", run=run)
    subprocess.check_call(["prlimit", "--pid", str(d.proc.pid), f"--nofile={hard}:{hard}"])
    assert d.event("output", job="as-nobody", run=run)["line"] == "ran as nobody"
    fin = d.event("run_finished", run=run)
    assert fin["result"] == "succeeded"
    assert not d.find("run_failed", run=run)
