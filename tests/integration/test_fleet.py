# SPDX-License-Identifier: MIT
"""Fleet-wide leases with real stores: five replicas, one run per firing."""
import calendar
import os
import signal
import time

import pytest

from conftest import Daemon, clean_env, stop_and_check
from fleet import ETCD, EtcdCluster, S3Double

RACE_SECONDS = int(os.environ.get("SOLOCRON_RACE_SECONDS", "200"))

needs_etcd = pytest.mark.skipif(not os.path.exists(ETCD), reason="etcd-server is not installed")


@pytest.fixture
def etcd():
    cluster = EtcdCluster(1)
    yield cluster
    cluster.stop()


@pytest.fixture
def replicas(tmp_path):
    """replicas(table_text, n) starts n daemons on one table, each with its own state."""
    started = []

    def start(text, n, *args, env=None, env_of=None):
        table = tmp_path / "table.yaml"
        table.write_text(text)
        for i in range(n):
            work = tmp_path / f"r{i}"
            work.mkdir()
            e = clean_env(REPLICA=f"r{i}", **(env or {}), **((env_of or {}).get(i, {})))
            started.append(Daemon(str(table), work, *args, env=e))
        for d in started:
            d.event("ready")
        return started
    yield start
    stop_and_check(started)


def etcd_lease(cluster, ttl="3s", extra=""):
    return (f"lease:\n  backend: etcd\n  endpoints: {cluster.endpoints}\n  ttl: {ttl}\n"
            f"  election_timeout: 2s\n{extra}")


def read_runs(path):
    """firing → [replica, …] from the lines jobs appended."""
    runs = {}
    if not path.exists():
        return runs
    for line in path.read_text().splitlines():
        firing, replica = line.split()[:2]
        runs.setdefault(firing, []).append(replica)
    return runs


def utc(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def race(replicas, lease, tmp_path, **kw):
    """Five replicas, a job every second for RACE_SECONDS: every firing in the window runs
    exactly once (each run appends its firing and replica to one shared file)."""
    ran = tmp_path / "ran"
    ds = replicas(lease + f"""
jobs:
  - name: tick
    schedule: "* * * * * *"
    command: 'echo "$SOLOCRON_SCHEDULED_TIME $REPLICA $SOLOCRON_FENCING_TOKEN" >> {ran}'
""", 5, "--log-level", "debug", **kw)
    start = int(time.time()) + 2
    end = start + RACE_SECONDS

    # Wait, by events, until every replica has decided the firing at `end`: it ran it,
    # found it held, or (S3: a rank that does not look, a debug line) left it to the others.
    def decided(r):
        return r.get("job") == "tick" and (
            (r.get("event") == "run_finished" and r.get("scheduled") == utc(end)) or
            (r.get("event") in ("firing_held", "firing_passed") and
             f"@{utc(end)} " in r.get("msg", "")))
    for d in ds:
        d.wait_for(decided, timeout=RACE_SECONDS + 30, what=f"the firing at {utc(end)}")
    runs = read_runs(ran)
    window = [utc(t) for t in range(start, end)]
    missing = [f for f in window if f not in runs]
    twice = {f: runs[f] for f in window if len(runs.get(f, [])) > 1}
    assert not twice, f"firings run more than once: {twice}"
    assert not missing, f"firings never run: {missing}"
    assert len(window) == RACE_SECONDS
    holders = {runs[f][0] for f in window}
    assert len(holders) >= 2        # the elections really are contested
    return ds


@needs_etcd
def test_five_replicas_one_run_per_firing_etcd(etcd, replicas, tmp_path):
    race(replicas, etcd_lease(etcd), tmp_path)


@pytest.fixture
def s3():
    double = S3Double()
    yield double
    double.stop()


S3_ENV = {"AWS_ACCESS_KEY_ID": "AKIDDOUBLE", "AWS_SECRET_ACCESS_KEY": "any-secret"}


def s3_lease(double, ttl="3s"):
    return (f"lease:\n  backend: s3\n  bucket: test-bucket\n  endpoint: {double.endpoint}\n"
            f"  path_style: true\n  ttl: {ttl}\n  election_timeout: 2s\n")


@pytest.mark.skipif(not os.environ.get("SOLOCRON_TEST_HOOKS"),
                    reason="needs a build with -Dtest_hooks=true (SOLOCRON_TEST_CLOCK_OFFSET)")
def test_five_replicas_one_run_per_firing_s3_with_skewed_clocks(s3, replicas, tmp_path):
    # Two replicas believe the time is an hour off; expiry is judged by the server's clock,
    # so they never take a live lease.
    skew = {1: {"SOLOCRON_TEST_CLOCK_OFFSET": "3600"}, 3: {"SOLOCRON_TEST_CLOCK_OFFSET": "-3600"}}
    race(replicas, s3_lease(s3), tmp_path, env=S3_ENV, env_of=skew)


def test_slow_election_does_not_skip_the_next_firing(replicas, tmp_path):
    # Every conditional write takes 2.3 s, so each firing's election outlasts the two-second
    # period: the next firing comes while the previous one is still electing. That run has
    # started nothing, so overlap: skip must not drop the new firing (the other replicas
    # would have stood down on it: lost fleet-wide). The run itself (an echo) has 1.7 s to
    # end before the firing after next: on a loaded machine under ASan a shorter margin let a
    # slow run make a legitimate skip.
    double = S3Double("--conflict-window-ms", "2300")
    try:
        ran = tmp_path / "ran"
        d, = replicas(s3_lease(double) + f"""
jobs:
  - name: tick
    schedule: "*/2 * * * * *"
    command: 'echo "$SOLOCRON_SCHEDULED_TIME" >> {ran}'
""", 1, env=S3_ENV)
        # The start-up probe takes four slow writes, and claims wait for it: count from the
        # first firing won.
        d.event("firing_won", timeout=40)
        start = (int(time.time()) // 2 + 1) * 2
        end = start + 8
        d.wait_for(lambda r: r.get("event") == "run_finished" and r.get("scheduled") == utc(end),
                   timeout=40, what=f"the firing at {utc(end)}")
        done = ran.read_text().split()
        assert all(utc(t) in done for t in range(start, end + 1, 2)), done
        assert not d.find("firing_skipped")
        d.stop()
    finally:
        double.stop()


def test_s3rver_is_refused_by_the_probe(replicas, tmp_path):
    s3rver = "/opt/solocron-test-deps/node_modules/s3rver/bin/s3rver.js"
    if not os.path.exists(s3rver):
        pytest.skip("s3rver is not installed (tests/install-deps installs it)")
    import subprocess
    from fleet import free_port
    port = free_port()
    data = tmp_path / "s3rver"
    data.mkdir()
    server = subprocess.Popen(["node", s3rver, "-a", "127.0.0.1", "-p", str(port), "-d", str(data),
                               "--configure-bucket", "test-bucket", "--silent"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        ds = replicas(f"""
lease:
  backend: s3
  bucket: test-bucket
  endpoint: http://127.0.0.1:{port}
  path_style: true
  election_timeout: 5s
jobs:
  - name: j
    schedule: "* * * * * *"
    command: ["true"]
""", 1, env={"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER"})
        rec = ds[0].event("lease_unavailable", job="j", timeout=20)
        assert "ignores conditional writes" in rec["msg"]
        assert not ds[0].find("run_started", job="j")
    finally:
        server.terminate()
        server.wait(timeout=10)


@needs_etcd
def test_holder_killed_mid_run_is_taken_over(etcd, replicas, tmp_path):
    ran = tmp_path / "ran"
    t = int(time.time()) + 4
    sec, minute, hour = time.gmtime(t).tm_sec, time.gmtime(t).tm_min, time.gmtime(t).tm_hour
    ds = replicas(etcd_lease(etcd, ttl="3s") + f"""
jobs:
  - name: long
    schedule: "{sec} {minute} {hour} * * *"
    command: 'echo "$SOLOCRON_SCHEDULED_TIME $REPLICA $SOLOCRON_ATTEMPT $SOLOCRON_FENCING_TOKEN" >> {ran}; echo up; exec sleep 60'
    takeover: true
""", 3)
    # The winner starts it; kill the winner and its job, as when its machine dies (once the
    # job has said it is up: its line is in the file).
    holder = None
    deadline = time.monotonic() + 15
    while holder is None and time.monotonic() < deadline:
        for d in ds:
            if d.find("output", job="long"):
                holder = d
        time.sleep(0.05)
    assert holder, "nobody started the job"
    pid = int(holder.find("run_started", job="long")[0]["msg"].split("pid=")[1].split()[0])
    killed_at = time.monotonic()
    holder.proc.send_signal(signal.SIGKILL)
    os.killpg(pid, signal.SIGKILL)
    survivors = [d for d in ds if d is not holder]
    taken = None
    while taken is None and time.monotonic() < killed_at + 3 + 2 + 5:
        for d in survivors:
            if d.find("run_started", job="long"):
                taken = d
        time.sleep(0.05)
    assert taken, "no survivor took the firing over"
    assert time.monotonic() - killed_at <= 3 + 2 + 1.0   # within TTL + 2 s (+ polling slack)
    taken.event("output", job="long")
    lines = ran.read_text().splitlines()
    assert len(lines) == 2
    first, second = (l.split() for l in lines)
    assert first[0] == second[0] == utc(t)
    assert second[2] == "2" and int(second[3]) > int(first[3])
    # exactly one survivor runs it
    assert sum(1 for d in survivors if d.find("run_started", job="long")) == 1


@needs_etcd
@pytest.mark.parametrize("takeover", [False, True])
def test_late_replica_finds_the_holder_dead(etcd, replicas, tmp_path, takeover):
    # The holder dies mid-run; its key goes with its lease. A replica that only now claims the
    # firing (it was down and catches up) must not run it again as if it were new: it stands
    # down, and with takeover: it takes the firing over (attempt 2), as a live watcher would.
    ran = tmp_path / "ran"
    t = int(time.time()) + 4
    g = time.gmtime(t)
    holder, = replicas(etcd_lease(etcd, ttl="2s") + f"""
jobs:
  - name: long
    schedule: "{g.tm_sec} {g.tm_min} {g.tm_hour} * * *"
    command: 'echo "$SOLOCRON_SCHEDULED_TIME $REPLICA $SOLOCRON_ATTEMPT $SOLOCRON_FENCING_TOKEN" >> {ran}; echo up; exec sleep 60'
    catch_up: 1m
    takeover: {"true" if takeover else "false"}
""", 1)
    rec = holder.event("run_started", job="long", timeout=15)
    pid = int(rec["msg"].split("pid=")[1].split()[0])
    holder.event("output", job="long")      # its line is in `ran`
    holder.proc.send_signal(signal.SIGKILL)
    os.killpg(pid, signal.SIGKILL)
    etcd.wait_deleted(f"solocron/long/{utc(t)}")

    # The late replica: down at the firing, its state says it last ran the day before.
    work = tmp_path / "late"
    (work / "state").mkdir(parents=True)
    (work / "state" / "state.json").write_text(
        '{"version": 1, "jobs": {"long": {"last_completed": "%s"}}}' % utc(t - 86400))
    late = Daemon(str(tmp_path / "table.yaml"), work, env=clean_env(REPLICA="late"))
    try:
        held = late.event("firing_held", job="long", timeout=15)
        assert f"long@{utc(t)} held by " in held["msg"], held["msg"]
        assert held["msg"].endswith(" (its lease expired)"), held["msg"]
        if not takeover:
            assert not late.find("run_started", job="long")
            assert len(ran.read_text().splitlines()) == 1
            return
        late.event("output", job="long", timeout=10)
        first, second = (line.split() for line in ran.read_text().splitlines())
        assert first[0] == second[0] == utc(t)
        assert second[1] == "late" and second[2] == "2" and int(second[3]) > int(first[3])
    finally:
        late.stop()


@needs_etcd
@pytest.mark.parametrize("policy", ["kill", "continue"])
def test_store_stopped_mid_run_on_lease_lost(etcd, replicas, tmp_path, policy):
    t = int(time.time()) + 3
    g = time.gmtime(t)
    ds = replicas(etcd_lease(etcd, ttl="2s") + f"""
jobs:
  - name: lasting
    schedule: "{g.tm_sec} {g.tm_min} {g.tm_hour} * * *"
    command: 'echo up; exec sleep 20'
    on_lease_lost: {policy}
    kill_after: 1s
""", 1)
    d = ds[0]
    d.event("output", job="lasting")
    etcd.stop()
    lost = d.event("lease_lost", job="lasting", timeout=15)
    assert "LEASE LOST" in lost["msg"]
    if policy == "kill":
        fin = d.event("run_finished", job="lasting", timeout=10)
        assert fin["result"] == "terminated"
    else:
        assert "(on_lease_lost: continue)" in lost["msg"]
        assert not d.find("run_finished", job="lasting")


@needs_etcd
def test_etcd_unreachable_at_start_is_a_clear_per_firing_error(replicas, tmp_path):
    from fleet import free_port
    port = free_port()
    ds = replicas(f"""
lease:
  backend: etcd
  endpoints: ["http://127.0.0.1:{port}"]
  election_timeout: 1s
jobs:
  - name: j
    schedule: "* * * * * *"
    command: ["true"]
""", 1)
    rec = ds[0].event("lease_unavailable", job="j", timeout=15)
    assert "skipping it (on_store_down: skip)" in rec["msg"]
    assert ds[0].proc.poll() is None


def at(t):
    """A schedule that fires once, at Unix time t (UTC: the tests' environment has no TZ)."""
    g = time.gmtime(t)
    return f"{g.tm_sec} {g.tm_min} {g.tm_hour} * * *"


def test_s3_late_412_is_read_with_on_store_down_run(s3, replicas, tmp_path):
    # A slow store: every losing write of the firing answers its 412 2.1 s after it was sent,
    # past election_timeout (2 s) from the claim's start. A 412 is an answer: the losers read
    # the record (within the grace after the deadline, 1 s: the write goes out after the
    # pause marker's GET, which a loaded machine can make take most of that grace) and stand
    # down instead of running the firing anyway.
    # stagger: 0: every replica writes at once (ranked, the lower ranks would read first).
    ran = tmp_path / "ran"
    t = int(time.time()) + 5
    s3.fault(action="delay", method="PUT", if_status=412, key_prefix="solocron/once/",
             delay_ms=2100, count=100)
    ds = replicas(s3_lease(s3) + "  stagger: 0\n" + f"""
jobs:
  - name: once
    schedule: "{at(t)}"
    command: 'echo "$REPLICA" >> {ran}'
    on_store_down: run
""", 4, env=S3_ENV)

    def decided(r):
        return r.get("job") == "once" and r.get("event") in (
            "run_finished", "firing_held", "lease_unavailable")
    for d in ds:
        d.wait_for(decided, timeout=30, what="the firing decided")
    for d in ds:
        assert not d.find("lease_unavailable", job="once"), d.raw[-20:]
    assert sum(1 for d in ds if d.find("firing_held", job="once")) == 3
    winner = [d for d in ds if d.find("firing_won", job="once")]
    assert len(winner) == 1
    winner[0].event("run_finished", job="once")
    assert len(ran.read_text().split()) == 1
    assert s3.stats()["statuses"].get("412", 0) >= 3


def test_s3_renewal_answer_lost_keeps_the_run(s3, replicas, tmp_path):
    # A renewal is applied but its answer never arrives (the connection closes, as when a
    # proxy loses it). The next write gets 412; the record is still ours: the run goes on and
    # its final record is written (it is not killed and left "running" in the store).
    t = int(time.time()) + 3
    d, = replicas(s3_lease(s3, ttl="3s") + f"""
jobs:
  - name: long
    schedule: "{at(t)}"
    command: 'sleep 3'
""", 1, env=S3_ENV)
    d.event("firing_won", job="long", timeout=15)
    s3.fault(action="drop", method="PUT", if_status=200, key_prefix="solocron/long/")
    fin = d.event("run_finished", job="long", timeout=20)
    assert fin["result"] == "succeeded"
    assert not d.find("lease_lost", job="long")
    assert s3.stats()["dropped"] == 1
    # The final write follows run_finished; a daemon that stops lets it complete first.
    d.stop()
    assert s3.record(f"solocron/long/{utc(t)}")["status"] == "succeeded"


def test_s3_private_ca(replicas, tmp_path):
    # lease.ca_file: an S3 endpoint (MinIO, Ceph) whose certificate a private CA signed.
    import shutil
    if not shutil.which("openssl"):
        pytest.skip("openssl(1) is needed to make a certificate")
    certs = tmp_path / "certs"
    certs.mkdir()
    double = S3Double(tls_dir=certs)
    try:
        d, = replicas(s3_lease(double) + f"""  ca_file: {double.ca_file}
jobs:
  - name: tick
    schedule: "* * * * * *"
    command: ["true"]
""", 1, env=S3_ENV)
        d.event("firing_won", job="tick", timeout=15)
        d.event("run_finished", job="tick")
        assert not d.find("lease_unavailable")
        d.stop()
    finally:
        double.stop()


def assert_started_in_its_second(record, scheduled):
    """A record's start is never before its firing: a coarse clock read right after the
    second boundary named the second before."""
    started = calendar.timegm(time.strptime(record["started"], "%Y-%m-%dT%H:%M:%SZ"))
    assert started >= scheduled, (record["started"], utc(scheduled))


@needs_etcd
def test_records_never_start_before_their_firing(etcd, s3, replicas, tmp_path):
    import json
    etcd_ds = replicas(etcd_lease(etcd) + """
jobs:
  - name: tick
    schedule: "* * * * * *"
    command: ["true"]
""", 1)
    fins = etcd_ds[0].event("run_finished", job="tick", count=3)
    for fin in fins:
        t = calendar.timegm(time.strptime(fin["scheduled"], "%Y-%m-%dT%H:%M:%SZ"))
        record = json.loads(etcd.range(f"solocron/tick/{fin['scheduled']}"))
        assert_started_in_its_second(record, t)

    table = tmp_path / "s3.yaml"
    table.write_text(s3_lease(s3) + """
jobs:
  - name: tock
    schedule: "* * * * * *"
    command: ["true"]
""")
    work = tmp_path / "s3-replica"
    work.mkdir()
    d = Daemon(str(table), work, env=clean_env(**S3_ENV))
    try:
        fins = d.event("run_finished", job="tock", count=3)
        for fin in fins:
            t = calendar.timegm(time.strptime(fin["scheduled"], "%Y-%m-%dT%H:%M:%SZ"))
            assert_started_in_its_second(s3.record(f"solocron/tock/{fin['scheduled']}"), t)
    finally:
        d.stop()


@needs_etcd
def test_store_down_run_says_so_in_the_environment(replicas, tmp_path):
    # on_store_down: run starts the firing without a lease: the job knows (no fencing
    # token, SOLOCRON_LEASE=unavailable), while a job with skip does not run.
    from fleet import free_port
    port = free_port()
    ds = replicas(f"""
lease:
  backend: etcd
  endpoints: ["http://127.0.0.1:{port}"]
  election_timeout: 1s
jobs:
  - name: eager
    schedule: "* * * * * *"
    on_store_down: run
    command: 'echo "lease=$SOLOCRON_LEASE token=$SOLOCRON_FENCING_TOKEN"'
  - name: careful
    schedule: "* * * * * *"
    command: ["echo", "careful ran"]
""", 1)
    rec = ds[0].event("lease_unavailable", job="eager", timeout=15)
    assert "running it anyway (on_store_down: run)" in rec["msg"]
    assert ds[0].output("eager") == "lease=unavailable token="
    skip = ds[0].event("lease_unavailable", job="careful", timeout=15)
    assert "skipping it (on_store_down: skip)" in skip["msg"]
    assert not ds[0].find("run_started", job="careful")
