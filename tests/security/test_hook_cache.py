"""What the hook keeps to activate a project without starting devbox (activation/hookcache.py) is
devbox's own: a box cannot write it, a file there that is not the user's or is a link is never
sourced, a path a box names gets no other path's, and what it activates is only ever what was
allowed: a denied project, a project directory relinked elsewhere, or a `.env` edited with its
mtime put back activate nothing new."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from devbox.activation import hook, hookcache, trust
from devbox.spec.load import parse_spec
from tests.security.actors import Actor

pytestmark = pytest.mark.integration

SPEC = """\
[box]
name = "{name}"
base = "debian:bookworm"

[env]
files = [".env"]
KEPT = "${{FROM_DOTENV}}"
"""
OLD = 1_700_000_000_000_000_000


def hook_in(actor: Actor, directory: Path) -> tuple[str, str]:
    """cd into `directory` in a fresh bash with the devbox hook, as the prompt would: (the
    active box and $KEPT, what the hook printed on stderr)."""
    hook_cmd = shlex.join([actor.python(), "-m", "devbox", "hook", "bash"])
    script = (
        f'eval "$({hook_cmd})"; cd {shlex.quote(str(directory))} && _devbox_hook; '
        'printf "%s|%s\\n" "${DEVBOX_ACTIVE-}" "${KEPT-}"'
    )
    r = actor.sh(f"exec bash --norc --noprofile -c {shlex.quote(script)}", cwd=actor.work)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    return r.stdout.splitlines()[-1], r.stderr


def kept(actor: Actor, project: Path) -> Path:
    env = actor.env()
    state = (
        Path(env["DEVBOX_HOME"]) / "state"
        if env.get("DEVBOX_HOME")
        else Path(env["HOME"]) / ".local/state/devbox"
    )
    name = hookcache.file_name(str(project / "devbox.toml"))
    found = list((state / hookcache.DIR).glob(f"bash-*/{name}"))
    assert len(found) == 1, found
    return found[0]


def test_a_box_cannot_plant_or_change_what_the_hook_keeps(actor: Actor) -> None:
    """The box writes at the kept file's path (its own file system, not the host's) and edits
    `.env` with its old mtime put back (the known limit of stat-only checks): the hook
    activates what was allowed, no more."""
    p = actor.project("kept", SPEC.format(name="kept"), {".env": "FROM_DOTENV=allowed\n"})
    assert actor.devbox("build", cwd=p).returncode == 0  # the lock: no run below rewrites it
    assert actor.devbox("allow", cwd=p).returncode == 0
    os.utime(p / ".env", ns=(OLD, OLD))
    assert hook_in(actor, p)[0] == "kept|allowed"
    path = kept(actor, p)
    before = path.read_bytes()
    plant = (
        f"mkdir -p {shlex.quote(str(path.parent))} && "
        f"printf 'touch /tmp/pwned-by-cache\\n' > {shlex.quote(str(path))}; "
        "printf 'FROM_DOTENV=evil\\n' > .env && touch -d @1700000000 .env"
    )
    r = actor.devbox("run", "--", "sh", "-c", plant, cwd=p)
    assert r.returncode == 0, r.stderr
    assert (p / ".env").read_text() == "FROM_DOTENV=evil\n"
    assert path.read_bytes() == before, "the box wrote the host's kept activation"
    assert hook_in(actor, p)[0] == "kept|allowed", "only what was allowed"
    assert not Path("/tmp/pwned-by-cache").exists()
    (p / ".env").write_text("FROM_DOTENV=evil\n")  # a new mtime: devbox looks, and refuses
    active, said = hook_in(actor, p)
    assert active == "|" and "env file .env changed since you allowed" in said, said


# -- tier 1, in real bash: what sits where the hook looks --------------------------------------


def allow(spec: Path) -> None:
    trust.allow(parse_spec(spec.read_text(), spec), spec.read_bytes())
    for path in (spec, spec.parent / ".env", trust.trust_dir()):
        if path.exists():
            os.utime(path, ns=(OLD, OLD))


def project(root: Path, name: str, value: str = "allowed") -> Path:
    spec = root / name / "devbox.toml"
    spec.parent.mkdir(parents=True)
    spec.write_text(SPEC.format(name=name.replace("/", "-")))
    (spec.parent / ".env").write_text(f"FROM_DOTENV={value}\n")
    return spec


def cd(spec: Path) -> str:
    """What a bash with the hook's functions activates for `spec` from what was kept alone
    (devbox itself is never started: `_devbox_run` fails)."""
    code = hook.library("bash") + (
        "_devbox_run() { echo STARTED-DEVBOX; }\n"
        f"_devbox_spec={shlex.quote(str(spec))}\n"
        'if _devbox_cached; then echo "$DEVBOX_ACTIVE|$KEPT"; else echo MISS; fi\n'
    )
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", code], capture_output=True,
                       text=True, check=True)  # fmt: skip
    return r.stdout.strip()


def test_a_kept_file_that_is_not_the_users_or_is_a_link_is_not_sourced(tmp_path: Path) -> None:
    spec = project(tmp_path, "owned")
    allow(spec)
    hook.hook_env("bash", str(spec))
    path = hookcache.cache_path("bash", str(spec))
    assert path is not None and cd(spec) == "owned|allowed"
    evil = tmp_path / "evil.sh"
    evil.write_text(f"touch {shlex.quote(str(tmp_path / 'pwned'))}\n")
    os.chown(path, 12345, 12345)  # another user's file where devbox's should be
    assert cd(spec) == "MISS"
    path.unlink()
    path.symlink_to(evil)  # the user's own file, through a link
    assert cd(spec) == "MISS"
    assert not (tmp_path / "pwned").exists()


def test_a_relinked_project_directory_gets_nothing_kept(tmp_path: Path) -> None:
    """`link -> trusted` activates the trusted project (trust follows the real directory) and
    is kept; the box relinks it to another project whose spec has the same mtime."""
    trusted, other = project(tmp_path, "trusted"), project(tmp_path, "other", "evil")
    allow(trusted)
    os.utime(other, ns=(OLD, OLD))
    os.utime(other.parent / ".env", ns=(OLD, OLD))
    link = tmp_path / "link"
    link.symlink_to("trusted")
    hook.hook_env("bash", str(link / "devbox.toml"))
    assert cd(link / "devbox.toml") == "trusted|allowed"
    link.unlink()
    link.symlink_to("other")
    assert cd(link / "devbox.toml") == "MISS"


def test_a_denied_project_is_not_activated_from_a_restored_cache(tmp_path: Path) -> None:
    spec = project(tmp_path, "denied")
    allow(spec)
    hook.hook_env("bash", str(spec))
    path = hookcache.cache_path("bash", str(spec))
    assert path is not None
    text = path.read_text()
    trust.deny(spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)  # as if it had survived the deny
    assert cd(spec) == "MISS"
