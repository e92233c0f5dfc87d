# SPDX-License-Identifier: MIT
"""Steering a fleet through the API of any one replica: manual runs elected once, fleet-wide
pause and resume, the fleet's history, health. Each replica runs in its own UTS namespace
with its own host name (r0, r1, …), as replicas in containers do, so records say which one
ran what. Parametrized by lease backend; `local` is several daemons sharing one state
directory (two daemons on one host)."""
import concurrent.futures
import ctypes
import http.client
import json
import socket
import time

import pytest

from conftest import Daemon, clean_env, stop_and_check
from fleet import EtcdCluster, S3Double, free_port
from test_api import check_metrics, metric
from test_fleet import utc
from test_missed import wait_any

CLONE_NEWUTS = 0x04000000
TOKEN = "fleet-token"


def own_hostname(name):
    """preexec_fn: a UTS namespace of its own, named name."""
    def pre():
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWUTS) != 0 or libc.sethostname(name.encode(), len(name)) != 0:
            raise OSError(ctypes.get_errno(), "unshare/sethostname")
    return pre


class Backend:
    """The lease: section of one backend, and what its replicas share."""

    def __init__(self, name, tmp_path):
        self.name, self.tmp_path = name, tmp_path
        self.server = None
        self.args = ()
        self.env = {}
        if name == "local":
            shared = tmp_path / "shared-state"
            shared.mkdir()
            self.args = ("--state-dir", str(shared))
            self.section = ""
        elif name == "etcd":
            self.server = EtcdCluster()
            self.section = (f"lease:\n  backend: etcd\n  endpoints: {self.server.endpoints}\n"
                            f"  ttl: 3s\n  election_timeout: 2s\n")
        elif name == "s3":
            from test_fleet import S3_ENV, s3_lease
            self.server = S3Double()
            self.section = s3_lease(self.server)
            self.env = S3_ENV

    def stop(self):
        if self.server:
            self.server.stop()


@pytest.fixture(params=["local", "etcd", "s3"])
def backend(request, tmp_path):
    b = Backend(request.param, tmp_path)
    yield b
    b.stop()


@pytest.fixture
def fleet(backend, tmp_path):
    """fleet(jobs_yaml, n) starts n replicas r0…r(n-1), each with its API on a TCP port."""
    started = []

    def start(jobs, n=3):
        for i in range(n):
            work = tmp_path / f"r{i}"
            work.mkdir()
            port = free_port()
            token = work / "api.token"
            token.write_text(TOKEN + "\n")
            token.chmod(0o600)
            table = work / "table.yaml"
            table.write_text(f"api:\n  listen: 127.0.0.1:{port}\n  token_file: {token}\n"
                             f"{backend.section}{jobs}")
            d = Daemon(str(table), work, *backend.args, env=clean_env(**backend.env),
                       preexec=own_hostname(f"r{i}"))
            d.port = port
            started.append(d)
        for d in started:
            d.event("api_listening")
        return started
    yield start
    stop_and_check(started)


def call(d, method, path, headers=None, timeout=30):
    """A request to d's API; writes carry the token."""
    headers = dict(headers or {})
    if method == "POST":
        headers["Authorization"] = f"Bearer {TOKEN}"
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=timeout)
    try:
        c.request(method, path, headers=headers)
        r = c.getresponse()
        body = r.read()
        return r.status, json.loads(body) if body else None
    finally:
        c.close()


def test_a_manual_run_sent_to_every_replica_runs_once(fleet, tmp_path):
    ran = tmp_path / "ran"
    rs = fleet(f"""jobs:
  - name: report
    schedule: "0 0 1 1 *"
    command: 'echo "$(hostname) $SOLOCRON_RUN_ID $SOLOCRON_MANUAL_KEY" >> {ran}; sleep 1; exit 4'
""")
    key = {"Idempotency-Key": "nightly-2026-12-02"}

    def ask(d):
        status, body = call(d, "POST", "/v1/jobs/report/run?wait=1", headers=key)
        if status == 503:   # the store slower than election_timeout (2 s): "try again"
            status, body = call(d, "POST", "/v1/jobs/report/run?wait=1", headers=key)
        return status, body
    with concurrent.futures.ThreadPoolExecutor(len(rs)) as pool:
        answers = list(pool.map(ask, rs))
    lines = ran.read_text().splitlines()
    assert len(lines) == 1, lines
    host, run_id, manual_key = lines[0].split()
    assert manual_key == "nightly-2026-12-02"
    # Every replica answers with that one run, once it is over.
    for status, body in answers:
        assert status == 200, body
        assert (body["run"], body["host"], body["state"]) == (run_id, host, "finished")
        assert (body["result"], body["exit_status"]) == ("failed", 4)
    # A retry of the same request gets the same run, without running it again.
    status, body = call(rs[1], "POST", "/v1/jobs/report/run", headers=key)
    assert (status, body["run"], body["result"]) == (200, run_id, "failed")
    assert len(ran.read_text().splitlines()) == 1
    # Without a key, each request is a new run (202: started, the answer does not wait).
    status, body = call(rs[2], "POST", "/v1/jobs/report/run")
    assert status == 202 and body["state"] == "running" and body["host"] == "r2"
    rs[2].event("run_finished", job="report", run=body["run"])
    assert len(ran.read_text().splitlines()) == 2


def test_pause_on_one_replica_stops_the_firing_on_all(fleet, tmp_path):
    ran = tmp_path / "ran"
    rs = fleet(f"""jobs:
  - name: tick
    schedule: "* * * * * *"
    command: 'echo "$SOLOCRON_SCHEDULED_TIME $(hostname)" >> {ran}'
""")
    # Firings run, on whichever replica ranks first for each: rs[0] alone ranks first in none
    # of 15 firings about once in 400 runs ((2/3)^15).
    wait_any(rs, "run_finished", job="tick")
    status, body = call(rs[0], "POST", "/v1/jobs/tick/pause")
    assert status == 200 and body["paused"] and body["scope"] in ("fleet", "host")
    # Every replica stands down on the next firings: the marker is in the store.
    for d in rs:
        d.event("firing_paused", job="tick", count=2, timeout=20)
    paused_at = time.time()
    # Another replica says so, in its jobs and its metrics.
    status, body = call(rs[2], "GET", "/v1/jobs/tick")
    assert status == 200 and body["paused"] and not body["suspended"]
    c = http.client.HTTPConnection("127.0.0.1", rs[1].port, timeout=10)
    c.request("GET", "/v1/jobs")
    c.getresponse().read()
    c.request("GET", "/metrics")
    text = c.getresponse().read()
    c.close()
    check_metrics(text)
    assert metric(text, "solocron_job_paused", job="tick") == 1
    assert metric(text, "solocron_lease_elections_total", job="tick", outcome="paused") >= 1
    # A manual run still runs while the job is paused.
    status, body = call(rs[1], "POST", "/v1/jobs/tick/run?wait=1")
    assert status == 200 and body["result"] == "succeeded"
    # Nothing scheduled ran after the pause took (the firing in flight may have finished).
    fired = [line.split()[0] for line in ran.read_text().splitlines()]
    late = [f for f in fired if f > time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                  time.gmtime(paused_at + 1))]
    assert len(late) <= 1, late                 # the manual run's line
    # Resumed from another replica: the firings come back.
    status, body = call(rs[2], "POST", "/v1/jobs/tick/resume")
    resumed = time.time()
    assert status == 200 and not body["paused"]
    wait_any(rs, "run_finished", job="tick", scheduled=utc(int(resumed) + 2))
    # Paused again after the replicas have fired for a while with no marker (the local store
    # then trusts its paused/ directory's time instead of opening a marker per firing): every
    # replica stands down again.
    for d in rs:
        d.wait_for(lambda r: r.get("event") in ("run_finished", "firing_held"), timeout=20,
                   count=len([r for r in d.records
                              if r.get("event") in ("run_finished", "firing_held")]) + 3,
                   what="firings after the resume")
    seen = [len(d.find("firing_paused", job="tick")) for d in rs]
    status, body = call(rs[1], "POST", "/v1/jobs/tick/pause")
    assert status == 200 and body["paused"]
    for d, k in zip(rs, seen):
        d.event("firing_paused", job="tick", count=k + 1, timeout=20)


def test_the_fleet_history_from_any_replica(fleet, backend):
    rs = fleet("""jobs:
  - name: tick
    schedule: "* * * * * *"
    command: 'test "$(hostname)" != r1'
""")
    # Wait until each replica has finished a run or stood down a few times.
    for d in rs:
        d.wait_for(lambda r: r.get("event") in ("run_finished", "firing_held"), count=4,
                   timeout=30, what="firings")
    answers = [call(d, "GET", "/v1/jobs/tick/runs?limit=5") for d in rs]
    for status, body in answers:
        assert status == 200, body
        assert body["job"] == "tick" and body["source"] == backend.name
        assert 1 <= len(body["runs"]) <= 5
    # The same records from every replica (newest first), naming who ran each.
    newest = [set((r["scheduled"], r["run"], r["host"]) for r in body["runs"][1:3])
              for _, body in answers]
    assert newest[0] & newest[1] & newest[2], newest
    for _, body in answers:
        scheduled = [r["scheduled"] for r in body["runs"]]
        assert scheduled == sorted(scheduled, reverse=True)
        for r in body["runs"]:
            if r["result"] == "running":
                continue
            assert r["host"] in ("r0", "r1", "r2")
            assert r["result"] == ("failed" if r["host"] == "r1" else "succeeded"), r
            assert r["exit_status"] == (1 if r["host"] == "r1" else 0)
            assert r["duration_seconds"] is not None and r["duration_seconds"] >= 0
    # since: nothing before it.
    cut = answers[0][1]["runs"][1]["scheduled"]
    status, body = call(rs[1], "GET", f"/v1/jobs/tick/runs?since={cut}")
    assert status == 200 and all(r["scheduled"] >= cut for r in body["runs"])
    assert call(rs[1], "GET", "/v1/jobs/tick/runs?limit=0")[0] == 400
    assert call(rs[1], "GET", "/v1/jobs/tick/runs?since=yesterday")[0] == 400
    assert call(rs[1], "GET", "/v1/jobs/nope/runs")[0] == 404


def poll_until(d, path, status, timeout=40):
    """GET path until it answers status: every answer on the way."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen.append(call(d, "GET", path))
        if seen[-1][0] == status:
            return seen
        time.sleep(0.1)        # the pace of the polling, not a wait for an event
    raise AssertionError(f"{path} never answered {status}: {seen[-5:]}")


@pytest.mark.parametrize("backend", ["etcd"], indirect=True)
def test_healthz_follows_the_store(fleet, backend):
    """/healthz: 200 while etcd answers; 503 with the reason once it has not answered for
    longer than the lease's TTL (3s), while /readyz stays 200; 200 again once it is back."""
    d, = fleet("""jobs:
  - name: yearly
    schedule: "0 0 1 1 *"
    command: 'true'
""", n=1)
    d.event("ready")
    assert call(d, "GET", "/readyz") == (200, {"status": "ready"})
    assert call(d, "GET", "/healthz") == (200, {"status": "ok"})
    backend.server.kill(0)
    down = time.monotonic()
    seen = poll_until(d, "/healthz", 503)
    assert time.monotonic() - down > 3
    status, body = seen[-1]
    assert body["status"] == "unhealthy", body
    assert body["reason"].startswith("the etcd lease store has not answered for "), body
    assert "connection refused" in body["reason"], body
    # On the way: healthy, then degraded (failing, but not for that long yet).
    assert all(s == 200 for s, _ in seen[:-1]) and ("degraded" in [b["status"] for _, b in seen])
    # While it stays down: unhealthy, and most answers come at once from what is known: the
    # store is asked again every 5 s (each time for up to election_timeout), not each time.
    slow = 0
    until = time.monotonic() + 12
    while time.monotonic() < until:
        t = time.monotonic()
        status, body = call(d, "GET", "/healthz")
        slow += time.monotonic() - t > 1
        assert status == 503 and body["status"] == "unhealthy", body
        time.sleep(0.1)
    assert slow <= 3
    # Ready all the same: it started, and has reached the store before.
    assert call(d, "GET", "/readyz")[0] == 200
    backend.server.restart(0)
    status, body = poll_until(d, "/healthz", 200)[-1]
    assert body == {"status": "ok"}, body


@pytest.mark.parametrize("backend", ["s3"], indirect=True)
def test_healthz_when_s3_is_unreachable_longer_than_the_ttl(fleet, backend):
    """/healthz with S3 (ttl 3s): 200 while the bucket answers; 503 with the reason once it
    has not answered for longer than the TTL; 200 again once it answers."""
    d, = fleet("""jobs:
  - name: tick
    schedule: "* * * * * *"
    command: 'true'
""", n=1)
    d.event("run_finished", job="tick")
    assert call(d, "GET", "/healthz") == (200, {"status": "ok"})
    port = backend.server.port
    backend.server.stop()
    # Each second's election now fails after election_timeout (2s). The first failure starts
    # the clock; the fifth comes 4s after it: longer than the TTL.
    d.event("lease_unavailable", job="tick", count=5, timeout=30)
    status, body = call(d, "GET", "/healthz")
    assert (status, body["status"]) == (503, "unhealthy"), body
    assert "the s3 lease store has not answered for" in body["reason"], body
    assert "cannot reach S3" in body["reason"], body
    # The same endpoint answers again: the next firing is won and run, and health follows.
    backend.server = S3Double("--port", str(port))
    n = len(d.find("run_finished", job="tick"))
    d.event("run_finished", job="tick", count=n + 1, timeout=20)
    assert call(d, "GET", "/healthz") == (200, {"status": "ok"})


@pytest.mark.parametrize("backend", ["s3"], indirect=True)
def test_s3_pause_answers_once_every_replica_knows_and_resume_at_once(fleet, backend, tmp_path):
    """S3 (the labelled test double, ttl 3s): a firing reads no pause marker while nothing is
    paused (the markers come with the fleet's listing, at most one per ttl/3 and replica).
    A pause is answered once every replica's listing has it (ttl/3, 1 s here): no firing
    elected after the answer runs, on any replica. A resume takes at once: the first firing
    elected after its answer runs. (missed_after: none: the missed-firing checks of the
    firings before the fleet started read the marker, and are not what is counted.)"""
    ran = tmp_path / "ran"
    rs = fleet(f"""jobs:
  - name: tick
    schedule: "* * * * * *"
    command: 'echo "$SOLOCRON_SCHEDULED_TIME" >> {ran}'
    missed_after: none
""")
    for d in rs:
        d.wait_for(lambda r: r.get("event") in ("firing_won", "firing_held") and
                   (r.get("event") == "firing_held" or " of 3," in r.get("msg", "")),
                   timeout=20, what="a firing ranked over 3 members")
    t = int(time.time()) + 1
    wait_any(rs, "run_finished", job="tick", scheduled=utc(t))
    before = backend.server.stats()["kinds"]
    wait_any(rs, "run_finished", job="tick", scheduled=utc(t + 5))
    after = backend.server.stats()["kinds"]
    assert after.get("GET :paused", 0) == before.get("GET :paused", 0), (before, after)

    t0 = time.time()
    status, body = call(rs[0], "POST", "/v1/jobs/tick/pause")
    answered = time.time()
    assert status == 200 and body["paused"] and body["scope"] == "fleet"
    assert answered - t0 >= 0.95, answered - t0
    for d in rs:
        d.event("firing_paused", job="tick", count=1, timeout=20)
    rs[1].event("firing_paused", job="tick", count=3, timeout=20)
    # An election starts up to elect_ahead (100 ms) before its instant.
    late = [f for f in ran.read_text().split() if f > utc(answered + 0.1)]
    assert late == [], late

    t0 = time.time()
    status, body = call(rs[2], "POST", "/v1/jobs/tick/resume")
    resumed = time.time()
    assert status == 200 and not body["paused"]
    assert resumed - t0 < 0.9, resumed - t0
    wait_any(rs, "run_finished", job="tick", scheduled=utc(int(resumed + 0.1) + 1))
