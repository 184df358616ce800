"""The store and the state dir are the same for every entry, whatever DEVBOX_HOME is (unset, the
default for users; empty; set): the CLI, and the CLI again after a launcher hands over to it
(with the DEVBOX_HOME the hand-over sets). The front's store is compared with Python's in
test_front.py (test_the_store_is_where_python_puts_it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CODE = """
import json
from types import SimpleNamespace
from devbox.activation import launcher, trust
from devbox.store import paths
box = SimpleNamespace(store=paths.Store(paths.store_root()))
print(json.dumps({"store": str(paths.store_root()), "state": str(paths.state_root()),
                  "record": str(trust.record_path("/nonexistent/p/devbox.toml")),
                  "handover": launcher.handover_home(box)}))
"""


def _paths(env: dict[str, str]) -> dict[str, str]:
    r = subprocess.run(
        [sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True
    )
    out: dict[str, str] = json.loads(r.stdout)
    return out


@pytest.mark.parametrize("devbox_home", [None, "", "{tmp}/devbox home"])
def test_the_cli_and_a_launchers_hand_over_agree_on_every_path(
    tmp_path: Path, devbox_home: str | None
) -> None:
    home = tmp_path / "home"
    env = {"HOME": str(home), "PATH": os.environ["PATH"], "PYTHONPATH": os.pathsep.join(sys.path)}
    if devbox_home is not None:
        env["DEVBOX_HOME"] = devbox_home.format(tmp=tmp_path)
    cli = _paths(env)
    if devbox_home:
        assert cli["store"] == f"{tmp_path}/devbox home"
        assert cli["state"] == f"{tmp_path}/devbox home/state"
    else:  # the platform's dirs under the user's home
        assert cli["store"] == f"{home}/.local/share/devbox"
        assert cli["state"] == f"{home}/.local/state/devbox"
    assert cli["record"].startswith(cli["state"] + "/trust/")
    handed = _paths({**env, "DEVBOX_HOME": cli["handover"]})  # what the launcher's exec sets
    assert {k: handed[k] for k in ("store", "state", "record")} == {
        k: cli[k] for k in ("store", "state", "record")
    }
