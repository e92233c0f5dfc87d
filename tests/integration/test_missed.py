# SPDX-License-Identifier: MIT
"""The fleet-wide missed-firing alarm (issue 13): a firing that ran nowhere is raised once
by the fleet (log event firing_missed_fleet, solocron_job_missed_fleet_total), whichever
replicas check it; a firing that ran, or was taken over, raises nothing. Real stores
started by the tests on 127.0.0.1: etcd, Redis, and the S3 double (a labelled test
double: s3rver ignores conditional writes, so the S3 lease refuses it)."""
import json
import os
import signal
import time

import pytest

from conftest import Daemon, clean_env
from fleet import ETCD, REDIS, EtcdCluster, RedisServer, S3Double
from test_api import check_metrics, metric, unix_request
from test_fleet import etcd_lease, utc
from test_notify import Recorder

needs_etcd = pytest.mark.skipif(not os.path.exists(ETCD), reason="etcd-server is not installed")


@pytest.fixture
def etcd():
    cluster = EtcdCluster(1)
    yield cluster
    cluster.stop()


@pytest.fixture
def fleet(tmp_path):
    """fleet(lease, jobs, n) starts n replicas (debug log, an API socket each) on one table."""
    started = []

    def start(lease, jobs, n, env=None, wait_ready=True):
        table = tmp_path / "table.yaml"
        table.write_text(lease + 'api: {socket: "${SOCK}"}\njobs:\n' + jobs)
        ds = []
        for i in range(len(started), len(started) + n):
            work = tmp_path / f"r{i}"
            work.mkdir()
            d = Daemon(str(table), work, "--log-level", "debug",
                       env=clean_env(REPLICA=f"r{i}", SOCK=str(work / "api.sock"), **(env or {})))
            d.sock = str(work / "api.sock")
            started.append(d)
            ds.append(d)
        if wait_ready:
            for d in ds:
                d.event("ready")
        return ds
    yield start
    from conftest import stop_and_check
    stop_and_check(started)


def at_second(t):
    g = time.gmtime(t)
    return f"{g.tm_sec} {g.tm_min} {g.tm_hour} * * *"


def wait_any(ds, event, timeout=20, **fields):
    """The first replica of ds that logs event."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for d in ds:
            if d.find(event, **fields):
                return d
        time.sleep(0.05)
    raise AssertionError(f"no replica logged {event} {fields}; logs:\n" +
                         "\n---\n".join("\n".join(d.raw[-30:]) for d in ds))


def checks(d, what):
    return [r for r in d.find("missed_check") if what in r.get("msg", "")]


def wait_checks(ds, what, count, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(len(checks(d, what)) for d in ds) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} checks said '{what}'; logs:\n" +
                         "\n---\n".join("\n".join(d.raw[-30:]) for d in ds))


def kill_holder(ds, job):
    """SIGKILL the replica that runs job, and the job's process group, as when its machine
    dies; returns the survivors."""
    holder = wait_any(ds, "run_started", job=job)
    pid = int(holder.find("run_started", job=job)[0]["msg"].split("pid=")[1].split()[0])
    holder.event("output", job=job)     # it really runs
    holder.proc.send_signal(signal.SIGKILL)
    holder.proc.wait()
    os.killpg(pid, signal.SIGKILL)
    return [d for d in ds if d is not holder]


def dechunk(body):
    """A chunked HTTP/1.1 body's bytes."""
    out = b""
    while True:
        size, _, rest = body.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            return out
        out += rest[:n]
        body = rest[n + 2:]


def missed_metric(d, job):
    status, body = unix_request(d.sock, "GET", "/metrics")
    assert status == 200
    body = dechunk(body)
    check_metrics(body)
    return metric(body, "solocron_job_missed_fleet_total", job=job)


def assert_one_alarm(survivors, job, t, fleet=(), ranked=False):
    """Exactly one replica raised job's firing t; the others saw it raised elsewhere. The
    events are counted across the logs of the whole fleet (the killed holder's too). ranked:
    the store knows the members (etcd, S3), so only the survivor ranked first for the firing
    (its holder left out) checks it: one request for the fleet, not one per replica."""
    raiser = wait_any(survivors, "firing_missed_fleet", job=job, timeout=30)
    if not ranked:
        wait_checks(survivors, "raised by another replica", len(survivors) - 1)
    alarms = [r for d in set(survivors) | set(fleet) for r in d.find("firing_missed_fleet")]
    assert len(alarms) == 1, alarms
    assert utc(t) in alarms[0]["msg"] and "ran nowhere in the fleet" in alarms[0]["msg"]
    for d in survivors:
        assert missed_metric(d, job) == (1 if d is raiser else 0)
    # the firing-missed-while-down counter is another thing (the job under test only: a
    # daemon stalled for seconds on a loaded machine rightly skips its tick helper's firings)
    assert all(not d.find("firing_missed", job=job) for d in survivors)
    if ranked:
        for d in survivors:     # their logs complete: a check would have been logged by now
            d.stop()
        checkers = [d for d in survivors
                    if any(utc(t) in r["msg"] for r in d.find("missed_check", job=job)) or
                    d.find("firing_missed_fleet", job=job)]
        assert checkers == [raiser], [[line for line in d.raw if utc(t) in line or "member" in line]
                                      for d in survivors]


def settled_firing():
    """A firing far enough ahead that the whole fleet has joined and every replica lists
    every member before it (CI's loaded machine has taken seconds to start three): the
    replicas rank the same members for it, and only the first-ranked survivor checks."""
    return int(time.time()) + 8


def long_job(t, takeover="false", missed_after="3s", command="echo up; exec sleep 60"):
    return (f"  - name: long\n    schedule: \"{at_second(t)}\"\n    command: '{command}'\n"
            f"    takeover: {takeover}\n    missed_after: {missed_after}\n")


@needs_etcd
def test_winner_killed_without_takeover_raises_one_alarm(etcd, fleet):
    t = settled_firing()
    ds = fleet(etcd_lease(etcd, ttl="2s"), long_job(t), 3)
    survivors = kill_holder(ds, "long")
    assert_one_alarm(survivors, "long", t, ds, ranked=True)


@needs_etcd
def test_the_alarm_is_told_once_to_webhooks_and_hooks(etcd, fleet, tmp_path):
    """The replica that raises the alarm tells the job's notifications, once for the fleet:
    a webhook whose on: lists missed, and on_failure with SOLOCRON_RESULT=missed."""
    server = Recorder(secret=b"")
    try:
        out = tmp_path / "hook-runs"
        t = settled_firing()
        jobs = long_job(t) + (
            f"    notify: [{{url: {server.url('/alarm')}, on: [missed]}}]\n"
            f"    on_failure: 'echo \"$SOLOCRON_RESULT $SOLOCRON_JOB $SOLOCRON_SCHEDULED_TIME\" >> {out}'\n")
        ds = fleet(etcd_lease(etcd, ttl="2s"), jobs, 3)
        survivors = kill_holder(ds, "long")
        raiser = wait_any(survivors, "hook_finished", job="long", timeout=30)
        hooks = server.wait(lambda r: r["path"] == "/alarm")
        body = json.loads(hooks[0]["body"])
        assert body["event"] == "missed" and body["job"] == "long" and body["run_id"] is None
        assert open(out).read().split() == ["missed", "long", utc(t)]
        # once: no other replica tells anyone
        assert all(not d.find("hook_finished") for d in survivors if d is not raiser)
        assert len(server.matching(lambda r: r["path"] == "/alarm")) == 1
        assert_one_alarm(survivors, "long", t, ds, ranked=True)
    finally:
        server.close()


@needs_etcd
def test_firing_that_ran_raises_nothing(etcd, fleet):
    # The losers see the holder running; the first-ranked of them checks (at t + 1 s) and
    # watches it until its final record: it ran, nothing is raised.
    t = settled_firing()
    ds = fleet(etcd_lease(etcd), long_job(t, missed_after="1s", command="sleep 2"), 3)
    winner = wait_any(ds, "run_finished", job="long", timeout=20)
    assert winner.find("run_finished", job="long")[0].get("result") == "succeeded"
    losers = [d for d in ds if d is not winner]
    wait_checks(losers, "it ran", 1)
    assert not checks(winner, "")       # its own run is never checked
    assert all(not d.find("firing_missed_fleet") for d in ds)
    assert all(missed_metric(d, "long") == 0 for d in ds)
    for d in ds:                        # their logs complete: one loser checked, not both
        d.stop()
    assert sum(1 for d in losers if checks(d, "")) == 1


@needs_etcd
def test_takeover_that_ran_raises_nothing(etcd, fleet):
    # The holder dies; a survivor takes the firing over (attempt 2 ends at once). One
    # replica checks, the survivor ranked first for the firing: the other survivor, whose
    # check waits for the takeover and finds it ran (whether it still saw the dead holder or
    # already the taker is a matter of milliseconds), or the taker, which forgets its check
    # when it wins the takeover.
    t = int(time.time()) + 4
    cmd = 'echo up; [ "$SOLOCRON_ATTEMPT" = 2 ] && exit 0; exec sleep 60'
    ds = fleet(etcd_lease(etcd, ttl="2s"), long_job(t, takeover="true", missed_after="2s",
                                                    command=cmd), 3)
    survivors = kill_holder(ds, "long")
    wait_any(survivors, "run_finished", job="long", timeout=20)
    deadline = time.monotonic() + 40
    while not any(checks(d, "it ran") or checks(d, "taken over here") for d in survivors):
        assert time.monotonic() < deadline, "\n---\n".join("\n".join(d.raw[-30:]) for d in survivors)
        time.sleep(0.05)
    assert all(not d.find("firing_missed_fleet") for d in survivors)
    assert all(missed_metric(d, "long") == 0 for d in survivors)


def two_instants_job(t0, t, missed_after="6s"):
    """A job at the seconds of t0 and t of every minute (t - t0 < 60)."""
    return (f"  - name: long\n    schedule: \"{t0 % 60},{t % 60} * * * * *\"\n"
            f"    command: 'true'\n    missed_after: {missed_after}\n")


def wait_past(t):
    while time.time() < t:
        time.sleep(0.05)


@needs_etcd
def test_fleet_down_at_the_instant_is_raised_once_by_a_late_replica(etcd, fleet):
    # The fleet ran the job at t0, then went down: nobody is up at t. Two replicas start
    # after t, before t + missed_after (t0 is before that window): the one ranked first for
    # the firing checks it, finds that the fleet had run the job's firing before the window
    # (t0), and raises it once. A third, started after t + missed_after, does not check it.
    t0 = int(time.time()) + 2
    t = t0 + 7
    first, = fleet(etcd_lease(etcd), two_instants_job(t0, t), 1)
    first.event("run_finished", job="long")
    first.stop()
    wait_past(t + 1)                    # the instant has passed with no daemon up
    late = fleet(etcd_lease(etcd), two_instants_job(t0, t), 2)
    assert t0 < time.time() - 6 and time.time() < t + 6
    assert_one_alarm(late, "long", t, ranked=True)
    after, = fleet(etcd_lease(etcd), two_instants_job(t0, t), 1)
    assert not checks(after, "")
    assert not after.find("firing_missed_fleet")


@needs_etcd
def test_a_new_fleet_raises_nothing_for_firings_before_it_started(etcd, fleet):
    # A fleet's first start, just after a firing: nobody claimed it, but nobody ran the job
    # before either (its previous firing a minute earlier has no record): no miss. The
    # replica ranked first asks; the three start together, and one whose view of the members
    # is not complete yet may rank itself first too (seen once under ASan: two asked). The
    # alarm marker's conditional write keeps a raise to one whatever they believe.
    t = int(time.time()) + 1
    wait_past(t + 1)
    ds = fleet(etcd_lease(etcd), two_instants_job(t - 30, t), 3)
    wait_checks(ds, "a new fleet or job", 1)
    for d in ds:
        d.stop()
    asked = [len(checks(d, "a new fleet or job")) for d in ds]
    assert 1 <= sum(asked) and max(asked) == 1, asked
    assert all(not d.find("firing_missed_fleet") for d in ds)


@needs_etcd
def test_store_down_at_the_check_says_so_and_raises_nothing(etcd, fleet):
    # The holder dies, and so does the store: the survivor cannot tell whether the firing
    # ran. It asks three times, then says so (missed_check_failed); no alarm, no crash.
    t = int(time.time()) + 4
    ds = fleet(etcd_lease(etcd, ttl="2s"), long_job(t, missed_after="2s"), 2)
    survivor, = kill_holder(ds, "long")
    etcd.stop()
    rec = survivor.event("missed_check_failed", job="long", timeout=40)
    assert utc(t) in rec["msg"] and "cannot tell whether firing" in rec["msg"], rec["msg"]
    assert not survivor.find("firing_missed_fleet")
    assert survivor.proc.poll() is None
    assert missed_metric(survivor, "long") == 0


# ---- other stores: the SIGKILLed winner ----

@pytest.fixture
def redis():
    if not os.path.exists(REDIS):
        pytest.skip("redis-server is not installed")
    server = RedisServer()
    yield server
    server.stop()


def test_winner_killed_without_takeover_raises_one_alarm_redis(redis, fleet):
    t = settled_firing()
    lease = (f"lease:\n  backend: redis\n  endpoints: [\"redis://127.0.0.1:{redis.port}/0\"]\n"
             f"  ttl: 2s\n  election_timeout: 2s\n")
    ds = fleet(lease, long_job(t), 3)
    survivors = kill_holder(ds, "long")
    assert_one_alarm(survivors, "long", t, ds)


@pytest.fixture
def s3():
    # The labelled S3 test double: s3rver (the installable emulator) ignores conditional
    # writes, so the S3 lease's start-up probe refuses it (test_fleet.py) and no alarm marker
    # could be created once on it.
    double = S3Double()
    yield double
    double.stop()


def test_winner_killed_without_takeover_raises_one_alarm_s3(s3, fleet):
    t = int(time.time()) + 5
    lease = (f"lease:\n  backend: s3\n  bucket: test-bucket\n  endpoint: {s3.endpoint}\n"
             f"  path_style: true\n  ttl: 2s\n  max_clock_skew: 1s\n  election_timeout: 2s\n")
    ds = fleet(lease, long_job(t), 3,
               env={"AWS_ACCESS_KEY_ID": "AKIDDOUBLE", "AWS_SECRET_ACCESS_KEY": "any-secret"})
    survivors = kill_holder(ds, "long")
    assert_one_alarm(survivors, "long", t, ds, ranked=True)
    marker = s3.record(f"solocron/:missed/long/{utc(t)}")
    assert marker["job"] == "long" and marker["scheduled"] == utc(t)


def test_six_ranked_on_s3_the_check_is_the_fallbacks(s3, fleet):
    """Six replicas on S3, ranked (a job every second keeps the member listings fresh): only
    ranks 0 and 3 (the fallback) look at a firing, the others leave it at once
    (firing_passed). The holder (rank 0) is killed: the missed check belongs to the one
    other rank that looked, the fallback; so exactly one replica checks, and raises."""
    t = int(time.time()) + 10
    lease = (f"lease:\n  backend: s3\n  bucket: test-bucket\n  endpoint: {s3.endpoint}\n"
             f"  path_style: true\n  ttl: 2s\n  max_clock_skew: 1s\n  election_timeout: 2s\n")
    tick = ('  - name: tick\n    schedule: "* * * * * *"\n    command: "true"\n'
            '    missed_after: none\n')
    ds = fleet(lease, long_job(t) + tick, 6,
               env={"AWS_ACCESS_KEY_ID": "AKIDDOUBLE", "AWS_SECRET_ACCESS_KEY": "any-secret"})
    for d in ds:
        d.wait_for(lambda r: r.get("event") in ("firing_won", "firing_passed") and
                   r.get("job") == "tick" and " of 6" in r.get("msg", ""), timeout=20,
                   what="a firing ranked over 6 members")
    assert time.time() < t - 1, "the fleet was ranked too late for the test's firing"
    survivors = kill_holder(ds, "long")
    assert_one_alarm(survivors, "long", t, ds, ranked=True)
    passed = [d for d in ds if d.find("firing_passed", job="long")]
    assert len(passed) == 4, [d.find("firing_passed", job="long") for d in ds]
    looked = [r for d in ds for r in d.find("firing_held", job="long")]
    assert len(looked) == 1, looked


@pytest.fixture
def postgres():
    from fleet import PgServer, _pg_bin
    if not _pg_bin():
        pytest.skip("postgresql is not installed")
    server = PgServer()
    yield server
    server.close()


def test_winner_killed_without_takeover_raises_one_alarm_postgres(postgres, fleet):
    from test_fleet_postgres import pg_lease
    t = int(time.time()) + 5
    ds = fleet(pg_lease(postgres, ttl="2s"), long_job(t), 3)
    survivors = kill_holder(ds, "long")
    assert_one_alarm(survivors, "long", t, ds)
