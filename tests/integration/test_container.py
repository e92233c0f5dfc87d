# SPDX-License-Identifier: MIT
"""packaging/container/: the worked example (a Flask app under gunicorn, solocron as PID 1)
run the way its image runs it.

A real container is out of reach on this machine: `podman run --rootfs DIR` fails before the
container starts (crun: setrlimit RLIMIT_NOFILE: Operation not permitted; the sandbox has no
CAP_SYS_RESOURCE, and its cgroups are hybrid). So the test gives the example what a container
gives it and that matters here: a new PID namespace with its own /proc (unshare --pid --fork
--mount-proc), solocron as its PID 1 with the example's ENTRYPOINT (read from its
Containerfile), the example's table and code, the real gunicorn and Flask from Debian, and
the environment `docker run -e` would set. It checks `docker stop`: SIGTERM reaches gunicorn,
which stops gracefully, and solocron exits with its status 0 well within docker's 10 s; jobs
see the container's environment and share the app's code; an orphan a job leaves is reaped."""
import json
import os
import pathlib
import shutil
import signal
import time
import urllib.request

import pytest

from conftest import Daemon, clean_env, run
from fleet import free_port
from test_pid1 import UNSHARE, assert_no_zombies, solocron_pid

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "packaging" / "container" / "example"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="PID namespaces need root"),
    pytest.mark.skipif(not shutil.which("gunicorn"), reason="gunicorn is not installed "
                       "(tests/install-deps installs Debian's gunicorn and python3-flask)"),
]


def entrypoint():
    """The example image's ENTRYPOINT, as JSON in its Containerfile."""
    for line in (EXAMPLE / "Containerfile").read_text().splitlines():
        if line.startswith("ENTRYPOINT "):
            return json.loads(line[len("ENTRYPOINT "):])
    raise AssertionError("no ENTRYPOINT in the example's Containerfile")


def test_example_table_checks():
    r = run("check", "-c", str(EXAMPLE / "solocron.yaml"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "warm-cache\t@reboot\tAmerica/New_York\twhen the daemon starts"


def test_example_as_its_container_runs_it(tmp_path):
    argv = entrypoint()
    assert argv[:2] == ["solocron", "run"] and "--" in argv
    main = argv[argv.index("--") + 1:]
    assert main == ["gunicorn", "app:app"]
    # the example's table, plus a job that leaves an orphan behind (PID 1 must reap it)
    table = tmp_path / "solocron.yaml"
    table.write_text((EXAMPLE / "solocron.yaml").read_text() + """
  - name: orphaner
    schedule: "@reboot"
    command: '(sleep 0.3 </dev/null >/dev/null 2>&1 &); echo left an orphan'
""")
    port = free_port()
    env = clean_env(DATABASE_URL="postgresql://db.internal/shop", APP_NAME="shop",
                    PYTHONUNBUFFERED="1",
                    GUNICORN_CMD_ARGS=f"--bind=127.0.0.1:{port} --workers=2")
    # solocron's own options stay the image's; the table and state go to the test's files
    d = Daemon(str(table), tmp_path, *argv[2:], env=env,
               argv_prefix=[*UNSHARE, "env", "-C", str(EXAMPLE)])
    try:
        pid = solocron_pid(d)
        d.wait_for(lambda r: "Listening at: http://127.0.0.1" in r.get("line", ""),
                   what="gunicorn listening")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as resp:
            assert json.load(resp) == {"app": "shop", "database": "postgresql://db.internal/shop"}
        # the @reboot job: the app's code and the container's environment
        assert d.output("warm-cache") == \
            "warming the cache of shop from postgresql://db.internal/shop"
        assert d.event("run_finished", job="warm-cache")["result"] == "succeeded"
        d.event("run_finished", job="orphaner")
        assert_no_zombies(pid)
        # docker stop: SIGTERM to PID 1, SIGKILL 10 s later
        t0 = time.monotonic()
        os.kill(pid, signal.SIGTERM)
        rc = d.proc.wait(timeout=10)
        assert time.monotonic() - t0 < 10
        d.drained()
        assert rc == 0                          # gunicorn's own status after a graceful stop
        assert any("Shutting down: Master" in r.get("line", "") for r in d.records)
        assert d.find("main_exited")
    finally:
        d.stop()
    assert not [line for line in d.raw if "Sanitizer" in line or "runtime error:" in line]
