"""The hook's kept activations (activation/hookcache.py): what `_hook-env` keeps, that real bash,
zsh and fish find it from the spec's path and activate from it exactly what devbox printed, and
that each thing it was made from, changed, sends the hook to devbox instead."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from devbox.activation import hook, hookcache, trust
from devbox.activation.hook import hook_env, quote
from devbox.spec.load import parse_spec
from devbox.store.paths import state_root

SHELLS = ["bash", "zsh", "fish"]
RUNS = {
    "bash": ["bash", "--norc", "--noprofile", "-c"],
    "zsh": ["zsh", "-f", "-c"],
    "fish": ["fish", "--no-config", "-c"],
}
SPEC = """\
[box]
name = "kept"
base = "debian:bookworm"

[setup]
inputs = ["scripts"]
run = ["true"]

[env]
files = [".env"]
GREETING = "hi ${KEPT_HOST} it's"
PATH = "${DEVBOX_PROJECT}/bin:${PATH}"

[shell]
expose = ["python3"]
"""
OLD = 1_700_000_000_000_000_000


def age(*paths: Path) -> None:
    """Older than a second: no stamp is racy, in fish either."""
    for p in paths:
        os.utime(p, ns=(OLD, OLD), follow_symlinks=False)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An allowed project named with a space, a quote, % and non-ASCII, kept for each shell."""
    monkeypatch.setenv("KEPT_HOST", "host 'value'")
    root = tmp_path / "it's 100% ü"
    (root / "scripts" / "sub").mkdir(parents=True)
    (root / "scripts" / "sub" / "x.sh").write_text("echo x\n")
    (root / ".env").write_text("FROM_DOTENV='dot env'\n")
    (root / "devbox.lock").write_text("# lock\n")
    spec = root / "devbox.toml"
    spec.write_text(SPEC)
    trust.allow(parse_spec(SPEC, spec), spec.read_bytes())
    age(*root.rglob("*"), root / "scripts", trust.trust_dir())
    return spec


def run(shell: str, code: str) -> str:
    r = subprocess.run([*RUNS[shell], hook.library(shell) + code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


DUMP = {
    "bash": 'echo "$PS1"; env | sort\n',
    "zsh": 'echo "$PS1"; env | sort\n',
    "fish": "echo $_devbox_mark; env | sort\n",
}


def cached(shell: str, spec: Path, before: str = "") -> str:
    """What the hook's _devbox_cached does for `spec` in `shell`: HIT and the environment, or
    MISS."""
    if shell == "fish":
        code = f"set -g _devbox_spec {quote(shell, str(spec))}\n{before}"
        return run(
            shell, code + f"if _devbox_cached\necho HIT\n{DUMP[shell]}else\necho MISS\nend\n"
        )
    code = f"_devbox_spec={quote(shell, str(spec))}\nPS1='$ '\n{before}"
    return run(shell, code + f"if _devbox_cached; then echo HIT; {DUMP[shell]}else echo MISS; fi\n")


@pytest.mark.parametrize("shell", SHELLS)
def test_a_kept_activation_is_exactly_what_devbox_printed(project: Path, shell: str) -> None:
    printed = hook_env(shell, str(project))
    path = hookcache.cache_path(shell, str(project))
    assert path is not None and path.is_file()
    assert path.name == str(project).replace("%", "%25").replace("/", "%2F")
    assert printed in path.read_text(), "kept verbatim"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct(path.parent.stat().st_mode & 0o777) == "0o700"
    got = cached(shell, project)
    assert got.startswith("HIT\n"), got
    if shell == "fish":
        want = run(shell, printed + DUMP[shell])
    else:
        want = run(shell, "PS1='$ '\n" + printed + DUMP[shell])
    assert got.removeprefix("HIT\n") == want
    assert "GREETING=hi host 'value' it's" in want and "FROM_DOTENV=dot env" in want


@pytest.mark.parametrize(
    "change",
    ["spec", "lock", "lock gone", "env file", "input", "new input", "input link", "trust",
     "host var", "host var unexported", "shims gone", "other state"],
)  # fmt: skip
def test_anything_it_came_from_changed_sends_the_hook_to_devbox(
    project: Path, change: str, tmp_path: Path
) -> None:
    hook_env("bash", str(project))
    assert cached("bash", project).startswith("HIT")
    root, before = project.parent, ""
    if change == "spec":
        project.write_text(SPEC)  # the same text: only its mtime tells
    elif change == "lock":
        (root / "devbox.lock").write_text("# lock\n")
    elif change == "lock gone":
        (root / "devbox.lock").unlink()
    elif change == "env file":
        (root / ".env").write_text("FROM_DOTENV='dot env'\n")
    elif change == "input":
        (root / "scripts/sub/x.sh").write_text("echo y\n")
        age(root / "scripts/sub/x.sh")  # the directory's mtime is unchanged: the file's tells
        os.utime(root / "scripts/sub/x.sh", ns=(OLD, OLD + 1))
    elif change == "new input":
        (root / "scripts/sub/y.sh").write_text("echo y\n")
    elif change == "input link":
        target = root / "scripts/sub/x.sh"
        target.rename(root / "x.sh")
        target.symlink_to(root / "x.sh")  # the file it names has the mtime the stamp has
        age(target.parent)
    elif change == "trust":
        other = tmp_path / "other" / "devbox.toml"
        other.parent.mkdir()
        other.write_text(SPEC)
        trust.allow(parse_spec(SPEC, other), other.read_bytes())
    elif change == "host var":
        before = "KEPT_HOST=other\n"
    elif change == "host var unexported":
        before = "export -n KEPT_HOST\n"
    elif change == "shims gone":
        shutil.rmtree(state_root() / "shims")
    elif change == "other state":
        before = f"export DEVBOX_HOME={quote('bash', str(tmp_path / 'elsewhere'))}\n"
    assert cached("bash", project, before) == "MISS\n"


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_see_a_change_too(project: Path, shell: str) -> None:
    hook_env(shell, str(project))
    assert cached(shell, project).startswith("HIT")
    before = "set -gx KEPT_HOST other\n" if shell == "fish" else "KEPT_HOST=other\n"
    assert cached(shell, project, before) == "MISS\n"
    os.utime(project.parent / "devbox.lock", ns=(OLD + 10**9, OLD + 10**9))
    assert cached(shell, project) == "MISS\n"


def test_nothing_is_kept_for_what_is_not_activated(project: Path, tmp_path: Path) -> None:
    path = hookcache.cache_path("bash", str(project))
    assert path is not None
    hook_env("bash", str(project))
    assert path.exists()
    (project.parent / "devbox.lock").write_text("# changed\n")
    hook_env("bash", str(project))
    assert not path.exists(), "a refusal removes what was kept"
    other = tmp_path / "never allowed" / "devbox.toml"
    other.parent.mkdir()
    other.write_text(SPEC)
    hook_env("bash", str(other))
    assert not Path(str(hookcache.cache_dir("bash") / hookcache.file_name(str(other)))).exists()
    services = tmp_path / "services" / "devbox.toml"
    services.parent.mkdir()
    text = SPEC + '\n[services.web]\ncommand = "true"\n'
    services.write_text(text)
    trust.allow(parse_spec(text, services), services.read_bytes())
    age(services, trust.trust_dir())
    hook_env("bash", str(services))
    assert not (hookcache.cache_dir("bash") / hookcache.file_name(str(services))).exists()
    long = tmp_path / ("d" * 120) / ("e" * 120) / "devbox.toml"
    assert hookcache.cache_path("bash", str(long)) is None, "too long for a file name"
    assert hookcache.cache_path("bash", "relative/devbox.toml") is None


def test_clear_removes_every_kept_activation(project: Path) -> None:
    for shell in SHELLS:
        hook_env(shell, str(project))
    hookcache.clear()
    assert not (state_root() / hookcache.DIR).exists()
    assert [p.name for p in (state_root() / "hook").iterdir() if p.name[:5] == "file-"] == []


@pytest.mark.parametrize("shell", SHELLS)
def test_the_shell_finds_the_file_devbox_named(shell: str, tmp_path: Path) -> None:
    """The name is the spec's path with % and / escaped, in the shell as in devbox: one name per
    path (`a%2Fb` is not `a/b`)."""
    for name in ["a/b", "%%", "line\nbreak", "ü/%25"]:
        spec = tmp_path / name / "devbox.toml"
        spec.parent.mkdir(parents=True)
        spec.write_text(SPEC)
        trust.allow(parse_spec(SPEC, spec), spec.read_bytes())
        age(spec, trust.trust_dir())
        hook_env(shell, str(spec))
        assert cached(shell, spec).startswith("HIT"), name
    lookalike = tmp_path / "a%2Fb" / "devbox.toml"
    lookalike.parent.mkdir()
    lookalike.write_text(SPEC)
    assert hookcache.file_name(str(lookalike)) != hookcache.file_name(str(tmp_path / "a/b"))
    assert cached(shell, lookalike) == "MISS\n"


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_a_variable_named_as_a_local_of_the_hook_is_exported_all_the_same(
    tmp_path: Path, shell: str
) -> None:
    """The code is eval'd or sourced inside the hook's functions: a local of theirs named as a
    variable of the project's would take its value and lose it on return."""
    spec = tmp_path / "locals" / "devbox.toml"
    spec.parent.mkdir()
    text = SPEC.replace("[env]\n", '[env]\nf = "F"\nrc = "RC"\nsaid = "SAID"\nd = "D"\n')
    spec.write_text(text)
    (spec.parent / "scripts").mkdir()
    trust.allow(parse_spec(text, spec), spec.read_bytes())
    age(spec, spec.parent / "scripts", trust.trust_dir())
    code = (
        f'_devbox_run() {{ {hook.runner_code(shell)} "$@"; }}\n'
        f"cd {quote(shell, str(spec.parent))}\n"
        '_devbox_hook; echo "$f|$rc|$said|$d"; cd /; _devbox_hook\n'
        f"cd {quote(shell, str(spec.parent))}\n"
        '_devbox_hook; echo "$f|$rc|$said|$d"\n'
    )
    assert run(shell, code) == "F|RC|SAID|D\n" * 2, "from devbox, then from what it kept"
