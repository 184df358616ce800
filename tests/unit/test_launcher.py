"""The launcher's pure parts: quoting argv words with its placeholders, the env options, what it
watches; its by-path index entry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import devbox
from devbox.activation import launcher
from devbox.activation.launchwords import _CMD, _CWD, _PID, _probe, _word, _words, env_options
from devbox.sandbox.host import Tier
from devbox.spec.load import parse_spec
from devbox.store import projects
from devbox.store.paths import launcher_index


@pytest.mark.parametrize(
    ("word", "shell"),
    [
        ("plain", "plain"),
        ("it's a b", "'it'\"'\"'s a b'"),
        ("", "''"),
        (_CMD, '"$@"'),
        (_CWD, '"$c"'),
        ("--target=" + _PID, '--target="$pid"'),
        (_PID + "/x y", "\"$pid\"'/x y'"),
    ],
)
def test_words_are_quoted_with_placeholders_expanded(word: str, shell: str) -> None:
    assert _word(word) == shell


def test_quoted_words_survive_the_shell() -> None:
    words = ["a b", "it's", "$(rm -rf /)", "*", "--target=" + _PID, "x" + _CWD + "y"]
    script = f'pid=42; c="/w d"; printf "%s\\n" {_words(words)}'
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["a b", "it's", "$(rm -rf /)", "*", "--target=42", "x/w dy"]


def test_env_options_static_and_passed_through() -> None:
    plain = {"PATH": "/bin", "TERM": "dumb", "TZ": "UTC"}  # [env] sets TZ itself
    probed = {"PATH": "/bin", "TERM": _probe("TERM"), "TZ": "UTC", "NO_COLOR": _probe("NO_COLOR")}
    opts = env_options(plain, probed)
    assert opts == [
        "--clearenv",
        '${NO_COLOR+--setenv} ${NO_COLOR+NO_COLOR} ${NO_COLOR+"$NO_COLOR"}',
        '--setenv TERM "$TERM"',
        "--setenv PATH /bin",
        "--setenv TZ UTC",
    ]


def test_env_derived_from_the_host_has_no_fast_path() -> None:
    plain = {"PATH": "/bin", "TERM": "dumb", "MINE": "dumb-x"}  # [env] MINE = "${TERM}-x"
    probed = {"PATH": "/bin", "TERM": _probe("TERM"), "MINE": _probe("TERM") + "-x"}
    assert env_options(plain, probed) is None


def test_unset_pass_through_values_add_no_words() -> None:
    opt = env_options({}, {"TZ": _probe("TZ")})
    assert opt is not None
    script = f'set -- {opt[1]}; echo $#; TZ=; set -- {opt[1]}; echo $# "$3"'
    out = subprocess.run(["sh", "-c", f"unset TZ; {script}"], capture_output=True, text=True)
    assert out.stdout.split("\n")[:2] == ["0", "3 "]


def test_the_index_entry_points_at_the_launcher_and_is_replaced(tmp_path: Path) -> None:
    store = tmp_path / "store"
    project = tmp_path / "my 'project' *"
    project.mkdir()
    (tmp_path / "link").symlink_to(project)
    first, second = tmp_path / "first", tmp_path / "second"
    assert projects.write_index(tmp_path / "link", store, first)
    entry = launcher_index(project, store)
    assert entry == store / f"by-path{os.path.realpath(project)}" / ".launcher"
    assert os.readlink(entry) == str(first)
    assert projects.write_index(project, store, second)
    assert os.readlink(entry) == str(second)
    assert sorted(p.name for p in entry.parent.iterdir()) == [".launcher"], "no temp left"
    projects.drop_index(project, store)
    assert not entry.is_symlink()
    projects.drop_index(project, store)  # already gone: fine


def test_an_index_entry_that_cannot_be_written_is_skipped(tmp_path: Path) -> None:
    """A project inside a directory named .launcher of another project: the outer entry's
    symlink is in the way of the inner one's directory. The front then takes the Python path."""
    store = tmp_path / "store"
    outer = tmp_path / "outer"
    inner = outer / ".launcher"
    inner.mkdir(parents=True)
    assert projects.write_index(outer, store, tmp_path / "a")
    assert not projects.write_index(inner, store, tmp_path / "b")
    assert os.readlink(launcher_index(outer, store)) == str(tmp_path / "a")


def test_the_launcher_watches_the_devbox_code_it_is_made_from(tmp_path: Path) -> None:
    """An edit to any module the launcher is computed from, or to a script template, in an
    editable install makes launchers stale (a hand-kept list of sources once missed some)."""
    spec = parse_spec('[box]\nbase = "debian:bookworm"\n', tmp_path / "devbox.toml")
    watched = launcher.watched(spec, Tier(1, 0, 0, "root"))
    package = Path(devbox.__file__).parent
    for rel in (
        "store/paths.py",  # the store layout the launcher names
        "sandbox/enter.py",
        "sandbox/start.py",
        "plan/resolve.py",  # which layers make up the stack it bakes in
        "template.py",
        "activation/launcher.sh.in",
        "activation/launcher-handover.sh.in",
        "sandbox/supervisor.sh.in",
    ):
        assert str(package / rel) in watched, rel
    assert len(watched) == len(set(watched))


def test_every_module_the_launcher_imports_is_watched(tmp_path: Path) -> None:
    code = (
        "import sys, devbox.activation.launcher, devbox.plan.resolve;"
        "print('\\n'.join(m.__file__ for n, m in sys.modules.items()"
        " if n.split('.')[0] == 'devbox'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.split())
    spec = parse_spec('[box]\nbase = "debian:bookworm"\n', tmp_path / "devbox.toml")
    assert loaded - set(launcher.watched(spec, Tier(2, 1, 1, "u", (1, 1), (1, 1)))) == set()


def test_the_hand_over_sets_devbox_home_only_when_it_chose_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Else the Python path would look for trust records in STORE/state, not the user's state
    dir (an empty DEVBOX_HOME is unset for Python and the front alike)."""
    from types import SimpleNamespace
    from typing import Any

    from devbox.store import paths

    box: Any = SimpleNamespace(store=paths.Store(tmp_path / "store"))
    monkeypatch.setenv("DEVBOX_HOME", str(tmp_path / "store"))
    assert launcher.handover_home(box) == str(tmp_path / "store")
    monkeypatch.delenv("DEVBOX_HOME")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert launcher.handover_home(box) == ""
    monkeypatch.setenv("DEVBOX_HOME", "")
    assert paths.state_root() == tmp_path / "state" / "devbox"
