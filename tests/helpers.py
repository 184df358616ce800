"""What several test modules share: running the real devbox, projects on disk, a store built by
hand, and seeded mutations of a valid spec. Test modules import from here, never from each other
(or from conftest.py, which holds only fixtures).

tests/integration/rootless.py is the other helper module: the real unprivileged users of the
rootless tests (and of bench/).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import string
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Union

import pytest

from devbox.store.layers import LayerMeta
from devbox.store.paths import ProjectPaths, Store, launcher_path
from devbox.store.projects import register_project

# -- running devbox ------------------------------------------------------------------------------


@dataclass
class Devbox:
    """Runs the real `devbox` command (this checkout) as a user would."""

    store: Path

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env["DEVBOX_HOME"] = str(self.store)
        env.pop("DEVBOX_ACTIVE", None)
        env.update(extra or {})
        return env

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "devbox", *args]

    def __call__(
        self,
        *args: str,
        cwd: Path,
        input: str | None = None,
        env: dict[str, str] | None = None,
        check: bool = False,
        timeout: float = 900,
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            self.argv(*args),
            cwd=cwd,
            input=input,
            capture_output=True,
            text=True,
            env=self.env(env),
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"devbox {' '.join(args)} exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc

    def popen(self, *args: str, cwd: Path, **kw: object) -> subprocess.Popen[str]:
        return subprocess.Popen(  # type: ignore[call-overload,no-any-return]
            self.argv(*args), cwd=cwd, env=self.env(), text=True, **kw
        )


def need_root_tools() -> None:
    """Skip unless root (tier 1); fail if a host tool the integration tests drive is missing."""
    if os.geteuid() != 0:
        pytest.skip("these tests drive privilege tier 1 (root); rootless tiers are tested apart")
    missing = [
        t for t in ("bwrap", "mmdebstrap", "unshare", "nsenter", "flock") if not shutil.which(t)
    ]
    if missing:
        pytest.fail(f"missing host tools {missing}: run ./scripts/test, which installs them")


def launch(
    devbox: Devbox,
    project: Path,
    *argv: str,
    cwd: Path | None = None,
    extra: dict[str, str] | None = None,
    **kw: Any,
) -> subprocess.CompletedProcess[str]:
    """Run the launcher directly, as a shim does (no DEVBOX_HOME: it knows its store)."""
    env = {k: v for k, v in devbox.env(extra).items() if k != "DEVBOX_HOME"}
    return subprocess.run(
        [str(launcher_path(project, devbox.store)), *argv], cwd=cwd or project, env=env,
        capture_output=True, text=True, timeout=600, **kw,
    )  # fmt: skip


def wait_for_temp_layer(store: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if any(d.startswith(".tmp-") for d in layer_dirs(store)):
            time.sleep(1.5)  # well inside the step now
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    raise AssertionError("the build never started its layer")


# -- projects and the store ----------------------------------------------------------------------


class MakeProject(Protocol):
    """The `make_project` fixture: a project dir under the test's tmp_path with this spec."""

    def __call__(self, name: str, spec: str, files: dict[str, str] | None = None) -> Path: ...


def write_project(root: Path, spec: str, files: dict[str, str] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "devbox.toml").write_text(spec)
    for name, text in (files or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def layer_dirs(store: Path) -> set[str]:
    layers = store / "layers"
    return {p.name for p in layers.iterdir()} if layers.is_dir() else set()


# A project with a launcher: the launcher and front tests enter it.
LAUNCHER_SPEC = """\
[box]
name = "fast"
base = "debian:bookworm"

[packages]
apt = ["libxml2-utils"]

[env]
GREETING = "hello"
PATH = "${DEVBOX_PROJECT}/bin:${PATH}"

[setup]
run = ["cat seed.txt > /etc/seeded"]
inputs = ["seed.txt"]
"""


# -- a store built by hand (devbox ls, devbox gc) ------------------------------------------------

MiB = 2**20
BASE, APT, SETUP_API, UNUSED, INCOMPLETE = (c * 64 for c in "abcde")
UPDATED = 1_700_000_000.0  # webapp's last build
STARTED = UPDATED + 3600.0  # webapp's box last started (run/ changed)


def add_layer(st: Store, digest: str, kind: str, title: str, size: int) -> None:
    d = st.layer_dir(digest)
    (d / "rootfs").mkdir(parents=True)
    meta = LayerMeta(
        digest=digest,
        kind=kind,
        parent=None,
        recipe={},
        title=title,
        size=size,
        created=UPDATED,
        tier=1,
        packages={},
        arch="amd64",
    )
    (d / "meta.json").write_text(json.dumps(meta.to_json()))


def add_project(
    st: Store, path: Path, name: str, stack: list[str], *, spec: bool, updated: float
) -> ProjectPaths:
    if spec:
        path.mkdir(parents=True, exist_ok=True)
        (path / "devbox.toml").write_text('[box]\nbase = "debian:bookworm"\n')
    register_project(st, path, name, stack)
    info_path = st.project_dir(path) / "project.json"
    info = json.loads(info_path.read_text())
    info["updated"] = updated
    info_path.write_text(json.dumps(info))
    return ProjectPaths(st.project_dir(path))


def make_fake_store(root: Path) -> Store:
    """webapp (live, writable layer, run/), api (gone), an unused and an incomplete layer."""
    st = Store(root / "store")
    add_layer(st, BASE, "debian", "base debian:bookworm", int(177.4 * MiB))
    add_layer(st, APT, "apt", "apt sudo postgresql-client", int(64.3 * MiB))
    add_layer(st, SETUP_API, "setup", "setup (2 step(s))", int(37.6 * MiB))
    add_layer(st, UNUSED, "setup", "setup (1 step(s))", 0)
    (st.layer_dir(INCOMPLETE) / "rootfs").mkdir(parents=True)
    (st.layer_dir(INCOMPLETE) / "rootfs" / "junk").write_bytes(b"x" * 10000)
    (st.layers / ".tmp-ffff-123").mkdir()  # a build in progress is not a layer

    web = add_project(
        st, root / "src" / "webapp", "webapp", [BASE, APT], spec=True, updated=UPDATED
    )
    (web.upper / "etc").mkdir(parents=True)
    (web.upper / "etc" / "motd").write_bytes(b"y" * 50000)
    web.run.mkdir()
    os.utime(web.run, (STARTED, STARTED))
    add_project(st, root / "src" / "api", "api", [BASE, SETUP_API], spec=False, updated=UPDATED)

    (st.cache / "apt" / "k1").mkdir(parents=True)
    (st.cache / "apt" / "k1" / "x.deb").write_bytes(b"z" * 30000)
    return st


# -- seeded mutations of a valid spec (the spec and CLI fuzz tests) ------------------------------

# Every table and key of docs/spec.md, with an interpreter in table form too.
FULL_SPEC = """\
[box]
name = "webapp"
base = "debian:bookworm"
mirror = "http://deb.debian.org/debian"

[packages]
apt = ["libxml2-dev", "libpq-dev=15.*", "git"]

[interpreters]
python = "3.11"
node = { version = "20", provider = "npm" }

[env]
DJANGO_SETTINGS_MODULE = "web.settings"
PATH = "${DEVBOX_PROJECT}/bin:${PATH}"

[setup]
run = ["pip install -r requirements.txt"]
inputs = ["requirements.txt"]

[shell]
program = "bash"
workdir = "/workspace"
expose = ["psql"]
home = "isolated"

[services.db]
box = "services/db"
command = "postgres -D ${DEVBOX_DATA}"
ready = "tcp:${DB_PORT}"
env = { PGPORT = "${DB_PORT}", WORKERS = 4 }
restart = "on-failure"
stop_signal = "SIGINT"
stop_timeout = 30
ready_timeout = 20.5

[services.web]
command = "python3 manage.py runserver"
ready = "unix:/tmp/web.sock"
depends_on = ["db"]
restart = "no"
"""

KNOWN_NAMES = (
    "box", "name", "base", "mirror", "packages", "apt", "interpreters", "python", "node",
    "version", "provider", "env", "setup", "run", "inputs", "shell", "program", "workdir",
    "expose", "home", "services", "db", "command", "ready", "depends_on", "restart", "stop_signal",
    "stop_timeout", "ready_timeout",
)  # fmt: skip
SPECIAL_STRINGS = (
    "", " ", "debian:", "debian:sid", "oci:", "oci:/x", "oci:a b", "rootfs:.tar", "rootfs:x.tgz",
    "http://", "file:/", "3", "3.11.4.5", "..", "../x", "/", "/..", "a/b", "${PATH}", "=",
    "git=", "isolated", "host", "apt", "uv", "npm", "\\", "\x00", "\u2028", "é", "🦆", "a\nb",
)  # fmt: skip
# Values may hold any character, line breaks and terminal escapes included: errors show them
# escaped, on one line.
PRINTABLE = string.printable + "é🦆\u2028\x1b"
UNICODE_BITS = ("\x00", "\x7f", "\u00e9", "\u2028", "\u200b", "\ufeff", "\U0001f986", "\r", "\t")

# A mutation of a spec's text, as plain data. Indices are taken modulo the number of lines (or
# characters), so any integer is valid for any text.
#   ("drop", i)             drop line i
#   ("dup", i)              duplicate line i
#   ("swap", i, j)          swap the values of the key lines i and j (`key = value`)
#   ("value", i, v)         replace the value of key line i with the TOML text v
#   ("insert", i, line)     insert a line (an unknown key, a header, junk) before line i
#   ("truncate", n)         cut the text after n characters
#   ("splice", n, s)        insert the text s at character n
Op = Union[tuple[str, int], tuple[str, int, int], tuple[str, int, str]]


# -- applying mutations ----------------------------------------------------------------------------


def _split_keyval(line: str) -> tuple[str, str] | None:
    key, sep, value = line.partition(" = ")
    return (key, value) if sep else None


def apply_op(text: str, op: Op) -> str:
    kind = op[0]
    arg = op[2] if len(op) == 3 else None  # the value, line, text or index of some mutations
    if kind == "truncate":
        return text[: op[1] % (len(text) + 1)]
    if kind == "splice":
        n = op[1] % (len(text) + 1)
        return text[:n] + str(arg) + text[n:]
    lines = text.split("\n")
    i = op[1] % len(lines)
    if kind == "drop":
        del lines[i]
    elif kind == "dup":
        lines.insert(i, lines[i])
    elif kind == "insert":
        lines.insert(i, str(arg))
    elif kind == "value":
        kv = _split_keyval(lines[i])
        if kv is not None:
            lines[i] = f"{kv[0]} = {arg}"
    elif kind == "swap":
        assert isinstance(arg, int), op
        j = arg % len(lines)
        a, b = _split_keyval(lines[i]), _split_keyval(lines[j])
        if a is not None and b is not None:
            lines[i], lines[j] = f"{a[0]} = {b[1]}", f"{b[0]} = {a[1]}"
    else:
        raise AssertionError(f"unknown mutation {op!r}")
    return "\n".join(lines)


def mutate(text: str, ops: list[Op]) -> str:
    for op in ops:
        text = apply_op(text, op)
    return text


# -- seeded random mutations -----------------------------------------------------------


def random_key(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(KNOWN_NAMES)
    if rng.random() < 0.7:
        return "".join(rng.choices(string.ascii_letters + "_-", k=rng.randint(1, 10)))
    return toml_string(rng.choice(SPECIAL_STRINGS) + rng.choice(UNICODE_BITS))


def toml_string(s: str) -> str:
    escaped = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    escaped = "".join(c if c.isprintable() or c in "\\" else f"\\u{ord(c):04x}" for c in escaped)
    return f'"{escaped}"'


def random_value(rng: random.Random, depth: int = 0) -> str:
    """TOML text of a value of any type: scalars, arrays, inline tables, sometimes invalid."""
    roll = rng.randrange(11 if depth < 2 else 8)
    if roll == 0:
        return toml_string(rng.choice(SPECIAL_STRINGS))
    if roll == 1:
        return toml_string("".join(rng.choices(PRINTABLE, k=rng.randint(0, 12))))
    if roll == 2:
        return str(rng.randint(-(2**70), 2**70))
    if roll == 3:
        return rng.choice(("1.5", "-0.0", "inf", "nan", "1e308", "6.02e23"))
    if roll == 4:
        return rng.choice(("true", "false"))
    if roll == 5:
        return rng.choice(("1979-05-27", "07:32:00", "1979-05-27T07:32:00Z", "1979-05-27 07:32"))
    if roll == 6:
        return rng.choice(('"""a\nb"""', "'''x\n\n'''", "'lit\\eral'", '"\\u00e9"'))
    if roll == 7:  # invalid TOML
        return rng.choice(("", "=", "[", "{", '"', "'''", "0x", "1__0", "[1,,2]", "{a=1,}", "@"))
    if roll in (8, 9):
        items = [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
        return "[" + ", ".join(items) + "]"
    pairs = [
        f"{random_key(rng)} = {random_value(rng, depth + 1)}" for _ in range(rng.randint(0, 3))
    ]
    return "{" + ", ".join(pairs) + "}"


def random_line(rng: random.Random) -> str:
    roll = rng.randrange(4)
    if roll == 0:
        return f"[{random_key(rng)}]"
    if roll == 1:
        return f"[{rng.choice(KNOWN_NAMES)}.{random_key(rng)}]"
    if roll == 2:
        return f"{random_key(rng)}.{random_key(rng)} = {random_value(rng)}"
    return f"{random_key(rng)} = {random_value(rng)}"


def random_op(rng: random.Random) -> Op:
    kind = rng.choice(("drop", "dup", "swap", "value", "value", "insert", "truncate", "splice"))
    n = rng.randrange(10_000)
    if kind in ("drop", "dup", "truncate"):
        return (kind, n)
    if kind == "swap":
        return (kind, n, rng.randrange(10_000))
    if kind == "value":
        return (kind, n, random_value(rng))
    if kind == "insert":
        return (kind, n, random_line(rng))
    bit = rng.choice((*UNICODE_BITS, "[", "]", "=", '"', "'", "\n", "#", ".", "{"))
    return (kind, n, bit * rng.randint(1, 3))


def random_spec(rng: random.Random) -> str:
    return mutate(FULL_SPEC, [random_op(rng) for _ in range(rng.randint(1, 5))])
