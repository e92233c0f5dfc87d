# SPDX-License-Identifier: MIT
"""The status page (GET /) as people see it: the raw HTML that curl and a browser without
JavaScript get, and the page after Debian's chromium, headless, has run its script."""
import html.parser
import json
import shutil
import subprocess
import time
from datetime import datetime, timedelta

import pytest

from conftest import clean_env
from test_api import api, metric, raw, request  # noqa: F401 (api is a fixture)

CHROMIUM = shutil.which("chromium")
# Two jobs beside test_api's tick and failing: a zone with < and > in its name (a POSIX TZ
# string), which the server must escape, and a disabled job.
JOBS = """  - name: zoned
    schedule: "*/2 * * * * *"
    timezone: "<+0330>-3:30"
    command: ["true"]
  - name: off
    schedule: "@daily"
    enabled: false
    command: ["true"]
"""
TOKEN = "page-token"


class Cell:
    def __init__(self):
        self.text = ""
        self.marks = []         # (result, title) of each mark
        self.buttons = []       # their data-verb
        self.times = []         # their datetime (UTC)


class Tables(html.parser.HTMLParser):
    """The tables of a page by id: their rows, each a list of Cells."""

    def __init__(self, text):
        super().__init__()
        self.tables, self.rows, self.cell = {}, None, None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.rows = self.tables.setdefault(a.get("id"), [])
        elif tag == "tr" and self.rows is not None:
            self.rows.append([])
        elif tag in ("th", "td") and self.rows:
            self.cell = Cell()
            self.rows[-1].append(self.cell)
        elif self.cell and tag == "span" and "mark" in a.get("class", "").split():
            self.cell.marks.append((a["class"].split()[1], a.get("title")))
        elif self.cell and tag == "button":
            self.cell.buttons.append(a["data-verb"])
        elif self.cell and tag == "time":
            self.cell.times.append(a["datetime"])

    def handle_endtag(self, tag):
        if tag in ("th", "td"):
            self.cell = None
        elif tag == "table":
            self.rows = None

    def handle_data(self, data):
        if self.cell:
            self.cell.text += data


def rows(page, table="jobs"):
    """The rows of a table as {first cell's text: {column header: Cell}}."""
    header, *body = Tables(page).tables[table]
    names = [c.text for c in header]
    return {r[0].text: dict(zip(names, r)) for r in body}


def dump_dom(url, tmp_path, tz="Asia/Tokyo"):
    """The page's DOM once chromium has run its script (virtual time: 5 s of it)."""
    if not CHROMIUM:
        pytest.fail("chromium is not installed (Debian's chromium package; tests/install-deps)")
    profile = tmp_path / "chromium"
    r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom",
                        url], capture_output=True, text=True, timeout=90,
                       env=clean_env(TZ=tz))
    assert r.returncode == 0 and "</html>" in r.stdout, r.stderr[-3000:]
    # The script ran (the CSP let it): it says when it last read the jobs.
    assert 'id="updated">Updated at ' in r.stdout, r.stdout
    return r.stdout


def page_daemon(api):
    d = api(extra=JOBS, token=TOKEN)
    d.event("run_finished", job="failing")
    d.event("run_finished", job="tick")
    return d


def test_the_page_reads_without_javascript(api):
    d = page_daemon(api)
    status, headers, body = request(d.port, "GET", "/")
    headers = dict(headers)
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'sha256-" in csp
    assert "unsafe-inline" not in csp
    page = body.decode()
    assert "&lt;+0330&gt;-3:30" in page and "<+0330>" not in page
    jobs = rows(page)
    assert list(jobs) == ["tick", "failing", "zoned", "off"]
    failing = jobs["failing"]
    assert failing["Schedule"].text == "*/2 * * * * *" and failing["Zone"].text == "UTC"
    assert failing["State"].text == "active"
    assert failing["Last result"].text == "failed (3)"
    assert failing["Last result"].marks[0][0] == "failed"
    assert jobs["tick"]["Last result"].text == "succeeded"
    zoned = jobs["zoned"]["Next firing (job's zone)"]
    assert zoned.text.endswith("+03:30") and zoned.times[0].endswith("Z")
    assert jobs["off"]["State"].text == "disabled"
    assert jobs["off"]["Next firing (job's zone)"].text == "none"
    # HEAD: the same head, no body (the next answer on the connection follows at once).
    out = raw(d.port, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, rest = out.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 ") and b"Content-Security-Policy: " in head
    assert rest.startswith(b"HTTP/1.1 200 "), rest[:80]
    assert request(d.port, "POST", "/", headers={"Authorization": f"Bearer {TOKEN}"})[0] == 405


def test_the_page_in_a_browser(api, tmp_path):
    d = page_daemon(api)
    page = dump_dom(f"http://127.0.0.1:{d.port}/#history:failing", tmp_path)
    jobs = rows(page)
    assert list(jobs) == ["tick", "failing", "zoned", "off"]
    failing = jobs["failing"]
    results = failing["Last results (oldest first)"].marks
    assert results and all(r == "failed" for r, _ in results)
    assert "exit status 3" in results[-1][1]
    assert all(r == "succeeded" for r, _ in jobs["tick"]["Last results (oldest first)"].marks)
    assert failing["Actions"].buttons == ["run", "pause"]
    assert jobs["off"]["Actions"].buttons == ["run"] and jobs["off"]["State"].text == "disabled"
    # The next firing in the viewer's zone (Tokyo, UTC+9, no DST).
    mine = jobs["zoned"]["Next firing (your zone, Asia/Tokyo)"]
    utc = datetime.strptime(mine.times[0], "%Y-%m-%dT%H:%M:%SZ")
    assert mine.text == (utc + timedelta(hours=9)).strftime("%Y-%m-%d %H:%M:%S")
    assert jobs["zoned"]["Next firing (job's zone)"].text.endswith("+03:30")
    assert jobs["zoned"]["Zone"].text == "<+0330>-3:30"
    # The fleet's history, or why there is none.
    status = request(d.port, "GET", "/v1/jobs/failing/runs?limit=50")[0]
    assert "<h2>History of failing</h2>" in page
    if status == 200:
        assert rows(page, "runs"), page
    else:
        assert f"History unavailable (HTTP {status})." in page


def test_a_paused_job_shows_paused(api, tmp_path):
    d = page_daemon(api)
    status, _, _ = request(d.port, "POST", "/v1/jobs/tick/pause",
                           headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200
    _, _, body = request(d.port, "GET", "/")
    assert rows(body.decode())["tick"]["State"].text == "paused"
    tick = rows(dump_dom(f"http://127.0.0.1:{d.port}/", tmp_path))["tick"]
    assert tick["State"].text == "paused" and tick["Actions"].buttons == ["run", "resume"]


def test_a_job_paused_while_it_runs_stays_paused(api, tmp_path):
    """Its run's election, older than the pause, must not undo it when the run ends. The job
    fires once a minute, so no later election says paused again before the page is read."""
    flag = tmp_path / "go"
    second = (int(time.time()) + 3) % 60
    d = api(token=TOKEN, extra=f"""  - name: slow
    schedule: "{second} * * * * *"
    command: 'while [ ! -e {flag} ]; do sleep 0.05; done'
""")
    d.event("run_started", job="slow", timeout=70)
    status, _, _ = request(d.port, "POST", "/v1/jobs/slow/pause",
                           headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200
    flag.touch()
    d.event("run_finished", job="slow")
    _, _, body = request(d.port, "GET", "/")
    assert rows(body.decode())["slow"]["State"].text == "paused"
    assert metric(request(d.port, "GET", "/metrics")[2], "solocron_job_paused", job="slow") == 1


def test_paused_suspended_running_and_history(api, tmp_path):
    flag = tmp_path / "long"
    d = api(token=TOKEN, extra=f"""  - name: nightly
    schedule: "0 3 * * *"
    command: 'if [ -e {flag} ]; then sleep 30; fi; exit 3'
  - name: hourly
    schedule: "0 * * * *"
    suspend: true
    command: ["true"]
""")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    status, _, body = request(d.port, "POST", "/v1/jobs/nightly/run?wait=1", headers=auth)
    assert status == 200 and json.loads(body)["exit_status"] == 3
    flag.touch()
    status, _, body = request(d.port, "POST", "/v1/jobs/nightly/run", headers=auth)
    running = json.loads(body)["run"]
    d.event("run_started", job="nightly", run=running)
    assert request(d.port, "POST", "/v1/jobs/nightly/pause", headers=auth)[0] == 200
    page = dump_dom(f"http://127.0.0.1:{d.port}/#history:nightly", tmp_path, tz="UTC")
    jobs = rows(page)
    assert jobs["nightly"]["State"].text == "paused"
    assert jobs["nightly"]["Actions"].buttons == ["run", "resume"]
    assert jobs["nightly"]["Running"].marks[0][0] == "running"
    assert "pid " in jobs["nightly"]["Running"].marks[0][1]
    assert jobs["hourly"]["State"].text == "suspended"
    assert jobs["hourly"]["Actions"].buttons == ["run"]
    assert "Its last 2 runs in the fleet (from local), newest first." in page, page
    header, *body = Tables(page).tables["runs"]      # both asked for within a second or so
    newest, oldest = [dict(zip([c.text for c in header], r)) for r in body]
    assert newest["Result"].text.endswith("running") and newest["Host"].text
    assert oldest["Result"].marks[0][0] == "failed" and oldest["Result"].text.endswith("failed")
    assert oldest["Exit status"].text == "3" and oldest["Duration"].text.endswith(" s")
