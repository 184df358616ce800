"""Auto-activation's pieces: trust, shims, quoting, the code the hook evals, the hook texts.

These run in a second or two: real shells parse and run the generated code, no box is built.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from devbox.activation import covered, trust
from devbox.activation import hook as activation
from devbox.activation.hook import activation_vars, hook_env, hook_text, quote
from devbox.activation.shims import FastPath, shim_names, shim_text, write_shims
from devbox.errors import DevboxError
from devbox.plan.recipe import hash_inputs
from devbox.spec.load import parse_spec

NASTY = [
    "",
    "plain",
    "it's",
    'say "hi"',
    "back\\slash\\",
    "$HOME `id` $(id)",
    "ü ß 漢",
    "a\nb",
    "'\\''",
]
SHELL_RUNS = {
    "bash": ["bash", "--norc", "--noprofile", "-c"],
    "zsh": ["zsh", "-f", "-c"],
    "fish": ["fish", "--no-config", "-c"],
}


def spec_of(tmp_path: Path, text: str, name: str = "proj") -> Path:
    project = tmp_path / name
    project.mkdir(parents=True, exist_ok=True)
    path = project / "devbox.toml"
    path.write_text(text)
    return path


BASE = '[box]\nname = "demo"\nbase = "debian:bookworm"\n'


# -- quoting ------------------------------------------------------------------------------------


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_quote_round_trips_through_the_real_shell(shell: str) -> None:
    script = "; ".join(f"printf '%s\\0' {quote(shell, v)}" for v in NASTY)
    out = subprocess.run([*SHELL_RUNS[shell], script], capture_output=True, check=True).stdout
    assert out.decode().split("\0")[:-1] == NASTY


# -- trust --------------------------------------------------------------------------------------


def allow(path: Path) -> None:
    trust.allow(parse_spec(path.read_text(), path), path.read_bytes())


def state(path: Path) -> trust.Verdict:
    return trust.verdict(path, path.read_bytes())


def test_trust_is_bound_to_the_real_project_directory_and_content(tmp_path: Path) -> None:
    path = spec_of(tmp_path, BASE)
    link = tmp_path / "link"
    link.symlink_to(path.parent)
    assert state(path).state == trust.NOT_ALLOWED
    allow(path)
    assert state(path).state == trust.ALLOWED
    assert state(link / "devbox.toml").state == trust.ALLOWED, "the same project, another name"
    assert trust.record_path(link / "devbox.toml") == trust.record_path(path)
    path.write_text(BASE + "# edited\n")
    assert (state(path).state, state(path).changes) == (trust.CHANGED, ("devbox.toml",))
    with pytest.raises(DevboxError) as e:
        trust.read_trusted(path)
    assert "changed since it was allowed; `devbox allow` trusts it again" in e.value.message
    assert "\n" not in e.value.render()
    assert trust.deny(path)
    assert not trust.deny(path)
    assert state(path).state == trust.NOT_ALLOWED


def test_trust_covers_the_lock_and_the_setup_inputs(tmp_path: Path) -> None:
    text = BASE + '[setup]\nrun = ["true"]\ninputs = ["a.sh", "conf", "gone"]\n'
    path = spec_of(tmp_path, text)
    project = path.parent
    (project / "a.sh").write_text("one")
    (project / "conf" / "sub").mkdir(parents=True)
    (project / "conf" / "sub" / "x").write_text("x")
    spec = parse_spec(text, path)
    from devbox.plan.recipe import hash_inputs

    (project / "gone").write_text("")
    expected = hash_inputs(project, spec.setup.inputs)
    (project / "gone").unlink()
    got = covered.input_hashes(project, spec.setup.inputs)
    assert got == {**expected, "gone": covered.MISSING}, "as the build hashes them"
    allow(path)
    (project / "devbox.lock").write_text("# new\n")
    assert (state(path).state, state(path).changes) == (trust.CHANGED, ("devbox.lock",))
    message = trust.refusal(path, state(path))
    assert message.startswith("devbox.lock changed since you allowed this project (")
    assert "`devbox allow`" in message
    allow(path)
    assert state(path).state == trust.ALLOWED
    (project / "conf" / "sub" / "x").write_text("y")
    (project / "gone").write_text("")
    v = state(path)
    assert v.changes == ("setup input conf/sub/x", "setup input gone")
    assert trust.refusal(path, v).startswith("setup input conf/sub/x, setup input gone changed")
    assert trust.describe(v) == (
        "changed since allowed: setup input conf/sub/x, setup input gone changed"
    )


def test_symlinks_in_what_trust_covers_are_refused_or_hashed_as_links(tmp_path: Path) -> None:
    text = BASE + '[setup]\nrun = ["true"]\ninputs = ["a.sh", "d/b.sh"]\n'
    path = spec_of(tmp_path, text)
    project = path.parent
    (project / "real.sh").write_text("x")
    (project / "a.sh").symlink_to("real.sh")
    (project / "d").symlink_to(".")
    spec = parse_spec(text, path)
    # a symlinked input hashes as its target string, as the build hashes it: retargeting it
    # changes what trust covers, and nothing is read through it
    before = covered.input_hashes(project, ("a.sh",))
    assert before == hash_inputs(project, ("a.sh",))
    (project / "a.sh").unlink()
    (project / "a.sh").symlink_to("/etc/shadow")
    assert covered.input_hashes(project, ("a.sh",)) != before
    with pytest.raises(DevboxError, match=r"symbolic link|symlink"):  # a linked dir on the way
        covered.input_hashes(project, ("d/b.sh",))
    (project / "devbox.lock").symlink_to("real.sh")
    with pytest.raises(DevboxError, match=r"devbox\.lock is a symbolic link"):
        trust.current(spec, b"")
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "devbox.toml").symlink_to(path)
    with pytest.raises(DevboxError, match="a box can plant one"):
        covered.read_spec(evil / "devbox.toml")


def test_the_lock_name_is_the_lockfiles() -> None:
    from devbox.plan import lockfile

    assert trust.LOCK_NAME == lockfile.LOCK_NAME


def test_trust_lives_in_the_state_dir_under_devbox_home(tmp_path: Path) -> None:
    path = spec_of(tmp_path, BASE)
    allow(path)
    home = Path(os.environ["DEVBOX_HOME"])
    assert [p.parent for p in (home / "state" / "trust").iterdir()] == [trust.trust_dir()]


# -- shims --------------------------------------------------------------------------------------


def test_shim_names_follow_interpreters_and_expose(tmp_path: Path) -> None:
    text = (
        BASE + '[interpreters]\npython = "3.11.4"\nnode = {version = "20", provider = "npm"}\n'
        '[shell]\nexpose = ["psql", "node", "python3"]\n'
    )
    spec = parse_spec(text, tmp_path / "devbox.toml")
    assert shim_names(spec) == [
        "python", "python3", "pip", "pip3", "python3.11", "node", "npm", "npx", "psql",
    ]  # fmt: skip
    spec = parse_spec(
        BASE + '[interpreters]\npython = { version = "3.12", provider = "uv" }\n',
        tmp_path / "devbox.toml",
    )
    assert "python3.12" in shim_names(spec)
    assert shim_names(parse_spec(BASE, tmp_path / "devbox.toml")) == []


def test_shim_text_passes_arguments_and_sets_the_runner_env(tmp_path: Path) -> None:
    shim = tmp_path / "tool"
    runner = ["/bin/sh", "-c", 'printf "%s|" "$PYTHONPATH" "$0" "$@"', "x"]
    nowhere = FastPath(*(str(tmp_path / "none" / n) for n in ("s", "l", "r", "vs", "vt")))
    shim.write_text(shim_text("the tool", runner, {"PYTHONPATH": "a 'b'"}, nowhere))
    shim.chmod(0o755)
    out = subprocess.run([str(shim), "one two", "it's"], capture_output=True, text=True)
    assert out.stdout == "a 'b'|x|the tool|one two|it's|"
    shim.write_text(shim_text("t", runner, {"PYTHONPATH": None}, nowhere))
    env = {**os.environ, "PYTHONPATH": "/from/the/project"}
    out = subprocess.run([str(shim)], capture_output=True, text=True, env=env)
    assert out.stdout == "|x|t|", "a project's PYTHONPATH does not reach devbox"


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_shim_runs_no_launcher_another_user_owns(tmp_path: Path) -> None:
    store = tmp_path / "store"
    launcher = store / "projects" / "0123456789abcdef" / "launcher"
    launcher.parent.mkdir(parents=True, mode=0o700)
    launcher.write_text('printf "launched %s|" "$@"; exit 0\n')  # sourced: a real one execs
    launcher.chmod(0o700)
    at = {n: str(tmp_path / n) for n in ("spec", "record", "vs", "vt")}
    fast = FastPath(at["spec"], str(launcher), at["record"], at["vs"], at["vt"])
    for name, stamp in (("spec", "vs"), ("record", "vt")):  # as devbox last checked them
        (tmp_path / name).write_text("")
        (tmp_path / stamp).write_text("")
        mtime = (tmp_path / name).stat().st_mtime_ns
        os.utime(tmp_path / stamp, ns=(mtime, mtime))
    shim = tmp_path / "tool"
    shim.write_text(shim_text("tool", ["/bin/sh", "-c", 'printf "runner|"', "x"], {}, fast))
    shim.chmod(0o755)

    def run() -> str:
        return subprocess.run([str(shim), "a"], capture_output=True, text=True).stdout

    assert run() == "launched tool|launched a|"
    for path in (store, store / "projects", launcher.parent, launcher):
        os.chown(path, 65534, 65534)  # nobody's
        assert run() == "runner|", path
        os.chown(path, 0, 0)
    assert run() == "launched tool|launched a|"


def test_write_shims_refreshes_the_set(tmp_path: Path) -> None:
    path = spec_of(tmp_path, BASE + '[shell]\nexpose = ["a", "b"]\n')
    spec = parse_spec(path.read_text(), path)
    d = write_shims(spec)
    assert sorted(p.name for p in d.iterdir()) == ["a", "b"]
    assert all(os.access(p, os.X_OK) for p in d.iterdir())
    assert f"'_shim' '{path}' 'a' \"$@\"" in (d / "a").read_text()
    spec = parse_spec(BASE + '[shell]\nexpose = ["b", "c"]\n', path)
    assert write_shims(spec) == d
    assert sorted(p.name for p in d.iterdir()) == ["b", "c"]


def test_a_shim_refuses_an_untrusted_spec_in_one_line(tmp_path: Path) -> None:
    path = spec_of(tmp_path, BASE + '[shell]\nexpose = ["true"]\n')
    r = subprocess.run(
        [sys.executable, "-m", "devbox", "_shim", str(path), "true"],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1, r.stderr
    assert "is not allowed to activate; `devbox allow` trusts it" in r.stderr


# -- the code the hook evals --------------------------------------------------------------------


def test_activation_vars_expand_from_the_host_and_put_shims_first(tmp_path: Path) -> None:
    text = (
        BASE + '[env]\nA = "${HOST_ONLY}-x"\nPATH = "${DEVBOX_PROJECT}/bin:${PATH}"\nB = "${A}"\n'
    )
    path = spec_of(tmp_path, text)
    spec = parse_spec(text, path)
    shims = tmp_path / "shims"
    host = {"HOST_ONLY": "h", "PATH": f"{shims}:/usr/bin"}
    got = dict(activation_vars(spec, host, shims))
    assert got == {
        "A": "h-x",
        "PATH": f"{shims}:{path.parent}/bin:/usr/bin",
        "B": "h-x",
        "DEVBOX_ACTIVE": "demo",
        "DEVBOX_PROJECT": str(path.parent),
    }


def _eval(shell: str, code: str, before: str = "") -> str:
    """Run `code` (hook functions included) in `shell`; what it prints."""
    lib = activation.library(shell)
    r = subprocess.run([*SHELL_RUNS[shell], lib + before + code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_hook_env_refuses_once_then_activates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = spec_of(tmp_path, BASE + '[env]\nGREETING = "it\'s ü"\n')
    code = hook_env("bash", str(path))
    said = capsys.readouterr().err
    assert said.count("\n") == 1 and "`devbox allow`" in said
    assert code.startswith("_devbox_watch ") and "_devbox_set" not in code
    token = said.strip()
    assert hook_env("bash", str(path), token).startswith("_devbox_watch ")
    assert capsys.readouterr().err == "", "looking again does not repeat it"
    allow(path)
    code = hook_env("bash", str(path), token)
    assert capsys.readouterr().err == ""
    out = _eval("bash", code + 'echo "$GREETING|$DEVBOX_ACTIVE|$PS1"\n', "PS1='$ '\n")
    assert out == "it's ü|demo|(devbox:demo) $ \n"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_deactivate_restores_values_export_state_and_unset(tmp_path: Path, shell: str) -> None:
    path = spec_of(tmp_path, BASE + '[env]\nEXPORTED = "new"\nLOCAL = "new"\nFRESH = "new"\n')
    allow(path)
    code = hook_env(shell, str(path))
    if shell == "fish":
        before = "set -gx EXPORTED 'old \\'x\\''; set -g LOCAL 'kept\nline'\n"
        after = (
            "\n_devbox_deactivate; printf '%s|' $EXPORTED $LOCAL; set -q FRESH; or printf unset; "
            "set -qx LOCAL; or printf '|local'; set -qx EXPORTED; and printf '|exported'\n"
        )
    else:
        before = "export EXPORTED=\"old 'x'\"; LOCAL='kept\nline'\n"
        after = (
            '\n_devbox_deactivate; printf "%s|" "$EXPORTED" "$LOCAL"; [ -z "${FRESH+x}" ] && '
            "printf unset; env | grep -q '^LOCAL=' || printf '|local'; "
            "env | grep -q '^EXPORTED=' && printf '|exported'\n"
        )
    assert _eval(shell, code + after, before) == "old 'x'|kept\nline|unset|local|exported"


def test_stamps_mirror_mtimes_and_racy_ones_look_again(tmp_path: Path) -> None:
    path = spec_of(tmp_path, BASE)
    old = 1_700_000_000_123_456_789
    os.utime(path, ns=(old, old))
    stamp = Path(activation.watch_values("bash", path)[0])
    assert stamp.stat().st_mtime_ns == old
    path.write_text(BASE + "# now\n")  # just written: a later edit could keep its mtime
    racy = Path(activation.watch_values("bash", path)[0])
    assert racy.name.endswith("-racy") and not stamp.exists()
    assert racy.stat().st_mtime_ns < path.stat().st_mtime_ns
    assert activation.watch_values("fish", path)[0] == "racy"
    os.utime(path, ns=(old, old))
    assert activation.watch_values("fish", path)[0] == str(old // 10**9)
    gone = activation.watch_values("bash", tmp_path / "nope" / "devbox.toml")[0]
    assert not Path(gone).exists()


# -- the hook texts -----------------------------------------------------------------------------


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_hook_text_parses_and_embeds_this_devbox(shell: str) -> None:
    text = hook_text(shell)
    assert "__DEVBOX_RUN__" not in text
    assert quote(shell, sys.executable) in text
    check = {"bash": ["bash", "-n"], "zsh": ["zsh", "-n"], "fish": ["fish", "-n"]}[shell]
    r = subprocess.run([*check], input=text, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def _functions(text: str) -> list[str]:
    return re.findall(r"^([\w-]+)\(\) \{$", text, re.MULTILINE)


def test_bash_and_zsh_hooks_are_one_shared_core_and_a_short_tail() -> None:
    """As virtualenv's one activate.sh: the functions bash and zsh share are written once, in
    core.sh, which both hooks carry verbatim; each shell's tail defines only what it does its
    own way, and no function is defined twice."""
    hooks = activation.hooks_dir()
    core = (hooks / "core.sh").read_text()
    shared = {"_devbox_hook", "_devbox_find", "_devbox_stale", "_devbox_reload", "devbox",
              "_devbox_cached", "_devbox_same", "_devbox_newer"}  # fmt: skip
    assert shared <= set(_functions(core))
    for shell, tail_file in [("bash", "bash.sh"), ("zsh", "zsh.zsh")]:
        text = hook_text(shell)
        assert activation.render(shell, core) in text
        tail = (hooks / tail_file).read_text()
        assert activation.render(shell, tail) in text
        assert len(tail.splitlines()) <= len(core.splitlines()) // 2
        own = {"_devbox_set", "_devbox_is", "_devbox_on_path", "_devbox_install_hook"}
        assert set(_functions(tail)) == own
        assert sorted(_functions(text)) == sorted(set(_functions(text)))
        assert f"_hook-env {shell} " in text and "__DEVBOX_" not in text


@pytest.mark.parametrize(
    "existing",
    ["PROMPT_COMMAND='echo one'", "PROMPT_COMMAND=('echo one' 'echo two')", "unset PROMPT_COMMAND"],
)
def test_bash_hook_installs_once_in_either_prompt_command_form(existing: str) -> None:
    hook = hook_text("bash")
    install = f"eval {quote('bash', hook)}\n"
    script = f"{existing}\n{install}{install}declare -p PROMPT_COMMAND\n"
    out = _eval("bash", script)
    assert out.count("_devbox_hook") == 1, out
    if "one" in existing:
        assert "echo one" in out
    if "two" in existing:
        assert out.startswith('declare -a PROMPT_COMMAND=([0]="_devbox_hook" [1]="echo one"'), out


def test_cli_errors_are_one_clear_message(tmp_path: Path) -> None:
    def devbox(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "devbox", *args], cwd=tmp_path, capture_output=True, text=True
        )

    r = devbox("hook", "tcsh")
    assert r.returncode == 1 and "unknown shell 'tcsh'" in r.stderr
    r = devbox("allow")
    assert r.returncode == 1 and "no devbox.toml" in r.stderr
    r = devbox("deactivate")
    assert r.returncode == 1 and "shell function" in r.stderr
    (tmp_path / "devbox.toml").write_text(BASE)
    r = devbox("activate", "bash")
    assert r.returncode == 1 and "`devbox allow`" in r.stderr
    assert devbox("allow").returncode == 0
    r = devbox("activate", "bash")
    assert r.returncode == 0 and "_devbox_activated 'demo'" in r.stdout
    (tmp_path / "devbox.toml").write_text(BASE + "[nope]\n")
    r = devbox("allow")
    assert r.returncode == 1 and "unknown table" in r.stderr
    for r in (devbox("hook", "tcsh"), devbox("allow"), devbox("activate", "bash")):
        assert "Traceback" not in r.stderr
