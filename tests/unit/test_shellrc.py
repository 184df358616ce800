from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from devbox.sandbox.shellrc import box_has, choose_program, rc_files, shell_argv, write_rc


def make_root(path: Path, *programs: str) -> Path:
    """A fake layer root with `programs` (paths relative to the root) present."""
    path.mkdir(parents=True, exist_ok=True)
    for rel in programs:
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text("#!/bin/sh\n")
    return path


@pytest.fixture
def roots(tmp_path: Path) -> list[Path]:
    """Top first: an empty writable layer, then a base with bash and sh."""
    return [make_root(tmp_path / "upper"), make_root(tmp_path / "base", "usr/bin/bash", "bin/sh")]


# -- box_has -------------------------------------------------------------------------------------


def test_box_has_looks_in_the_usual_bin_dirs_of_every_layer(tmp_path: Path) -> None:
    top = make_root(tmp_path / "top", "usr/local/bin/fish")
    bottom = make_root(tmp_path / "bottom", "usr/bin/bash", "bin/dash")
    assert box_has([top, bottom], "bash") == "/usr/bin/bash"
    assert box_has([top, bottom], "dash") == "/bin/dash"
    assert box_has([top, bottom], "fish") == "/usr/local/bin/fish"
    assert box_has([top, bottom], "zsh") is None
    assert box_has([], "bash") is None


def test_box_has_absolute_paths(tmp_path: Path) -> None:
    root = make_root(tmp_path / "r", "opt/shells/xonsh")
    assert box_has([root], "/opt/shells/xonsh") == "/opt/shells/xonsh"
    assert box_has([root], "/usr/bin/xonsh") is None


def test_box_has_follows_absolute_links_inside_the_box_not_the_host(tmp_path: Path) -> None:
    # alternatives (/usr/bin/x -> /etc/alternatives/x -> /bin/x93) are absolute links that
    # only resolve inside the box; a dangling one means the program is not there
    root = make_root(tmp_path / "r")
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "etc" / "alternatives").mkdir(parents=True)
    (root / "usr" / "bin" / "ksh").symlink_to("/etc/alternatives/ksh")
    (root / "etc" / "alternatives" / "ksh").symlink_to("/usr/bin/ksh93")
    assert box_has([root], "ksh") is None
    (root / "usr" / "bin" / "ksh93").write_text("")
    assert box_has([root], "ksh") == "/usr/bin/ksh"


def test_box_has_sees_a_whiteout_through_a_merged_usr_symlink(tmp_path: Path) -> None:
    lower = make_root(tmp_path / "lower")
    (lower / "usr" / "bin").mkdir(parents=True)
    (lower / "bin").symlink_to("usr/bin")
    (lower / "usr" / "bin" / "setpriv").write_text("")
    upper = make_root(tmp_path / "upper")
    assert box_has([upper, lower], "setpriv") == "/usr/bin/setpriv"
    _whiteout(upper / "usr" / "bin" / "setpriv")
    assert box_has([upper, lower], "setpriv") is None


def _whiteout(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(0, 0))
    except PermissionError:
        pytest.skip("cannot make a character device (overlayfs whiteout) here")


def test_box_has_respects_whiteouts_in_upper_layers(tmp_path: Path) -> None:
    upper = make_root(tmp_path / "upper")
    _whiteout(upper / "usr/bin/zsh")  # `apt remove zsh` in the box
    base = make_root(tmp_path / "base", "usr/bin/zsh", "usr/bin/bash")
    assert box_has([upper, base], "zsh") is None
    assert choose_program(None, "/usr/bin/zsh", [upper, base]) == "bash"


# -- choose_program ------------------------------------------------------------------------------


def test_requested_program_wins(roots: list[Path]) -> None:
    assert choose_program("fish", "/bin/bash", roots) == "fish"  # even if the box lacks it
    assert choose_program("/bin/sh", "/usr/bin/zsh", roots) == "/bin/sh"


def test_login_shell_if_the_box_has_it(tmp_path: Path, roots: list[Path]) -> None:
    make_root(tmp_path / "upper", "usr/bin/zsh")
    assert choose_program(None, "/usr/bin/zsh", roots) == "zsh"
    assert choose_program(None, "/bin/zsh", roots) == "zsh"  # by name, not by path


def test_bash_if_the_box_lacks_the_login_shell(roots: list[Path]) -> None:
    assert choose_program(None, "/usr/bin/zsh", roots) == "bash"
    assert choose_program(None, "/usr/bin/fish", roots) == "bash"
    assert choose_program(None, "", roots) == "bash"


def test_sh_if_the_box_lacks_bash(tmp_path: Path) -> None:
    root = make_root(tmp_path / "r", "bin/sh")
    assert choose_program(None, "/usr/bin/zsh", [root]) == "sh"
    assert choose_program(None, "/bin/sh", [root]) == "sh"


def test_sh_when_the_box_has_no_shell_at_all(tmp_path: Path) -> None:
    assert choose_program(None, "/bin/bash", [make_root(tmp_path / "empty")]) == "sh"


def test_an_empty_request_is_no_request(roots: list[Path]) -> None:
    assert choose_program("", "/usr/bin/zsh", roots) == "bash"


# -- shell_argv ----------------------------------------------------------------------------------


@pytest.mark.parametrize("program", ["bash", "/usr/bin/bash"])
def test_shell_argv_bash(program: str) -> None:
    assert shell_argv(program, "web") == (
        [program, "--rcfile", "/run/devbox/bashrc", "-i"],
        {},
    )


@pytest.mark.parametrize("program", ["zsh", "/bin/zsh"])
def test_shell_argv_zsh(program: str) -> None:
    assert shell_argv(program, "web") == ([program, "-i"], {"ZDOTDIR": "/run/devbox/zsh"})


def test_shell_argv_fish() -> None:
    init = (
        "functions -q fish_prompt; and functions -c fish_prompt __devbox_prompt; "
        "function fish_prompt; printf '%s' '⬢ web '; "
        "functions -q __devbox_prompt; and __devbox_prompt; end"
    )
    assert shell_argv("/usr/bin/fish", "web") == (["/usr/bin/fish", "-i", "-C", init], {})


@pytest.mark.parametrize("program", ["sh", "/bin/dash", "ksh"])
def test_shell_argv_other_shells_get_ps1(program: str) -> None:
    assert shell_argv(program, "web") == ([program, "-i"], {"PS1": "⬢ web $ "})


# -- rc files ------------------------------------------------------------------------------------


def test_rc_files_golden() -> None:
    assert rc_files("web") == {
        "bashrc": (
            '[ -f "$HOME/.bashrc" ] && . "$HOME/.bashrc"\nPS1="⬢ web ${PS1-\\u@\\h:\\w\\$ }"\n'
        ),
        "zsh/.zshenv": (
            'ZDOTDIR="$HOME"; [ -f "$HOME/.zshenv" ] && . "$HOME/.zshenv"; '
            "ZDOTDIR=/run/devbox/zsh\n"
        ),
        "zsh/.zshrc": (
            'ZDOTDIR="$HOME"\n'
            '[ -f "$HOME/.zshrc" ] && . "$HOME/.zshrc"\n'
            'PROMPT="⬢ web ${PROMPT-%n@%m %~ %# }"\n'
        ),
    }


@pytest.mark.parametrize("name", ["webapp", "my.box_2-x"])
def test_rc_files_mark_the_prompt_after_sourcing_the_users_rc(name: str) -> None:
    files = rc_files(name)
    for rc in ("bashrc", "zsh/.zshrc"):
        text = files[rc]
        assert f"⬢ {name} " in text
        assert text.index("⬢ ") > text.index('. "$HOME/')


def test_zsh_rc_dir_matches_shell_argv() -> None:
    _, env = shell_argv("zsh", "web")
    assert rc_files("web")["zsh/.zshenv"].endswith(f"ZDOTDIR={env['ZDOTDIR']}\n")


def test_write_rc(tmp_path: Path) -> None:
    rc = tmp_path / "rc"
    write_rc(rc, "web")
    for rel, text in rc_files("web").items():
        assert (rc / rel).read_text() == text
    write_rc(rc, "other")  # a renamed box gets new files
    assert "⬢ other " in (rc / "bashrc").read_text()
    assert "⬢ other " in (rc / "zsh/.zshrc").read_text()


def test_write_rc_replaces_planted_symlinks_and_writes_through_none(tmp_path: Path) -> None:
    """Root in a tier 2 or 3 box can remount the rc dir writable and plant links there."""
    rc, victim_dir = tmp_path / "rc", tmp_path / "victim-dir"
    rc.mkdir()
    victim_dir.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (rc / "bashrc").symlink_to(victim)
    (rc / "zsh").symlink_to(victim_dir)
    write_rc(rc, "demo")
    assert victim.read_text() == "precious\n"
    assert list(victim_dir.iterdir()) == []
    assert not (rc / "bashrc").is_symlink() and "⬢ demo " in (rc / "bashrc").read_text()
    assert (rc / "zsh").is_dir() and not (rc / "zsh").is_symlink()
