# SPDX-License-Identifier: MIT
"""Each run's output kept in S3 (output: {s3: …}): against s3rver (a real S3 emulator from
npm) where it can, and the S3 test double (tests/integration/helpers/s3_double.py, a
labelled stand-in) for what s3rver cannot do: the S3 lease's conditional writes (the record
that names the object) and injected faults. A server that never answers is a socket of this
test that accepts and says nothing."""
import gzip
import json
import os
import socket
import subprocess
import threading
import time
import urllib.request

import pytest

from conftest import run
from fleet import S3Double, free_port
from test_api import check_metrics, metric

S3RVER = "/opt/solocron-test-deps/node_modules/s3rver/bin/s3rver.js"
S3_ENV = {"AWS_ACCESS_KEY_ID": "AKIDDOUBLE", "AWS_SECRET_ACCESS_KEY": "any-secret"}
S3RVER_ENV = {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER"}
CONTENT_TYPE = "text/plain; charset=utf-8"
hooks = pytest.mark.skipif(not os.environ.get("SOLOCRON_TEST_HOOKS"),
                           reason="needs a build with -Dtest_hooks=true (upload timeouts)")


def api_call(sock, target):
    """GET target over the API's unix socket (http.client: /metrics is chunked)."""
    import http.client

    class Conn(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(10)
            self.sock.connect(sock)
    c = Conn("localhost")
    try:
        c.request("GET", target)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def metrics(sock):
    status, body = api_call(sock, "/metrics")
    assert status == 200
    return body


def env(**extra):
    from conftest import clean_env
    return clean_env(**extra)


@pytest.fixture
def s3rver(tmp_path):
    if not os.path.exists(S3RVER):
        if os.environ.get("SOLOCRON_TEST_REQUIRE_S3RVER"):
            pytest.fail(f"s3rver is not installed at {S3RVER} (tests/install-deps)")
        pytest.skip("s3rver is not installed (tests/install-deps installs it)")
    port = free_port()
    data = tmp_path / "s3rver"
    data.mkdir()
    server = subprocess.Popen(["node", S3RVER, "-a", "127.0.0.1", "-p", str(port), "-d", str(data),
                               "--configure-bucket", "test-bucket", "--silent"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:             # up when it answers (a listing of the bucket)
        try:
            urllib.request.urlopen(f"{endpoint}/test-bucket", timeout=2).read()
            break
        except Exception:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail("s3rver did not start")
            time.sleep(0.1)
    yield endpoint
    server.terminate()
    server.wait(timeout=10)


def s3rver_get(endpoint, key):
    """The object's body and headers, read as any HTTP client would (raw bytes: no
    decoding of Content-Encoding)."""
    with urllib.request.urlopen(f"{endpoint}/test-bucket/{key}", timeout=10) as r:
        return r.read(), {k.lower(): v for k, v in r.getheaders()}


@pytest.fixture
def s3():
    double = S3Double()
    yield double
    double.stop()


def output_table(endpoint, s3_extra="", job_extra="", command="echo out; echo err >&2",
                 schedule="* * * * * *", top=""):
    return f"""
{top}
jobs:
  - name: talk
    schedule: "{schedule}"
    command: '{command}'
    output:
      s3:
        bucket: test-bucket
        endpoint: {endpoint}
        path_style: true
{s3_extra}
{job_extra}
"""


def test_output_lands_under_its_key_with_content_type(daemon, s3rver):
    d = daemon(output_table(s3rver, command="echo to-stdout; echo to-stderr >&2"),
               env=env(**S3RVER_ENV))
    rec = d.event("output_uploaded", job="talk", timeout=20)
    fin = d.event("run_finished", job="talk", run=rec["run"])
    # PREFIX/JOB/SCHEDULED-UTC/output: the lease's default prefix, next to its record.
    assert rec["object"] == f"s3://test-bucket/solocron/talk/{fin['scheduled']}/output"
    body, headers = s3rver_get(s3rver, f"solocron/talk/{fin['scheduled']}/output")
    assert sorted(body.decode().splitlines()) == ["to-stderr", "to-stdout"]
    assert headers["content-type"] == CONTENT_TYPE
    assert "content-encoding" not in headers
    assert rec["bytes"] == str(len(body)) and rec["cut"] == "0"


def test_the_cap_keeps_the_tail_and_says_what_was_cut(daemon, s3rver):
    # 2000 numbered lines (about 19 KB) into an object of at most 1 KiB.
    cmd = "seq -f line-%05g 1 2000"
    d = daemon(output_table(s3rver, s3_extra="        max_size: 1KiB", command=cmd,
                            schedule="*/2 * * * * *"),
               env=env(**S3RVER_ENV))
    rec = d.event("output_uploaded", job="talk", timeout=20)
    fin = d.event("run_finished", job="talk", run=rec["run"])
    body, _ = s3rver_get(s3rver, f"solocron/talk/{fin['scheduled']}/output")
    full = "".join(f"line-{i:05d}\n" for i in range(1, 2001)).encode()
    assert len(body) <= 1024
    first, _, tail = body.partition(b"\n")
    words = first.decode().split()
    assert first.startswith(b"[solocron: ") and words[2:4] == ["bytes", "cut,"], first
    cut, kept = int(words[1]), int(words[6])
    assert kept == len(tail) and cut + kept == len(full)
    assert full.endswith(tail) and tail.endswith(b"line-02000\n")
    assert rec["cut"] == str(cut)


def test_gzip_round_trips(daemon, s3rver):
    cmd = "seq -f gz-%05g 1 3000"
    d = daemon(output_table(s3rver, s3_extra="        gzip: true", command=cmd,
                            schedule="*/2 * * * * *"),
               env=env(**S3RVER_ENV))
    rec = d.event("output_uploaded", job="talk", timeout=20)
    fin = d.event("run_finished", job="talk", run=rec["run"])
    key = f"solocron/talk/{fin['scheduled']}/output.gz"
    assert rec["object"] == f"s3://test-bucket/{key}"
    body, headers = s3rver_get(s3rver, key)
    assert headers.get("content-encoding") == "gzip"
    assert headers["content-type"] == CONTENT_TYPE
    text = gzip.decompress(body)
    assert text == "".join(f"gz-{i:05d}\n" for i in range(1, 3001)).encode()
    assert len(body) < len(text) / 3 and rec["bytes"] == str(len(body))


def test_the_s3_lease_record_names_the_object(daemon, s3):
    # output: s3 (the short form): bucket, endpoint and prefix from the lease.
    d = daemon(f"""
lease:
  backend: s3
  bucket: test-bucket
  endpoint: {s3.endpoint}
  path_style: true
  prefix: fleet
jobs:
  - name: talk
    schedule: "*/2 * * * * *"
    command: echo recorded
    output: s3
""", env=env(**S3_ENV))
    rec = d.event("output_uploaded", job="talk", timeout=20)
    fin = d.event("run_finished", job="talk", run=rec["run"])
    key = f"fleet/talk/{fin['scheduled']}"
    assert rec["object"] == f"s3://test-bucket/{key}/output"
    deadline = time.monotonic() + 10
    while True:             # the final record is written beside the upload, on its own
        record = s3.record(key)
        if record["status"] != "running" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert record["status"] == "succeeded" and record["run"] == rec["run"]
    assert record["output"] == rec["object"]
    obj = s3.control("GET", f"object?key={key}/output")
    assert obj["body"] == "recorded\n"


def test_a_500_is_retried(daemon, s3):
    s3.fault(status=500, count=1, method="PUT", key_prefix="solocron/talk/",
             body="<Error><Code>InternalError</Code><Message>try again</Message></Error>",
             content_type="application/xml")
    d = daemon(output_table(s3.endpoint, schedule="*/2 * * * * *"), env=env(**S3_ENV))
    retry = d.event("output_upload_retry", job="talk", timeout=20)
    assert "500" in retry["msg"] and "try 1 of 4" in retry["msg"]
    rec = d.event("output_uploaded", job="talk", run=retry["run"], timeout=20)
    assert rec["tries"] == "2"
    key = rec["object"].split("/", 3)[3]
    assert sorted(s3.control("GET", f"object?key={key}")["body"].split()) == ["err", "out"]
    assert not d.find("output_upload_failed")


class Silent:
    """A TCP server that accepts connections and never answers (no S3 does this on
    purpose: this is the unlucky network)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


@hooks
def test_a_server_that_never_answers_is_logged_counted_and_harmless(daemon, tmp_path):
    silent = Silent()
    sock = str(tmp_path / "api.sock")
    ran = tmp_path / "ran"
    try:
        d = daemon(output_table(f"http://127.0.0.1:{silent.port}", schedule="*/2 * * * * *",
                                command=f'echo "$SOLOCRON_SCHEDULED_TIME $(date +%s.%N)" >> {ran}; '
                                        'echo hi',
                                top=f"api: {{socket: {sock}}}"),
                   env=env(SOLOCRON_TEST_OUTPUT_TIMEOUT_MS="400",
                           SOLOCRON_TEST_OUTPUT_BACKOFF_MS="200", **S3_ENV))
        first = d.event("run_finished", job="talk", timeout=20)
        assert first["result"] == "succeeded"
        # Four tries: 0.4 s each, 0.2 + 0.4 + 0.8 s apart; meanwhile the next firings run on
        # time.
        failed = d.event("output_upload_failed", job="talk", run=first["run"], timeout=20)
        assert "after 4 tries" in failed["msg"] and failed["object"].startswith("s3://test-bucket/")
        assert len(d.find("output_upload_retry", run=first["run"])) == 3
        # The firings went on while the uploads failed: two more at least.
        d.event("run_finished", job="talk", count=3, timeout=20)
        for r in d.find("run_finished", job="talk"):
            assert r["result"] == "succeeded"
        body = metrics(sock)
        check_metrics(body)
        assert metric(body, "solocron_output_uploads_total", result="failed") >= 1
        assert metric(body, "solocron_output_upload_retries_total") >= 3
        assert metric(body, "solocron_output_uploads_total", result="uploaded") == 0
        # Every firing ran once, on time (no lag from the uploads).
        import calendar
        fired = [l.split() for l in ran.read_text().splitlines()]
        assert len(fired) == len({f[0] for f in fired}) >= 3
        for when, at in fired:
            due = calendar.timegm(time.strptime(when, "%Y-%m-%dT%H:%M:%SZ"))
            assert 0 <= float(at) - due < 1.0, (when, at)
    finally:
        silent.close()


@hooks
def test_shutdown_gives_in_flight_uploads_a_grace_then_gives_up(daemon, tmp_path):
    silent = Silent()
    try:
        d = daemon(output_table(f"http://127.0.0.1:{silent.port}", schedule="*/2 * * * * *",
                                top="shutdown_grace: 2s"),
                   env=env(SOLOCRON_TEST_OUTPUT_TIMEOUT_MS="60000", **S3_ENV))
        d.event("run_finished", job="talk", timeout=20)
        start = time.monotonic()
        assert d.stop() == 0
        took = time.monotonic() - start
        gone = d.find("output_upload_abandoned", job="talk")
        assert gone and all("the shutdown grace is over" in g["msg"] for g in gone), gone
        assert d.find("output_upload", msg=f"stopping: {len(gone)} output upload"
                      f"{'' if len(gone) == 1 else 's'} in flight, waiting up to 2000 ms")
        assert not d.find("output_uploaded")
        assert 1.5 < took < 10, took
    finally:
        silent.close()


def test_check_explains_bad_output_settings(table):
    p = table("""
defaults:
  output: s3
jobs:
  - {name: a, schedule: "* * * * *", command: "true"}
  - {name: b, schedule: "* * * * *", command: "true", output: none}
  - name: c
    schedule: "* * * * *"
    command: "true"
    output: {s3: {bucket: "no spaces", max_size: 12, gzp: true}}
""")
    r = run("check", "-c", p)
    assert r.returncode != 0
    lines = r.stderr.splitlines()
    assert any(":3:11: defaults: 'output.s3' needs a 'bucket'" in l for l in lines), lines
    assert any("invalid S3 bucket name 'no spaces'" in l for l in lines), lines
    assert any("'output.s3.max_size' must be 1KiB to 64MiB" in l for l in lines), lines
    assert any("unknown key 'gzp' in 'output.s3' (did you mean 'gzip'?)" in l for l in lines), lines
    p = table("""
lease: {backend: s3, bucket: fleet, endpoint: "http://127.0.0.1:9"}
jobs:
  - {name: a, schedule: "* * * * *", command: "true", output: s3}
""", name="ip.yaml")
    r = run("check", "-c", p)
    assert r.returncode != 0
    assert "virtual-hosted-style URLs need a host name (set path_style: true)" in r.stderr


def api_get(sock, target):
    status, body = api_call(sock, target)
    return status, json.loads(body)


def _etcd():
    from fleet import ETCD, EtcdCluster
    if not os.path.exists(ETCD):
        pytest.skip("etcd-server is not installed")
    cluster = EtcdCluster(1)
    return cluster, f"{{backend: etcd, endpoints: {cluster.endpoints}}}"


def _redis():
    from fleet import REDIS, RedisServer
    if not os.path.exists(REDIS):
        pytest.skip("redis-server is not installed")
    server = RedisServer()
    return server, f"{{backend: redis, endpoints: [\"{server.endpoint}\"]}}"


class _Pg:
    def __init__(self):
        from fleet import PgServer
        self.server = PgServer()

    def stop(self):
        self.server.close()


def _postgres():
    from fleet import _pg_bin
    if not _pg_bin():
        pytest.skip("postgresql is not installed")
    pg = _Pg()
    return pg, f"{{backend: postgres, dsn: \"{pg.server.dsn()}\"}}"


@pytest.mark.parametrize("store", [_etcd, _redis, _postgres], ids=["etcd", "redis", "postgres"])
def test_other_leases_records_name_the_object_too(daemon, s3rver, tmp_path, store):
    server, lease = store()
    sock = str(tmp_path / "api.sock")
    d = None
    try:
        d = daemon(output_table(s3rver, schedule="*/2 * * * * *",
                                top=f"lease: {lease}\napi: {{socket: {sock}}}"),
                   env=env(**S3RVER_ENV))
        rec = d.event("output_uploaded", job="talk", timeout=20)
        deadline = time.monotonic() + 10
        while True:         # the final record and the upload end on their own
            status, runs = api_get(sock, "/v1/jobs/talk/runs?limit=20")
            assert status == 200
            mine = [r for r in runs["runs"] if r["run"] == rec["run"]]
            if (mine and mine[0]["result"] != "running") or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert mine and mine[0]["result"] == "succeeded"
        assert mine[0]["output"] == rec["object"]
        key = rec["object"].split("/", 3)[3]
        body, headers = s3rver_get(s3rver, key)
        assert sorted(body.split()) == [b"err", b"out"]
    finally:
        if d:
            d.stop()        # before its store goes
        server.stop()


def test_idle_after_an_upload_makes_no_wakeups(daemon, s3rver):
    # An @reboot run's output is uploaded; then nothing is due for a year: the S3 client it
    # left (and its kept-alive connection) must not wake the daemon.
    from conftest import ctx_switches
    d = daemon(output_table(s3rver, schedule="@reboot", command="echo booted"),
               env=env(**S3RVER_ENV))
    rec = d.event("output_uploaded", job="talk", timeout=20)
    assert rec["bytes"] == "7"
    time.sleep(0.5)         # what the upload set in motion settles
    before = ctx_switches(d.proc.pid)
    time.sleep(3)           # the measurement window itself
    after = ctx_switches(d.proc.pid)
    assert after == before, f"{after - before} context switches in 3 s of idling"


def test_manual_runs_and_unelected_jobs_have_their_own_keys(daemon, s3rver, tmp_path):
    import http.client
    sock = str(tmp_path / "api.sock")
    d = daemon(f"""
api: {{socket: {sock}}}
defaults:
  output: {{s3: {{bucket: test-bucket, endpoint: {s3rver}, path_style: true, prefix: p}}}}
jobs:
  - {{name: by-hand, schedule: "0 0 1 1 *", command: echo manual}}
  - {{name: everywhere, schedule: "*/2 * * * * *", command: echo here, lease: none}}
""", env=env(**S3RVER_ENV))
    d.event("ready")

    class Conn(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(sock)
    c = Conn("localhost", timeout=10)
    c.request("POST", "/v1/jobs/by-hand/run", headers={"Idempotency-Key": "k-1"})
    assert c.getresponse().status == 202
    c.close()
    rec = d.event("output_uploaded", job="by-hand", timeout=20)
    assert rec["object"] == "s3://test-bucket/p/by-hand/manual-k-1/output"
    assert s3rver_get(s3rver, "p/by-hand/manual-k-1/output")[0] == b"manual\n"
    # lease: none: every replica runs it, so each one's object names its host.
    rec = d.event("output_uploaded", job="everywhere", timeout=20)
    fin = d.event("run_finished", job="everywhere", run=rec["run"])
    key = f"p/everywhere/{fin['scheduled']}/output-{socket.gethostname()}"
    assert rec["object"] == f"s3://test-bucket/{key}"
    assert s3rver_get(s3rver, key)[0] == b"here\n"
