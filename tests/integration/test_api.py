# SPDX-License-Identifier: MIT
"""The HTTP API, as an operator and a scraper use it: curl and http.client as clients,
promtool checks every /metrics body, and the clients that misbehave."""
import http.client
import json
import os
import shutil
import socket
import subprocess
import time

import pytest

from conftest import clean_env, maps_library
from fleet import free_port

PROMTOOL = shutil.which("promtool")


def table_with_api(port, sock, token_file=None, extra=""):
    token = f"\n  token_file: {token_file}" if token_file else ""
    return f"""
api:
  listen: 127.0.0.1:{port}
  socket: {sock}{token}
jobs:
  - name: tick
    schedule: "* * * * * *"
    command: ["true"]
  - name: failing
    schedule: "*/2 * * * * *"
    command: 'exit 3'
{extra}"""


def request(port, method, path, body=None, headers=None, timeout=10):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.getheaders(), r.read()
    finally:
        c.close()


def unix_request(path, method, target, timeout=10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(f"{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
              f"Content-Length: 0\r\n\r\n".encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def check_metrics(body):
    """promtool's verdict on a /metrics body: lint problems are failures too."""
    if not PROMTOOL:
        pytest.fail("promtool is not installed (Debian's prometheus package; tests/install-deps)")
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()


def metric(body, name, **labels):
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in body.decode().splitlines():
        if line.startswith(f"{name}{{{want}}} ") or (not labels and line.startswith(name + " ")):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name}{{{want}}} in metrics")


@pytest.fixture
def api(daemon, tmp_path):
    """A daemon with the API on (TCP on a free port, and a unix socket)."""
    def start(extra="", token=None, env=None):
        port = free_port()
        sock = str(tmp_path / "api.sock")
        token_file = None
        if token is not None:
            token_file = tmp_path / "api.token"
            token_file.write_text(token + "\n")
            token_file.chmod(0o600)
        d = daemon(table_with_api(port, sock, token_file, extra), env=env)
        d.event("api_listening")
        d.port, d.sock = port, sock
        return d
    return start


def test_api_is_off_without_its_section(daemon, tmp_path):
    d = daemon("jobs: []\n")
    d.event("ready")
    assert not d.find("api_listening")
    assert not list(tmp_path.glob("*.sock"))
    # api/httplib.c: libhttp-parser is loaded when the API starts, not before.
    assert not maps_library(d, "libhttp_parser")


def test_health_ready_and_jobs(api):
    d = api()
    assert maps_library(d, "libhttp_parser")
    status, headers, body = request(d.port, "GET", "/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    status, _, body = request(d.port, "GET", "/readyz")
    assert (status, json.loads(body)["status"]) == (200, "ready")
    d.event("run_finished", job="failing")
    status, _, body = request(d.port, "GET", "/v1/jobs")
    jobs = {j["name"]: j for j in json.loads(body)["jobs"]}
    assert status == 200 and set(jobs) == {"tick", "failing"}
    assert jobs["tick"]["schedule"] == "* * * * * *" and jobs["tick"]["timezone"] == "UTC"
    assert len(jobs["tick"]["next"]) == 3 and not jobs["tick"]["paused"]
    last = jobs["failing"]["recent"][0]
    assert (last["result"], last["status"], last["attempts"]) == ("failed", 3, 1)
    status, _, body = request(d.port, "GET", "/v1/jobs/failing")
    assert status == 200 and json.loads(body)["name"] == "failing"
    assert request(d.port, "GET", "/v1/jobs/nope")[0] == 404
    assert request(d.port, "GET", "/nope")[0] == 404
    assert unix_request(d.sock, "DELETE", "/v1/jobs")[0] == 405
    assert unix_request(d.sock, "POST", "/metrics")[0] == 405
    assert request(d.port, "DELETE", "/v1/jobs")[0] == 401     # a write, over TCP


def test_metrics_are_valid_and_count(api):
    d = api()
    d.event("run_finished", job="failing", count=2)
    _, headers, body = request(d.port, "GET", "/metrics")
    assert dict(headers)["Content-Type"].startswith("text/plain; version=0.0.4")
    check_metrics(body)
    assert metric(body, "solocron_job_runs_total", job="failing", result="failed") >= 2
    assert metric(body, "solocron_job_duration_seconds_count", job="failing") >= 2
    assert metric(body, "solocron_job_last_run_timestamp_seconds", job="failing") > 0
    assert metric(body, "solocron_job_last_success_timestamp_seconds", job="failing") == 0
    assert metric(body, "solocron_job_next_run_timestamp_seconds", job="tick") > time.time() - 2
    assert metric(body, "solocron_lease_elections_total", job="failing", outcome="won") >= 2
    assert metric(body, "solocron_build_info", version="0.1.0") == 1
    # The counters of a job that survives a reload survive with it.
    before = metric(body, "solocron_job_runs_total", job="failing", result="failed")
    status, body = unix_request(d.sock, "POST", "/v1/reload")
    assert status == 200 and json.loads(body)["reloaded"]
    _, _, body = request(d.port, "GET", "/metrics")
    check_metrics(body)
    assert metric(body, "solocron_job_runs_total", job="failing", result="failed") >= before
    assert metric(body, "solocron_config_reloads_total", result="success") == 1


def test_token_rules(api):
    d = api(token="s3cret-token")
    # Reads from this machine are open; writes over TCP need the token.
    assert request(d.port, "GET", "/v1/jobs")[0] == 200
    status, headers, _ = request(d.port, "POST", "/v1/reload")
    assert status == 401 and dict(headers)["WWW-Authenticate"] == "Bearer"
    assert request(d.port, "POST", "/v1/reload",
                   headers={"Authorization": "Bearer wrong"})[0] == 403
    assert request(d.port, "POST", "/v1/reload",
                   headers={"Authorization": "Bearer s3cret-token"})[0] == 200
    # The unix socket's mode is its check.
    assert oct(os.stat(d.sock).st_mode & 0o777) == "0o660"
    assert unix_request(d.sock, "POST", "/v1/reload")[0] == 200


def test_a_token_others_can_read_is_refused(daemon, tmp_path):
    token = tmp_path / "api.token"
    token.write_text("abc\n")
    token.chmod(0o644)
    d = daemon(table_with_api(free_port(), str(tmp_path / "api.sock"), token))
    assert d.proc.wait(timeout=15) == 1
    rec = d.event("api_failed")
    assert "may be read by others (mode 644): chmod 600 it" in rec["msg"]


def raw(port, data, timeout=10, shut=False):
    """Send bytes, read the answer until the server closes (or the timeout)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    if shut:
        s.shutdown(socket.SHUT_WR)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except socket.timeout:
        pass
    s.close()
    return out


def test_bad_clients_get_their_answers(api):
    d = api()
    assert raw(d.port, b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    big = b"GET /v1/jobs HTTP/1.1\r\nX-Pad: " + b"a" * 9000 + b"\r\n\r\n"
    assert raw(d.port, big).startswith(b"HTTP/1.1 431 ")
    body = b"POST /v1/reload HTTP/1.1\r\nContent-Length: 70000\r\n\r\n" + b"x" * 70000
    assert raw(d.port, body).startswith(b"HTTP/1.1 413 ")
    long_url = b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\n\r\n"
    assert raw(d.port, long_url).startswith(b"HTTP/1.1 414 ")
    # Half-closed after a whole request: the answer still comes.
    out = raw(d.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", shut=True)
    assert out.startswith(b"HTTP/1.1 200 ") and out.endswith(b'{"status":"ok"}\n')
    # Keep-alive and pipelining: two requests, two answers, in order.
    out = raw(d.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.count(b"HTTP/1.1 200 ") == 2 and out.endswith(b'{"status":"ready"}\n')
    assert d.proc.poll() is None


def test_slow_client_gets_408_and_firings_go_on(api):
    d = api(env=clean_env(SOLOCRON_TEST_API_HEAD_TIMEOUT_MSEC="1500"))
    if not os.environ.get("SOLOCRON_TEST_HOOKS"):
        pytest.skip("needs a build with -Dtest_hooks=true")
    s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    n = len(d.find("run_started", job="tick"))
    t0 = time.monotonic()
    out = b""
    for byte in b"GET /healthz HTTP/1.1\r\n":          # a byte every 0.2 s: too slow
        try:
            s.sendall(bytes([byte]))
        except OSError:
            break
        time.sleep(0.2)
        s.setblocking(False)
        try:
            out += s.recv(4096)
        except BlockingIOError:
            pass
        s.setblocking(True)
        if out:
            break
    s.settimeout(5)
    try:
        while not out.endswith(b"}\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            out += chunk
    except OSError:
        pass
    s.close()
    assert out.startswith(b"HTTP/1.1 408 "), out
    assert 1.4 <= time.monotonic() - t0 < 4
    d.event("run_started", job="tick", count=n + 1)      # firings were not held up


def test_connections_are_capped(api):
    d = api()
    idle = [socket.create_connection(("127.0.0.1", d.port)) for _ in range(256)]
    try:
        out = raw(d.port, b"GET /healthz HTTP/1.1\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 503 "), out[:40]
    finally:
        for s in idle:
            s.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if raw(d.port, b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n").startswith(
                b"HTTP/1.1 200"):
            break
        time.sleep(0.05)
    else:
        raise AssertionError("closed connections were not freed")


def test_curl_and_the_socket(api):
    d = api()
    r = subprocess.run(["curl", "-sS", "--unix-socket", d.sock, "http://localhost/v1/jobs/tick"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and json.loads(r.stdout)["name"] == "tick"


def test_status_command(api):
    from conftest import run
    d = api(token="tok")
    d.event("run_finished", job="failing")
    r = run("status", "--socket", d.sock)
    assert r.returncode == 0, r.stderr
    header, *rows = r.stdout.splitlines()
    assert header.split()[:3] == ["JOB", "NEXT", "ZONE"]
    failing = next(l for l in rows if l.startswith("failing "))
    assert "failed (3)" in failing
    r = run("status", "tick", "--json", "--url", f"http://127.0.0.1:{d.port}")
    assert r.returncode == 0 and json.loads(r.stdout)["name"] == "tick"
    r = run("status", "nope", "--socket", d.sock)
    assert r.returncode == 1 and "no job named 'nope'" in r.stderr
    d.stop()
    r = run("status", "--socket", d.sock)
    assert r.returncode == 1 and "no daemon is listening on" in r.stderr


def test_manual_runs_and_suspend(api, tmp_path):
    ran = tmp_path / "ran"
    d = api(extra=f"""  - name: long
    schedule: "0 0 1 1 *"
    command: 'echo "$SOLOCRON_MANUAL_KEY" >> {ran}; sleep 30'
  - name: held
    schedule: "* * * * * *"
    suspend: true
    command: 'echo held >> {ran}'
""")
    status, body = unix_request(d.sock, "POST", "/v1/jobs/long/run")
    assert status == 202, body
    run = json.loads(body)
    d.event("run_started", job="long", run=run["run"])
    # overlap: skip (the default) allows no second run while one goes on.
    status, body = unix_request(d.sock, "POST", "/v1/jobs/long/run")
    assert status == 409 and b"overlap" in body
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(d.sock)
    s.sendall(b"POST /v1/jobs/held/run HTTP/1.1\r\nHost: x\r\nIdempotency-Key: a b\r\n"
              b"Connection: close\r\nContent-Length: 0\r\n\r\n")
    assert s.recv(4096).startswith(b"HTTP/1.1 400 ")
    s.close()
    # A suspended job's firings do not run, and it says so; a manual run of it does.
    d.event("firing_paused", job="held", count=2)
    status, body = unix_request(d.sock, "GET", "/v1/jobs/held")
    job = json.loads(body)
    assert job["paused"] and job["suspended"] and len(job["next"]) == 3
    status, body = unix_request(d.sock, "POST", "/v1/jobs/held/run?wait=1")
    assert status == 200 and json.loads(body)["result"] == "succeeded"
    assert ran.read_text().split() == [run["key"], "held"]
    _, _, text = request(d.port, "GET", "/metrics")
    assert metric(text, "solocron_job_paused", job="held") == 1
    assert metric(text, "solocron_job_paused", job="long") == 0
    assert metric(text, "solocron_job_running", job="long") == 1


def test_steering_commands(api, tmp_path):
    from conftest import run
    d = api(extra="""  - name: report
    schedule: "0 0 1 1 *"
    command: 'echo report; exit 5'
""")
    sock = ["--socket", d.sock]
    r = run("run-now", "report", "--wait", *sock)
    assert r.returncode == 5, r.stderr                    # the job's own status
    assert "failed, exit status 5" in r.stdout
    r = run("run-now", "report", "--key", "k1", "--json", *sock)
    first = json.loads(r.stdout)
    assert r.returncode == 0 and first["state"] in ("running", "finished")
    d.event("run_finished", job="report", run=first["run"])
    r = run("run-now", "report", "--key", "k1", "--wait", *sock)   # the same key: that run
    assert r.returncode == 5 and first["run"] in r.stdout, r.stdout
    r = run("pause", "tick", *sock)
    assert r.returncode == 0 and r.stdout == "tick: paused on this host\n", r.stdout
    assert json.loads(run("status", "tick", "--json", *sock).stdout)["paused"]
    status_table = run("status", *sock).stdout
    assert next(l for l in status_table.splitlines() if l.startswith("tick ")).endswith("paused")
    r = run("resume", "tick", *sock)
    assert r.returncode == 0 and "resumed" in r.stdout
    r = run("history", "report", *sock)
    assert r.returncode == 0, r.stderr
    header, *rows = r.stdout.splitlines()
    assert header.split()[:4] == ["SCHEDULED", "(UTC)", "HOST", "RUN"]
    assert len(rows) == 2 and all(" failed " in row and " 5 " in row for row in rows)
    assert "k1" in [row.split()[-1] for row in rows]     # with its key
    r = run("history", "report", "--limit", "1", "--json", *sock)
    assert len(json.loads(r.stdout)["runs"]) == 1
    r = run("pause", "nope", *sock)
    assert r.returncode == 1 and "no such job" in r.stderr
    r = run("history", *sock)
    assert r.returncode == 64 and "Usage: solocron history JOB" in r.stderr
    r = run("pause", "tick", "--wait", *sock)
    assert r.returncode == 64 and "unknown option '--wait'" in r.stderr
    # Over TCP, writes need the token: a clear refusal without it.
    r = run("pause", "tick", "--url", f"http://127.0.0.1:{d.port}")
    assert r.returncode == 1 and "a token is needed" in r.stderr


def test_metrics_are_streamed_to_every_kind_of_client(api):
    d = api()
    d.event("run_finished", job="tick")
    # HTTP/1.1: chunked (http.client puts the chunks together).
    status, headers, body = request(d.port, "GET", "/metrics")
    assert status == 200 and dict(headers).get("Transfer-Encoding") == "chunked"
    check_metrics(body)
    # HTTP/1.0: no chunks, the body ends with the connection.
    out = raw(d.port, b"GET /metrics HTTP/1.0\r\n\r\n")
    head, _, body10 = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and b"Transfer-Encoding" not in head
    assert b"Connection: close" in head
    check_metrics(body10)
    assert metric(body10, "solocron_build_info", version="0.1.0") == 1
    # HEAD: the head alone, and the connection goes on to the next request.
    out = raw(d.port, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    first, _, rest = out.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200 ") and rest.startswith(b"HTTP/1.1 200 "), out
    assert rest.endswith(b'{"status":"ok"}\n')
