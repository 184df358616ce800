"""Each table of devbox.toml checked: [box], [packages], [interpreters], [env], [setup],
[shell] and [cache], each key's rule in one place (the generic checks are validate.py; [scripts]
and [services] have modules of their own)."""

from __future__ import annotations

import difflib
import re
from pathlib import PurePosixPath

from devbox.errors import DevboxError
from devbox.spec import suites
from devbox.spec import validate as v
from devbox.spec.imageref import parse_reference
from devbox.spec.model import DEBIAN_SUITES, DEFAULT_MIRROR, Base, Interpreter, Shell
from devbox.spec.tomlpos import KeyPath
from devbox.spec.validate import Ctx, Table, get_str, get_str_list, wrong_type

# The schema: every table and its keys, in the order docs/spec.md documents them ([env]: any name).
TABLES: dict[str, tuple[str, ...]] = {
    "box": ("name", "base", "mirror", "network", "ports"),
    "packages": ("apt",),
    "interpreters": ("python", "node"),
    "env": (),
    "setup": ("run", "inputs"),
    "shell": ("program", "workdir", "expose", "home"),
    "scripts": (),
    "cache": ("registry",),
    "services": (),
    "limits": ("memory", "cpus", "pids", "strict"),
    "share": ("display", "audio", "gpu", "ssh_agent", "gitconfig", "binds"),
}


BASE_KINDS = ("debian", "oci", "rootfs")


TARBALL_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.zst")


MIRROR_SCHEMES = ("http://", "https://", "file:/")


BASE_FORMS = (
    f"debian:<suite> ({', '.join(DEBIAN_SUITES)}); oci:<image reference>; "
    "rootfs:<tarball in the project>"
)


PROVIDERS = {"python": ("apt", "uv"), "node": ("apt", "npm")}


VERSION_RE = {"python": re.compile(r"\d+\.\d+(\.\d+)?"), "node": re.compile(r"\d+(\.\d+){0,2}")}


VERSION_FORMS = {
    "python": '"X.Y" or "X.Y.Z", e.g. "3.11"',
    "node": '"X", "X.Y" or "X.Y.Z", e.g. "20"',
}


HOMES = ("isolated", "host")


def check_tables(ctx: Ctx, doc: Table) -> None:
    """Only known tables, each a table, each with only its known keys."""
    for key, value in doc.items():
        if key not in TABLES:
            homes = [table for table, keys in TABLES.items() if key in keys]
            hint = f"; {key} belongs in [{homes[0]}]" if homes else v.did_you_mean(key, TABLES)
            what = "table" if isinstance(value, dict) else "top-level key"
            allowed = ", ".join(f"[{t}]" for t in TABLES)
            fix = _move(ctx, (key,), value, homes[0]) if homes else None
            raise ctx.fail((key,), f"unknown {what}{hint}", allowed=allowed, fix=fix)
        table = v.get_table(ctx, doc, (key,))
        if table is not None and key not in ("env", "scripts", "services"):
            _misplaced(ctx, table, key)
            what = "interpreter" if key == "interpreters" else "key"
            v.check_keys(ctx, table, (key,), TABLES[key], what)


def _misplaced(ctx: Ctx, table: Table, name: str) -> None:
    """A key of another table written in [name] (`apt` under [box]): say where it belongs."""
    for key, value in table.items():
        homes = [t for t, keys in TABLES.items() if key in keys and t != name]
        if key in TABLES[name] or not homes:
            continue
        message = f"{key} belongs in [{homes[0]}], not in [{name}]"
        raise ctx.fail((name, key), message, fix=_move(ctx, (name, key), value, homes[0]))


def _move(ctx: Ctx, key: KeyPath, value: object, home: str) -> str:
    return f"move it into the [{home}] table: [{home}] {key[-1]} = {ctx.literal(key, value)}"


def box_table(ctx: Ctx, box: Table | None, directory: str) -> tuple[str, Base]:
    if box is None:
        example = '[box] base = "debian:bookworm"'
        message = "missing: every devbox.toml needs a [box] table with a base"
        raise ctx.fail(("box",), message, allowed=f"{example}; base forms: {BASE_FORMS}")
    name = box_name(ctx, box)
    base = _base(ctx, box)
    mirror = v.get_str(ctx, box, ("box", "mirror"))
    if mirror is not None:
        base = Base(base.kind, base.ref, _mirror(ctx, base, mirror))
    return (name if name is not None else default_name(directory)), base


def _base(ctx: Ctx, box: Table) -> Base:
    key: KeyPath = ("box", "base")
    text = v.get_str(ctx, box, key)
    if text is None:
        raise ctx.fail(key, "missing: every box needs a base", allowed=BASE_FORMS)
    kind, sep, ref = text.partition(":")
    if not sep or kind not in BASE_KINDS:
        close = difflib.get_close_matches(kind, BASE_KINDS, n=1) if sep else []
        guess = f'; did you mean "{close[0]}:{ref}"?' if close else ""
        raise ctx.fail(key, f'"{text}" is not a known base form{guess}', allowed=BASE_FORMS)
    if kind == "debian":
        if ref not in DEBIAN_SUITES:
            guess = v.did_you_mean(ref, DEBIAN_SUITES)
            message = f'unknown Debian suite "{ref}"{guess}'
            raise ctx.fail(key, message, allowed=", ".join(DEBIAN_SUITES))
        return Base("debian", ref, DEFAULT_MIRROR)
    if kind == "oci":
        example = "oci:<image reference>, e.g. oci:docker.io/library/debian:bookworm"
        if not ref or any(c.isspace() for c in ref) or ref.startswith("/"):
            raise ctx.fail(key, f'"{ref}" is not an image reference', allowed=example)
        try:
            parse_reference(ref)
        except DevboxError as e:
            raise ctx.fail(key, e.message, allowed=example) from None
        return Base("oci", ref)
    if not ref.endswith(TARBALL_SUFFIXES) or ref in TARBALL_SUFFIXES:
        allowed = f"rootfs:<path in the project ending in {', '.join(TARBALL_SUFFIXES)}>"
        raise ctx.fail(key, f'"{ref}" is not a rootfs tarball', allowed=allowed)
    problem = relative_path_problem(ref) or (".. in it" if ".." in ref.split("/") else None)
    if problem is not None:
        message = f'the rootfs tarball "{ref}" {problem}'
        raise ctx.fail(
            key, message, allowed="a path inside the project, e.g. rootfs:images/root.tar"
        )
    return Base("rootfs", ref)


def _mirror(ctx: Ctx, base: Base, mirror: str) -> str:
    key: KeyPath = ("box", "mirror")
    if base.kind != "debian":
        message = f"only debian bases take a mirror, and this base is {base.kind}:{base.ref}"
        raise ctx.fail(key, message, allowed='no mirror, or base = "debian:<suite>"')
    if not mirror.startswith(MIRROR_SCHEMES):
        allowed = f"a URL starting with {', '.join(MIRROR_SCHEMES)}"
        raise ctx.fail(key, f'"{mirror}" is not a mirror URL', allowed=allowed)
    return mirror


def interpreter_entry(ctx: Ctx, name: str, value: object, base: Base) -> Interpreter:
    key: KeyPath = ("interpreters", name)
    provider = None
    if isinstance(value, dict):
        v.check_keys(ctx, value, key, ("version", "provider"))
        raw = value.get("version")
        if raw is not None and not isinstance(raw, str):
            raise wrong_type(ctx, (*key, "version"), "a string", raw, quote_hint=True)
        version = v.get_str(ctx, value, (*key, "version"))
        if version is None:
            raise ctx.fail(key, "missing version", allowed=f"version = {VERSION_FORMS[name]}")
        provider = v.get_str(ctx, value, (*key, "provider"))
        version_key: KeyPath = (*key, "version")
    elif isinstance(value, str):
        version, version_key = value, key
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        raise wrong_type(ctx, key, "a string", value, quote_hint=True)
    else:
        expected = 'a version string or a table {version = "...", provider = "..."}'
        raise v.wrong_type(ctx, key, expected, value)
    if not VERSION_RE[name].fullmatch(version):
        message = f'"{version}" is not a {name} version'
        raise ctx.fail(version_key, message, allowed=VERSION_FORMS[name])
    if provider is not None:
        v.one_of(ctx, (*key, "provider"), provider, PROVIDERS[name])
    suites.refuse_missing(ctx, version_key, Interpreter(name, version, provider), base)
    return Interpreter(name, version, provider)


def shell_table(ctx: Ctx, table: Table) -> Shell:
    home = v.get_str(ctx, table, ("shell", "home"))
    return Shell(
        program=shell_program(ctx, table),
        workdir=shell_workdir(ctx, table),
        expose=shell_expose(ctx, table),
        home="isolated" if home is None else v.one_of(ctx, ("shell", "home"), home, HOMES),
    )


NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


APT_RE = re.compile(r"(?P<name>[a-z0-9][a-z0-9+.-]+)(?:=(?P<version>[A-Za-z0-9.+~:*?-]+))?")


def default_name(directory: str) -> str:
    """A valid box name from a directory name: other characters become '-'."""
    name = re.sub(r"[^A-Za-z0-9._-]", "-", directory)
    name = re.sub(r"^[^A-Za-z0-9]+", "", name)[:63]
    return name or "box"


def box_name(ctx: Ctx, box: Table) -> str | None:
    name = get_str(ctx, box, ("box", "name"))
    if name is not None and not NAME_RE.fullmatch(name):
        allowed = "1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"
        raise ctx.fail(("box", "name"), f'"{name}" is not a valid box name', allowed=allowed)
    return name


def apt_packages(ctx: Ctx, table: Table) -> tuple[str, ...]:
    """[packages] apt: Debian package names, each at most once, optionally =VERSION or =GLOB."""
    key: KeyPath = ("packages", "apt")
    packages = get_str_list(ctx, table, key)
    seen: dict[str, str] = {}
    for item in packages:
        match = APT_RE.fullmatch(item)
        if match is None:
            allowed = 'name, name=VERSION or name=GLOB, e.g. "git", "libpq-dev=15.*"'
            raise ctx.fail(key, f'"{item}" is not a Debian package name', allowed=allowed)
        name = match.group("name")
        if name in seen:
            raise ctx.fail(key, f'package {name} is listed twice: "{seen[name]}" and "{item}"')
        seen[name] = item
    return packages


def setup_run(ctx: Ctx, table: Table) -> tuple[str, ...]:
    run = get_str_list(ctx, table, ("setup", "run"), single=True)
    if any(not command.strip() for command in run):
        raise ctx.fail(("setup", "run"), "a command is empty", allowed="shell command lines")
    return run


def setup_inputs(ctx: Ctx, table: Table) -> tuple[str, ...]:
    inputs = get_str_list(ctx, table, ("setup", "inputs"))
    for item in inputs:
        problem = relative_path_problem(item)
        if problem:
            allowed = 'paths relative to the project, e.g. "requirements.txt"'
            raise ctx.fail(("setup", "inputs"), f'"{item}" {problem}', allowed=allowed)
    return inputs


def relative_path_problem(text: str) -> str | None:
    """Why ``text`` is not a path inside the project, or None if it is one."""
    if not text:
        return "is empty"
    if PurePosixPath(text).is_absolute():
        return "is an absolute path"
    depth = 0
    for part in PurePosixPath(text).parts:
        depth += -1 if part == ".." else 1
        if depth < 0:
            return "is outside the project"
    return None


def shell_program(ctx: Ctx, table: Table) -> str | None:
    program = get_str(ctx, table, ("shell", "program"))
    if program is not None and (not program or any(c.isspace() for c in program)):
        allowed = 'a command name or an absolute path, e.g. "bash", "/bin/zsh"'
        raise ctx.fail(("shell", "program"), f'"{program}" is not a program', allowed=allowed)
    return program


def shell_workdir(ctx: Ctx, table: Table) -> str | None:
    workdir = get_str(ctx, table, ("shell", "workdir"))
    if workdir is None:
        return None
    parts = workdir.split("/")
    if not workdir.startswith("/") or ".." in parts or not workdir.strip("/"):
        message = f'"{workdir}" is not an absolute path below /'
        raise ctx.fail(("shell", "workdir"), message, allowed='an absolute path, e.g. "/workspace"')
    return workdir


def shell_expose(ctx: Ctx, table: Table) -> tuple[str, ...]:
    expose = get_str_list(ctx, table, ("shell", "expose"))
    for command in expose:
        if not command or "/" in command or any(c.isspace() for c in command):
            allowed = 'command names without "/", e.g. "psql"'
            raise ctx.fail(
                ("shell", "expose"), f'"{command}" is not a command name', allowed=allowed
            )
    return expose
