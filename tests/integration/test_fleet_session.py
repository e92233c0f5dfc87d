# SPDX-License-Identifier: MIT
"""Elections at scale on a real etcd (issue 14): one session per daemon, rendezvous
candidates (rank 0 claims at once, the others only if it is still unclaimed), the spread
that follows from the hash, and a session lost under the daemon."""
import base64
import calendar
import json
import re
import signal
import threading
import time
import urllib.request

import pytest

from fleet import EtcdCluster, free_port
from test_fleet import needs_etcd, read_runs, replicas, utc  # noqa: F401 (fixture)


@pytest.fixture
def etcd():
    cluster = EtcdCluster(1)
    yield cluster
    cluster.stop()


def lease(cluster, ttl="3s", extra=""):
    return (f"lease:\n  backend: etcd\n  endpoints: {cluster.endpoints}\n  ttl: {ttl}\n"
            f"  election_timeout: 2s\n{extra}")


def post(cluster, path, body):
    req = urllib.request.Request(cluster.endpoints[0] + path, method="POST",
                                 data=json.dumps(body).encode())
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.load(r)


def members(cluster, prefix="solocron"):
    """The member keys under PREFIX/:members/: {id: lease}."""
    start = f"{prefix}/:members/"
    end = start[:-1] + "0"
    reply = post(cluster, "/v3/kv/range", {"key": base64.b64encode(start.encode()).decode(),
                                          "range_end": base64.b64encode(end.encode()).decode()})
    return {base64.b64decode(kv["key"]).decode()[len(start):]: int(kv.get("lease", 0))
            for kv in reply.get("kvs") or []}


def handled(cluster):
    """etcd's own count of the requests it handled, by method (its /metrics), and under
    "events" the watch events it sent."""
    with urllib.request.urlopen(cluster.endpoints[0] + "/metrics", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for m in re.finditer(r'^grpc_server_handled_total\{[^}]*grpc_method="(\w+)"[^}]*\} (\S+)$',
                         text, re.M):
        out[m.group(1)] = out.get(m.group(1), 0) + float(m.group(2))
    m = re.search(r'^etcd_debugging_mvcc_events_total (\S+)$', text, re.M)
    assert m, "etcd's /metrics has no etcd_debugging_mvcc_events_total"
    out["events"] = float(m.group(1))
    return out


def weight(member, job, t):
    """common/rendezvous.c's weight, computed independently."""
    mask = (1 << 64) - 1

    def fnv(data, h):
        for c in data:
            h = ((h ^ c) * 0x100000001b3) & mask
        return h
    h = fnv(member.encode() + b"\0", 0xcbf29ce484222325)
    h = fnv(job.encode() + b"\0", h)
    h = fnv((t & mask).to_bytes(8, "little"), h)
    h ^= h >> 33
    h = (h * 0xff51afd7ed558ccd) & mask
    h ^= h >> 33
    h = (h * 0xc4ceb9fe1a85ec53) & mask
    return h ^ (h >> 33)


def first(ids, job, t):
    return max(ids, key=lambda m: (weight(m, job, t), [-ord(c) for c in m]))


def member_of(d, ids):
    """The member id of daemon d: HOST:PID."""
    mine = [m for m in ids if m.endswith(f":{d.pid()}")]
    assert len(mine) == 1, (ids, d.pid())
    return mine[0]


def tick_table(ran, extra="", schedule="* * * * * *"):
    # missed_after: 1s: the missed-firing checks a daemon makes at its start (of the firings
    # in the missed_after before it, which ran nowhere: the fleet did not exist yet) are over
    # before the measured window; in it, a check finds on etcd's watch that the firing ran,
    # and costs no request.
    return f"""
jobs:
  - name: tick
    schedule: "{schedule}"
    command: 'echo "$SOLOCRON_SCHEDULED_TIME $REPLICA" >> {ran}'
    missed_after: 1s
{extra}"""


def wait_decided(ds, t):
    """Every daemon has decided the firing at t: ran it, found it held, or (a rank that does
    not look; a debug line: the daemons run with --log-level debug) left it to the ranks
    that do."""
    def decided(r):
        return r.get("job") == "tick" and (
            (r.get("event") == "run_finished" and r.get("scheduled") == utc(t)) or
            (r.get("event") in ("firing_held", "firing_passed") and
             f"@{utc(t)} " in r.get("msg", "")))
    for d in ds:
        d.wait_for(decided, timeout=max(0, t - time.time()) + 30, what=f"the firing at {utc(t)}")


def wait_members(etcd, n, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ids = members(etcd)
        if len(ids) == n:
            return ids
        time.sleep(0.05)
    raise AssertionError(f"members: {members(etcd)}")


@needs_etcd
def test_one_session_per_daemon_and_two_requests_per_firing(etcd, replicas, tmp_path):
    """Four daemons, a firing a second: each daemon holds one lease for its life (its member
    key on it); a firing costs the winner's claim and final record, two transactions, and
    the lower ranks that look, told of the claim by a note in their inbox, send none (the
    others stand down at once); etcd sends four watch events per firing (two notes put, two
    deleted), not four per daemon; nothing is granted or revoked per firing."""
    ran = tmp_path / "ran"
    ds = replicas(lease(etcd, extra="  stagger: 400ms\n") + tick_table(ran), 4,
                  "--log-level", "debug")
    ids = wait_members(etcd, 4)
    assert len(set(ids.values())) == 4 and 0 not in ids.values()
    start = int(time.time()) + 2
    wait_decided(ds, start - 1)
    before = handled(etcd)
    end = start + 20
    wait_decided(ds, end)
    after = handled(etcd)
    runs = read_runs(ran)
    window = [utc(t) for t in range(start, end + 1)]
    assert all(len(runs.get(f, [])) == 1 for f in window), runs
    n = len(window)
    txn = after.get("Txn", 0) - before.get("Txn", 0)
    grants = after.get("LeaseGrant", 0) - before.get("LeaseGrant", 0)
    revokes = after.get("LeaseRevoke", 0) - before.get("LeaseRevoke", 0)
    # Two per firing (claim, final record); a little slack for a firing whose window
    # edge was counted on one side only. On a loaded machine a lower rank's note can come
    # after its turn, and its claim loses (CI once counted 53 for 21 firings): up to one
    # more per firing; four contending daemons would send at least four.
    assert 2 * n - 2 <= txn <= 3 * n, (txn, n, before, after)
    # No lease per firing: at most each daemon's shared history lease (granted at its first
    # claim of the hour), and no revoke.
    assert grants <= len(ds) and revokes == 0, (grants, revokes)
    # The same daemons, the same sessions: nothing was granted again.
    assert members(etcd) == ids
    # Each firing was won by the member its hash ranks first.
    for f in window:
        t = calendar.timegm(time.strptime(f, "%Y-%m-%dT%H:%M:%SZ"))
        winner = runs[f][0]
        d = ds[int(winner[1:])]
        assert member_of(d, ids) == first(list(ids), "tick", t), f
    # Watch events: the notes to ranks 1 and 3 (the fallback of four with candidates 3),
    # put and deleted; before the inboxes every daemon watched every claim: 16 a firing.
    events = after["events"] - before["events"]
    assert events <= 4 * n + 4, (events, n)
    # The lower ranks said why they stood down, without asking etcd: ranks 1 and 3 found
    # the note (held), rank 2 does not look (passed).
    held = [r for d in ds for r in d.find("firing_held", job="tick")]
    passed = [r for d in ds for r in d.find("firing_passed", job="tick")]
    assert len(held) >= 2 * (n - 1) and len(passed) >= n - 1, (len(held), len(passed))


@needs_etcd
def test_spread_over_a_small_fleet(etcd, replicas, tmp_path):
    """Five daemons, 60 firings: the hash spreads them; each daemon runs the firings it ranks
    first for (its share is the hash's: 12 on average, between 3 and 23 in 999 of 1000 fleets;
    a loaded machine may hand a few turns on to rank 1)."""
    ran = tmp_path / "ran"
    ds = replicas(lease(etcd) + tick_table(ran), 5, "--log-level", "debug")
    ids = wait_members(etcd, 5)
    name = {member_of(d, ids): f"r{i}" for i, d in enumerate(ds)}
    start = int(time.time()) + 2
    end = start + 59
    wait_decided(ds, end)
    runs = read_runs(ran)
    window = range(start, end + 1)
    assert all(len(runs.get(utc(t), [])) == 1 for t in window), runs
    per = {r: 0 for r in name.values()}
    share = dict(per)
    for t in window:
        per[runs[utc(t)][0]] += 1
        share[name[first(list(ids), "tick", t)]] += 1
    assert all(share[r] > 0 and abs(per[r] - share[r]) <= 3 for r in per), (per, share)


@needs_etcd
def test_all_candidates_dead_a_lower_rank_runs_it(etcd, replicas, tmp_path):
    """candidates: 2 and four daemons, two of them killed: their member keys stay until
    their session's TTL (60 s), so the survivors still rank them, yet every firing runs
    once: by rank 1 after one stagger when rank 0 is dead, and by the fallback rank (2)
    after candidates x stagger + stagger when both candidates are; rank 3 never looks.
    Every other second: the fallback wins at 0.9 s, and its run could still go on at the
    next second (busy, it would hand its turn on)."""
    ran = tmp_path / "ran"
    ds = replicas(lease(etcd, ttl="60s", extra="  stagger: 300ms\n  candidates: 2\n") +
                  tick_table(ran, schedule="*/2 * * * * *"), 4, "--log-level", "debug")
    ids = wait_members(etcd, 4)
    dead = {member_of(ds[0], ids), member_of(ds[1], ids)}
    ds[0].proc.send_signal(signal.SIGKILL)
    ds[1].proc.send_signal(signal.SIGKILL)
    ds[0].proc.wait()
    ds[1].proc.wait()
    live = {member_of(d, ids): d for d in ds[2:]}

    def ordered(t):
        return sorted(ids, key=lambda x: (weight(x, "tick", t), [-ord(c) for c in x]),
                      reverse=True)
    # from the first firing not elected ahead (lease.elect_ahead: 100ms) before the kills
    start = int(time.time() + 0.2) + 1
    start += start % 2
    end = start + 10
    # up to a firing whose two candidates are both dead (one in six; there is one within
    # 40 firings but once in 1500)
    while set(ordered(end)[:2]) != dead and end < start + 80:
        end += 2
    wait_decided(list(live.values()), end)
    assert len(members(etcd)) == 4         # the dead are still listed
    runs = read_runs(ran)
    ranks = set()
    for t in range(start, end + 1, 2):
        order = ordered(t)
        rank = next(r for r in range(3) if order[r] in live)
        winner = live[order[rank]]
        assert runs.get(utc(t)) == [f"r{ds.index(winner)}"], (utc(t), order, runs, [
            (ds.index(d), line) for d in ds[2:] for line in d.raw if utc(t) in line])
        assert any(f"won (etcd lease, rank {rank} of 4" in r["msg"]
                   for r in winner.find("firing_won", job="tick")
                   if r["msg"].startswith(f"firing {utc(t)} ")), (utc(t), rank)
        ranks.add(rank)
    assert 2 in ranks, ranks                # the fallback ran the last one


def turn_notes(cluster, prefix="solocron"):
    """The turns handed on that wait in the members' inboxes: PREFIX/:inbox/*/:turn/…"""
    start = f"{prefix}/:inbox/"
    end = start[:-1] + "0"
    reply = post(cluster, "/v3/kv/range", {"key": base64.b64encode(start.encode()).decode(),
                                          "range_end": base64.b64encode(end.encode()).decode(),
                                          "keys_only": True})
    return [k for k in (base64.b64decode(kv["key"]).decode() for kv in reply.get("kvs") or [])
            if "/:turn/" in k]


@needs_etcd
def test_busy_lookers_hand_their_turn_on(etcd, replicas, tmp_path):
    """Five daemons, a job every second that never ends on three of them (overlap: skip):
    once those three are busy, a firing whose three lookers (ranks 0, 1 and the fallback,
    rank 3) are exactly those would be skipped by each, and lost. Each busy looker hands its
    turn on to a spare instead (a note in its inbox), which claims it in that turn: every
    firing runs exactly once, on one of the two free daemons, and the notes go with the
    claims that took the turns."""
    ran = tmp_path / "ran"
    ds = replicas(lease(etcd, ttl="60s", extra="  stagger: 300ms\n") + f"""
jobs:
  - name: busy
    schedule: "* * * * * *"
    command: 'echo "$SOLOCRON_SCHEDULED_TIME $REPLICA" >> {ran};
              case $REPLICA in r[012]) exec sleep 600;; esac'
""", 5)
    ids = wait_members(etcd, 5)
    busy = {member_of(d, ids) for d in ds[:3]}
    for d in ds[:3]:                        # each has won a firing, and runs it still
        d.event("run_started", job="busy", timeout=90)

    def lookers(t):
        order = sorted(ids, key=lambda x: (weight(x, "busy", t), [-ord(c) for c in x]),
                       reverse=True)
        return {order[0], order[1], order[3]}
    # About one firing in ten has the busy three as its lookers (ten ways to choose three of
    # five): searched for up to two minutes ahead, none is found once in some 100 000 runs
    # (up to one minute: once in 200, which a CI run met).
    start = int(time.time()) + 1
    end = start + 10
    while lookers(end) != busy and end < start + 120:
        end += 1
    assert lookers(end) == busy
    deadline = time.monotonic() + (end - time.time()) + 15
    while time.monotonic() < deadline:
        runs = read_runs(ran)
        if all(utc(t) in runs for t in range(start, end + 1)):
            break
        time.sleep(0.2)
    runs = read_runs(ran)
    for t in range(start, end + 1):
        assert len(runs.get(utc(t), [])) == 1, (utc(t), runs.get(utc(t)))
        assert runs[utc(t)][0] in ("r3", "r4"), (utc(t), runs[utc(t)])
    stood_in = [r for d in ds[3:] for r in d.find("firing_stand_in", job="busy")
                if r["msg"].startswith(f"firing {utc(end)}: ")]
    assert stood_in, "nobody stood in for the firing whose lookers were all busy"
    def handed_on():
        return [r for d in ds[:3] for r in d.find("firing_handed_on", job="busy")
                if r["msg"].startswith(f"firing {utc(end)}: ")]
    # Rank 1's line is another daemon's, in no order with the stand-in's run: wait for it.
    deadline = time.monotonic() + 5
    while len(handed_on()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    handed = handed_on()
    assert len(handed) == 2, handed         # ranks 0 and 1; the fallback's lane has no spare
    # every turn handed on was taken, and its note deleted by the claim that took it
    left = [k for k in turn_notes(etcd) if k.rsplit("/", 1)[1] < utc(end - 1)]
    assert not left, left


def log_time(r):
    """A JSON log record's time, Unix seconds (millisecond resolution)."""
    day, ms = r["time"].rstrip("Z").split(".")
    return calendar.timegm(time.strptime(day, "%Y-%m-%dT%H:%M:%S")) + int(ms) / 1000


@needs_etcd
@pytest.mark.parametrize("ahead", ["1s", "0"])
def test_a_firing_is_elected_ahead_and_starts_at_its_instant(etcd, replicas, tmp_path, ahead):
    """lease.elect_ahead: the claim goes out before the firing is due, so the winner starts
    the job at its instant rather than a store round trip after it, and never before it;
    the claim's record says it started at the instant. With elect_ahead: 0 the claim goes
    out at the instant."""
    ran = tmp_path / "ran"
    ds = replicas(lease(etcd, extra=f"  elect_ahead: {ahead}\n") + f"""
jobs:
  - name: tick
    schedule: "*/2 * * * * *"
    command: 'echo "$SOLOCRON_SCHEDULED_TIME $REPLICA $(date +%s.%N)" >> {ran}'
""", 2)
    first = (int(time.time()) + 3) // 2 * 2 + 2
    firings = [first, first + 2, first + 4]
    wait_decided(ds, firings[-1])
    started = {}
    for line in ran.read_text().splitlines():
        f, _, at = line.split()
        started.setdefault(f, []).append(float(at))
    for t in firings:
        assert len(started.get(utc(t), [])) == 1, (utc(t), started)
        assert started[utc(t)][0] >= t, (utc(t), started)      # never before its instant
        won = [r for d in ds for r in d.find("firing_won", job="tick")
               if f"firing {utc(t)} won" in r["msg"]]
        assert len(won) == 1, won
        if ahead == "0":
            assert log_time(won[0]) >= t, won
        else:
            assert log_time(won[0]) < t, won            # won before it was due
    # The records' "started" is the instant (not the claim's time, a second before).
    key = base64.b64encode(b"solocron/").decode()
    end = base64.b64encode(b"solocron0").decode()
    reply = post(etcd, "/v3/kv/range", {"key": key, "range_end": end})
    records = [json.loads(base64.b64decode(kv["value"])) for kv in reply.get("kvs") or []]
    records = [r for r in records if isinstance(r, dict) and r.get("job") == "tick" and
               r.get("scheduled") in [utc(t) for t in firings]]
    assert records and all(r["started"] >= r["scheduled"] for r in records), records


@needs_etcd
def test_session_revoked_under_the_daemon_is_lease_lost(etcd, replicas, tmp_path):
    """Someone revokes the daemon's session lease: its running record goes with it, and the
    run is lost (on_lease_lost: kill); the daemon registers again on a new session."""
    t = int(time.time()) + 3
    g = time.gmtime(t)
    d, = replicas(lease(etcd) + f"""
jobs:
  - name: lasting
    schedule: "{g.tm_sec} {g.tm_min} {g.tm_hour} * * *"
    command: 'echo up; exec sleep 30'
    on_lease_lost: kill
    kill_after: 1s
""", 1)
    ids = wait_members(etcd, 1)
    d.event("output", job="lasting")
    session, = ids.values()
    post(etcd, "/v3/lease/revoke", {"ID": str(session)})
    lost = d.event("lease_lost", job="lasting", timeout=10)
    assert "LEASE LOST" in lost["msg"]
    fin = d.event("run_finished", job="lasting", timeout=10)
    assert fin["result"] == "terminated"
    # A new session, and the member key on it.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        now = members(etcd)
        if now and list(now.values())[0] not in (0, session):
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"no new session: {members(etcd)}")


def watchers(cluster):
    """etcd's count of the watchers it serves (its /metrics)."""
    with urllib.request.urlopen(cluster.endpoints[0] + "/metrics", timeout=5) as r:
        m = re.search(r"^etcd_debugging_mvcc_watcher_total (\S+)$", r.read().decode(), re.M)
    return float(m.group(1)) if m else 0


@needs_etcd
def test_stopping_with_etcd_down_and_a_question_in_flight_still_revokes(etcd, replicas,
                                                                         tmp_path):
    """etcd dies under a daemon whose members watch is streaming; a question from the API
    is in flight (it is retried until election_timeout) when SIGTERM comes. Answering it
    must not close the store's client before the session's revoke has started: etcd comes
    back within election_timeout and the revoke reaches it, so the member key is gone at
    once, not a TTL later (a revoke never sent also leaked under ASan)."""
    port = free_port()
    d, = replicas(f"api:\n  listen: 127.0.0.1:{port}\n" +
                  lease(etcd, ttl="60s").replace("election_timeout: 2s", "election_timeout: 8s") +
                  "jobs:\n  - name: yearly\n    schedule: '0 0 1 1 *'\n    command: 'true'\n",
                  1)
    wait_members(etcd, 1)
    deadline = time.monotonic() + 10
    while watchers(etcd) < 1:           # the members watch is streaming
        assert time.monotonic() < deadline, "no watcher on etcd"
        time.sleep(0.05)
    etcd.kill(0)                        # the watch ends; the next sync is a TTL/3 away
    answers = []

    def ask():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/jobs/yearly/runs",
                                        timeout=20) as r:
                answers.append(r.status)
        except Exception as e:          # the daemon stops under it
            answers.append(repr(e))
    asking = threading.Thread(target=ask)
    asking.start()
    # The question is retried for 8 s: half a second puts SIGTERM well inside that window.
    time.sleep(0.5)
    assert asking.is_alive() and not answers, answers
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    etcd.restart(0)
    assert d.proc.wait(timeout=30) == 0
    asking.join(timeout=10)
    assert answers and answers[0] != 200, answers
    assert members(etcd) == {}, (members(etcd), time.monotonic() - t0)


@pytest.fixture
def s3():
    from fleet import S3Double
    double = S3Double()
    yield double
    double.stop()


def test_s3_members_and_lower_ranks_read_not_write(s3, replicas, tmp_path):
    """S3 (the labelled test double): each daemon heartbeats PREFIX/:peers/ID and lists the
    members when a firing needs them; firings are ranked, and a lower rank reads the firing's
    record and stands down instead of sending a conditional PUT that fails: no 412 at all."""
    ran = tmp_path / "ran"
    env = {"AWS_ACCESS_KEY_ID": "AKIDDOUBLE", "AWS_SECRET_ACCESS_KEY": "any-secret"}
    ds = replicas(f"lease:\n  backend: s3\n  bucket: test-bucket\n  endpoint: {s3.endpoint}\n"
                  f"  path_style: true\n  ttl: 3s\n  election_timeout: 2s\n  stagger: 400ms\n"
                  + tick_table(ran), 3, "--log-level", "debug", env=env)
    # Ranked once every daemon has listed all three.
    for d in ds:
        d.wait_for(lambda r: r.get("event") in ("firing_won", "firing_held") and
                   (r.get("event") == "firing_held" or "of 3," in r.get("msg", "")),
                   timeout=20, what="a firing ranked over 3 members")
    start = int(time.time()) + 2
    wait_decided(ds, start - 1)
    before = s3.stats()
    end = start + 10
    wait_decided(ds, end)
    after = s3.stats()
    runs = read_runs(ran)
    window = [utc(t) for t in range(start, end + 1)]
    assert all(len(runs.get(f, [])) == 1 for f in window), runs
    s412 = after["statuses"].get("412", 0) - before["statuses"].get("412", 0)
    assert s412 == 0, (before, after)
    won = [r for d in ds for r in d.find("firing_won", job="tick")
           if any(f in r["msg"] for f in window)]
    assert len(won) == len(window)
    assert all(re.search(r"rank \d of 3,", r["msg"]) for r in won), won
    members = s3.control("GET", "object?key=solocron/:peers/" + member_of_s3(ds[0]))
    assert json.loads(members["body"])["pid"] == ds[0].pid()


def member_of_s3(d):
    import socket
    return f"{socket.gethostname()}:{d.pid()}"


S3_ENV = {"AWS_ACCESS_KEY_ID": "AKIDDOUBLE", "AWS_SECRET_ACCESS_KEY": "any-secret"}


def s3_lease(s3, ttl="3s", prefix="solocron"):
    return (f"lease:\n  backend: s3\n  bucket: test-bucket\n  endpoint: {s3.endpoint}\n"
            f"  path_style: true\n  prefix: {prefix}\n  ttl: {ttl}\n  election_timeout: 2s\n"
            f"  stagger: 300ms\n")


def wait_ranked(ds, n):
    """Every daemon has ranked a firing over n members (a firing it won or left to others:
    the log says "rank R of N")."""
    for d in ds:
        d.wait_for(lambda r: r.get("event") in ("firing_won", "firing_passed") and
                   f" of {n}" in r.get("msg", ""), timeout=30,
                   what=f"a firing ranked over {n} members")


def s3_firing_requests(s3, ds, ran, firings=10):
    """S3 requests per firing over `firings` firings of a one-second job, once every daemon
    ranks over them all: the double's requests, less the fleet's heartbeats and listings of
    members and the hourly history clean-ups (no firing's). Every firing ran exactly once.
    Returns the requests per firing and the window's firings (UTC text)."""
    wait_ranked(ds, len(ds))
    start = int(time.time()) + 2
    wait_decided(ds, start - 1)
    before = s3.stats()
    end = start + firings - 1
    wait_decided(ds, end)
    after = s3.stats()
    runs = read_runs(ran)
    window = [utc(t) for t in range(start, end + 1)]
    assert all(len(runs.get(f, [])) == 1 for f in window), runs
    sent = ((after["total"] - before["total"]) - (after["members"] - before["members"]) -
            (after["lists"] - before["lists"]))
    print(f"{len(ds)} daemons: {sent} S3 requests for {len(window)} firings")
    return sent / len(window), window


def test_s3_requests_per_firing_do_not_grow_with_the_fleet(s3, tmp_path):
    """S3 (the labelled double), default candidates (3): a firing costs the claim PUT and the
    final record PUT of rank 0 and one GET from rank 3 (the fallback; rank 2 with three
    daemons): three requests with six daemons as with three. The pause markers come with the
    members' listing (a cost per daemon and window, not per firing: not counted here). Before,
    rank 0 also read the pause marker, and rank 1 read the record and checked the firing
    later for the missed-firing alarm: six with six daemons; before the ranking, each of the N -
    1 lower ranks sent a GET: 9."""
    from conftest import Daemon, clean_env, stop_and_check
    per = {}
    for n in (3, 6):
        ran = tmp_path / f"ran{n}"
        table = tmp_path / f"table{n}.yaml"
        table.write_text(s3_lease(s3, prefix=f"fleet{n}") + tick_table(ran))
        ds = []
        try:
            for i in range(n):
                work = tmp_path / f"f{n}-r{i}"
                work.mkdir()
                ds.append(Daemon(str(table), work, "--log-level", "debug",
                                 env=clean_env(REPLICA=f"r{i}", **S3_ENV)))
            for d in ds:
                d.event("ready")
            per[n], window = s3_firing_requests(s3, ds, ran)
            if n == 6:
                # Two ranks looked at each firing of the window (every listing had all six
                # members by then), the others left it at once.
                passed = [r for d in ds for r in d.find("firing_passed", job="tick")
                          if any(f"tick@{f} " in r["msg"] for f in window)]
                assert len(passed) == 4 * len(window), passed
                assert all(re.search(r"rank [1245] of 6;", r["msg"]) for r in passed)
                assert all("left to ranks 0 and 3" in r["msg"] for r in passed)
        finally:
            stop_and_check(ds)
    assert per[6] <= per[3] + 0.5, per
    assert per[3] <= 3.5 and per[6] <= 3.5, per


def test_s3_rank_0_killed_the_fallback_runs_its_firings(s3, replicas, tmp_path):
    """Six daemons on S3; the one ranked first for most of the next firings is killed
    (SIGKILL): it stays listed (its heartbeat is fresh for ttl + max_clock_skew), so it still
    ranks first, and the fallback (rank 3: on S3 rank 1 does not look) runs those firings
    after four staggers; every firing runs exactly once, none is missed."""
    ran = tmp_path / "ran"
    ds = replicas(s3_lease(s3, ttl="20s") + tick_table(ran), 6, "--log-level", "debug",
                  env=S3_ENV)
    wait_ranked(ds, 6)
    ids = {member_of_s3(d): d for d in ds}
    t0 = int(time.time()) + 1
    firsts = [first(list(ids), "tick", t) for t in range(t0 + 2, t0 + 14)]
    victim_id = max(set(firsts), key=firsts.count)
    victim = ids[victim_id]
    wait_decided(ds, t0)
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait()
    # The window starts at the first firing not elected before the kill: elections start
    # elect_ahead (100 ms) early, so a victim killed late in a second already held the next
    # firing, which then ran nowhere (no takeover here). In CI the fallback decided t0 late.
    start = int(time.time() + 0.1) + 1
    window = list(range(start, start + 10))
    live = [d for d in ds if d is not victim]
    # Every firing of the window, not only the last: the fallback decides a firing of the
    # victim's four staggers (1.2 s) after its instant, after the next firing may be over.
    for t in window:
        wait_decided(live, t)
    runs = read_runs(ran)
    missing = [utc(t) for t in window if utc(t) not in runs]
    twice = {utc(t): runs[utc(t)] for t in window if len(runs.get(utc(t), [])) > 1}
    assert not missing and not twice, (missing, twice)
    # The victim's firings went to the fallback, rank 3 of 6.
    orphaned = [t for t in window if first(list(ids), "tick", t) == victim_id]
    assert orphaned
    for t in orphaned:
        won = [r for d in live for r in d.find("firing_won", job="tick")
               if f"firing {utc(t)} won" in r["msg"]]
        assert len(won) == 1 and "rank 3 of 6," in won[0]["msg"], won
