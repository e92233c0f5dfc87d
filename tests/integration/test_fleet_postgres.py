# SPDX-License-Identifier: MIT
"""The PostgreSQL lease backend against a real PostgreSQL cluster that these tests make with
initdb in a temporary directory and start with pg_ctl on 127.0.0.1 (as the user postgres
when run as root)."""
import os
import signal
import time

import pytest

from conftest import run
from fleet import PgServer, _pg_bin, free_port
from test_fleet import at, race, replicas, utc  # noqa: F401 (replicas: a fixture)

pytestmark = pytest.mark.skipif(not _pg_bin(), reason="postgresql is not installed")


@pytest.fixture(scope="module")
def pg():
    server = PgServer()
    yield server
    server.close()


def pg_lease(server, ttl="3s", prefix="solocron", dsn=None):
    return (f"lease:\n  backend: postgres\n  dsn: \"{dsn or server.dsn()}\"\n  ttl: {ttl}\n"
            f"  election_timeout: 2s\n  prefix: {prefix}\n")


def test_five_replicas_one_run_per_firing_postgres(pg, replicas, tmp_path):
    race(replicas, pg_lease(pg, prefix="race"), tmp_path)
    runs = {}
    for line in (tmp_path / "ran").read_text().splitlines():
        firing, _, token = line.split()
        runs[firing] = int(token)
    tokens = [runs[f] for f in sorted(runs)]
    assert tokens == sorted(tokens) and len(set(tokens)) == len(tokens)


def test_holder_killed_mid_run_is_taken_over_postgres(pg, replicas, tmp_path):
    ran = tmp_path / "ran"
    t = int(time.time()) + 4
    ds = replicas(pg_lease(pg, ttl="3s", prefix="takeover") + f"""
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
    taken.event("output", job="long")
    first, second = (line.split() for line in ran.read_text().splitlines())
    assert first[0] == second[0] == utc(t)
    assert second[2] == "2" and int(second[3]) > int(first[3])
    assert sum(1 for d in survivors if d.find("run_started", job="long")) == 1


def test_a_watched_firing_follows_a_reload_postgres(pg, replicas, tmp_path):
    """The replica that stood down watches the firing; a reload then disables the job, so
    when the holder dies, the firing is not taken over."""
    table = tmp_path / "table.yaml"
    t = int(time.time()) + 4
    text = pg_lease(pg, ttl="3s", prefix="takeover_off") + f"""
jobs:
  - name: long
    schedule: "{at(t)}"
    command: 'echo up; exec sleep 60'
    takeover: true
"""
    ds = replicas(text, 2)
    holder = None
    deadline = time.monotonic() + 15
    while holder is None and time.monotonic() < deadline:
        holder = next((d for d in ds if d.find("output", job="long")), None)
        time.sleep(0.05)
    assert holder, "nobody started the job: " + "\n".join(ds[0].raw[-20:])
    other = next(d for d in ds if d is not holder)
    other.event("firing_held", job="long")
    table.write_text(text.replace("    takeover: true\n", "    takeover: true\n    enabled: false\n"))
    other.proc.send_signal(signal.SIGHUP)
    other.event("reloaded")
    pid = int(holder.find("run_started", job="long")[0]["msg"].split("pid=")[1].split()[0])
    holder.proc.send_signal(signal.SIGKILL)
    os.killpg(pid, signal.SIGKILL)
    off = other.event("firing_takeover_off", job="long", timeout=3 + 2 + 5)
    assert "the job is disabled now" in off["msg"], off
    assert not other.find("run_started", job="long") and not other.find("firing_takeover")


@pytest.mark.parametrize("policy", ["kill", "continue"])
def test_postgres_stopped_and_restarted_mid_run(replicas, tmp_path, policy):
    server = PgServer()
    try:
        t = int(time.time()) + 3
        store_down = "skip" if policy == "kill" else "run"
        ds = replicas(pg_lease(server, ttl="2s") + f"""
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
        server.stop()
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
        server.start()
        after = utc(int(time.time()) + 1)
        won = d.wait_for(lambda r: r.get("event") == "firing_won" and r.get("job") == "tick" and
                         r["msg"].split()[1] >= after, timeout=20,
                         what="a firing won after the restart")
        assert "postgres lease" in won["msg"]
    finally:
        server.close()


def test_wrong_password_is_a_clear_error_postgres(pg, replicas, tmp_path):
    dsn_file = tmp_path / "dsn"
    dsn_file.write_text(pg.dsn(password="wrong") + "\n")
    dsn_file.chmod(0o600)
    text = f"""
lease:
  backend: postgres
  dsn_file: {dsn_file}
  election_timeout: 2s
jobs:
  - name: j
    schedule: "* * * * * *"
    command: ["true"]
"""
    (tmp_path / "table.yaml").write_text(text)
    r = run("check", "--store", "-c", str(tmp_path / "table.yaml"))
    assert r.returncode == 3, r.stdout + r.stderr
    assert "password authentication failed" in r.stderr, r.stderr
    ds = replicas(text, 1)
    start = ds[0].event("store_unavailable", timeout=15)
    assert "password authentication failed" in start["msg"], start["msg"]
    rec = ds[0].event("lease_unavailable", job="j", timeout=15)
    assert "(on_store_down: skip)" in rec["msg"], rec["msg"]
    assert not ds[0].find("run_started", job="j")
    dsn_file.write_text(pg.dsn() + "\n")
    r = run("check", "--store", "-c", str(tmp_path / "table.yaml"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "the postgres store answers" in r.stdout


def test_unreachable_postgres_is_a_clear_error(replicas, tmp_path):
    port = free_port()
    text = f"""
lease:
  backend: postgres
  dsn: "host=127.0.0.1 port={port} dbname=postgres user=solocron"
  election_timeout: 1s
jobs:
  - name: j
    schedule: "* * * * * *"
    command: ["true"]
"""
    (tmp_path / "table.yaml").write_text(text)
    r = run("check", "--store", "-c", str(tmp_path / "table.yaml"))
    assert r.returncode == 3, r.stdout + r.stderr
    assert "cannot connect to postgres" in r.stderr and str(port) in r.stderr, r.stderr
    ds = replicas(text, 1)
    start = ds[0].event("store_unavailable", timeout=15)
    assert "cannot connect to postgres" in start["msg"], start["msg"]
    rec = ds[0].event("lease_unavailable", job="j", timeout=15)
    assert "skipping it (on_store_down: skip)" in rec["msg"]
    assert ds[0].proc.poll() is None


def test_init_store_then_a_role_that_may_not_create(replicas, tmp_path):
    # init-store creates the schema as the owner; the daemons' role, which may only use the
    # tables (PostgreSQL 15 lets no other role create in public), then elects firings.
    import subprocess
    server = PgServer()
    try:
        owner = tmp_path / "owner.yaml"
        owner.write_text(pg_lease(server) + "jobs: []\n")
        r = run("init-store", "-c", str(owner))
        assert r.returncode == 0, r.stdout + r.stderr
        assert "schema is in place" in r.stdout
        grants = ("CREATE ROLE app LOGIN PASSWORD 'app-pw'; "
                  "GRANT SELECT, INSERT, UPDATE, DELETE ON solocron_firings, solocron_paused, "
                  "solocron_alarms "
                  "TO app; GRANT USAGE ON SEQUENCE solocron_token TO app;")
        subprocess.run(["psql", server.dsn(), "-v", "ON_ERROR_STOP=1", "-qc", grants],
                       check=True, capture_output=True, stdin=subprocess.DEVNULL)
        # The password comes from libpq's own PGPASSWORD, which jobs do not get.
        app_dsn = server.dsn().replace("user=solocron", "user=app").replace(
            f"password={server.password}", "")
        d, = replicas(pg_lease(server, dsn=app_dsn) + """
jobs:
  - name: j
    schedule: "* * * * * *"
    command: 'echo "pw=$PGPASSWORD"'
""", 1, env={"PGPASSWORD": "app-pw"})
        won = d.event("firing_won", job="j", timeout=15)
        assert "postgres lease" in won["msg"]
        assert d.output("j") == "pw="
        assert not d.find("store_unavailable")
    finally:
        server.close()
