"""Rootless boxes: an unprivileged user with a subuid range (tier 2) and one without
(tier 3), each building and entering a real box, in a project path with a space in it."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pytest

from devbox.store.paths import project_id
from tests.integration.rootless import (
    TEST_USER_PREFIX,
    User,
    make_user,
    runtime,
    users_scratch,
)

pytestmark = pytest.mark.integration

SPEC = """\
[box]
name = "rootless"
base = "debian:bookworm"

[packages]
apt = ["sudo", "postgresql-client", "libxml2-utils"]

[interpreters]
python = "3.11"
node = "20.18.0"

[setup]
run = ["echo from-setup > /etc/setup-ran", "chown nobody:nogroup /etc/setup-ran"]
"""
# Named after this run, so two runs on one machine (two checkouts, or CI beside a developer's
# run) never share, or delete, each other's users.
NAMES = {2: f"{TEST_USER_PREFIX}sub-{os.getpid()}", 3: f"{TEST_USER_PREFIX}nosub-{os.getpid()}"}


@pytest.fixture(scope="module")
def base() -> Iterator[Path]:
    yield from users_scratch(
        list(NAMES.values()), "creating test users needs root (CI runs as root)"
    )


@pytest.fixture(scope="module")
def users(base: Path) -> dict[int, User]:
    run = runtime(base)
    return {tier: make_user(name, base, run, subids=tier == 2) for tier, name in NAMES.items()}


def project(user: User, base: Path, name: str, spec: str = SPEC) -> Path:
    path = base / f"work-{user.name}" / name
    path.mkdir(parents=True)
    (path / "devbox.toml").write_text(spec)
    user.own(path.parent)
    return path


@pytest.fixture(scope="module")
def built(users: dict[int, User], base: Path) -> dict[int, Path]:
    out = {}
    for tier, user in users.items():
        p = project(user, base, "my project")
        r = user.devbox("build", cwd=p)
        assert r.returncode == 0, r.stderr
        out[tier] = p
    return out


@pytest.mark.parametrize("tier", [2, 3])
def test_doctor_names_the_tier(users: dict[int, User], base: Path, tier: int) -> None:
    r = users[tier].devbox("doctor", cwd=base)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"devbox works here: tier {tier}" in r.stdout


@pytest.mark.parametrize("tier", [2, 3])
def test_the_user_is_themself_in_the_box(
    users: dict[int, User], built: dict[int, Path], tier: int
) -> None:
    user, p = users[tier], built[tier]
    r = user.devbox("run", "--", "sh", "-c", "id -u; id -un; cat /etc/setup-ran", cwd=p)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [str(user.uid), user.name, "from-setup"]
    assert user.devbox("run", "--", "xmllint", "--version", cwd=p).returncode == 0
    assert user.devbox("run", "--", "psql", "--version", cwd=p).returncode == 0


@pytest.mark.parametrize("tier", [2, 3])
def test_interpreters_and_pip_as_the_user(
    users: dict[int, User], built: dict[int, Path], tier: int
) -> None:
    user, p = users[tier], built[tier]
    r = user.devbox("run", "--", "sh", "-c", "python --version; node --version; npm --version",
                    cwd=p)  # fmt: skip
    assert r.returncode == 0, r.stderr
    py, node, _ = r.stdout.splitlines()
    assert py.startswith("Python 3.11.") and node == "v20.18.0"
    r = user.devbox("run", "--", "pip", "install", "--no-deps", "text-unidecode==1.3", cwd=p)
    assert r.returncode == 0, r.stdout + r.stderr
    r = user.devbox("run", "--", "python", "-c", "import text_unidecode as t; print(t.__file__)",
                    cwd=p)  # fmt: skip
    assert r.returncode == 0, r.stderr
    # tier 2: the box's system dirs are root's, so pip installs as the user into PYTHONUSERBASE;
    # tier 3: every file in the box maps to the user, so pip may write the system site. Both are
    # in the box's writable layer.
    prefixes: tuple[str, ...] = ("/opt/devbox/python-user/lib/python3.11/site-packages/",)
    if tier == 3:
        prefixes += ("/usr/local/lib/python3.11/dist-packages/",)
    assert r.stdout.startswith(prefixes), r.stdout
    assert not (user.home / ".local" / "lib").exists()  # not the user's own home


@pytest.mark.parametrize("tier", [2, 3])
def test_files_made_in_the_tree_belong_to_the_user(
    users: dict[int, User], built: dict[int, Path], tier: int
) -> None:
    user, p = users[tier], built[tier]
    r = user.devbox("run", "--", "sh", "-c", "mkdir -p out && echo hi > out/made", cwd=p)
    assert r.returncode == 0, r.stderr
    made = p / "out" / "made"
    assert (made.stat().st_uid, made.stat().st_gid) == (user.uid, user.gid)
    assert (made.parent.stat().st_uid, made.parent.stat().st_gid) == (user.uid, user.gid)


@pytest.mark.parametrize("tier", [2, 3])
def test_root_in_the_box_on_request(
    users: dict[int, User], built: dict[int, Path], tier: int
) -> None:
    user, p = users[tier], built[tier]
    r = user.devbox("run", "--root", "--", "sh", "-c", "id -u; touch /etc/root-was-here", cwd=p)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "0"
    r = user.devbox("run", "--", "ls", "/etc/root-was-here", cwd=p)
    assert r.returncode == 0, "a --root change lands in the writable layer, seen by the user"


@pytest.mark.parametrize("tier", [2, 3])
def test_a_shim_runs_its_command_in_the_box(
    users: dict[int, User], built: dict[int, Path], tier: int
) -> None:
    """The hook's shims work for rootless users: allow, let the hook's helper write the shims,
    run one from a subdirectory (the user's devbox is a system python with a PYTHONPATH)."""
    user, p = users[tier], built[tier]
    spec = p / "devbox.toml"
    spec.write_text(spec.read_text() + '\n[shell]\nexpose = ["xmllint", "pwd"]\n')
    sub = p / "shim dir"
    sub.mkdir()
    user.own(p)
    assert user.devbox("allow", cwd=p).returncode == 0
    r = user.devbox("_hook-env", "bash", str(spec), cwd=sub)
    assert r.returncode == 0, r.stderr
    path = next(line for line in r.stdout.splitlines() if line.startswith("_devbox_set PATH "))
    shims = Path(shlex.split(path)[2].split(":")[0])
    r = user.sh(f"'{shims}/xmllint' --version && '{shims}/pwd'", cwd=sub)
    assert r.returncode == 0, r.stderr
    assert "using libxml" in r.stderr
    assert r.stdout.strip() == str(sub)


@pytest.mark.parametrize("tier", [2, 3])
def test_the_launcher_enters_without_handing_over(
    users: dict[int, User], built: dict[int, Path], tier: int
) -> None:
    user, p = users[tier], built[tier]
    assert user.devbox("run", "--", "true", cwd=p).returncode == 0
    store = user.home / ".local" / "share" / "devbox"
    launcher = store / "projects" / project_id(p) / "launcher"
    before = launcher.read_text()
    subids = [os.stat(f).st_mtime_ns for f in ("/etc/subuid", "/etc/subgid")]
    drop = ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--init-groups", "--"]
    for _ in range(2):  # box down, then (the supervisor may linger a moment) again
        r = subprocess.run(
            [*drop, str(launcher), "sh", "-c", "id -u; cat /etc/setup-ran"], cwd=p,
            env=user.env(), capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines() == [str(user.uid), "from-setup"]
    if [os.stat(f).st_mtime_ns for f in ("/etc/subuid", "/etc/subgid")] != subids:
        pytest.skip("another process changed /etc/subuid meanwhile (the launcher watches it)")
    assert launcher.read_text() == before, "the launcher handed over to Python"


@pytest.mark.parametrize("tier", [2, 3])
def test_an_activated_bash_holds_the_box_up_and_releases_it(
    users: dict[int, User], built: dict[int, Path], tier: int
) -> None:
    """The user's bash with the hook: cd brings the box up, idle it stays up (held), `devbox
    status` names the shell, and leaving the project lets it go after the linger."""
    from devbox.sandbox import sessions
    from devbox.store.paths import ProjectPaths

    user, p = users[tier], built[tier]
    linger = {"DEVBOX_LINGER": "1"}
    assert user.devbox("allow", cwd=p).returncode == 0
    assert user.devbox("run", "--", "true", cwd=p, env=linger).returncode == 0  # its launcher
    paths = ProjectPaths(user.home / ".local/share/devbox/projects" / project_id(p))

    def supervisor() -> int | None:
        return sessions.supervisor_pid(paths)

    def until(cond: Callable[[], bool], timeout: float = 10) -> bool:
        deadline = time.monotonic() + timeout
        while not cond() and time.monotonic() < deadline:
            time.sleep(0.05)
        return cond()

    # the box may be up since an earlier test of this module, lingering its default minute
    assert sessions.stop(paths) and until(lambda: supervisor() is None)
    drop = ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--init-groups", "--"]
    bash = subprocess.Popen(
        [*drop, "bash", "--norc", "--noprofile"], stdin=subprocess.PIPE, text=True, cwd="/",
        env=user.env(linger), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert bash.stdin is not None
    hook = shlex.join(user.argv("hook", "bash")[len(drop) :])
    try:
        bash.stdin.write(f'eval "$({hook})"\ncd {shlex.quote(str(p))}; _devbox_hook\n')
        bash.stdin.flush()
        assert until(lambda: supervisor() is not None, 30), "cd brings the box up"
        pid = supervisor()
        time.sleep(3)
        assert supervisor() == pid, "held past its linger"
        r = user.devbox("status", cwd=p)
        assert f"held by 1 shell (pid {bash.pid})" in r.stdout, r.stdout + r.stderr
        bash.stdin.write("cd /; _devbox_hook\n")
        bash.stdin.flush()
        assert until(lambda: supervisor() is None, 10), "released on leaving the project"
    finally:
        bash.stdin.close()
        bash.wait(timeout=30)


@pytest.mark.parametrize("tier", [2, 3])
def test_store_under_home_and_gc_frees_it_all(
    users: dict[int, User], base: Path, built: dict[int, Path], tier: int
) -> None:
    """Deletes the module's built project and store: the tests that use `built` stand above."""
    user = users[tier]
    store = user.home / ".local" / "share" / "devbox"
    assert (store / "layers").is_dir(), "an unprivileged user's store lives in their home"
    # a second project keeps the base alive; then both go and gc frees everything
    subprocess.run(["rm", "-rf", str(built[tier])], check=True)
    r = user.devbox("gc", cwd=base)
    assert r.returncode == 0, r.stderr
    assert "freed" in r.stdout
    leftovers = [p for p in (store / "layers").iterdir() if not p.name.startswith(".")]
    assert leftovers == []
    r = user.sh(f"rm -rf '{store}'", cwd=base)
    assert r.returncode == 0, f"the user cannot delete their own store: {r.stderr}"
    assert not store.exists()


def test_a_tier3_layer_is_not_entered_under_a_subuid_map(
    users: dict[int, User], base: Path
) -> None:
    """The tier-2 user first builds as tier 3 (as if they had no subuid range yet), then with
    their range: the box is rebuilt under the new map, never entered with the old one."""
    user = users[2]
    p = project(user, base, "map change", '[box]\nbase = "debian:bookworm"\n')
    r = user.devbox("build", cwd=p, env={"DEVBOX_TIER": "3"})
    assert r.returncode == 0, r.stderr
    r = user.devbox("run", "--", "sh", "-c", "id -u; stat -c %u /etc/passwd", cwd=p)
    assert r.returncode == 0, r.stderr
    assert "sandbox changed" in r.stderr and "built in" in r.stderr, r.stderr
    assert r.stdout.split() == [str(user.uid), "0"], "root's files are root's under tier 2"


def _no_userns(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run argv in a user namespace of its own (ids 0-65535 mapped to themselves) where
    user.max_user_namespaces is 0: nothing inside can create another user namespace."""
    code = (
        "import ctypes, os, sys\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "r, w = os.pipe()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os.close(w)\n"
        "    if libc.unshare(0x10000000) != 0: os._exit(90)\n"
        "    os.read(r, 1)\n"
        "    open('/proc/sys/user/max_user_namespaces', 'w').write('0')\n"
        "    os.execvpe(sys.argv[1], sys.argv[1:], os.environ)\n"
        "os.close(r)\n"
        "import time\n"
        "me = os.readlink('/proc/self/ns/user')\n"
        "while os.readlink(f'/proc/{pid}/ns/user') == me: time.sleep(0.001)\n"
        "for f in ('uid_map', 'gid_map'): open(f'/proc/{pid}/{f}', 'w').write('0 0 65536')\n"
        "os.write(w, b'x')\n"
        "sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *argv], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize("tier", [2, 3])
def test_without_user_namespaces_every_command_says_what_to_change(
    users: dict[int, User], base: Path, tier: int
) -> None:
    user = users[tier]
    spec = f'[box]\nbase = "debian:bookworm"\n[setup]\nrun = ["echo needs a build {tier}"]\n'
    p = project(user, base, f"no userns {tier}", spec)
    for args in (["build"], ["run", "--", "true"], ["shell"], ["doctor"]):
        r = _no_userns(user.argv(*args), p, user.env())
        out = r.stdout + r.stderr
        assert r.returncode == 1, (args, out)
        assert "Traceback" not in out
        assert "max_user_namespaces" in out, (args, out)
        assert "sysctl -w user.max_user_namespaces" in out, (args, out)


@pytest.mark.parametrize("tier", [2, 3])
def test_reset_and_failed_builds_clean_up_files_owned_by_the_box(
    users: dict[int, User], base: Path, tier: int
) -> None:
    user = users[tier]
    spec = '[box]\nbase = "debian:bookworm"\n[setup]\nrun = ["touch /etc/half-done", "exit 4"]\n'
    p = project(user, base, f"cleanup {tier}", spec)
    r = user.devbox("build", cwd=p)
    assert r.returncode == 1 and "exit status 4" in r.stderr, r.stderr
    store = user.home / ".local" / "share" / "devbox"
    assert not [d for d in (store / "layers").iterdir() if d.name.startswith(".tmp-")]
    (p / "devbox.toml").write_text('[box]\nbase = "debian:bookworm"\n')
    r = user.devbox("run", "--root", "--", "sh", "-c", "mkdir -p /opt/x && touch /opt/x/y", cwd=p)
    assert r.returncode == 0, r.stderr
    r = user.devbox("reset", cwd=p)
    assert r.returncode == 0, r.stderr
    upper = store / "projects" / project_id(p) / "upper"
    assert list(upper.iterdir()) == [], "reset left files in the writable layer"
    assert user.devbox("run", "--", "ls", "/opt/x", cwd=p).returncode != 0


def _running(argv: list[str]) -> list[int]:
    """Live processes (not zombies) whose command line is exactly `argv`, whoever owns them."""
    want, found = "\0".join(argv) + "\0", []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cmdline").read_text() == want:
                if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    found.append(int(proc.name))
        except OSError:
            continue
    return found


@pytest.mark.parametrize("tier", [2, 3])
def test_a_build_dies_with_devbox(users: dict[int, User], base: Path, tier: int) -> None:
    """kill -9 of devbox mid-build: the step goes too, even where unshare changes the step's
    uid (tier 2's --setuid 0, which clears the parent-death signal unshare's --kill-child set)."""
    user = users[tier]
    marker = ["sleep", f"3{tier}17.5"]  # the setup step, recognisable among the host's processes
    spec = f'[box]\nbase = "debian:bookworm"\n[setup]\nrun = ["{" ".join(marker)}"]\n'
    p = project(user, base, f"killed {tier}", spec)
    with (base / f"killed-{tier}.log").open("w") as log:
        proc = subprocess.Popen(
            user.argv("build"), cwd=p, env=user.env(), stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 900
        while not _running(marker):
            assert proc.poll() is None, (base / f"killed-{tier}.log").read_text()
            assert time.monotonic() < deadline, "the setup step never started"
            time.sleep(0.2)
        proc.kill()  # devbox itself (setpriv exec'd it): nothing of it can clean up
        proc.wait(timeout=10)
        deadline = time.monotonic() + 20
        while _running(marker):
            assert time.monotonic() < deadline, "the build outlived devbox"
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in _running(marker):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("tier", [2, 3])
def test_doctor_and_ls_as_json_as_the_user(users: dict[int, User], base: Path, tier: int) -> None:
    import json

    user = users[tier]
    r = user.devbox("doctor", "--json", cwd=base)
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert doc["works"] is True
    assert doc["tier"]["level"] == tier and doc["tier"]["user"] == user.name
    subids = next(c for c in doc["checks"] if c["name"] == "subuid/subgid")
    assert subids["ok"] is (tier == 2) and subids["optional"] is (tier == 3)
    assert (subids["fix"] == "") is (tier == 2)  # tier 3: the usermod command that gives a range
    overlay = next(c for c in doc["checks"] if c["name"] == "overlayfs")
    assert overlay["ok"] is True and overlay["detail"] == "mounts in a user namespace"
    r = user.devbox("ls", "--json", cwd=base)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["store"] == str(user.home / ".local" / "share" / "devbox")


@pytest.mark.parametrize("tier", [2, 3])
def test_ctrl_c_twice_leaves_no_temp_layer_of_files_owned_by_the_box(
    users: dict[int, User], base: Path, tier: int
) -> None:
    """The unfinished layer holds files only the user namespace can delete (tier 2: another
    subuid's, in a directory only it may write): a second Ctrl-C must not cut that short."""
    user = users[tier]
    step = "mkdir -p /opt/x/y && touch /opt/x/y/f && chown -R nobody /opt/x && chmod -R 700 /opt/x"
    spec = f'[box]\nbase = "debian:bookworm"\n[setup]\nrun = ["{step}; echo started; sleep 120"]\n'
    p = project(user, base, f"ctrl-c {tier}", spec)
    argv = user.argv("build")
    child = pexpect.spawn(argv[0], argv[1:], cwd=str(p), env=user.env(), encoding="utf-8",
                          timeout=900, dimensions=(24, 200))  # fmt: skip
    child.expect("started")
    child.sendintr()
    child.expect("stopping")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    out = str(child.before)
    assert child.exitstatus == 130, out
    assert "Traceback" not in out and "Permission denied" not in out, out
    layers = user.home / ".local" / "share" / "devbox" / "layers"
    assert not [d.name for d in layers.iterdir() if d.name.startswith(".tmp-")]
    (p / "devbox.toml").write_text(spec.replace("sleep 120", "true"))
    r = user.devbox("build", cwd=p)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("tier", [2, 3])
def test_a_rebuild_does_not_warn_of_the_accounts_devbox_wrote(
    users: dict[int, User], base: Path, tier: int
) -> None:
    """A rootless box's writable layer holds the user's line in /etc/passwd and /etc/group,
    which devbox writes at every start: nothing a rebuild should warn of (or, on a terminal,
    ask about). Something the user put in /etc is still warned of."""
    user = users[tier]
    spec = '[box]\nbase = "debian:bookworm"\n[setup]\nrun = ["echo STEP"]\n'
    p = project(user, base, f"accounts {tier}", spec.replace("STEP", "one"))
    r = user.devbox("run", "--", "true", cwd=p)
    assert r.returncode == 0, r.stderr
    (p / "devbox.toml").write_text(spec.replace("STEP", "two"))
    r = user.devbox("build", cwd=p)
    assert r.returncode == 0, r.stderr
    assert "writable layer" not in r.stderr, r.stderr
    r = user.devbox("run", "--root", "--", "touch", "/etc/mine", cwd=p)
    assert r.returncode == 0, r.stderr
    (p / "devbox.toml").write_text(spec.replace("STEP", "three"))
    r = user.devbox("build", cwd=p)
    assert r.returncode == 0 and "writable layer" in r.stderr and "/etc" in r.stderr, r.stderr
