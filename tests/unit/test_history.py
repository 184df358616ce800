"""Generations: what changed between two lock texts, which generation a rollback means, what gc
keeps, records written whole, and the trust a rollback restores (pure parts, no build)."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from devbox.activation import trust
from devbox.activation.covered import sha256
from devbox.errors import DevboxError
from devbox.history import changes
from devbox.history.keep import kept, kept_layers
from devbox.history.records import Generation, current, load, write
from devbox.spec.load import parse_spec
from devbox.store.paths import Store

LOCK_1 = """\
lock-version = 2
arch = "amd64"

[base]
source = "debian:bookworm"
suite = "bookworm"
mirror = "http://deb.debian.org/debian"

[base.packages]
"libc6" = "2.36-9"
"mawk" = "1.3.4"

[apt]
requested = ["jq"]

[apt.packages]
"jq" = "1.6-2.1"
"libjq1" = "1.6-2.1"

[interpreters.python]
provider = "apt"
requested = "3.11"
version = "3.11.2"
"""

LOCK_2 = """\
lock-version = 2
arch = "amd64"

[base]
source = "debian:bookworm"
suite = "bookworm"
mirror = "http://deb.debian.org/debian"

[base.packages]
"libc6" = "2.36-9"
"mawk" = "1.3.4"

[apt]
requested = ["jq", "tree"]
removed = ["mawk"]

[apt.packages]
"jq" = "1.6-2.1+deb12u1"
"libjq1" = "1.6-2.1"
"tree" = "2.1.0-1"

[interpreters.node]
provider = "npm"
requested = "20"
version = "20.18.0"

[setup]
run = ["make"]
"""


def test_a_lock_walked_bottom_up_gives_the_box_packages() -> None:
    state = changes.lock_state(LOCK_2)
    assert state.packages == {
        "libc6": "2.36-9", "jq": "1.6-2.1+deb12u1", "libjq1": "1.6-2.1", "tree": "2.1.0-1",
    }  # fmt: skip
    assert state.base == "debian:bookworm"
    assert state.interpreters == {"node": "20.18.0"}
    assert state.setup


def test_what_changed_between_two_locks() -> None:
    c = changes.between(LOCK_1, LOCK_2)
    assert c.added == {"tree": "2.1.0-1"}
    assert c.removed == {"mawk": "1.3.4"}
    assert c.changed == {"jq": ("1.6-2.1", "1.6-2.1+deb12u1")}
    assert c.interpreters == {"node": ("", "20.18.0"), "python": ("3.11.2", "")}
    assert c.setup and c.base is None
    line = changes.summary(c)
    assert line == (
        "node 20.18.0 added; python 3.11.2 removed; added tree 2.1.0-1; removed mawk; "
        "changed jq 1.6-2.1 -> 1.6-2.1+deb12u1; [setup] changed"
    )
    assert changes.summary(changes.between(LOCK_1, LOCK_1)) == ""
    assert changes.between(None, LOCK_1) == changes.Changes()
    assert changes.between(LOCK_1, "not = [toml").unreadable


def test_a_long_list_is_cut_short() -> None:
    many = "\n".join(f'"p{i}" = "1"' for i in range(9))
    c = changes.between(LOCK_1, LOCK_1 + f"\n[setup]\nrun = []\n[setup.packages]\n{many}\n")
    assert "added p0 1, p1 1, p2 1, p3 1 and 5 more" in changes.summary(c)


def gen(n: int, stack: tuple[str, ...], spec: str = "[box]\n") -> Generation:
    import hashlib

    sha = hashlib.sha256(spec.encode()).hexdigest()
    return Generation(n, 1000.0 + n, "b", sha, spec, "l" * 64, "", stack, "root")


GENS = [gen(3, ("c",)), gen(2, ("b",)), gen(1, ("a",))]  # newest first, as load gives them


def test_rollback_without_n_goes_to_the_one_before_the_current() -> None:
    assert changes.choose(GENS, GENS[0], None).n == 2
    assert changes.choose(GENS, GENS[1], None).n == 1
    assert changes.choose(GENS, None, None).n == 3  # the box uses none: the newest
    assert changes.choose(GENS, GENS[1], 3).n == 3


@pytest.mark.parametrize(
    ("gens", "now", "n", "says"),
    [
        ([], None, None, "no build history yet"),
        (GENS, GENS[0], 99, "there is no generation 99 of this project (it has 1, 2, 3)"),
        (GENS, GENS[2], None, "generation 1, the current one, is the oldest"),
    ],
)
def test_choosing_what_is_not_there_says_so(
    gens: list[Generation], now: Generation | None, n: int | None, says: str
) -> None:
    with pytest.raises(DevboxError, match=re.escape(says)):
        changes.choose(gens, now, n)


def test_current_is_the_newest_generation_with_the_registered_stack() -> None:
    gens = [gen(3, ("a",)), gen(2, ("b",)), gen(1, ("a",))]
    assert current(gens, ["a"]) is gens[0]
    assert current(gens, ["z"]) is None and current(gens, None) is None


def test_gc_keeps_the_current_and_the_newest_others() -> None:
    assert [g.n for g in kept(GENS, ["c"], 3)] == [3, 2, 1]
    assert [g.n for g in kept(GENS, ["c"], 1)] == [3]
    assert [g.n for g in kept(GENS, ["a"], 1)] == [1]  # rolled back to 1: only it
    assert [g.n for g in kept(GENS, ["a"], 2)] == [3, 1]
    assert [g.n for g in kept(GENS, ["z"], 2)] == [3]  # no current: the newest N-1


def test_records_are_private_whole_and_never_share_a_number(tmp_path: Path) -> None:
    st = Store(tmp_path)
    d = st.history / "p"
    assert write(d, gen(1, ("a",))).n == 1
    assert write(d, gen(1, ("b",))).n == 2  # 1 was taken meanwhile: the next free number
    (d / "9.json").write_text("{not json")
    (d / "8.json").write_text('{"version": 1}')
    assert [g.stack for g in load(d)] == [("b",), ("a",)]
    assert stat.S_IMODE(os.stat(d / "1.json").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    assert [name for name in os.listdir(d) if name.startswith(".tmp")] == []
    assert kept_layers(st, "p", ["b"], 1, dry_run=True) == {"b"}
    assert len(load(d)) == 2
    assert kept_layers(st, "p", ["b"], 1, dry_run=False) == {"b"}
    assert [g.n for g in load(d)] == [2]


def test_a_rollback_restores_only_trust_the_user_gave(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    path = project / "devbox.toml"

    def allow(text: str) -> str:
        path.write_text(text)
        trust.allow(parse_spec(text, path), text.encode())
        return sha256(text.encode())

    one = allow('[box]\nbase = "debian:bookworm"\n')
    two = allow('[box]\nbase = "debian:bookworm"\n[packages]\napt = ["jq"]\n')
    never = sha256(b"[box]\n# never allowed\n")
    assert trust.restore(path, one, None)  # allowed before: allowed again
    path.write_text('[box]\nbase = "debian:bookworm"\n')
    assert trust.verdict(path, path.read_bytes()).state == trust.ALLOWED
    assert not trust.restore(path, never, None)  # never allowed: the record is left as it is
    assert trust.restore(path, two, None)
    assert trust.restore(path, one, None)
    trust.deny(path)
    assert not trust.restore(path, one, None)  # deny forgets the earlier states too
