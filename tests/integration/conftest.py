# SPDX-License-Identifier: MIT
"""Shared helpers for the integration tests: they drive the real solocron binary."""
import os
import subprocess
import textwrap

import pytest

BIN = os.environ.get("SOLOCRON_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "daemon", "solocron")


def clean_env(**extra):
    """The environment for a solocron command: ours minus zone and config variables."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("TZ", "CRON_TZ", "SOLOCRON_CONFIG")}
    env.update(extra)
    return env


def ctx_switches(pid):
    """Voluntary + involuntary context switches of all of pid's threads: a process that
    makes no wakeups keeps this number flat."""
    import glob
    total = 0
    for status in glob.glob(f"/proc/{pid}/task/*/status"):
        with open(status) as f:
            for line in f:
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    total += int(line.split()[1])
    return total


SLOT_SIZE = 1024       # daemon/lease/lease_local_internal.h


def maps_library(d, name):
    """Whether daemon d has a library whose file name contains `name` mapped now."""
    with open(f"/proc/{d.pid()}/maps") as f:
        return name in f.read()


def local_slot(state_dir, job):
    """The offset of job's record in the local lease's STATE_DIR/leases/jobs.lease, and the
    record (each job's is one line of SLOT_SIZE bytes starting with {"job":"NAME")."""
    import json
    with open(os.path.join(state_dir, "leases", "jobs.lease"), "rb") as f:
        data = f.read()
    for off in range(0, len(data) - SLOT_SIZE + 1, SLOT_SIZE):
        if data[off:].startswith(b'{"job":"%s"' % job.encode()):
            return off, json.loads(data[off:off + SLOT_SIZE])
    raise AssertionError(f"no record of {job} in jobs.lease")


def hold_slot(state_dir, job, seconds):
    """Another process holding the lock of job's record (a POSIX record lock on its slot,
    which the daemon's open file description locks respect) for `seconds`; returns the
    process once it holds it."""
    off, _ = local_slot(state_dir, job)
    path = os.path.join(state_dir, "leases", "jobs.lease")
    code = ("import fcntl, os, sys, time\n"
            f"fd = os.open({path!r}, os.O_RDWR)\n"
            f"fcntl.lockf(fd, fcntl.LOCK_EX, {SLOT_SIZE}, {off})\n"
            "print('held', flush=True)\n"
            f"time.sleep({seconds})\n")
    p = subprocess.Popen(["/usr/bin/python3", "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline() == "held\n"
    return p


def run(*args, env=None, timeout=30, prefix=()):
    return subprocess.run([*prefix, BIN, *args], capture_output=True, text=True,
                          env=env if env is not None else clean_env(), timeout=timeout,
                          stdin=subprocess.DEVNULL)


@pytest.fixture
def table(tmp_path):
    """table(text) writes a job table (dedented) and returns its path."""
    def write(text, name="solocron.yaml"):
        p = tmp_path / name
        p.write_text(textwrap.dedent(text))
        return str(p)
    return write


class Daemon:
    """A `solocron run` in the background with the json log format; its log records are
    collected by a thread, and tests wait for records instead of sleeping."""

    def __init__(self, table_path, workdir, *args, env=None, log_format="json", preexec=None,
                 argv_prefix=(), pass_fds=()):
        import json as _json
        import threading

        self.workdir = str(workdir)
        self.state_dir = os.path.join(self.workdir, "state")
        self.pid_file = os.path.join(self.workdir, "solocron.pid")
        self.records = []
        self.raw = []
        self.cond = threading.Condition()
        cmd = [*argv_prefix, BIN, "run", "-c", table_path, "--state-dir", self.state_dir,
               "--pid-file", self.pid_file, "--log-format", log_format, *args]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=env if env is not None else clean_env(),
                                     preexec_fn=preexec, pass_fds=pass_fds)
        self._json = _json
        self.json = log_format == "json"
        self.in_namespace = bool(argv_prefix) and argv_prefix[0] == "unshare"
        self.thread = threading.Thread(target=self._reader, daemon=True)
        self.thread.start()

    def wait(self, timeout=15):
        """Its exit status, once it has exited and its log is read to the end: the records of
        its last moments are in `records` then (the reader thread may lag behind the exit)."""
        rc = self.proc.wait(timeout=timeout)
        self.drained(timeout)
        return rc

    def drained(self, timeout=15):
        """Wait until the reader thread has read the log to its end (the process exited)."""
        self.thread.join(timeout)

    def _reader(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            rec = None
            if self.json:
                try:
                    rec = self._json.loads(line)
                except ValueError:
                    rec = {"event": "unparsable", "line": line}
            with self.cond:
                self.raw.append(line)
                if rec is not None:
                    self.records.append(rec)
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_for(self, pred, timeout=15, count=1, what="record"):
        """Wait until `count` records match pred; return them."""
        import time
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                hits = [r for r in (self.records if self.json else self.raw) if pred(r)]
                if len(hits) >= count:
                    return hits[:count] if count > 1 else hits[0]
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self.thread.is_alive()):
                    raise AssertionError(f"timed out waiting for {what}; log:\n" + "\n".join(self.raw[-60:]))
                self.cond.wait(min(left, 0.5))

    def event(self, name, timeout=15, count=1, **fields):
        def pred(r):
            return r.get("event") == name and all(r.get(k) == v for k, v in fields.items())
        return self.wait_for(pred, timeout=timeout, count=count, what=f"{name} {fields}")

    def find(self, name, **fields):
        with self.cond:
            return [r for r in self.records
                    if r.get("event") == name and all(r.get(k) == v for k, v in fields.items())]

    def output(self, job, timeout=15, count=1):
        """The first `count` output lines of job (as strings)."""
        recs = self.event("output", timeout=timeout, count=count, job=job)
        return [r["line"] for r in recs] if count > 1 else recs["line"]

    def pid(self):
        """solocron's pid: under `unshare --fork` that is unshare's child, which signals
        must reach (unshare itself does not forward them)."""
        if not self.in_namespace:
            return self.proc.pid
        import time
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                    kids = f.read().split()
            except FileNotFoundError:
                return None
            if kids:
                return int(kids[0])
            time.sleep(0.02)
        return None

    def signal(self, sig):
        pid = self.pid()
        if pid:
            os.kill(pid, sig)

    def stop(self, timeout=30):
        import signal as _signal
        if self.proc.poll() is None:
            try:
                self.signal(_signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            rc = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self.thread.join(timeout=5)
        return rc


@pytest.fixture
def daemon(tmp_path):
    """daemon(table_text, *args, **kw) starts solocron run on a new table; all are stopped
    at the end of the test."""
    started = []

    def start(text, *args, name="solocron.yaml", **kw):
        p = tmp_path / name
        p.write_text(textwrap.dedent(text))
        d = Daemon(str(p), tmp_path, *args, **kw)
        d.table_path = str(p)
        started.append(d)
        return d
    yield start
    stop_and_check(started)


def stop_and_check(daemons):
    """Stop the daemons; under the ASan+UBSan build a report on their stderr fails the
    test."""
    for d in daemons:
        d.stop()
    for d in daemons:
        reports = [l for l in d.raw if "Sanitizer" in l or "runtime error:" in l]
        assert not reports, "\n".join(d.raw[-80:])
