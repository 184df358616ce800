"""What `devbox status` says of a running box (sandbox/holds.py): the holding shells, the
sessions inside, or how long it lingers."""

from __future__ import annotations

import pytest

from devbox.sandbox import holds
from devbox.sandbox.holds import Why


@pytest.mark.parametrize(
    ("why", "said"),
    [
        (Why((4242, 4321), 1, True, None), "yes: held by 2 shells (pids 4242, 4321), 1 session"),
        (Why((4242,), None, False, None), "yes: held by 1 shell (pid 4242)"),
        (Why((), 3, True, None), "yes: 3 sessions"),
        (Why((), None, True, None), "yes: sessions inside"),
    ],
)
def test_why_a_box_is_up(why: Why, said: str) -> None:
    assert why.describe() == said


def test_an_idle_box_says_how_long_it_lingers() -> None:
    said = Why((), None, False, 42).describe()
    assert said.startswith("yes, idle; it lingers for 42 s more (it stops after a while")
    assert Why((), None, False, None).describe().startswith("yes, idle (it stops")
    assert Why((7,), 1, True, None).as_json() == {
        "held_by": [7],
        "sessions": 1,
        "linger_left": None,
    }


def test_the_linger_is_the_supervisors_ninth_argument() -> None:
    args = [b"unshare", b"/bin/sh", b"-c", b"script", b"devbox-box", *[b"x"] * 8, b"30", b""]
    assert holds._linger_arg(args) == 30
    assert holds._linger_arg([b"devbox-box", b"short"]) is None
    assert holds._linger_arg([*args[:13], b"soon"]) == 0
