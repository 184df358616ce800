"""[cache] registry and DEVBOX_CACHE: where the team layer cache is, checked when read."""

from __future__ import annotations

from pathlib import Path

import pytest

from devbox.errors import DevboxError, SpecError
from devbox.spec.load import parse_spec
from devbox.teamcache.lookup import registry_of

BASE = '[box]\nbase = "debian:bookworm"\n'


def test_the_registry_is_read(tmp_path: Path) -> None:
    spec = parse_spec(BASE + '[cache]\nregistry = "reg.example.com:5000/team/c"\n',
                      tmp_path / "devbox.toml")  # fmt: skip
    assert spec.cache == "reg.example.com:5000/team/c"
    assert parse_spec(BASE, tmp_path / "devbox.toml").cache is None


@pytest.mark.parametrize(
    "value",
    ["reg.example.com/team/c:1", "reg.example.com/team/c@sha256:" + "0" * 64, "team/c",
     "https://reg.example.com/c", "reg.example.com/Team", ""],
)  # fmt: skip
def test_a_bad_registry_names_the_key_and_line(tmp_path: Path, value: str) -> None:
    with pytest.raises(SpecError) as e:
        parse_spec(BASE + f'[cache]\nregistry = "{value}"\n', tmp_path / "devbox.toml")
    text = str(e.value)
    assert "devbox.toml:4: cache.registry: " in text


def test_devbox_cache_wins_and_empty_turns_it_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = parse_spec(BASE + '[cache]\nregistry = "reg.example.com/a"\n', tmp_path / "devbox.toml")
    monkeypatch.delenv("DEVBOX_CACHE", raising=False)
    assert registry_of(spec) == "reg.example.com/a"
    monkeypatch.setenv("DEVBOX_CACHE", "localhost:5000/b")
    assert registry_of(spec) == "localhost:5000/b"
    monkeypatch.setenv("DEVBOX_CACHE", "")
    assert registry_of(spec) is None
    monkeypatch.setenv("DEVBOX_CACHE", "b:tag")
    with pytest.raises(DevboxError, match="DEVBOX_CACHE"):
        registry_of(spec)
