# SPDX-License-Identifier: MIT
"""The Redis lease backend against Debian's real redis-server, started by these tests on
127.0.0.1 (no persistence: a restart loses every key, as a failover to a replica that had
not received them would)."""
import os
import signal
import time

import pytest

from conftest import Daemon, clean_env, run
from fleet import REDIS, RedisServer, free_port
from test_fleet import at, race, read_runs, replicas, utc  # noqa: F401 (replicas: a fixture)

pytestmark = pytest.mark.skipif(not os.path.exists(REDIS),
                                reason="redis-server is not installed")


@pytest.fixture
def redis():
    server = RedisServer()
    yield server
    server.close()


def redis_lease(server, ttl="3s", extra=""):
    return (f"lease:\n  backend: redis\n  endpoints: [\"{server.endpoint}\"]\n  ttl: {ttl}\n"
            f"  election_timeout: 2s\n{extra}")


def test_five_replicas_one_run_per_firing_redis(redis, replicas, tmp_path):
    race(replicas, redis_lease(redis), tmp_path)
    # Every firing's fencing token is higher than the one before it.
    runs = {}
    for line in (tmp_path / "ran").read_text().splitlines():
        firing, _, token = line.split()
        runs[firing] = int(token)
    tokens = [runs[f] for f in sorted(runs)]
    assert tokens == sorted(tokens) and len(set(tokens)) == len(tokens)


def test_holder_killed_mid_run_is_taken_over_redis(redis, replicas, tmp_path):
    ran = tmp_path / "ran"
    t = int(time.time()) + 4
    ds = replicas(redis_lease(redis, ttl="3s") + f"""
jobs:
  - name: long
    schedule: "{at(t)}"
    command: 'echo "$SOLOCRON_SCHEDULED_TIME $REPLICA $SOLOCRON_ATTEMPT $SOLOCRON_FENCING_TOKEN" >> {ran}; echo up; exec sleep 60'
    takeover: true
""", 3)
    holder = None
    deadline = time.monotonic() + 15
    while holder is None and time.monotonic() < deadline:
        for d in ds:
            if d.find("output", job="long"):
                holder = d
        time.sleep(0.05)
    assert holder, "nobody started the job: " + "\n".join(ds[0].raw[-20:])
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
    taken.event("output", job="long")                      # its line is in `ran`
    lines = ran.read_text().splitlines()
    assert len(lines) == 2
    first, second = (line.split() for line in lines)
    assert first[0] == second[0] == utc(t)
    assert second[2] == "2" and int(second[3]) > int(first[3])
    assert sum(1 for d in survivors if d.find("run_started", job="long")) == 1


@pytest.mark.parametrize("policy", ["kill", "continue"])
def test_redis_stopped_and_restarted_mid_run(redis, replicas, tmp_path, policy):
    # The server goes away while a run holds its lease and while a job fires every second:
    # the run loses its lease (on_lease_lost), the firings meanwhile follow on_store_down;
    # back (empty, as after a failover that lost the keys), the firings are won again.
    t = int(time.time()) + 3
    store_down = "skip" if policy == "kill" else "run"
    ds = replicas(redis_lease(redis, ttl="2s") + f"""
jobs:
  - name: lasting
    schedule: "{at(t)}"
    command: 'echo up; exec sleep 30'
    on_lease_lost: {policy}
    kill_after: 1s
  - name: tick
    schedule: "* * * * * *"
    command: ["true"]
    on_store_down: {store_down}
""", 1)
    d = ds[0]
    d.event("output", job="lasting")
    redis.stop()
    lost = d.event("lease_lost", job="lasting", timeout=15)
    assert "LEASE LOST" in lost["msg"]
    if policy == "kill":
        fin = d.event("run_finished", job="lasting", timeout=10)
        assert fin["result"] == "terminated"
    else:
        assert "(on_lease_lost: continue)" in lost["msg"]
        assert not d.find("run_finished", job="lasting")
    down = d.event("lease_unavailable", job="tick", timeout=15)
    assert f"(on_store_down: {store_down})" in down["msg"]
    assert f"127.0.0.1:{redis.port}" in down["msg"], down["msg"]
    redis.start()
    after = utc(int(time.time()) + 1)
    won = d.wait_for(lambda r: r.get("event") == "firing_won" and r.get("job") == "tick" and
                     r["msg"].split()[1] >= after, timeout=15,
                     what="a firing won after the restart")
    assert "redis lease" in won["msg"]


def test_wrong_password_is_a_clear_error(replicas, tmp_path):
    server = RedisServer(password="right")
    try:
        pw = tmp_path / "redis.password"
        pw.write_text("wrong\n")
        pw.chmod(0o600)
        text = redis_lease(server, extra=f"  password_file: {pw}\n") + """
jobs:
  - name: j
    schedule: "* * * * * *"
    command: ["true"]
"""
        (tmp_path / "table.yaml").write_text(text)
        r = run("check", "--store", "-c", str(tmp_path / "table.yaml"))
        assert r.returncode == 3, r.stdout + r.stderr
        assert "refused the credentials" in r.stderr and "WRONGPASS" in r.stderr, r.stderr
        ds = replicas(text, 1)
        start = ds[0].event("store_unavailable", timeout=15)
        assert "refused the credentials" in start["msg"], start["msg"]
        rec = ds[0].event("lease_unavailable", job="j", timeout=15)
        assert "WRONGPASS" in rec["msg"] and "(on_store_down: skip)" in rec["msg"], rec["msg"]
        assert not ds[0].find("run_started", job="j")
        pw.write_text("right\n")
        r = run("check", "--store", "-c", str(tmp_path / "table.yaml"))
        assert r.returncode == 0, r.stdout + r.stderr
        assert "answers" in r.stdout
    finally:
        server.close()


def test_unreachable_redis_is_a_clear_error(replicas, tmp_path):
    port = free_port()
    text = f"""
lease:
  backend: redis
  endpoints: ["redis://127.0.0.1:{port}/0"]
  election_timeout: 1s
jobs:
  - name: j
    schedule: "* * * * * *"
    command: ["true"]
"""
    (tmp_path / "table.yaml").write_text(text)
    r = run("check", "--store", "-c", str(tmp_path / "table.yaml"))
    assert r.returncode == 3, r.stdout + r.stderr
    assert f"cannot connect to redis at 127.0.0.1:{port}" in r.stderr, r.stderr
    ds = replicas(text, 1)
    start = ds[0].event("store_unavailable", timeout=15)
    assert f"127.0.0.1:{port}" in start["msg"], start["msg"]
    rec = ds[0].event("lease_unavailable", job="j", timeout=15)
    assert "skipping it (on_store_down: skip)" in rec["msg"]
    assert ds[0].proc.poll() is None


def test_final_record_stays_in_redis(redis, replicas, tmp_path):
    # The proof of run: the firing's final record, with its fencing token, kept for history.
    d, = replicas(redis_lease(redis) + """
jobs:
  - name: j
    schedule: "* * * * * *"
    command: ["true"]
""", 1)
    fin = d.event("run_finished", job="j")
    won = d.find("firing_won", job="j")[0]
    # The final write follows run_finished; a daemon that stops lets it complete first.
    d.stop()
    rec = redis.command("GET", f"solocron/j/{fin['scheduled']}/record")
    assert rec and b'"status":"succeeded"' in rec, rec
    token = won["msg"].split("fencing token ")[1].rstrip(")")
    assert b'"fencing_token":%s' % token.encode() in rec, rec
