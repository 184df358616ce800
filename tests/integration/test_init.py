"""`devbox init` in a real project: it detects what the project holds, writes a spec that
builds, and the project's dependency (from PyPI, from the npm registry) works in the box."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import Devbox

pytestmark = pytest.mark.integration

PYPROJECT = """\
[project]
name = "flaskish"
version = "0.1"
requires-python = ">=3.9"
dependencies = ["iniconfig>=2"]
"""


def test_init_on_a_pyproject_builds_and_imports_its_dependency(
    devbox: Devbox, tmp_path: Path
) -> None:
    project = tmp_path / "flaskish app"
    project.mkdir()
    (project / "pyproject.toml").write_text(PYPROJECT)
    r = devbox("init", cwd=project, check=True)
    assert "found pyproject.toml: requires-python >=3.9, met by Debian bookworm's python 3.11" in (
        r.stderr
    )
    assert "found pyproject.toml: 1 dependency, installed by [setup]" in r.stderr
    code = "import iniconfig, sys; print(iniconfig.__name__, sys.version_info[:2])"
    r = devbox("run", "--", "python", "-c", code, cwd=project)
    assert (r.returncode, r.stdout) == (0, "iniconfig (3, 11)\n"), r.stderr[-3000:]
    again = devbox("init", cwd=project)
    assert again.returncode == 1 and "already exists" in again.stderr, "never overwritten"


def test_init_on_a_package_json_builds_and_runs_node_with_its_dependency(
    devbox: Devbox, tmp_path: Path
) -> None:
    project = tmp_path / "nodeapp"
    project.mkdir()
    package = {"name": "nodeapp", "version": "1.0.0", "dependencies": {"is-number": "7.0.0"}}
    (project / "package.json").write_text(json.dumps(package))
    (project / ".nvmrc").write_text("v22\n")
    r = devbox("init", cwd=project, check=True)
    assert "found .nvmrc: v22, node 22" in r.stderr
    assert "found package.json: 1 dependency, `npm install` in [setup]" in r.stderr
    script = "console.log(require('is-number')(5), process.versions.node.split('.')[0])"
    r = devbox("run", "--", "node", "-e", script, cwd=project)
    assert (r.returncode, r.stdout) == (0, "true 22\n"), r.stderr[-3000:]
    assert not (project / "node_modules").exists(), "the working tree is left as it was"
