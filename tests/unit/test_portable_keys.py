"""Portable layer keys: no uid map, no host path in them; the lock's pins and the arch are."""

from __future__ import annotations

from pathlib import Path

from devbox.plan import portable
from devbox.plan.recipe import plan
from devbox.spec.load import parse_spec
from devbox.spec.model import Spec


def _spec(project: Path, extra: str = "") -> Spec:
    text = f'[box]\nbase = "debian:bookworm"\n[packages]\napt = ["jq"]\n{extra}'
    (project / "devbox.toml").write_text(text)
    return parse_spec(text, project / "devbox.toml")


def test_the_portable_chain_holds_no_uid_map(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    layers = portable.portable_plan(spec)
    pins: list[dict[str, object] | None] = [
        {"packages": {"base-files": "12.4"}},
        {"packages": {"jq": "1.6-2.1"}},
    ]
    keys = portable.chain(layers, pins, "amd64")
    assert keys == portable.chain(portable.portable_plan(spec), pins, "amd64")
    # a tier's plan names its uid map: its requests differ, the portable ones do not
    assert [x.digest for x in plan(spec, idmap="root")] != [x.digest for x in layers]
    tier2 = [x.digest for x in plan(spec, idmap="u:1000")]
    assert tier2 != [x.digest for x in plan(spec, idmap="root")]
    assert len(set(keys)) == 2


def test_pins_arch_and_the_layer_below_change_the_key(tmp_path: Path) -> None:
    layers = portable.portable_plan(_spec(tmp_path))
    pins: list[dict[str, object] | None] = [{"packages": {"a": "1"}}, {"packages": {"jq": "1"}}]
    keys = portable.chain(layers, pins, "amd64")
    assert portable.chain(layers, pins, "arm64") != keys
    other = portable.chain(layers, [{"packages": {"a": "2"}}, pins[1]], "amd64")
    assert other[0] != keys[0] and other[1] != keys[1]  # the chain carries the change up
    same_base = portable.chain(layers, [pins[0], {"packages": {"jq": "2"}}], "amd64")
    assert same_base[0] == keys[0] and same_base[1] != keys[1]
