# SPDX-License-Identifier: MIT
"""packaging/debian/: build the package from a copy of the source tree with
dpkg-buildpackage, check it with lintian, install it on this machine (as root; it is purged
again at the end), and check what got installed: the binary reads the installed table
(`solocron check`), systemd-analyze verifies the installed unit (its binary and manual pages
included), the unit is enabled but not started (no systemd runs here), the solocron user
exists, and the files are where Debian puts them. tests/install-deps installs debhelper,
dpkg-dev, fakeroot and lintian."""
import os
import pathlib
import shutil
import subprocess

import pytest

SRC = pathlib.Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("dpkg-buildpackage") or not shutil.which("lintian"),
        reason="needs root (dpkg -i), dpkg-buildpackage and lintian (tests/install-deps)"),
    pytest.mark.skipif(not (SRC / ".git").exists(), reason="the package is built from git's files"),
]


def sh(*cmd, timeout=120, check=True, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL, **kw)
    if check:
        assert r.returncode == 0, f"{cmd}: {r.returncode}\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    return r


def solocron_processes():
    """pids of processes running the installed binary."""
    pids = set()
    for p in pathlib.Path("/proc").iterdir():
        try:
            if p.name.isdigit() and os.readlink(p / "exe") == "/usr/bin/solocron":
                pids.add(int(p.name))
        except OSError:
            pass
    return pids


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """The .deb built from a copy of this tree (the build never touches the tree itself)."""
    top = tmp_path_factory.mktemp("deb")
    tree = top / "solocron"
    files = sh("git", "-C", str(SRC), "ls-files", "-z", "-co", "--exclude-standard").stdout
    for f in filter(None, files.split("\0")):
        if (SRC / f).is_file():
            (tree / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(SRC / f, tree / f)
    shutil.copytree(tree / "packaging" / "debian", tree / "debian")
    env = dict(os.environ, DEB_BUILD_OPTIONS="parallel=2")
    sh("nice", "-n", "15", "dpkg-buildpackage", "-us", "-uc", "-b", cwd=tree, env=env,
       timeout=900)
    debs = sorted(top.glob("solocron_*.deb"))
    assert len(debs) == 1, list(top.iterdir())
    return debs[0]


@pytest.fixture(scope="module")
def installed(package):
    assert sh("dpkg-query", "-W", "-f", "${Status}", "solocron", check=False).stdout \
        in ("", "unknown ok not-installed"), "solocron is already installed on this machine"
    before = solocron_processes()
    sh("dpkg", "-i", str(package), timeout=300)
    try:
        yield before
    finally:
        sh("dpkg", "--purge", "solocron", timeout=300)


def test_lintian_finds_no_error(package):
    r = sh("lintian", "--fail-on", "error", "--no-tag-display-limit",
           str(package.with_name(package.name.replace(".deb", ".changes"))), check=False,
           timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert " E: " not in r.stdout and not r.stdout.startswith("E: "), r.stdout


def test_package_metadata(package):
    fields = sh("dpkg-deb", "-f", str(package), "Depends", "Recommends", "Suggests").stdout
    # linked libraries come from shlibs; the ones loaded at run time are recommended/suggested
    assert "libuv1" in fields and "libyaml-0-2" in fields and "libjansson4" in fields
    assert "libhttp-parser2.9" in fields          # dlopen()ed by the API, but a dependency
    assert "libjansson4" in fields                # dlopen()ed on first use, a dependency too
    assert "Recommends: libcurl4, libssl3" in fields
    assert "Suggests: libsystemd0" in fields
    files = sh("dpkg-deb", "-c", str(package)).stdout
    for f in ("./usr/bin/solocron", "./etc/solocron/solocron.yaml",
              "./usr/share/doc/solocron/examples/solocron.yaml",
              "./lib/systemd/system/solocron.service", "./usr/lib/sysusers.d/solocron.conf",
              "./usr/share/man/man8/solocron.8.gz", "./usr/share/man/man5/solocron.yaml.5.gz",
              "./usr/share/bash-completion/completions/solocron"):
        assert f in files, f


def test_installed_table_checks_and_unit_verifies(installed):
    env = dict(os.environ, PATH="/usr/bin:/bin")
    env.pop("SOLOCRON_CONFIG", None)
    r = sh("solocron", "check", env=env, check=False)
    assert r.returncode == 0 and r.stderr == "/etc/solocron/solocron.yaml: OK, 0 jobs\n", r.stderr
    assert sh("dpkg-query", "-W", "-f", "${Conffiles}", "solocron").stdout.strip() \
        .startswith("/etc/solocron/solocron.yaml ")
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    env = {k: v for k, v in os.environ.items()
           if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "INVOCATION_ID")}
    v = sh("systemd-analyze", "verify", "/lib/systemd/system/solocron.service", check=False,
           env=env)
    assert v.returncode == 0, v.stdout + v.stderr
    assert "solocron.service" not in v.stderr, v.stderr


def test_migration_into_the_installed_table(installed, tmp_path):
    """README's migration: a converted crontab dropped into /etc/solocron/conf.d/ is part of
    the installed table."""
    env = dict(os.environ, PATH="/usr/bin:/bin")
    env.pop("SOLOCRON_CONFIG", None)
    crontab = tmp_path / "crontab"
    crontab.write_text("SHELL=/bin/sh\n17 * * * * root cd / && run-parts /etc/cron.hourly\n"
                       "@reboot root echo booted\n")
    conf_d = pathlib.Path("/etc/solocron/conf.d")
    created = not conf_d.exists()
    conf_d.mkdir(exist_ok=True)
    out = conf_d / "test-crontab.yaml"
    try:
        with open(out, "w") as f:
            r = subprocess.run(["solocron", "import-crontab", str(crontab), "--user-column"],
                               stdout=f, stderr=subprocess.PIPE, text=True, env=env, timeout=60)
        assert r.returncode == 0, r.stderr
        c = sh("solocron", "check", env=env, check=False)
        assert c.returncode == 0, c.stderr
        assert c.stderr == "/etc/solocron/solocron.yaml: OK, 2 jobs\n"
        assert [line.split("\t")[:2] for line in c.stdout.splitlines()] == \
            [["run-parts-cron.hourly", "17 * * * *"], ["echo-booted", "@reboot"]]
    finally:
        out.unlink()
        if created:
            conf_d.rmdir()


def test_enabled_not_started_user_created(installed):
    link = pathlib.Path("/etc/systemd/system/multi-user.target.wants/solocron.service")
    assert link.is_symlink() and os.readlink(link) == "/lib/systemd/system/solocron.service"
    # no systemd runs here (a container build, a chroot): the package does not start it
    assert solocron_processes() <= installed
    pw = sh("getent", "passwd", "solocron").stdout.split(":")
    assert pw[5] == "/var/lib/solocron" and pw[6].strip() in ("/usr/sbin/nologin", "/sbin/nologin")
    assert int(pw[2]) < 1000      # a system user
    assert sh("man", "-w", "solocron.yaml").stdout.strip() == \
        "/usr/share/man/man5/solocron.yaml.5.gz"
