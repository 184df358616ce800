"""devbox.lock field by field, with real builds: `build --locked` and `devbox status` reach the
same verdict on every kind of edit, a pin the archive lacks costs no rebuild of a layer whose
request did not change, and a hash devbox.lock pins is blamed on the lock, not the network."""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path

import pytest

from tests.helpers import Devbox, MakeProject, layer_dirs

pytestmark = pytest.mark.integration

SETUP = """\
[box]
name = "fields"
base = "debian:bookworm"

[packages]
apt = ["tree"]

[setup]
run = ["cp req.txt /etc/req.txt"]
inputs = ["req.txt"]
"""

NODE = """\
[box]
name = "nodelock"
base = "debian:bookworm"

[interpreters]
node = { version = "20.18.0", provider = "npm" }
"""

PY = """\
[box]
name = "badpin"
base = "debian:bookworm"

[packages]
apt = ["tree"]

[interpreters]
python = "3.11"
"""


def _status(devbox: Devbox, project: Path) -> dict[str, str]:
    r = devbox("status", cwd=project, check=True)
    out = {}
    for line in r.stdout.splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def _built(stderr: str) -> list[str]:
    return re.findall(r"^\[\d+/\d+\] (.+?): built in", stderr, re.M)


@pytest.fixture
def fields(devbox: Devbox, make_project: MakeProject) -> Path:
    project = make_project("fields", SETUP, {"req.txt": "flask==3.0\n"})
    devbox("build", cwd=project, check=True)
    return project


def _edits(lock: str) -> list[tuple[str, str, str, str]]:
    """(what, edited lock, in `build --locked`'s error, in status's lock line)"""
    arch = re.search(r'^arch = "(.+)"$', lock, re.M)
    assert arch is not None
    tree = re.search(r'^"tree" = "(.+)"$', lock, re.M)
    assert tree is not None
    req = re.search(r'^"req.txt" = "(.+)"$', lock, re.M)
    assert req is not None
    other = "arm64" if arch[1] != "arm64" else "amd64"
    return [
        ("lock-version", lock.replace("lock-version = 2", "lock-version = 99"),
         "devbox.lock has lock-version = 99; this devbox reads lock-version 2",
         "devbox.lock has lock-version = 99; this devbox reads lock-version 2"),
        ("arch", lock.replace(arch[0], f'arch = "{other}"'),
         f'arch is "{other}" in devbox.lock, "{arch[1]}" in the box',
         f'arch is "{other}" in devbox.lock, "{arch[1]}" in the box'),
        ("setup input hash", lock.replace(req[1], "sha256:" + "0" * 64),
         f'[setup.inputs] req.txt is "sha256:{"0" * 64}" in devbox.lock',
         f'[setup.inputs] req.txt is "sha256:{"0" * 64}" in devbox.lock'),
        ("package pin", lock.replace(tree[0], '"tree" = "9.9-9"'),
         "devbox.lock [apt] pins versions the archive does not have: tree=9.9-9",
         '[apt.packages] tree is "9.9-9" in devbox.lock'),
        ("unknown key", lock.replace("[apt]\n", "[apt]\nnote = 1\n"),
         "devbox.lock [apt] does not say what the build got: note: locked 1, got (absent)",
         "[apt] note is 1 in devbox.lock, absent in the box"),
        ("mirror", lock.replace('mirror = "http://deb.debian.org/debian"',
                                'mirror = "http://example.invalid/debian"'),
         'devbox.lock [base] does not match the spec: mirror = "http://example.invalid/debian"',
         'devbox.lock [base] does not match the spec: mirror = "http://example.invalid/debian"'),
    ]  # fmt: skip


def test_build_locked_and_status_agree_on_every_kind_of_lock_edit(
    devbox: Devbox, fields: Path
) -> None:
    path = fields / "devbox.lock"
    lock = path.read_text()
    assert _status(devbox, fields)["lock"] == "matches the box"
    for what, edited, error, status in _edits(lock):
        assert edited != lock, what
        path.write_text(edited)
        r = devbox("build", "--locked", cwd=fields)
        assert r.returncode == 1, (what, r.stdout, r.stderr)
        assert error in r.stderr, (what, r.stderr)
        assert "Traceback" not in r.stderr and "exactly as" not in r.stderr
        assert path.read_text() == edited, f"{what}: --locked changed the lock"
        line = _status(devbox, fields)["lock"]
        assert status in line, (what, line)
        assert "--locked` refuses it" in line or "--locked` builds it or says why" in line
        if what == "lock-version":  # a newer devbox's lock: a plain build does not rewrite it
            r = devbox("build", cwd=fields)
            assert r.returncode == 1 and "(a newer devbox wrote it)" in r.stderr, r.stderr
            assert path.read_text() == edited
    path.write_text(lock)
    r = devbox("build", "--locked", cwd=fields, check=True)
    assert "exactly as devbox.lock says" in r.stderr
    assert _status(devbox, fields)["lock"] == "matches the box"


def test_status_names_the_setup_input_that_changed(devbox: Devbox, fields: Path) -> None:
    assert _status(devbox, fields)["state"] == "up to date with devbox.toml"
    (fields / "req.txt").write_text("flask==3.1\n")
    assert _status(devbox, fields)["state"] == (
        "setup input req.txt changed since the last build: needs `devbox build` "
        "(1 of 3 layers to build)"
    )
    spec = fields / "devbox.toml"
    spec.write_text(spec.read_text().replace("cp req.txt", "cp -v req.txt"))
    assert _status(devbox, fields)["state"].startswith("devbox.toml changed since the last build")


def test_an_edited_interpreter_version_is_not_passed_as_locked(
    devbox: Devbox, make_project: MakeProject
) -> None:
    project = make_project("node lock", NODE)
    devbox("build", cwd=project, check=True)
    path = project / "devbox.lock"
    lock = path.read_text()
    assert 'version = "20.18.0"' in lock
    path.write_text(lock.replace('version = "20.18.0"', 'version = "20.99.0"'))
    r = devbox("build", "--locked", cwd=project)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "devbox.lock [interpreters.node]" in r.stderr, r.stderr
    assert "version: locked 20.99.0, got 20.18.0" in r.stderr, r.stderr
    assert (
        'version is "20.99.0" in devbox.lock, "20.18.0" in the box'
        in (_status(devbox, project)["lock"])
    )
    r = devbox("run", "--", "node", "--version", cwd=project, check=True)
    assert r.stdout.strip() == "v20.18.0"


def test_a_hash_edited_in_the_lock_is_blamed_on_the_lock(
    devbox: Devbox, make_project: MakeProject
) -> None:
    project = make_project("node hash", NODE)
    devbox("build", cwd=project, check=True)
    path = project / "devbox.lock"
    lock = path.read_text()
    integrity = re.search(r'^integrity = "(sha512-.+)"$', lock, re.M)
    assert integrity is not None
    forged = "sha512-" + "A" * 86 + "=="
    path.write_text(lock.replace(integrity[1], forged))
    r = devbox("build", cwd=project)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "the download's hash differs from the one devbox.lock pins for it" in r.stderr
    assert "mirror or proxy" not in r.stderr and "git diff devbox.lock" in r.stderr
    assert "Traceback" not in r.stderr


def _drop_aliases(store: Path) -> None:
    """Drop the aliases to this module's apt ["tree"] layers and the python layers over them."""
    aliases = {a: a.read_text().strip() for a in (store / "resolved").iterdir()}
    metas = {}
    for target in set(aliases.values()):
        with contextlib.suppress(OSError):
            metas[target] = json.loads((store / "layers" / target / "meta.json").read_text())
    apt = {
        t for t, m in metas.items() if m["kind"] == "apt" and m["recipe"]["packages"] == ["tree"]
    }
    ours = apt | {t for t, m in metas.items() if m["kind"] == "python" and m["parent"] in apt}
    for alias, target in aliases.items():
        if target in ours:
            alias.unlink()
    assert len(ours) >= 2


def _identity(store: Path, names: set[str]) -> dict[str, tuple[int, int, int]]:
    """Each layer's rootfs and meta.json as files (a layer built again has new ones; the
    directory's own mtime is the last-used stamp)."""
    out = {}
    for n in names:
        rootfs, meta = (os.stat(store / "layers" / n / f) for f in ("rootfs", "meta.json"))
        out[n] = (rootfs.st_ino, meta.st_ino, meta.st_mtime_ns)
    return out


def test_a_pin_the_archive_lacks_rebuilds_no_layer_whose_request_is_unchanged(
    devbox: Devbox, make_project: MakeProject
) -> None:
    project = make_project("bad pin", PY)
    devbox("build", cwd=project, check=True)
    path = project / "devbox.lock"
    lock = path.read_text()
    ours = {d for d in layer_dirs(devbox.store) if not d.startswith(".")}
    before = _identity(devbox.store, ours)
    # as in a store that only locked builds filled: no alias from an unlocked build of these
    # requests (the base's is other projects' too, and stays)
    _drop_aliases(devbox.store)
    tree = re.search(r'^"tree" = "(.+)"$', lock, re.M)
    assert tree is not None
    path.write_text(lock.replace(tree[0], '"tree" = "9.9-9"'))
    r = devbox("build", cwd=project)
    assert r.returncode == 0, r.stderr
    assert "which the archive no longer has; reusing what it resolved to before" in r.stderr
    assert _built(r.stderr) == [], r.stderr
    assert path.read_text() == lock, "the lock is back to what the box holds"
    assert {d for d in layer_dirs(devbox.store) if not d.startswith(".")} == ours
    assert _identity(devbox.store, ours) == before
