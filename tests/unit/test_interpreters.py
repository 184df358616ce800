"""Pure parts of [interpreters] and the lock: version matching, npm's ranges, pins round trips."""

from __future__ import annotations

import base64
import hashlib
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from devbox.build import steps
from devbox.build.fetch import check_integrity
from devbox.build.interpreters.node_npm import newest
from devbox.build.interpreters.semver import satisfies
from devbox.plan import lockfile
from devbox.plan.interpreters import matches, upstream_version
from devbox.plan.recipe import LayerRecipe, plan
from devbox.spec.load import parse_spec
from devbox.spec.model import Spec
from devbox.store.layers import LayerMeta


@pytest.mark.parametrize(
    ("debian", "upstream"),
    [
        ("3.11.2-6+deb12u6", "3.11.2"),
        ("18.19.0+dfsg-6~deb12u2", "18.19.0"),
        ("1:2.39.2-1.1", "2.39.2"),
        ("20.19.2+dfsg-1+deb13u3", "20.19.2"),
    ],
)
def test_upstream_version(debian: str, upstream: str) -> None:
    assert upstream_version(debian) == upstream


def test_matches_is_by_whole_components() -> None:
    assert matches("3.11", "3.11.2") and matches("20", "20.18.0") and matches("20.18.0", "20.18.0")
    assert not matches("3.1", "3.11.2") and not matches("2", "20.18.0")


@pytest.mark.parametrize(
    ("version", "spec", "ok"),
    [
        ("20.18.0", "^20.17.0 || >=22.9.0", True),
        ("20.16.0", "^20.17.0 || >=22.9.0", False),
        ("22.9.0", "^20.17.0 || >=22.9.0", True),
        ("18.19.0", "^18.17.0 || >=20.5.0", True),
        ("16.20.2", "^14.17.0 || ^16.13.0 || >=18.0.0", True),
        ("15.0.0", "^14.17.0 || ^16.13.0 || >=18.0.0", False),
        ("12.22.12", ">=10", True),
        ("0.2.5", "^0.2.3", True),
        ("0.3.0", "^0.2.3", False),
        ("1.2.9", "~1.2.3", True),
        ("1.3.0", "~1.2.3", False),
        ("4.0.0", ">=2 <4", False),
        ("3.9.9", ">=2 <4", True),
        ("5.1.0", "5.x", True),
        ("1.0.0", "*", True),
    ],
)
def test_npm_engine_ranges(version: str, spec: str, ok: bool) -> None:
    assert satisfies(version, spec) is ok


def test_newest_matching_release_skips_prereleases() -> None:
    versions = dict.fromkeys(["20.9.0", "20.18.0", "20.18.1", "21.0.0", "20.19.0-rc.1", "2.0.0"])
    assert newest(versions, "20") == "20.18.1"
    assert newest(versions, "20.18") == "20.18.1"
    assert newest(versions, "20.18.0") == "20.18.0"
    assert newest(versions, "19") is None


def test_integrity_forms() -> None:
    data = b"node"
    hashes = {n: hashlib.new(n, data).hexdigest() for n in ("sha256", "sha512")}
    sri = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    assert check_integrity(hashes, sri)
    assert check_integrity(hashes, "sha256:" + hashes["sha256"])
    assert not check_integrity(hashes, "sha512-" + base64.b64encode(b"x" * 64).decode())
    assert not check_integrity(hashes, "md5-abc")


def test_pinned_apt_script_checks_then_installs_exact_versions() -> None:
    script = steps.apt_script(
        ["git", "libpq-dev=15.*"], pins={"git": "1:2.39.2-1.1", "libpq5": "15.8-0+deb12u1"}
    )
    assert "install -- git=1:2.39.2-1.1 libpq5=15.8-0+deb12u1 'libpq-dev=15.*'" in script
    assert script.index("unavailable") < script.index("install --")
    assert re.search(r"apt-mark .* auto -- libpq5", script)
    assert "unavailable" not in steps.apt_script(["git"])


@pytest.mark.parametrize("cached", [False, True])
def test_no_apt_tool_writes_its_binary_caches_into_the_layer(cached: bool) -> None:
    script = steps.apt_script(
        ["git"], pins={"git": "1:2.39.2-1.1", "libpq5": "15.8"}, cached_lists=cached
    )
    tools = [line for line in script.splitlines() if re.search(r"\bapt-(get|cache|mark) ", line)]
    assert len(tools) >= 4
    once = steps.apt_script(["git"], cached_lists=cached)  # one apt command
    for line in tools + [ln for ln in once.splitlines() if "apt-get " in ln]:
        # the lists' cache beside them, in the lists dir (a bind of the suite's cache): parsed
        # once for all these commands and the steps after; the status's cache in memory
        assert "-o Dir::Cache::pkgcache= " in line, line
        path = "/var/lib/apt/lists/devbox-srcpkgcache.bin"
        assert f"-o Dir::Cache::srcpkgcache={path} " in line, line
        assert steps.SRCPKGCACHE == path and path.startswith(steps.APT_LISTS + "/")


SPEC = """\
[box]
base = "debian:bookworm"
[packages]
apt = ["jq"]
[interpreters]
python = "3.11"
node = "20.18.0"
"""


def _spec(tmp_path: Path, text: str = SPEC) -> Spec:
    return parse_spec(textwrap.dedent(text), tmp_path / "devbox.toml")


def _metas(layers: list[LayerRecipe]) -> list[LayerMeta]:
    pins: list[dict[str, Any]] = [
        {"packages": {"dash": "0.5.12-2", "libc6": "2.36-9"}},
        {"packages": {"jq": "1.6-2.1"}},
        {"version": "3.11.2", "packages": {"python3.11": "3.11.2-6+deb12u6"}},
        {"version": "20.18.0", "url": "https://r/n.tgz", "integrity": "sha512-x",
         "npm-version": "11.0.0", "npm-url": "https://r/npm.tgz", "npm-integrity": "sha512-y",
         "packages": {}},
    ]  # fmt: skip
    out: list[LayerMeta] = []
    packages: dict[str, str] = {}
    for layer, p in zip(layers, pins):
        packages = {**packages, **p["packages"]}
        out.append(
            LayerMeta(
                digest=layer.digest,
                kind=layer.kind,
                parent=None,
                recipe=layer.recipe,
                title=layer.title,
                size=0,
                created=0.0,
                tier=1,
                packages=dict(packages),
                arch="amd64",
                pins=p,
            )
        )
    return out


def test_lock_round_trips_every_layers_pins(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    layers = plan(spec)
    metas = _metas(layers)
    lockfile.write(spec, metas)
    doc = lockfile.read(lockfile.lock_path(spec))
    assert lockfile.pins_chain(doc, layers) == [m.pins for m in metas]
    assert lockfile.mismatch(doc, layers) is None
    text = lockfile.lock_path(spec).read_text()
    assert '[interpreters.node]\nprovider = "npm"\nrequested = "20.18.0"' in text
    assert text == lockfile.render(spec, metas)  # stable


def test_a_changed_request_drops_pins_from_there_up(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    lockfile.write(spec, _metas(plan(spec)))
    doc = lockfile.read(lockfile.lock_path(spec))
    edited = plan(_spec(tmp_path, SPEC.replace('["jq"]', '["jq", "tree"]')))
    chain = lockfile.pins_chain(doc, edited)
    assert chain[0] is not None and chain[1:] == [None, None, None]
    why = lockfile.mismatch(doc, edited)
    assert why is not None and "[apt]" in why and "tree" in why
    node_only = plan(_spec(tmp_path, SPEC.replace('"20.18.0"', '"20.17.0"')))
    assert [p is not None for p in lockfile.pins_chain(doc, node_only)] == [True] * 3 + [False]


def test_diff_pins_names_what_moved() -> None:
    old = {"version": "20.18.0", "packages": {"a": "1", "b": "1"}}
    new = {"version": "20.18.1", "packages": {"a": "2", "c": "1"}}
    assert lockfile.diff_pins(old, new) == [
        "a: locked 1, got 2",
        "b: locked 1, got (absent)",
        "c: locked (absent), got 1",
        "version: locked 20.18.0, got 20.18.1",
    ]


def test_no_lock_or_a_garbled_one_pins_nothing(tmp_path: Path) -> None:
    layers = plan(_spec(tmp_path))
    assert lockfile.pins_chain(None, layers) == [None] * 4
    (tmp_path / "devbox.lock").write_bytes(b"\xff\xfe not toml")
    assert lockfile.read(tmp_path / "devbox.lock") is None
    assert lockfile.mismatch(None, layers) is not None
