"""What `devbox init` finds in a project: the Python and Node versions it asks for and the files
that list its dependencies (pure but for reading those files, never through a symlink).

Python: `.python-version`, else `.tool-versions` (`python X.Y`), else pyproject.toml's
`requires-python` (the base suite's own python when it qualifies). Node: `.nvmrc`, else
`.tool-versions` (`nodejs`/`node`), else package.json's `engines.node`. Dependencies:
`requirements*.txt`, else pyproject.toml's `[project].dependencies`; package.json (with
package-lock.json: `npm ci`).
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devbox import nofollow
from devbox.errors import DevboxError
from devbox.spec.suites import SID_MIN, SUITE_PYTHON

NODE_DEFAULT = 22
NODE_LTS = {"argon": 4, "boron": 6, "carbon": 8, "dubnium": 10, "erbium": 12, "fermium": 14,
            "gallium": 16, "hydrogen": 18, "iron": 20, "jod": 22, "krypton": 24}  # fmt: skip
PYTHON_MINORS = [f"3.{n}" for n in range(8, 15)]
_CLAUSE = re.compile(r"\s*(~=|==|!=|<=|>=|<|>|\^|~)?\s*v?(\d+(?:\.\d+)*)(\.\*)?\s*")
# packages that compile against a system library, and the Debian packages that provide it (the
# compiler and python's headers come with every python from [interpreters])
NATIVE = {
    "psycopg2": ("libpq-dev",),
    "mysqlclient": ("default-libmysqlclient-dev", "pkg-config"),
    "python-ldap": ("libldap2-dev", "libsasl2-dev"),
}


@dataclass
class Found:
    """What init writes, and why (each note: `file: what it said`)."""

    python: str | None = None  # the version for [interpreters]
    python_provider: str | None = None  # None: the suite's own (apt)
    node: str | None = None
    apt: list[str] = field(default_factory=list)
    setup: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def read(project: Path, name: str) -> str | None:
    """A project file's text; None when missing, a symlink or not text (said as a note by the
    caller: the working tree may hold what a box planted)."""
    try:
        return nofollow.read_beneath(project, name, 1 << 20).decode("utf-8")
    except (OSError, DevboxError, UnicodeDecodeError):
        return None


def tool_versions(text: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in (text or "").splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 2:
            out.setdefault(words[0], words[1])
    return out


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split("."))


def satisfies(version: str, spec: str) -> bool:
    """Whether `version` (X.Y) meets a PEP 440 style specifier list (`>=3.9,<4`, `~=3.10`,
    `==3.11.*`; poetry's `^3.10`); clauses it cannot read are ignored."""
    v = _version(version)
    for clause in re.split(r"[,\s]+(?=[<>=!~^])|,", spec):
        m = _CLAUSE.fullmatch(clause)
        if not clause.strip() or m is None:
            continue
        op, want, star = m.group(1) or "==", _version(m.group(2)), m.group(3)
        n = len(want) if star or op in ("==", "!=", "~", "^", "~=") else max(len(want), 2)
        mine = (v + (0,) * 3)[:n]
        want = (want + (0,) * 3)[:n]
        if op in ("~=", "^", "~"):
            upper = want[:1] if op == "^" or (op == "~=" and n <= 2) else want[:2]
            ok = mine[: len(upper)] == upper and mine >= want
        else:
            ok = {"==": mine == want, "!=": mine != want, ">=": mine >= want, ">": mine > want,
                  "<=": mine <= want, "<": mine < want}[op]  # fmt: skip
        if not ok:
            return False
    return True


def suite_python(suite: str) -> str | None:
    return SUITE_PYTHON.get(suite) or (".".join(map(str, SID_MIN)) if suite == "sid" else None)


def choose_python(found: Found, version: str, why: str, suite: str) -> None:
    """`version` from `why`: the suite's own python when it is that minor, else uv's build."""
    own = suite_python(suite)
    minor = ".".join(version.split(".")[:2])
    if minor == own:
        found.python = own
        found.notes.append(f"{why}: python {version}, Debian {suite}'s own")
    else:
        found.python, found.python_provider = version, "uv"
        found.notes.append(f"{why}: python {version}, built by uv (Debian {suite} has {own})")


def detect_python(project: Path, suite: str, found: Found, tools: dict[str, str]) -> None:
    pyproject = read(project, "pyproject.toml")
    doc: dict[str, Any] = {}
    if pyproject is not None:
        if sys.version_info >= (3, 11):
            import tomllib
        else:
            import tomli as tomllib
        try:
            doc = tomllib.loads(pyproject)
        except tomllib.TOMLDecodeError:
            found.notes.append("pyproject.toml: not valid TOML, not used")
    table = doc.get("project")
    project_table: dict[str, Any] = table if isinstance(table, dict) else {}
    pinned = (read(project, ".python-version") or "").strip().splitlines()
    version = pinned[0].strip() if pinned else ""
    requires = project_table.get("requires-python")
    if re.fullmatch(r"\d+\.\d+(\.\d+)?", version):
        choose_python(found, version, ".python-version", suite)
    elif re.fullmatch(r"\d+\.\d+(\.\d+)?", tools.get("python", "")):
        choose_python(found, tools["python"], ".tool-versions", suite)
    elif isinstance(requires, str):
        own = suite_python(suite)
        if own and satisfies(own, requires):
            found.python = own
            found.notes.append(
                f"pyproject.toml: requires-python {requires}, met by Debian {suite}'s python {own}"
            )
        else:
            fit = next((m for m in PYTHON_MINORS if satisfies(m, requires)), None)
            if fit:
                choose_python(found, fit, f"pyproject.toml: requires-python {requires}", suite)
    reqs = sorted(p.name for p in project.glob("requirements*.txt") if p.is_file())
    reqs = [r for r in reqs if read(project, r) is not None]
    deps = project_table.get("dependencies")
    if found.python is None and (reqs or pyproject is not None):
        own = suite_python(suite) or "3.13"
        found.python = own
        found.notes.append(f"{reqs[0] if reqs else 'pyproject.toml'}: python, Debian {suite}'s own")
    if found.python is None:
        return
    found.env["PYTHONDONTWRITEBYTECODE"] = "1"
    names = " ".join(read(project, r) or "" for r in reqs)
    if reqs:
        found.setup.append(PIP + " ".join(f"-r {r}" for r in reqs))
        found.inputs += reqs
        found.notes += [f"{r}: installed by [setup]" for r in reqs]
    elif isinstance(deps, list) and deps and all(isinstance(d, str) for d in deps):
        if _version(".".join(found.python.split(".")[:2])) >= (3, 11):
            found.setup.append(PYPROJECT_DEPS)
        else:  # no tomllib to read them at build time: listed here (edit with pyproject.toml)
            found.setup.append(PIP + " ".join(shlex.quote(d) for d in deps))
        found.inputs.append("pyproject.toml")
        found.notes.append(f"pyproject.toml: {_count(deps)}, installed by [setup]")
        names = " ".join(deps)
    for package, apt in NATIVE.items():
        if re.search(rf"(?im)^\s*{re.escape(package)}\b(?!-binary)|[\s\"']{package}[=<>~! \"',]",
                     names + "\n"):  # fmt: skip
            found.apt += [a for a in apt if a not in found.apt]
            found.notes.append(f"{package}: compiles against {apt[-1]}, added to [packages]")


# [project].dependencies read at build time (a change to pyproject.toml rebuilds the layer):
# the setup step sees the working tree read-only, so the project itself is not installed
PIP = "python -m pip install --no-cache-dir "
PYPROJECT_DEPS = (
    "python -c 'import tomllib; "
    'print("\\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))\''
    " > /tmp/requirements.txt && " + PIP + "-r /tmp/requirements.txt"
)
NODE_DEPS = "/opt/devbox/node-deps"


def node_version(text: str) -> int | None:
    """The major version an .nvmrc, .tool-versions entry or engines range asks for."""
    text = text.strip().lower()
    if text.startswith("lts/"):
        return NODE_LTS.get(text[4:], NODE_DEFAULT)
    m = re.search(r"(>=?)?\s*v?(\d+)", text)
    if m is None:
        return None
    major = int(m.group(2))
    return max(major, NODE_DEFAULT) if m.group(1) else major


def detect_node(project: Path, found: Found, tools: dict[str, str]) -> None:
    package = read(project, "package.json")
    nvmrc = read(project, ".nvmrc")
    tool = tools.get("nodejs") or tools.get("node")
    doc: Any = None
    if package is not None:
        try:
            doc = json.loads(package)
        except ValueError:
            found.notes.append("package.json: not valid JSON, not used")
    engines = doc.get("engines") if isinstance(doc, dict) else None
    engine = engines.get("node") if isinstance(engines, dict) else None
    for why, text in ((".nvmrc", nvmrc), (".tool-versions", tool), ("package.json", engine)):
        major = node_version(text) if isinstance(text, str) else None
        if major is not None and isinstance(text, str):
            found.node = str(major)
            what = "engines.node " if why == "package.json" else ""
            found.notes.append(f"{why}: {what}{text.strip()}, node {major}")
            break
    if not isinstance(doc, dict):
        return
    if found.node is None:
        found.node = str(NODE_DEFAULT)
        found.notes.append(f"package.json: node {NODE_DEFAULT} (no version asked for)")
    deps = {**(doc.get("dependencies") or {}), **(doc.get("devDependencies") or {})}
    if not deps:
        return
    lock = read(project, "package-lock.json") is not None
    files = ["package.json", "package-lock.json"] if lock else ["package.json"]
    install = "npm ci" if lock else "npm install"
    found.setup.append(
        f"mkdir -p {NODE_DEPS} && cp {' '.join(files)} {NODE_DEPS}/ && cd {NODE_DEPS} && "
        f"{install} --no-audit --no-fund --cache /tmp/npm-cache && "
        f"ln -sfn {NODE_DEPS}/node_modules /node_modules"
    )
    found.inputs += files
    found.notes.append(f"{files[-1]}: {_count(deps)}, `{install}` in [setup]")


def _count(deps: object) -> str:
    n = len(deps) if isinstance(deps, (list, dict)) else 0
    return f"{n} dependenc{'y' if n == 1 else 'ies'}"


def detect(project: Path, suite: str) -> Found:
    found = Found()
    tools = tool_versions(read(project, ".tool-versions"))
    detect_python(project, suite, found, tools)
    detect_node(project, found, tools)
    if found.python or found.node:
        found.apt.insert(0, "git")
    return found
