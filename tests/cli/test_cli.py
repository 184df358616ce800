"""The CLI as users meet it: errors are one clear screen with exit 1, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from devbox.commands import templates
from devbox.spec.load import parse_spec


def devbox(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devbox", *args], cwd=cwd, capture_output=True, text=True
    )


BAD_SPECS = {
    "broken TOML": ('[box]\nbase = "debian:bookworm"\napt = [\n', 3, "not valid TOML"),
    "unknown key": (
        '[box]\nbase = "debian:bookworm"\n\n[shell]\nprogam = "zsh"\n',
        5,
        "shell.progam",
    ),
    "wrong type": ('[box]\nbase = "debian:bookworm"\n[packages]\napt = "git"\n', 4, "packages.apt"),
    "unknown base": ('[box]\nbase = "fedora:40"\n', 2, "box.base"),
    "unknown suite": ('[box]\nbase = "debian:buster"\n', 2, "bookworm"),
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
@pytest.mark.parametrize("command", ["build", "run", "status"])
def test_bad_specs_give_one_clear_error(tmp_path: Path, case: str, command: str) -> None:
    text, line, needle = BAD_SPECS[case]
    (tmp_path / "devbox.toml").write_text(text)
    args = [command] + (["--", "true"] if command == "run" else [])
    r = devbox(*args, cwd=tmp_path)
    assert r.returncode == 1, r
    assert "Traceback" not in r.stderr
    assert f"devbox.toml:{line}" in r.stderr, r.stderr
    assert needle in r.stderr
    assert len(r.stderr.splitlines()) <= 10
    assert r.stdout == ""


def test_no_spec_says_how_to_make_one(tmp_path: Path) -> None:
    r = devbox("build", cwd=tmp_path)
    assert r.returncode == 1
    assert "no devbox.toml" in r.stderr and "devbox init" in r.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert devbox("frobnicate", cwd=tmp_path).returncode == 2
    assert devbox("build", "--no-such-flag", cwd=tmp_path).returncode == 2


@pytest.mark.parametrize("template", templates.names())
def test_init_writes_a_valid_spec_from_each_template(tmp_path: Path, template: str) -> None:
    project = tmp_path / "my app"
    project.mkdir()
    r = devbox("init", "--template", template, "--base", "debian:trixie", cwd=project)
    assert r.returncode == 0, r.stderr
    spec = parse_spec((project / "devbox.toml").read_text(), project / "devbox.toml")
    assert spec.name == "my-app"
    assert (spec.base.kind, spec.base.ref) == ("debian", "trixie")
    again = devbox("init", cwd=project)
    assert again.returncode == 1 and "already exists" in again.stderr


def test_init_with_a_directory_template_writes_the_app_and_says_what_next(tmp_path: Path) -> None:
    r = devbox("init", "-t", "django-postgres", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "devbox.toml and 11 files beside it; `devbox up` builds and starts" in r.stderr
    assert (tmp_path / "services/db/start-postgres.sh").is_file()
    again = devbox("init", "-t", "django-postgres", cwd=tmp_path)
    assert again.returncode == 1 and "already exist" in again.stderr
    assert "Traceback" not in again.stderr


def test_init_help_lists_the_templates(tmp_path: Path) -> None:
    r = devbox("init", "--help", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    listed = " ".join(r.stdout.split())  # the help wraps its lines
    assert "One of: c, django-postgres, mariadb, minimal, node, python, redis" in listed


def test_init_refuses_unknown_template_and_suite(tmp_path: Path) -> None:
    r = devbox("init", "--template", "cobol", cwd=tmp_path)
    assert r.returncode == 1 and "minimal" in r.stderr
    r = devbox("init", "--base", "debian:hamm", cwd=tmp_path)
    assert r.returncode == 1 and "bookworm" in r.stderr
    assert not (tmp_path / "devbox.toml").exists()


def test_status_of_an_unbuilt_project(tmp_path: Path) -> None:
    (tmp_path / "devbox.toml").write_text('[box]\nname = "st"\nbase = "debian:bookworm"\n')
    r = devbox("status", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "box:      st" in r.stdout
    assert "not built" in r.stdout
    assert "needs `devbox build`" in r.stdout


def test_an_image_base_on_a_registry_that_is_down_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "devbox.toml").write_text('[box]\nbase = "oci:127.0.0.1:1/team/base:1"\n')
    r = devbox("build", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert "cannot reach the registry" in r.stderr and "Traceback" not in r.stderr
    assert "skopeo:" in r.stderr


def test_gc_older_than_takes_a_duration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVBOX_HOME", str(tmp_path / "store"))
    r = devbox("gc", "--older-than", "3 weeks", cwd=tmp_path)
    assert r.returncode == 2, r
    assert "'3 weeks' is not a duration" in r.stderr and "30d" in r.stderr
    assert "Traceback" not in r.stderr
    r = devbox("gc", "--dry-run", "--older-than", "30d", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("would free 0.0 MiB")


def test_watch_without_a_spec_says_how_to_make_one(tmp_path: Path) -> None:
    r = devbox("watch", cwd=tmp_path)
    assert r.returncode == 1, r
    assert "no devbox.toml" in r.stderr and "devbox init" in r.stderr
    assert "Traceback" not in r.stderr


SPEC_HINTS = {
    "apt under [box]": (
        '[box]\nbase = "debian:bookworm"\napt = ["libpq-dev", "gcc"]\n',
        "/devbox.toml:3: box.apt: apt belongs in [packages], not in [box]\n  hint: move it into "
        'the [packages] table: [packages] apt = ["libpq-dev", "gcc"]\n',
    ),
    "apt at the top": (
        'apt = ["git"]  # before any table\n[box]\nbase = "debian:bookworm"\n',
        "/devbox.toml:1: apt: unknown top-level key; apt belongs in [packages]\n  allowed: [box], "
        "[packages], [interpreters], [env], [setup], [shell], [scripts], [cache], [services], "
        "[limits], [share]\n"
        '  hint: move it into the [packages] table: [packages] apt = ["git"]\n',
    ),
    "python as a number": (
        '[box]\nbase = "debian:bookworm"\n\n[interpreters]\npython = 3.10\n',
        "/devbox.toml:5: interpreters.python: expected a string, found a float (3.10); quote it: "
        '"3.10"\n',
    ),
    "python version as a number": (
        '[box]\nbase = "debian:bookworm"\n[interpreters]\npython = { version = 3.11 }\n',
        "/devbox.toml:4: interpreters.python.version: expected a string, found a float (3.11); "
        'quote it: "3.11"\n',
    ),
    "python the suite lacks": (
        '[box]\nbase = "debian:bookworm"\n[interpreters]\npython = "3.12"\n',
        "/devbox.toml:4: interpreters.python: Debian bookworm has python 3.11, not 3.12; no "
        'Debian suite devbox knows has python 3.12\n  hint: use python = "3.11" on bookworm, or '
        'python = { version = "3.12", provider = "uv" } (python-build-standalone: any version)\n',
    ),
    "unknown base": (
        '[box]\nbase = "ubuntu:jammy"\n',
        '/devbox.toml:2: box.base: "ubuntu:jammy" is not a known base form\n  allowed: '
        "debian:<suite> (bullseye, bookworm, trixie, sid); oci:<image reference>; "
        "rootfs:<tarball in the project>\n",
    ),
}


@pytest.mark.parametrize("case", sorted(SPEC_HINTS))
def test_spec_mistakes_name_the_line_and_the_fix(tmp_path: Path, case: str) -> None:
    text, said = SPEC_HINTS[case]
    (tmp_path / "devbox.toml").write_text(text)
    r = devbox("build", cwd=tmp_path)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == f"devbox: error in {tmp_path}{said}"
