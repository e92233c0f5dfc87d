# SPDX-License-Identifier: MIT
"""solocron under systemd: the sd_notify protocol (READY, RELOADING, STOPPING, STATUS and the
watchdog) read from our own notify socket; the journal log format read from our own socket
bound at /run/systemd/journal/socket inside a private mount namespace; and the unit file
checked by systemd-analyze verify."""
import array
import glob
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import textwrap
import threading
import time

import pytest

from conftest import ctx_switches, BIN, clean_env

UNIT = os.path.join(os.path.dirname(__file__), "..", "..", "contrib", "systemd", "solocron.service")

# The MESSAGE_IDs of daemon/log_journal.c: a documented interface, so a change fails here.
MESSAGE_IDS = {
    "run_succeeded": "5b141ac1c7134cc4b3dc202021cfb3ba",
    "run_failed_any": "cbf201c65d95492e9611ed5977d3f981",
    "run_started": "05f26b49490742aba28a2d956781de7c",
    "firing_skipped": "bb02896a6ef34138b4ea7f856e409c81",
    "firing_missed": "ab74bb7f973a4fe0a05696207ca5dee6",
    "firing_missed_fleet": "0868b2d7d520482ca72a70a3791a9d3f",
    "reloaded": "db4f3af01ea74a02960b5f74b0d5e052",
    "reload_failed": "b3674c5de8024408a88e7b42faed6874",
    "config_error": "7f8db98d33e44588b0e848b8bc37fbed",
    "ready": "0276070e753b415ab2bd4cd9e8ff5b77",
    "stopping": "8adc50085b7445e5b9ce4357fb12c111",
}


def env_without_systemd(**extra):
    """clean_env() minus whatever a systemd-run test runner might have passed on."""
    env = clean_env()
    for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM",
              "SOLOCRON_LOG_FORMAT", "INVOCATION_ID"):
        env.pop(k, None)
    env.update(extra)
    return env


def built_with_systemd():
    """Builds without libsystemd refuse --log-format journal; with it, the options are
    parsed on to the bad --log-level, and nothing is started either way."""
    r = subprocess.run([BIN, "run", "--log-format", "journal", "--log-level", "bogus"],
                       capture_output=True, text=True, env=env_without_systemd(), timeout=30,
                       stdin=subprocess.DEVNULL)
    assert r.returncode != 0 and "log-" in r.stderr, r.stderr
    return "log-format" not in r.stderr


HAVE_SYSTEMD = built_with_systemd()
needs_systemd = pytest.mark.skipif(not HAVE_SYSTEMD, reason="solocron built without libsystemd")


class Collector:
    """Datagrams from a socket, gathered by a thread; tests wait on a condition instead of
    sleeping. Subclasses turn one datagram (plus any passed fds) into one item."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.drain_sent = self.drain_seen = 0
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        # A blocked recvmsg() is not woken by close() from another thread: poll a flag.
        self.sock.settimeout(0.1)
        self.items = []
        self.cond = threading.Condition()
        self.closed = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        fds_size = socket.CMSG_SPACE(16 * array.array("i").itemsize)
        while not self.closed:
            try:
                data, anc, _, _ = self.sock.recvmsg(1 << 20, fds_size)
            except socket.timeout:
                continue
            except OSError:
                break
            if data.startswith(b"\0drain "):
                with self.cond:
                    self.drain_seen = int(data.split()[1])
                    self.cond.notify_all()
                continue
            fds = []
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    a = array.array("i")
                    a.frombytes(payload[:len(payload) - len(payload) % a.itemsize])
                    fds.extend(a)
            item = self.parse(data, fds)
            for fd in fds:
                os.close(fd)
            with self.cond:
                self.items.append((time.monotonic(), item))
                self.cond.notify_all()

    def parse(self, data, fds):
        raise NotImplementedError

    def wait(self, pred, timeout=15, what="datagram", after=0):
        """The first item at index >= after that matches pred, and its index."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(after, len(self.items)):
                    if pred(self.items[i][1]):
                        return i, self.items[i][1]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}; got:\n" +
                                         "\n".join(repr(x) for _, x in self.items[-30:]))
                self.cond.wait(min(left, 0.5))

    def drain(self, timeout=15):
        """Return once every datagram sent before the call has been read: a datagram queue
        is FIFO, so that is when our own marker, sent now, comes out. Absence checks use it."""
        self.drain_sent += 1
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as c:
            c.sendto(b"\0drain %d" % self.drain_sent, self.path)
        with self.cond:
            assert self.cond.wait_for(lambda: self.drain_seen >= self.drain_sent, timeout)

    def snapshot(self):
        with self.cond:
            return list(self.items)

    def close(self):
        self.closed = True
        self.thread.join(timeout=5)
        self.sock.close()


# --- (a) sd_notify ----------------------------------------------------------------------

class NotifySocket(Collector):
    """What systemd would read on $NOTIFY_SOCKET: each datagram as a dict of assignments."""

    def parse(self, data, fds):
        assert not fds, "solocron passed fds to the notify socket"
        msg = {}
        for line in data.decode().split("\n"):
            if line:
                k, _, v = line.partition("=")
                msg[k] = v
        return msg

    def watchdog_times(self):
        return [t for t, m in self.snapshot() if m.get("WATCHDOG") == "1"]


@pytest.fixture
def notify(tmp_path):
    s = NotifySocket(str(tmp_path / "notify.sock"))
    yield s
    s.close()


SLEEPY_TABLE = """
    jobs:
      - name: nightly
        schedule: "0 3 * * *"
        command: ["true"]
"""

# WATCHDOG_PID=$$: sh's pid, which exec makes solocron's, as systemd sets it for the main pid.
WITH_OWN_WATCHDOG_PID = ("sh", "-c", 'export WATCHDOG_PID=$$; exec "$@"', "sh")


@needs_systemd
def test_notify_ready_reload_watchdog_stopping(daemon, notify):
    d = daemon(SLEEPY_TABLE, env=env_without_systemd(NOTIFY_SOCKET=notify.sock.getsockname(),
                                                     WATCHDOG_USEC="400000"),
               argv_prefix=WITH_OWN_WATCHDOG_PID)
    i, ready = notify.wait(lambda m: "READY" in m, what="READY=1")
    assert ready["READY"] == "1"
    assert ready.get("STATUS"), "READY=1 comes with the next firing in STATUS="
    # Nothing but watchdog pings before READY=1: the table was loaded first.
    assert all(set(m) == {"WATCHDOG"} for _, m in notify.snapshot()[:i])
    d.event("ready")

    # The watchdog: WATCHDOG_USEC/2 = 0.2 s, so about 10 pings in a 2 s window (a rate
    # check with a wide margin, not a timing benchmark).
    start = time.monotonic()
    time.sleep(2.0)             # the measurement window itself
    pings = [t for t in notify.watchdog_times() if start <= t < start + 2.0]
    assert 7 <= len(pings) <= 13, f"{len(pings)} watchdog pings in 2 s, expected about 10"

    # SIGHUP: RELOADING=1 with MONOTONIC_USEC taken between our before and after, then READY=1.
    n = len(notify.snapshot())
    before = time.monotonic_ns() // 1000
    d.signal(signal.SIGHUP)
    i, reloading = notify.wait(lambda m: "RELOADING" in m, what="RELOADING=1", after=n)
    after = time.monotonic_ns() // 1000
    assert reloading["RELOADING"] == "1"
    assert before <= int(reloading["MONOTONIC_USEC"]) <= after, (before, reloading, after)
    notify.wait(lambda m: m.get("READY") == "1", what="READY=1 after the reload", after=i + 1)
    d.event("reloaded")

    # SIGTERM: STOPPING=1, and the watchdog stops with it.
    n = len(notify.snapshot())
    d.signal(signal.SIGTERM)
    i, _ = notify.wait(lambda m: m.get("STOPPING") == "1", what="STOPPING=1", after=n)
    assert d.proc.wait(timeout=30) == 0
    notify.drain()
    later = [m for _, m in notify.snapshot()[i + 1:] if "WATCHDOG" in m]
    assert len(later) <= 1, f"watchdog pings after STOPPING=1: {later}"


@needs_systemd
def test_no_watchdog_without_watchdog_usec(daemon, notify):
    """READY=1 still comes; no timer exists, so the idle daemon makes no wakeups at all."""
    d = daemon(SLEEPY_TABLE, env=env_without_systemd(NOTIFY_SOCKET=notify.sock.getsockname()))
    notify.wait(lambda m: m.get("READY") == "1", what="READY=1")
    d.event("ready")
    time.sleep(0.5)             # let start-up finish its last writes
    before = ctx_switches(d.proc.pid)
    time.sleep(3)               # the measurement window itself
    after = ctx_switches(d.proc.pid)
    notify.drain()
    assert notify.watchdog_times() == []
    assert after == before, f"{after - before} context switches in 3 s of idling"


@needs_systemd
def test_watchdog_for_another_pid_is_not_ours(daemon, notify):
    """WATCHDOG_PID names another process (a job inherits the variables): no pings."""
    daemon(SLEEPY_TABLE, env=env_without_systemd(NOTIFY_SOCKET=notify.sock.getsockname(),
                                                 WATCHDOG_USEC="200000", WATCHDOG_PID="1"))
    notify.wait(lambda m: m.get("READY") == "1", what="READY=1")
    start = time.monotonic()
    time.sleep(1.0)             # five intervals in which a wrong timer would ping
    notify.drain()
    assert [t for t in notify.watchdog_times() if t >= start] == []


@needs_systemd
def test_no_ready_for_an_invalid_table(tmp_path, notify):
    bad = tmp_path / "bad.yaml"
    bad.write_text("jobs:\n  - name: x\n    schedule: 'not a schedule'\n    command: ['true']\n")
    r = subprocess.run([BIN, "run", "-c", str(bad), "--state-dir", str(tmp_path / "state"),
                        "--pid-file", str(tmp_path / "pid")], capture_output=True, timeout=30,
                       env=env_without_systemd(NOTIFY_SOCKET=notify.sock.getsockname(),
                                               WATCHDOG_USEC="200000"),
                       stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    notify.drain()
    assert not any("READY" in m for _, m in notify.snapshot())


# --- (b) the journal --------------------------------------------------------------------

class JournalSocket(Collector):
    """journald's native protocol: datagrams of `KEY=value\\n` or, for values with a
    newline (or any, really), `KEY\\n<le64 length><bytes>\\n`; an entry too big for one
    datagram arrives as a sealed memfd passed with SCM_RIGHTS and an empty payload.
    Each entry becomes a dict of bytes keys and bytes values."""

    def parse(self, data, fds):
        if fds:
            assert not data
            with os.fdopen(os.dup(fds[0]), "rb") as f:
                data = f.read()
        entry, i = {}, 0
        while i < len(data):
            nl = data.index(b"\n", i)
            line = data[i:nl]
            if b"=" in line:
                k, _, v = line.partition(b"=")
                i = nl + 1
            else:
                k = line
                (size,) = struct.unpack_from("<Q", data, nl + 1)
                v = data[nl + 9:nl + 9 + size]
                assert data[nl + 9 + size:nl + 10 + size] == b"\n"
                i = nl + 10 + size
            assert re.fullmatch(rb"[A-Z0-9_]{1,64}", k) and not k[:1].isdigit(), k
            entry[k.decode()] = v
        return entry

    def entries(self, **fields):
        """Entries whose fields equal the given str (or bytes) values."""
        def match(e):
            return all(e.get(k) == (v.encode() if isinstance(v, str) else v)
                       for k, v in fields.items())
        return [e for _, e in self.snapshot() if match(e)]

    def wait_entry(self, timeout=15, count=1, **fields):
        deadline = time.monotonic() + timeout
        while True:
            hits = self.entries(**fields)
            if len(hits) >= count:
                return hits[:count] if count > 1 else hits[0]
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for journal entry {fields}; got:\n" +
                                     "\n".join(repr(e) for _, e in self.snapshot()[-30:]))
            with self.cond:
                self.cond.wait(min(left, 0.5))


def can_unshare_mounts():
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    r = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs tmpfs /run"],
                       capture_output=True, timeout=30)
    return r.returncode == 0


needs_mount_ns = pytest.mark.skipif(not can_unshare_mounts(),
                                    reason="needs root and unshare -m (private mount namespace)")

# Inside a private mount namespace: a tmpfs over /run hides the host's journal (if any) and
# leaves the host untouched; our socket's directory is bound where journald's would be, so
# sd_journal_send() in solocron reaches the socket the test reads.
NAMESPACE_SCRIPT = ('mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal && '
                    'mount --bind "$0" /run/systemd/journal && exec "$@"')


class JournalRun:
    """solocron run inside the namespace, with its stderr on a pipe of ours (whose
    device:inode a test may put in JOURNAL_STREAM); stderr lines are collected."""

    def __init__(self, tmp_path, table_text, *args, journal_stream="match", log_format=None):
        self.sockdir = tmp_path / "journal"
        self.sockdir.mkdir()
        self.journal = JournalSocket(str(self.sockdir / "socket"))
        self.table = tmp_path / "solocron.yaml"
        self.table.write_text(textwrap.dedent(table_text))
        r, w = os.pipe()
        st = os.fstat(w)
        env = env_without_systemd()
        if journal_stream == "match":
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        elif journal_stream == "other":
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino + 1}"
        fmt = ["--log-format", log_format] if log_format else []
        cmd = ["unshare", "-m", "sh", "-c", NAMESPACE_SCRIPT, str(self.sockdir),
               BIN, "run", "-c", str(self.table), "--state-dir", str(tmp_path / "state"),
               "--pid-file", str(tmp_path / "solocron.pid"), *fmt, *args]
        # unshare and sh exec into solocron: proc.pid is solocron's pid.
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=w, env=env)
        os.close(w)
        self.stderr = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, args=(r,), daemon=True)
        self.reader.start()

    def _read(self, fd):
        with os.fdopen(fd, "rb") as f:
            for line in f:
                with self.cond:
                    self.stderr.append(line.decode("utf-8", "replace").rstrip("\n"))
                    self.cond.notify_all()

    def wait_stderr(self, pattern, timeout=15):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.stderr:
                    if re.search(pattern, line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"no stderr line matching {pattern!r}; stderr:\n" +
                                         "\n".join(self.stderr[-40:]))
                self.cond.wait(min(left, 0.5))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(timeout=5)
        if not self.journal.closed:
            self.journal.drain()
            self.journal.close()
        return rc


@pytest.fixture
def journal_run(tmp_path):
    runs = []

    def start(*args, **kw):
        r = JournalRun(tmp_path, *args, **kw)
        runs.append(r)
        return r
    yield start
    for r in runs:
        r.stop()


JOURNAL_TABLE = r"""
    jobs:
      - name: mixed
        schedule: "* * * * * *"
        command: 'printf "to stdout\n"; printf "to stderr\n" >&2; printf "nul\000byte \377 not utf-8\n"; exit 3'
      - name: fine
        schedule: "* * * * * *"
        command: 'echo fine; echo'
      - name: slow
        schedule: "* * * * * *"
        command: 'sleep 1.6'
      - name: long
        schedule: "* * * * * *"
        command: 'head -c 70000 /dev/zero | tr "\000" a; echo'
"""


def common_fields(e):
    assert e["SYSLOG_IDENTIFIER"] == b"solocron"
    assert re.fullmatch(rb"[0-7]", e["PRIORITY"]), e


@needs_systemd
@needs_mount_ns
def test_journal_entries(journal_run):
    j = journal_run(JOURNAL_TABLE, log_format="journal")
    J = j.journal

    ready = J.wait_entry(SOLOCRON_EVENT="ready")
    common_fields(ready)
    assert ready["MESSAGE_ID"] == MESSAGE_IDS["ready"].encode()
    assert b"SOLOCRON_JOB" not in ready and ready["MESSAGE"].startswith(b"ready")

    # Output lines: one entry each, stdout at info (6), stderr at err (3), bytes kept as is.
    out = J.wait_entry(SOLOCRON_JOB="mixed", SOLOCRON_STREAM="stdout", MESSAGE="to stdout")
    run_id = out["SOLOCRON_RUN_ID"]
    assert re.fullmatch(rb"[0-9a-f]+", run_id)
    common_fields(out)
    assert out["PRIORITY"] == b"6" and b"MESSAGE_ID" not in out
    err = J.wait_entry(SOLOCRON_JOB="mixed", SOLOCRON_RUN_ID=run_id, SOLOCRON_STREAM="stderr")
    assert err["MESSAGE"] == b"to stderr" and err["PRIORITY"] == b"3"
    raw = J.wait_entry(SOLOCRON_RUN_ID=run_id, SOLOCRON_STREAM="stdout",
                       MESSAGE=b"nul\x00byte \xff not utf-8")
    assert raw["PRIORITY"] == b"6"

    # A line longer than the 64 KiB output buffer: pieces, the later ones marked continued,
    # each one entry (well past the size of a short datagram).
    first = J.wait_entry(SOLOCRON_JOB="long", SOLOCRON_STREAM="stdout")
    pieces = J.wait_entry(SOLOCRON_RUN_ID=first["SOLOCRON_RUN_ID"], SOLOCRON_STREAM="stdout",
                          count=2)
    assert b"SOLOCRON_CONTINUED" not in pieces[0]
    assert pieces[1]["SOLOCRON_CONTINUED"] == b"1"
    assert pieces[0]["MESSAGE"] + pieces[1]["MESSAGE"] == b"a" * 70000

    started = J.wait_entry(SOLOCRON_EVENT="run_started", SOLOCRON_RUN_ID=run_id)
    assert started["SOLOCRON_JOB"] == b"mixed"
    assert started["MESSAGE_ID"] == MESSAGE_IDS["run_started"].encode()

    # The run summary of a failed run: every kv as SOLOCRON_<KEY>, the exit status, and the
    # one MESSAGE_ID shared by all failures.
    failed = J.wait_entry(SOLOCRON_EVENT="run_finished", SOLOCRON_RUN_ID=run_id)
    common_fields(failed)
    assert failed["SOLOCRON_JOB"] == b"mixed"
    assert failed["MESSAGE_ID"] == MESSAGE_IDS["run_failed_any"].encode()
    assert failed["PRIORITY"] == b"3"
    assert failed["SOLOCRON_RESULT"] == b"failed"
    assert failed["SOLOCRON_EXIT_STATUS"] == b"3" and failed["SOLOCRON_STATUS"] == b"3"
    assert int(failed["SOLOCRON_DURATION_USEC"]) >= 0
    assert failed["SOLOCRON_ATTEMPTS"] == b"1"
    assert re.fullmatch(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", failed["SOLOCRON_SCHEDULED"])

    ok = J.wait_entry(SOLOCRON_EVENT="run_finished", SOLOCRON_JOB="fine")
    assert ok["MESSAGE_ID"] == MESSAGE_IDS["run_succeeded"].encode()
    assert ok["SOLOCRON_RESULT"] == b"succeeded" and ok["SOLOCRON_EXIT_STATUS"] == b"0"
    assert ok["PRIORITY"] == b"6"
    line = J.wait_entry(SOLOCRON_JOB="fine", SOLOCRON_RUN_ID=ok["SOLOCRON_RUN_ID"],
                        SOLOCRON_STREAM="stdout")
    assert line["MESSAGE"] == b"fine"
    J.wait_entry(SOLOCRON_RUN_ID=ok["SOLOCRON_RUN_ID"], SOLOCRON_STREAM="stdout", MESSAGE=b"")

    # slow runs 1.6 s on a 1 s schedule: the next firing is skipped.
    skipped = J.wait_entry(SOLOCRON_EVENT="firing_skipped", SOLOCRON_JOB="slow")
    assert skipped["MESSAGE_ID"] == MESSAGE_IDS["firing_skipped"].encode()
    assert int(skipped["PRIORITY"]) <= 4

    # A good reload, then a bad one: reloaded, config_error, reload_failed.
    os.kill(j.proc.pid, signal.SIGHUP)
    reloaded = J.wait_entry(SOLOCRON_EVENT="reloaded")
    assert reloaded["MESSAGE_ID"] == MESSAGE_IDS["reloaded"].encode()
    j.table.write_text("jobs:\n  - name: x\n    schedule: 'nope'\n    command: ['true']\n")
    os.kill(j.proc.pid, signal.SIGHUP)
    bad = J.wait_entry(SOLOCRON_EVENT="config_error")
    assert bad["MESSAGE_ID"] == MESSAGE_IDS["config_error"].encode() and bad["PRIORITY"] == b"3"
    failed_reload = J.wait_entry(SOLOCRON_EVENT="reload_failed")
    assert failed_reload["MESSAGE_ID"] == MESSAGE_IDS["reload_failed"].encode()

    os.kill(j.proc.pid, signal.SIGTERM)
    stopping = J.wait_entry(SOLOCRON_EVENT="stopping")
    assert stopping["MESSAGE_ID"] == MESSAGE_IDS["stopping"].encode()
    # (No second SIGTERM from stop(): once the loop is closed the default action applies.)
    assert j.proc.wait(timeout=30) == 0
    j.stop()
    # Every entry is in the journal; nothing fell back to text on stderr.
    assert j.stderr == []
    # journalctl MESSAGE_ID=<failed> finds exactly the runs that did not succeed (here
    # mixed's, and slow's run stopped by the shutdown).
    summaries = J.entries(SOLOCRON_EVENT="run_finished")
    failed_ids = {e["SOLOCRON_RUN_ID"] for e in summaries if e["SOLOCRON_RESULT"] != b"succeeded"}
    found = {e["SOLOCRON_RUN_ID"] for e in J.entries(MESSAGE_ID=MESSAGE_IDS["run_failed_any"])}
    assert run_id in found and found == failed_ids


@needs_systemd
@needs_mount_ns
def test_journal_chosen_when_stderr_is_the_journal_stream(journal_run):
    j = journal_run(JOURNAL_TABLE, journal_stream="match")
    j.journal.wait_entry(SOLOCRON_EVENT="ready")
    j.journal.wait_entry(SOLOCRON_JOB="fine", SOLOCRON_STREAM="stdout")
    assert j.stop() == 0
    assert j.stderr == []


@needs_mount_ns
@pytest.mark.parametrize("stream,fmt,expect", [
    ("other", None, "text"),            # JOURNAL_STREAM names another stream: a job's view
    (None, None, "text"),               # not under systemd
    ("match", "json", "json"),          # an explicit --log-format wins
    ("match", "text", "text"),
])
def test_journal_not_chosen(journal_run, stream, fmt, expect):
    j = journal_run(JOURNAL_TABLE, journal_stream=stream, log_format=fmt)
    if expect == "json":
        j.wait_stderr(r'^\{.*"event":"ready"')
    else:
        j.wait_stderr(r"^\S+Z solocron: ready")
    j.wait_stderr(r"fine run=\w+ stdout: fine|\"job\":\"fine\".*\"line\":\"fine\"")
    assert j.stop() == 0
    assert j.journal.snapshot() == []


@pytest.mark.skipif(HAVE_SYSTEMD, reason="solocron built with libsystemd")
def test_journal_format_refused_without_systemd(tmp_path):
    r = subprocess.run([BIN, "run", "--log-format", "journal", "-c", str(tmp_path / "x.yaml")],
                       capture_output=True, text=True, env=env_without_systemd(), timeout=30,
                       stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    assert "journal" in r.stderr and "libsystemd" in r.stderr, r.stderr


# --- (c) the unit file ------------------------------------------------------------------

def unit_directives(text):
    """(section, key, value, comment lines just above) for each setting."""
    section, comments, out = None, [], []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith(("#", ";")):
            comments.append(s)
        elif s.startswith("["):
            section, comments = s, []
        elif "=" in s:
            k, _, v = s.partition("=")
            out.append((section, k, v, comments))
            comments = []
        else:
            comments = []
    return out


def test_unit_settings():
    with open(UNIT) as f:
        directives = unit_directives(f.read())
    settings = {(s, k): v for s, k, v, _ in directives}
    svc = "[Service]"
    assert settings[(svc, "Type")] == "notify"
    assert settings[(svc, "NotifyAccess")] == "main"
    assert re.fullmatch(r"/usr/bin/solocron run\b.*", settings[(svc, "ExecStart")])
    assert "${STATE_DIRECTORY}" in settings[(svc, "ExecStart")]
    assert settings[(svc, "ExecReload")] == "/bin/kill -HUP $MAINPID"
    assert settings[(svc, "KillMode")] == "control-group"
    assert settings[(svc, "Restart")] == "on-failure"
    assert re.fullmatch(r"\d+s", settings[(svc, "WatchdogSec")])
    for k in ("StateDirectory", "RuntimeDirectory", "ConfigurationDirectory"):
        assert settings[(svc, k)] == "solocron"
    # Nothing that breaks user: switching, setuid tools or writes anywhere in jobs.
    for k in ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "RestrictSUIDSGID",
              "CapabilityBoundingSet", "SystemCallFilter", "PrivateDevices", "ProtectClock",
              "PrivateNetwork", "RestrictNamespaces", "MemoryDenyWriteExecute", "User"):
        assert (svc, k) not in settings, k
    assert settings.get((svc, "PrivateTmp"), "no") == "no"
    for section, k, _, comments in directives:
        assert comments, f"{section} {k}= has no comment above it"


def test_unit_verifies(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    binary = os.path.abspath(BIN)
    with open(UNIT) as f:
        text = f.read()
    text, n = re.subn(r"^ExecStart=/usr/bin/solocron\b", f"ExecStart={binary}", text, flags=re.M)
    assert n == 1
    unit = tmp_path / "solocron.service"
    unit.write_text(text)
    env = env_without_systemd()
    args = [analyze, "verify"]
    if shutil.which("man"):
        # Documentation=man:… is checked against the pages in the source tree.
        man = os.path.join(os.path.dirname(UNIT), "..", "..", "man")
        for page in glob.glob(os.path.join(man, "*.[0-9]")):
            d = tmp_path / "man" / ("man" + page[-1])
            d.mkdir(parents=True, exist_ok=True)
            os.symlink(os.path.abspath(page), d / os.path.basename(page))
        env["MANPATH"] = str(tmp_path / "man")
    else:
        args.append("--man=no")
    r = subprocess.run([*args, str(unit)], capture_output=True, text=True, env=env, timeout=120,
                       stdin=subprocess.DEVNULL)
    about_unit = [line for line in (r.stdout + r.stderr).splitlines()
                  if "solocron" in line or str(tmp_path) in line]
    assert r.returncode == 0, r.stdout + r.stderr
    assert about_unit == [], "\n".join(about_unit)
