# SPDX-License-Identifier: MIT
"""The documentation: the manual pages render without a warning, and the tables the README
shows (the tour's, the Kubernetes example's) pass `solocron check`."""
import os
import pathlib
import re
import shutil
import subprocess

import pytest

from conftest import clean_env, run

TOP = pathlib.Path(__file__).resolve().parents[2]
PAGES = sorted((TOP / "man").glob("*.[0-9]"))


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
@pytest.mark.parametrize("width", ["80", "100"])
def test_man_page_renders_without_warnings(page, width):
    if not shutil.which("man"):
        pytest.skip("man is not installed (man-db)")
    r = subprocess.run(["man", "--warnings", "-l", str(page)], capture_output=True, text=True,
                       env=dict(os.environ, MANWIDTH=width, MANPAGER="cat", PAGER="cat"),
                       timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", r.stderr
    assert len(r.stdout) > 10000


def readme_tables():
    """The YAML the README's shell blocks write (cat > FILE <<'YAML' … YAML), and the
    Kubernetes example's table (the YAML block's part before ---)."""
    text = (TOP / "README.md").read_text()
    tables = {m.group(1): m.group(2) for m in
              re.finditer(r"cat > (\S+) <<'YAML'\n(.*?)\nYAML\n", text, re.S)}
    k8s = re.search(r"```yaml\n(# solocron.yaml.*?)\n---\n", text, re.S)
    assert k8s, "no Kubernetes example in the README"
    tables["k8s.yaml"] = k8s.group(1)
    return tables


def test_readme_tables_check(tmp_path):
    tables = readme_tables()
    assert set(tables) == {"tour.yaml", "fleet.yaml", "k8s.yaml"}
    env = clean_env(API_SOCKET=str(tmp_path / "api.sock"),
                    ETCD_ENDPOINT="http://etcd.infra.svc:2379")
    for name, text in tables.items():
        p = tmp_path / name
        p.write_text(text + "\n")
        r = run("check", "-c", str(p), env=env)
        assert r.returncode == 0, f"{name}: {r.stderr}"
        assert r.stderr == f"{p}: OK, {len(r.stdout.splitlines())} job" + \
            ("s" if len(r.stdout.splitlines()) != 1 else "") + "\n"
        assert len(r.stdout.splitlines()) == text.count("name:") > 0, r.stdout
