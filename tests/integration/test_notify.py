# SPDX-License-Identifier: MIT
"""Pings, webhooks and hooks (issue 13), as a user sets them up: the real daemon sends to a
local HTTP server written for these tests, which records every request and can answer
slowly, with 500, or not at all; hooks are shell commands that write down what they got.
The test server is the only stand-in: it plays healthchecks.io and a webhook receiver."""
import hashlib
import hmac
import http.server
import json
import os
import threading
import time
import urllib.parse

import pytest

from conftest import clean_env
from fleet import free_port
from test_api import check_metrics, metric, request


class Recorder(http.server.ThreadingHTTPServer):
    """Records every request; answers by path prefix: `modes[prefix]` is "ok" (200),
    "500", "slow" (answers after `slow_seconds`) or "hang" (never answers)."""
    daemon_threads = True

    def __init__(self, secret=None):
        super().__init__(("127.0.0.1", 0), Handler)
        self.port = self.server_address[1]
        self.requests = []
        self.cond = threading.Condition()
        self.modes = {}
        self.slow_seconds = 3
        self.secret = secret
        self.stopping = threading.Event()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def mode(self, path):
        for prefix, m in self.modes.items():
            if path.startswith(prefix):
                return m
        return "ok"

    def wait(self, pred, count=1, timeout=20, what="requests"):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                hits = [r for r in self.requests if pred(r)]
                if len(hits) >= count:
                    return hits
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {count} {what}; got:\n" +
                                         "\n".join(f"{r['method']} {r['raw_path']}"
                                                   for r in self.requests))
                self.cond.wait(min(left, 0.5))

    def matching(self, pred):
        with self.cond:
            return [r for r in self.requests if pred(r)]

    def close(self):
        self.stopping.set()
        self.shutdown()
        self.server_close()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        srv = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        u = urllib.parse.urlsplit(self.path)
        rec = {"method": "POST", "raw_path": self.path, "path": u.path,
               "query": urllib.parse.parse_qs(u.query), "headers": dict(self.headers.items()),
               "body": body, "time": time.monotonic()}
        sig = self.headers.get("X-Solocron-Signature-256")
        if srv.secret is not None and sig is not None:
            want = "sha256=" + hmac.new(srv.secret, body, hashlib.sha256).hexdigest()
            rec["signature_ok"] = hmac.compare_digest(sig, want)
        with srv.cond:
            srv.requests.append(rec)
            srv.cond.notify_all()
        mode = srv.mode(u.path)
        if mode == "hang":
            srv.stopping.wait(60)
            return
        if mode == "slow":
            srv.stopping.wait(srv.slow_seconds)
        status = 500 if mode == "500" else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")

    do_GET = do_POST


@pytest.fixture
def server():
    s = Recorder(secret=b"hunter2-signing-key")
    yield s
    s.close()


def fast_env(**extra):
    """Short HTTP timeouts and retries (test builds only) so that the unlucky paths end in
    seconds."""
    return clean_env(SOLOCRON_TEST_NOTIFY_TIMEOUT_MS="1500", SOLOCRON_TEST_NOTIFY_BACKOFF_MS="200",
                     **extra)


def once_soon(lead=2):
    """A six-field schedule that fires once, `lead`+ seconds from now (then a minute later)."""
    t = time.gmtime(time.time() + lead)
    return f"{t.tm_sec} * * * * *"


def hook_recorder(tmp_path, name):
    """A hook command that writes its SOLOCRON_* environment and the output file's content
    (and whether it was private) to a JSON file per run."""
    out = tmp_path / name
    out.mkdir()
    script = tmp_path / f"{name}.py"
    script.write_text(
        "import json, os, stat, sys, time\n"
        "env = {k: v for k, v in os.environ.items() if k.startswith('SOLOCRON_')}\n"
        "p = env.get('SOLOCRON_OUTPUT_FILE')\n"
        "if p:\n"
        "    st = os.stat(p)\n"
        "    env['output'] = open(p, errors='replace').read()\n"
        "    env['output_mode'] = oct(stat.S_IMODE(st.st_mode))\n"
        f"name = os.path.join({str(out)!r}, str(time.monotonic_ns()) + '.json')\n"
        "json.dump(env, open(name + '.tmp', 'w'))\n"
        "os.rename(name + '.tmp', name)\n"
        "print('hook ran for', env['SOLOCRON_JOB'])\n")
    return out, f"/usr/bin/python3 {script}"


def hook_runs(out):
    return [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]


def test_success_pings_start_and_success_with_the_run_id(daemon, server):
    d = daemon(f"""
        defaults:
          ping: {server.url('/ping/${JOB}')}
        jobs:
          - name: hello
            schedule: "* * * * * *"
            command: echo hello from the job
        """, env=fast_env())
    fin = d.event("run_finished", job="hello")
    rid = fin["run"]
    start, = server.wait(lambda r: r["path"] == "/ping/hello/start" and r["query"].get("rid") == [rid])
    end, = server.wait(lambda r: r["path"] == "/ping/hello" and r["query"].get("rid") == [rid])
    assert end["time"] >= start["time"]
    assert b"hello from the job\n" in end["body"]
    assert end["headers"]["Content-Type"].startswith("text/plain")
    assert start["body"] == b""
    assert not server.matching(lambda r: r["path"].endswith("/fail"))


def test_failure_after_retries_is_told_once(daemon, server, tmp_path):
    out, hook = hook_recorder(tmp_path, "failure")
    d = daemon(f"""
        jobs:
          - name: flaky
            schedule: "{once_soon()}"
            command: 'echo "attempt $SOLOCRON_ATTEMPT went wrong"; exit 3'
            retry: {{attempts: 3, backoff: 100ms}}
            ping: {server.url('/hc/uuid-1')}
            on_failure: {hook}
            notify:
              - url: {server.url('/hook/json')}
                on: [failure]
        """, env=fast_env())
    fin = d.event("run_finished", job="flaky", timeout=80)
    rid = fin["run"]
    assert fin["result"] == "failed" and fin["attempts"] == "3"
    d.event("hook_finished", job="flaky", hook="on_failure", result="succeeded")
    fails = server.wait(lambda r: r["path"] == "/hc/uuid-1/fail")
    hooks = server.wait(lambda r: r["path"] == "/hook/json")
    assert len(d.find("attempt_failed", job="flaky")) == 2
    # one of each, for the whole firing: not one per attempt
    assert len(fails) == 1 and fails[0]["query"]["rid"] == [rid]
    assert b"attempt 1 went wrong" in fails[0]["body"]
    assert b"--- solocron: attempt 3 ---\nattempt 3 went wrong" in fails[0]["body"]
    assert len(hooks) == 1
    p = json.loads(hooks[0]["body"])
    assert p["event"] == "failure" and p["job"] == "flaky" and p["run_id"] == rid
    assert p["result"] == "failed" and p["exit_status"] == 3 and p["signal"] is None
    assert p["attempt"] == 3 and p["host"] and p["output_truncated"] is False
    assert "attempt 3 went wrong" in p["output"]
    assert hooks[0]["headers"]["X-Solocron-Event"] == "failure"
    assert "X-Solocron-Signature-256" not in hooks[0]["headers"]
    runs = hook_runs(out)
    assert len(runs) == 1
    h = runs[0]
    assert h["SOLOCRON_JOB"] == "flaky" and h["SOLOCRON_RUN_ID"] == rid
    assert h["SOLOCRON_RESULT"] == "failed" and h["SOLOCRON_EXIT_STATUS"] == "3"
    assert h["SOLOCRON_SIGNAL"] == "" and h["SOLOCRON_ATTEMPT"] == "3"
    assert h["SOLOCRON_HOST"] == p["host"] and float(h["SOLOCRON_DURATION"]) > 0
    assert "attempt 3 went wrong" in h["output"] and h["output_mode"] == "0o600"
    assert not os.path.exists(h["SOLOCRON_OUTPUT_FILE"])   # removed when the hook ended
    # the hook's own output is in the log, under the job, marked as the hook
    line = d.event("output", job="flaky", run=f"{rid}/on_failure")
    assert line["line"] == "hook ran for flaky"
    assert not server.matching(lambda r: r["path"] == "/hc/uuid-1" and r["query"].get("rid") == [rid])


def test_timeout_is_a_failure_with_its_signal(daemon, server, tmp_path):
    out, hook = hook_recorder(tmp_path, "timeout")
    d = daemon(f"""
        jobs:
          - name: slow
            schedule: "{once_soon()}"
            command: 'echo started; exec sleep 30'
            timeout: 1s
            ping: {server.url('/hc/slow')}
            on_failure: {{command: {hook}, timeout: 20s}}
            notify: [{{url: {server.url('/hook/t')}}}]
        """, env=fast_env())
    fin = d.event("run_finished", job="slow", timeout=80)
    assert fin["result"] == "timed_out"
    d.event("hook_finished", job="slow", hook="on_failure")
    fail, = server.wait(lambda r: r["path"] == "/hc/slow/fail")
    assert b"started" in fail["body"]
    hook_post, = server.wait(lambda r: r["path"] == "/hook/t")
    p = json.loads(hook_post["body"])
    assert p["result"] == "timed_out" and p["signal"] == "SIGTERM" and p["exit_status"] is None
    h, = hook_runs(out)
    assert h["SOLOCRON_RESULT"] == "timed_out" and h["SOLOCRON_SIGNAL"] == "SIGTERM"
    assert h["SOLOCRON_EXIT_STATUS"] == ""


def test_recovery_is_told_once(daemon, server, tmp_path):
    flag = tmp_path / "failed-once"
    out, hook = hook_recorder(tmp_path, "success")
    d = daemon(f"""
        jobs:
          - name: comeback
            schedule: "* * * * * *"
            command: 'test -e {flag} || {{ touch {flag}; echo broken; exit 1; }}; echo fine'
            ping: {server.url('/hc/cb')}
            on_success: {hook}
            notify: [{{url: {server.url('/hook/r')}, on: [recovered]}}]
        """, env=fast_env())
    d.event("run_finished", job="comeback", result="failed")
    ok1, ok2 = d.event("run_finished", job="comeback", result="succeeded", count=2)
    posts = server.wait(lambda r: r["path"] == "/hook/r")
    p = json.loads(posts[0]["body"])
    assert p["event"] == "recovered" and p["result"] == "succeeded"
    assert p["run_id"] == ok1["run"]
    # the success after that is no recovery
    server.wait(lambda r: r["path"] == "/hc/cb" and r["query"]["rid"] == [ok2["run"]])
    d.event("hook_finished", job="comeback", hook="on_success", count=2)
    assert len(server.matching(lambda r: r["path"] == "/hook/r")) == 1
    assert len(server.matching(lambda r: r["path"] == "/hc/cb/fail")) == 1
    runs = hook_runs(out)
    assert runs[0]["SOLOCRON_EVENT"] == "recovered" and runs[1]["SOLOCRON_EVENT"] == "success"


def test_a_hook_that_hangs_is_killed_at_its_timeout(daemon, tmp_path):
    pidfile = tmp_path / "hook.pid"
    d = daemon(f"""
        jobs:
          - name: boom
            schedule: "{once_soon()}"
            command: 'exit 1'
            kill_after: 1s
            on_failure:
              command: 'echo $$$$ > {pidfile}; trap "" TERM; sleep 60 & sleep 60; wait'
              timeout: 1s
        """)
    started = d.event("hook_started", job="boom", timeout=80)
    d.event("hook_timeout", job="boom")
    d.event("hook_killed", job="boom")
    done = d.event("hook_finished", job="boom")
    assert done["result"] == "timed_out" and done["status"] == "SIGKILL"
    pid = int(pidfile.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    # the whole group goes (its killed members are zombies until the daemon reaps them)
    pgid = int(started["msg"].rsplit("=", 1)[1])
    deadline = time.monotonic() + 5
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "the hook's process group outlived it"
        time.sleep(0.05)
    # the next firing is not held up by it
    assert d.find("run_finished", job="boom")[0]["result"] == "failed"


def test_webhook_signature_verified_by_the_server(daemon, server, tmp_path):
    secret = tmp_path / "hook.secret"
    secret.write_bytes(b"hunter2-signing-key\n")
    secret.chmod(0o600)
    d = daemon(f"""
        jobs:
          - name: signed
            schedule: "{once_soon()}"
            command: 'printf "caf\\303\\251 \\377 bytes\\n"; exit 2'
            notify: [{{url: {server.url('/hook/signed')}, secret_file: {secret}}}]
        """, env=fast_env())
    d.event("run_finished", job="signed", timeout=80)
    post, = server.wait(lambda r: r["path"] == "/hook/signed")
    assert post["headers"]["X-Solocron-Signature-256"].startswith("sha256=")
    assert post["signature_ok"] is True
    assert post["headers"]["Content-Type"] == "application/json"
    p = json.loads(post["body"])        # valid JSON despite the invalid UTF-8 in the output
    assert "café" in p["output"] and "\ufffd" in p["output"]


def test_unreachable_and_failing_servers_are_logged_and_counted(daemon, server, tmp_path):
    server.modes["/broken"] = "500"
    dead = free_port()                  # nothing listens there
    port, sock = free_port(), str(tmp_path / "api.sock")
    d = daemon(f"""
        api:
          listen: 127.0.0.1:{port}
          socket: {sock}
        jobs:
          - name: steady
            schedule: "* * * * * *"
            command: 'echo tick'
            ping: http://127.0.0.1:{dead}/ping
            notify: [{{url: {server.url('/broken/hook')}, on: [success]}}]
        """, env=fast_env())
    first = d.event("notify_failed", job="steady", channel="ping", timeout=30)
    assert first["url"] == f"http://127.0.0.1:{dead}/…"    # the path (a secret) is not logged
    assert "not delivered after 4 tries" in first["msg"]
    hook_fail = d.event("notify_failed", job="steady", channel="webhook", timeout=30)
    assert "HTTP status 500" in hook_fail["msg"]
    tries = server.matching(lambda r: r["path"] == "/broken/hook"
                            and json.loads(r["body"])["run_id"] == hook_fail["run"])
    assert len(tries) == 4
    # the job went on every second meanwhile, all successes
    runs = d.event("run_finished", job="steady", count=4)
    assert all(r["result"] == "succeeded" for r in runs)
    status, _, body = request(port, "GET", "/metrics")
    assert status == 200
    check_metrics(body)
    assert metric(body, "solocron_notifications_total", channel="ping", result="failed") >= 1
    assert metric(body, "solocron_notifications_total", channel="webhook", result="failed") >= 1
    assert metric(body, "solocron_notifications_total", channel="hook", result="delivered") == 0


def test_the_end_ping_waits_for_the_start_ping(daemon, server):
    """A run over in a moment: its success ping is sent once its start ping is answered (the
    service would see the run start after it ended, and wait for an end that was sent)."""
    server.modes["/ping/quick/start"] = "slow"
    server.slow_seconds = 0.8           # under the test build's 1.5 s timeout
    d = daemon(f"""
        jobs:
          - name: quick
            schedule: "{once_soon()}"
            command: 'true'
            ping: {server.url('/ping/${JOB}')}
        """, env=fast_env())
    rid = d.event("run_finished", job="quick", timeout=80)["run"]
    start, = server.wait(lambda r: r["path"] == "/ping/quick/start" and r["query"]["rid"] == [rid])
    end, = server.wait(lambda r: r["path"] == "/ping/quick" and r["query"]["rid"] == [rid])
    assert end["time"] >= start["time"] + 0.8, end["time"] - start["time"]
    assert not d.find("notify_failed")


def test_a_server_that_never_answers_does_not_delay_the_job(daemon, server):
    server.modes["/hang"] = "hang"
    d = daemon(f"""
        jobs:
          - name: steady
            schedule: "* * * * * *"
            command: 'true'
            ping: {server.url('/hang/p')}
        """, env=fast_env())
    runs = d.event("run_finished", job="steady", count=3)
    assert all(r["result"] == "succeeded" for r in runs)
    failed = d.event("notify_failed", job="steady", channel="ping", timeout=30)
    assert "tim" in failed["msg"].lower()


def test_a_slow_server_is_waited_for(daemon, server):
    server.modes["/slow"] = "slow"
    server.slow_seconds = 0.8           # under the test build's 1.5 s timeout
    d = daemon(f"""
        jobs:
          - name: patient
            schedule: "{once_soon()}"
            command: 'true'
            ping: {server.url('/slow/p')}
        """, env=fast_env())
    fin = d.event("run_finished", job="patient", timeout=80)
    server.wait(lambda r: r["path"] == "/slow/p" and r["query"]["rid"] == [fin["run"]])
    assert not d.find("notify_failed")


def test_slack_shape(daemon, server):
    d = daemon(f"""
        jobs:
          - name: chatty
            schedule: "{once_soon()}"
            command: 'echo "<b>&"; exit 4'
            notify: [{{url: {server.url('/slack')}, format: slack}}]
        """, env=fast_env())
    fin = d.event("run_finished", job="chatty", timeout=80)
    post, = server.wait(lambda r: r["path"] == "/slack")
    p = json.loads(post["body"])
    assert set(p) == {"text", "blocks"}
    assert "chatty" in p["text"] and "failed" in p["text"]
    assert all(b["type"] == "section" for b in p["blocks"])
    fields = [f["text"] for f in p["blocks"][1]["fields"]]
    assert "*Result*\nfailed" in fields and "*Exit status*\n4" in fields
    assert f"*Run*\n{fin['run']}" in fields
    assert p["blocks"][2]["text"]["text"] == "```&lt;b&gt;&amp;\n```"


def test_check_reports_bad_notification_settings(table, tmp_path):
    from conftest import run
    open_secret = tmp_path / "open.secret"
    open_secret.write_text("x\n")
    open_secret.chmod(0o644)
    path = table(f"""
        jobs:
          - name: j
            schedule: "@daily"
            command: "true"
            ping: ftp://example.com/x
            notify:
              - url: https://example.com/h
                on: [failure, recoverd]
              - url: https://example.com/h2
                secret_file: {open_secret}
        """)
    r = run("check", "-c", path)
    assert r.returncode != 0
    assert "solocron.yaml:6:11: job 'j': 'ping' must be an http:// or https:// URL" in r.stderr
    assert "unknown notify event 'recoverd' (did you mean 'recovered'?)" in r.stderr
    assert "chmod 600" in r.stderr


def test_shutdown_stops_a_running_hook(daemon, tmp_path):
    d = daemon(f"""
        jobs:
          - name: done
            schedule: "{once_soon()}"
            command: 'true'
            on_success: {{command: 'echo hook up; exec sleep 60', timeout: 5m}}
        """)
    d.event("output", job="done", line="hook up", timeout=80)
    t0 = time.monotonic()
    assert d.stop(timeout=20) == 0
    assert time.monotonic() - t0 < 10
    fin = d.event("hook_finished", job="done", hook="on_success")
    assert fin["result"] == "signal" and fin["status"] == "SIGTERM"
    assert d.event("stopped")


def test_reload_lets_a_running_hook_finish(daemon, tmp_path):
    import signal
    gate = tmp_path / "gate"
    d = daemon(f"""
        jobs:
          - name: gone
            schedule: "{once_soon()}"
            command: 'exit 1'
            on_failure: 'echo waiting; while ! test -e {gate}; do sleep 0.1; done; echo released'
        """)
    d.event("output", job="gone", line="waiting", timeout=80)
    with open(d.table_path, "w") as f:
        f.write("jobs: []\n")
    d.signal(signal.SIGHUP)
    d.event("reloaded")
    gate.touch()
    d.event("output", job="gone", line="released")
    fin = d.event("hook_finished", job="gone", hook="on_failure")
    assert fin["result"] == "succeeded"


def test_every_attempt_and_on_retry(daemon, tmp_path):
    fail_out, fail_hook = hook_recorder(tmp_path, "every")
    retry_out, retry_hook = hook_recorder(tmp_path, "retry")
    d = daemon(f"""
        jobs:
          - name: flaky
            schedule: "{once_soon()}"
            command: 'exit 5'
            retry: {{attempts: 3, backoff: 100ms}}
            on_failure: {{command: {fail_hook}, every_attempt: true}}
            on_retry: {retry_hook}
        """)
    d.event("run_finished", job="flaky", timeout=80)
    d.event("hook_finished", job="flaky", hook="on_failure", count=3)
    d.event("hook_finished", job="flaky", hook="on_retry", count=2)
    fails, retries = hook_runs(fail_out), hook_runs(retry_out)
    assert sorted(h["SOLOCRON_ATTEMPT"] for h in fails) == ["1", "2", "3"]
    assert sorted(h["SOLOCRON_ATTEMPT"] for h in retries) == ["1", "2"]
    assert {h["SOLOCRON_EVENT"] for h in retries} == {"retry"}
    assert sorted(h["SOLOCRON_EVENT"] for h in fails) == ["failure", "retry", "retry"]


def test_shutdown_sends_the_last_ping_and_does_not_wait_long(daemon, server):
    server.modes["/hang"] = "hang"
    d = daemon(f"""
        jobs:
          - name: long
            schedule: "{once_soon()}"
            command: 'exec sleep 60'
            ping: {server.url('/hc/long')}
          - name: hung
            schedule: "{once_soon()}"
            command: 'exec sleep 60'
            ping: {server.url('/hang/hung')}
        """, env=fast_env())
    run = d.event("run_started", job="long", timeout=80)
    d.event("run_started", job="hung")
    server.wait(lambda r: r["path"] == "/hang/hung/start")
    t0 = time.monotonic()
    assert d.stop(timeout=30) == 0
    assert time.monotonic() - t0 < 8
    fail, = server.wait(lambda r: r["path"] == "/hc/long/fail")
    assert fail["query"]["rid"] == [run["run"]]
    assert d.find("notify_failed", job="hung", channel="ping")


def test_idle_after_notifications_makes_no_wakeups(daemon, server, tmp_path):
    from conftest import ctx_switches
    port, sock = free_port(), str(tmp_path / "api.sock")
    d = daemon(f"""
        api:
          listen: 127.0.0.1:{port}
          socket: {sock}
        jobs:
          - name: once
            schedule: "{once_soon()}"
            command: 'echo done'
            ping: {server.url('/hc/once')}
            notify: [{{url: {server.url('/hook/once')}, on: [success]}}]
            on_success: 'true'
        """, env=fast_env())
    fin = d.event("run_finished", job="once", timeout=80)
    server.wait(lambda r: r["path"] == "/hc/once" and r["query"]["rid"] == [fin["run"]])
    server.wait(lambda r: r["path"] == "/hook/once")
    d.event("hook_finished", job="once")
    # The server has the requests; the daemon is done with them once it has counted their
    # answers (a slow answer under ASan is tried again: that is work, not an idle wakeup).
    want = {("ping", 2), ("webhook", 1), ("hook", 1)}
    deadline = time.monotonic() + 20
    while True:
        status, _, body = request(port, "GET", "/metrics")
        assert status == 200
        got = {(c, metric(body, "solocron_notifications_total", channel=c, result="delivered"))
               for c, _ in want}
        if got == want:
            break
        assert time.monotonic() < deadline, got
        time.sleep(0.2)
    # then the answer to that request and its connection's close: quiet for a second
    before = ctx_switches(d.proc.pid)
    while True:
        time.sleep(1)
        now = ctx_switches(d.proc.pid)
        if now == before:
            break
        assert time.monotonic() < deadline + 10, "the daemon never went quiet"
        before = now
    time.sleep(3)               # the measurement window itself
    assert ctx_switches(d.proc.pid) == before


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run as nobody")
def test_a_hook_runs_as_the_jobs_user(daemon, tmp_path):
    d = daemon(f"""
        jobs:
          - name: as-nobody
            schedule: "{once_soon()}"
            command: 'echo secret tail; exit 1'
            user: nobody
            on_failure: 'echo "$(id -un) $(cat "$SOLOCRON_OUTPUT_FILE")"'
        """)
    line = d.event("output", job="as-nobody", run=d.event("run_finished", job="as-nobody",
                                                          timeout=80)["run"] + "/on_failure")
    assert line["line"] == "nobody secret tail"
    assert d.event("hook_finished", job="as-nobody")["result"] == "succeeded"
