"""The controls as `devbox status` says them (commands/controls.py), and trust covering them: a
spec that widens them is not the spec the user allowed."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from devbox.activation import trust
from devbox.commands import controls
from devbox.sandbox.host import Tier
from devbox.spec.load import parse_bytes
from devbox.spec.model import Limits, Share, ShareBind, Spec

TIER = Tier(1, 0, 0, "root")
SPEC = b'[box]\nname = "ctl"\nbase = "debian:bookworm"\n'


@pytest.fixture
def spec(tmp_path: Path) -> Spec:
    (tmp_path / "devbox.toml").write_bytes(SPEC)
    return parse_bytes(tmp_path / "devbox.toml", SPEC)


def test_the_defaults_are_said_as_today(spec: Spec) -> None:
    assert controls.lines(spec, TIER) == [
        "network:  the host's (shared)",
        "limits:   none",
        "share:    git config",
    ]
    doc = controls.as_json(spec, TIER)
    assert doc["network"] == {"mode": "host", "ports": [], "stack": None,
                              "in_force": "the host's (shared)"}  # fmt: skip
    assert doc["limits"] == {"memory_bytes": None, "cpus": None, "pids": None, "strict": True,
                             "in_force": []}  # fmt: skip
    assert doc["share"]["in_force"] == ["git config"] and doc["share"]["binds"] == []
    assert doc["desktop_entries"] == []


def test_what_a_spec_asks_is_said_in_words(spec: Spec, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("SSH_AUTH_SOCK", "/run/agent.sock")
    asked = dataclasses.replace(
        spec,
        network="private",
        ports=((8000, 8000), (9000, 90)),
        limits=Limits(memory=256 * 2**20, cpus=1.5, pids=64, strict=False),
        share=Share(
            display=True, ssh_agent=True, gitconfig=False, binds=(ShareBind("~/data", "/data"),)
        ),
    )
    network, limits, share = controls.lines(asked, TIER)
    assert re.fullmatch(
        r"network:  private \(outbound through slirp4netns[^)]*\); "
        r"published: 127\.0\.0\.1:8000 -> 8000, 127\.0\.0\.1:9000 -> 90",
        network,
    ), network
    # each limit with what holds it here (a cgroup, an rlimit, or why nothing can)
    held = r"memory 256 MiB[ :][^,]+, pids 64[ :][^,]+, cpus 1\.5[ :][^,]+"
    assert re.fullmatch(rf"limits:   {held} \(strict = false\)", limits), limits
    assert share == (
        "share:    display: none in this session (no $DISPLAY); ssh agent: /run/agent.sock; "
        "git config: not shared; bind: ~/data -> /data (ro)"
    )
    doc = json.loads(json.dumps(controls.as_json(asked, TIER)))
    assert doc["network"]["ports"] == [{"host": 8000, "box": 8000}, {"host": 9000, "box": 90}]
    assert doc["limits"]["memory_bytes"] == 256 * 2**20
    assert doc["share"]["binds"] == [{"host": "~/data", "box": "/data", "mode": "ro"}]
    none = dataclasses.replace(spec, network="none", share=Share(gitconfig=False))
    said = controls.lines(none, TIER)
    assert said[0] == "network:  none (its own loopback only)"
    assert said[2] == "share:    git config: not shared"


@pytest.mark.parametrize(
    ("n", "text"),
    [(2**30, "1 GiB"), (3 * 2**20, "3 MiB"), (1536 * 2**10, "1536 KiB"), (1000, "1000 bytes"),
     (2**20 + 1, "1.0 MiB")],
)  # fmt: skip
def test_sizes_read_as_written(n: int, text: str) -> None:
    assert controls.size(n) == text


@pytest.mark.parametrize(
    "widened",
    [
        b'[box]\nname = "ctl"\nbase = "debian:bookworm"\nnetwork = "host"\n',
        SPEC + b"\n[share]\ndisplay = true\n",
        SPEC + b'\n[share]\nbinds = [{ host = "~", box = "/h", mode = "rw" }]\n',
        SPEC + b"\n[limits]\nstrict = false\n",
    ],
)
def test_a_spec_that_changes_its_controls_is_not_the_one_allowed(
    spec: Spec, widened: bytes
) -> None:
    """The trust record hashes the spec's bytes, so any change to a control (before it is even
    parsed) makes the project "changed since allowed": the hook and shims refuse it until
    `devbox allow` (tests/integration/test_controls_trust.py does it with the hook)."""
    trust.allow(spec, SPEC)
    assert trust.verdict(spec.path, SPEC).state == trust.ALLOWED
    v = trust.verdict(spec.path, widened)
    assert (v.state, v.changes, v.spec) == (trust.CHANGED, ("devbox.toml",), None)
