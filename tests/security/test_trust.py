"""Trust is bound to the project's real directory and covers everything a shim may build: a spec
planted as a symlink to a trusted one activates nothing, and a changed devbox.lock or setup input
in an allowed project is refused by the hook's shims until `devbox allow` again."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from tests.security.actors import Actor

pytestmark = pytest.mark.integration

SPEC = """\
[box]
name = "{name}"
base = "debian:bookworm"

[shell]
expose = ["sh"]
"""
SETUP = """
[setup]
run = ["sh setup.sh"]
inputs = ["setup.sh"]
"""


def hook_in(actor: Actor, directory: Path) -> tuple[str, str, str]:
    """cd into `directory` in a bash with the devbox hook, as the prompt would: (the active box's
    name, the first PATH entry, what the hook printed)."""
    hook = shlex.join([actor.python(), "-m", "devbox", "hook", "bash"])
    script = (
        f'eval "$({hook})"; cd {shlex.quote(str(directory))} && _devbox_hook; '
        'printf "%s\\n" "${DEVBOX_ACTIVE-}" "${PATH%%:*}"'
    )
    r = actor.sh(f"exec bash --norc --noprofile -c {shlex.quote(script)}", cwd=actor.work)
    assert r.returncode == 0, r.stderr
    active, first = r.stdout.splitlines()[-2:]
    assert "Traceback" not in r.stderr
    return active, first, r.stderr


def shims_of(actor: Actor, project: Path) -> Path:
    active, shims, said = hook_in(actor, project)
    assert active == project.name, said
    assert (Path(shims) / "sh").is_file()
    return Path(shims)


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}


def shim(actor: Actor, shims: Path, project: Path, script: str) -> tuple[int, str]:
    r = actor.sh(f"{shlex.quote(str(shims / 'sh'))} -c {shlex.quote(script)}", cwd=project)
    assert "Traceback" not in r.stderr
    return r.returncode, r.stderr


def layers(actor: Actor) -> set[str]:
    return {p.name for p in (actor.store() / "layers").iterdir()}


def test_a_spec_symlinked_to_a_trusted_one_activates_nothing(actor: Actor) -> None:
    trusted = actor.project("trusted", SPEC.format(name="trusted"))
    r = actor.devbox("allow", cwd=trusted)
    assert r.returncode == 0, r.stderr
    shims = shims_of(actor, trusted)
    before = snapshot(shims)
    evil = actor.project("evil", files={"setup.sh": "echo evil\n"})
    (evil / "devbox.toml").unlink()
    (evil / "devbox.toml").symlink_to(Path("..") / trusted.name / "devbox.toml")
    actor.own(evil)
    active, first, said = hook_in(actor, evil)
    assert active == "", f"a planted symlink activated the trusted box: {said}"
    assert first != str(shims)
    assert "symbolic link" in said and "devbox.toml" in said, said
    assert snapshot(shims) == before, "the trusted project's shims were rewritten"
    for verb in (["status"], ["allow"], ["build"], ["run", "--", "true"]):
        r = actor.devbox(*verb, cwd=evil)
        assert r.returncode == 1, (verb, r.stdout, r.stderr)
        assert "symbolic link" in r.stderr and str(evil / "devbox.toml") in r.stderr, r.stderr
        assert "Traceback" not in r.stderr


def test_a_changed_lock_is_not_built_by_a_shim(actor: Actor) -> None:
    p = actor.project("locked", SPEC.format(name="locked"))
    r = actor.devbox("allow", cwd=p)  # before the first build: no lock yet
    assert r.returncode == 0, r.stderr
    r = actor.devbox("build", cwd=p)
    assert r.returncode == 0, r.stderr
    shims = shims_of(actor, p)
    assert shim(actor, shims, p, "echo one > ran") == (0, ""), "devbox's own lock is trusted"
    assert (p / "ran").read_text() == "one\n"
    lock = p / "devbox.lock"
    actor.sh("touch devbox.lock", cwd=p)  # the launcher hands over; the content is as allowed
    code, said = shim(actor, shims, p, "echo two > ran")
    assert code == 0, said
    assert (p / "ran").read_text() == "two\n"
    with open(lock, "a") as f:
        f.write("# a box was here\n")
    code, said = shim(actor, shims, p, "echo three > ran")
    assert code == 1
    assert "devbox.lock changed since you allowed this project" in said, said
    assert "`devbox allow`" in said and said.count("\n") == 1, said
    assert (p / "ran").read_text() == "two\n"
    r = actor.devbox("run", "--", "true", cwd=p)  # typed by hand: the user's act, it runs
    assert r.returncode == 0, r.stderr
    code, said = shim(actor, shims, p, "echo three > ran")
    assert code == 1, "a shim ran the launcher that the typed run wrote, unchecked"
    assert "devbox.lock changed since you allowed this project" in said, said
    active, _, said = hook_in(actor, p)
    assert active == "" and "devbox.lock changed" in said, said
    r = actor.devbox("status", cwd=p)
    assert "devbox.lock changed" in r.stdout, r.stdout
    assert actor.devbox("allow", cwd=p).returncode == 0
    assert shim(actor, shims, p, "echo four > ran") == (0, "")
    assert (p / "ran").read_text() == "four\n"


def test_a_changed_setup_input_is_not_built_by_a_shim(actor: Actor) -> None:
    p = actor.project("inputs", SPEC.format(name="inputs") + SETUP, {"setup.sh": "true\n"})
    r = actor.devbox("build", cwd=p)
    assert r.returncode == 0, r.stderr
    r = actor.devbox("allow", cwd=p)
    assert r.returncode == 0, r.stderr
    shims = shims_of(actor, p)
    assert shim(actor, shims, p, "echo one > ran") == (0, "")
    built = layers(actor)
    (p / "setup.sh").write_text("echo a box was here > /tmp/setup-ran\n")
    code, said = shim(actor, shims, p, "echo two > ran")
    assert code == 1
    assert "setup input setup.sh changed since you allowed this project" in said, said
    assert "`devbox allow`" in said and said.count("\n") == 1, said
    assert (p / "ran").read_text() == "one\n"
    assert layers(actor) == built, "a layer was built from the changed input"
    r = actor.devbox("status", cwd=p)
    assert "setup input setup.sh changed" in r.stdout, r.stdout
