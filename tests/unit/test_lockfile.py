from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from devbox.plan.lockfile import render
from devbox.spec.load import parse_spec
from devbox.spec.model import DEFAULT_MIRROR, Spec
from devbox.store.layers import LayerMeta

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

A, B, C = "a" * 64, "b" * 64, "c" * 64
REQ_HASH = "d" * 64

BASE_PACKAGES = {  # deliberately not sorted
    "mawk": "1.3.4.20200120-3.1",
    "libstdc++6": "12.2.0-14",
    "base-files": "12.4+deb12u5",
    "libc6": "2.36-9",
}
APT_PACKAGES = {
    "git": "1:2.39.2-1.1",
    "libc6": "2.36-9+deb12u4",  # upgraded by the apt layer
    "g++": "4:12.2.0-3",
    "libstdc++6": "12.2.0-14",  # unchanged: not repeated
    "base-files": "12.4+deb12u5",
    # mawk removed
}
SETUP_PACKAGES = {**APT_PACKAGES, "python3-pip": "23.0.1+dfsg-1"}


def meta(
    digest: str,
    kind: str,
    parent: str | None,
    recipe: dict[str, Any],
    packages: dict[str, str],
    arch: str = "amd64",
) -> LayerMeta:
    return LayerMeta(
        digest=digest,
        kind=kind,
        parent=parent,
        recipe=recipe,
        title=kind,
        size=1234,
        created=1700000000.0,
        tier=1,
        packages=packages,
        arch=arch,
    )


BASE = meta(
    A,
    "debian",
    None,
    {"suite": "bookworm", "mirror": DEFAULT_MIRROR, "variant": "minbase"},
    BASE_PACKAGES,
)
APT = meta(B, "apt", A, {"packages": ["g++", "git"]}, APT_PACKAGES)
SETUP = meta(
    C,
    "setup",
    B,
    {
        "run": ["pip install -r requirements.txt", 'echo "hi" > out'],
        "inputs": {"requirements.txt": REQ_HASH},
        "workdir": "/w",
    },
    SETUP_PACKAGES,
)

EXPECTED = f"""\
# devbox.lock: what `devbox build` resolved. Written by devbox; commit it, don't edit it.
lock-version = 2
arch = "amd64"

[base]
source = "debian:bookworm"
suite = "bookworm"
mirror = "http://deb.debian.org/debian"

[base.packages]
"base-files" = "12.4+deb12u5"
"libc6" = "2.36-9"
"libstdc++6" = "12.2.0-14"
"mawk" = "1.3.4.20200120-3.1"

[apt]
requested = ["g++", "git"]
removed = ["mawk"]

[apt.packages]
"g++" = "4:12.2.0-3"
"git" = "1:2.39.2-1.1"
"libc6" = "2.36-9+deb12u4"

[setup]
run = ["pip install -r requirements.txt", "echo \\"hi\\" > out"]

[setup.inputs]
"requirements.txt" = "sha256:{REQ_HASH}"

[setup.packages]
"python3-pip" = "23.0.1+dfsg-1"
"""


@pytest.fixture
def spec(tmp_path: Path) -> Spec:
    return parse_spec('[box]\nbase = "debian:bookworm"\n', tmp_path / "devbox.toml")


def test_golden_lock(spec: Spec) -> None:
    assert render(spec, [BASE, APT, SETUP]) == EXPECTED


def test_render_is_deterministic_whatever_the_dict_order(spec: Spec) -> None:
    shuffled = meta(
        B, "apt", A, {"packages": ["g++", "git"]}, dict(reversed(list(APT_PACKAGES.items())))
    )
    assert render(spec, [BASE, shuffled, SETUP]) == render(spec, [BASE, APT, SETUP])
    assert render(spec, [BASE, APT, SETUP]) == render(spec, [BASE, APT, SETUP])


def test_lock_parses_into_the_expected_structure(spec: Spec) -> None:
    assert tomllib.loads(render(spec, [BASE, APT, SETUP])) == {
        "lock-version": 2,
        "arch": "amd64",
        "base": {
            "source": "debian:bookworm",
            "suite": "bookworm",
            "mirror": DEFAULT_MIRROR,
            "packages": BASE_PACKAGES,
        },
        "apt": {
            "requested": ["g++", "git"],
            "removed": ["mawk"],
            "packages": {"g++": "4:12.2.0-3", "git": "1:2.39.2-1.1", "libc6": "2.36-9+deb12u4"},
        },
        "setup": {
            "run": ["pip install -r requirements.txt", 'echo "hi" > out'],
            "inputs": {"requirements.txt": "sha256:" + REQ_HASH},
            "packages": {"python3-pip": "23.0.1+dfsg-1"},
        },
    }


def test_unchanged_packages_are_not_repeated_and_upgrades_are(spec: Spec) -> None:
    lock = tomllib.loads(render(spec, [BASE, APT]))
    assert "libstdc++6" not in lock["apt"]["packages"]
    assert "base-files" not in lock["apt"]["packages"]
    assert lock["apt"]["packages"]["libc6"] == "2.36-9+deb12u4"
    assert lock["base"]["packages"]["libc6"] == "2.36-9"


def test_base_only_lock(spec: Spec) -> None:
    text = render(spec, [BASE])
    lock = tomllib.loads(text)
    assert set(lock) == {"lock-version", "arch", "base"}
    assert "removed" not in lock["base"]
    assert text.endswith('"mawk" = "1.3.4.20200120-3.1"\n')


def test_a_layer_that_changes_no_package_has_no_packages_table(spec: Spec) -> None:
    setup = meta(C, "setup", B, {"run": ["true"], "inputs": {}, "workdir": "/w"}, APT_PACKAGES)
    text = render(spec, [BASE, APT, setup])
    assert text.endswith('[setup]\nrun = ["true"]\n')
    lock = tomllib.loads(text)
    assert lock["setup"] == {"run": ["true"]}


def test_arch_comes_from_the_first_layer_and_defaults_to_unknown(spec: Spec) -> None:
    arm = meta(A, "debian", None, BASE.recipe, {"libc6": "2.36-9"}, arch="arm64")
    assert tomllib.loads(render(spec, [arm]))["arch"] == "arm64"
    assert tomllib.loads(render(spec, []))["arch"] == "unknown"


def test_names_that_need_quoting(spec: Spec) -> None:
    text = render(spec, [BASE, APT])
    assert '"libstdc++6" = "12.2.0-14"' in text
    assert '"g++" = "4:12.2.0-3"' in text
    assert 'requested = ["g++", "git"]' in text


def test_awkward_setup_steps_round_trip(spec: Spec) -> None:
    steps = ["echo 'a\\b' \"c\"", "printf 'x\\ty'\n  | cat", "echo héllo ✓", "tab\there"]
    setup = meta(C, "setup", A, {"run": steps, "inputs": {}, "workdir": "/w"}, BASE_PACKAGES)
    assert tomllib.loads(render(spec, [BASE, setup]))["setup"]["run"] == steps


def test_control_characters_in_a_setup_step_round_trip(spec: Spec) -> None:
    steps = ["echo \x7f"]
    setup = meta(C, "setup", A, {"run": steps, "inputs": {}, "workdir": "/w"}, BASE_PACKAGES)
    assert tomllib.loads(render(spec, [BASE, setup]))["setup"]["run"] == steps


def test_inputs_with_odd_file_names(spec: Spec) -> None:
    inputs = {"dir with space/a.txt": REQ_HASH, 'q"uote.txt': REQ_HASH}
    setup = meta(C, "setup", A, {"run": ["true"], "inputs": inputs, "workdir": "/w"}, {})
    lock = tomllib.loads(render(spec, [BASE, setup]))
    assert lock["setup"]["inputs"] == {k: "sha256:" + v for k, v in inputs.items()}
    assert lock["setup"]["removed"] == sorted(BASE_PACKAGES)


def _doc(text: str) -> dict[str, Any]:
    return tomllib.loads(text)


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        ('arch = "amd64"', 'arch = "arm64"', 'arch is "arm64" in devbox.lock, "amd64" in the box'),
        ('"git" = "1:2.39.2-1.1"', '"git" = "1:9"',
         '[apt.packages] git is "1:9" in devbox.lock, "1:2.39.2-1.1" in the box'),
        ('removed = ["mawk"]\n', "", '[apt] removed is absent in devbox.lock, ["mawk"] in the box'),
        ("[apt]\n", "[apt]\nnote = 1\n", "[apt] note is 1 in devbox.lock, absent in the box"),
        (f'"sha256:{REQ_HASH}"', '"sha256:0"',
         '[setup.inputs] requirements.txt is "sha256:0" in devbox.lock'),
        ('"python3-pip" = "23.0.1+dfsg-1"\n', "",
         '[setup.packages] python3-pip is absent in devbox.lock, "23.0.1+dfsg-1" in the box'),
        ("lock-version = 2", "lock-version = 3",
         "devbox.lock has lock-version = 3; this devbox reads lock-version 2"),
        ("lock-version = 2", 'lock-version = "2"',
         'devbox.lock has lock-version = "2"; this devbox reads lock-version 2'),
        ("lock-version = 2\n", "", "devbox.lock has no lock-version; this devbox reads"),
    ],
)  # fmt: skip
def test_every_field_of_the_lock_is_compared_with_the_box(
    spec: Spec, old: str, new: str, said: str
) -> None:
    from devbox.plan import lockcheck

    assert lockcheck.differences(_doc(EXPECTED), spec, [BASE, APT, SETUP]) == []
    assert old in EXPECTED
    diffs = lockcheck.differences(_doc(EXPECTED.replace(old, new)), spec, [BASE, APT, SETUP])
    assert len(diffs) == 1 and diffs[0].startswith(said), diffs


def test_an_extra_table_and_a_newer_format(spec: Spec) -> None:
    from devbox.plan import lockcheck

    doc = _doc(EXPECTED + '\n[interpreters.node]\nversion = "20.99.0"\n')
    diffs = lockcheck.differences(doc, spec, [BASE, APT, SETUP])
    assert diffs == ["[interpreters] is in devbox.lock but not in the box"]
    assert lockcheck.newer({"lock-version": 3}) and not lockcheck.newer({"lock-version": 2})
    assert not lockcheck.newer({"lock-version": True}) and not lockcheck.newer({})
    many = [f"d{i}" for i in range(6)]
    assert lockcheck.summary(many) == "d0; d1; d2; d3 (and 2 more)"
