"""devbox.toml: the user's spec, parsed and validated into frozen dataclasses.

Every error names the file, the key path and the line, and says what is allowed.
"""

from __future__ import annotations

import difflib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from devbox.errors import DevboxError, SpecError
from devbox.spec import tomlpos
from devbox.spec import validate as v
from devbox.spec.tomlpos import KeyPath
from devbox.spec.validate import Ctx, Table

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

SPEC_NAME = "devbox.toml"
DEBIAN_SUITES = ("bullseye", "bookworm", "trixie", "sid")
DEFAULT_MIRROR = "http://deb.debian.org/debian"


@dataclass(frozen=True)
class Base:
    kind: str  # "debian" | "oci" | "rootfs"
    ref: str  # suite, image reference, or tarball path (as written, relative to the project)
    mirror: str | None = None  # debian only; None for the other kinds


@dataclass(frozen=True)
class Interpreter:
    name: str  # "python" | "node"
    version: str
    provider: str | None = None  # None: the default provider for the base


@dataclass(frozen=True)
class Setup:
    run: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()  # project-relative paths


@dataclass(frozen=True)
class Shell:
    program: str | None = None  # None: login shell if the box has it, else bash, else sh
    workdir: str | None = None  # None: the same path as on the host
    expose: tuple[str, ...] = ()
    home: str = "isolated"  # "isolated" | "host"


@dataclass(frozen=True)
class Spec:
    path: Path  # absolute path of devbox.toml
    name: str
    base: Base
    apt: tuple[str, ...] = ()
    interpreters: tuple[Interpreter, ...] = ()
    env: tuple[tuple[str, str], ...] = ()  # in file order
    setup: Setup = field(default_factory=Setup)
    shell: Shell = field(default_factory=Shell)

    @property
    def project(self) -> Path:
        return self.path.parent


# The schema: every table and its keys, in the order SPEC.md documents them ([env]: any name).
TABLES: dict[str, tuple[str, ...]] = {
    "box": ("name", "base", "mirror"),
    "packages": ("apt",),
    "interpreters": ("python", "node"),
    "env": (),
    "setup": ("run", "inputs"),
    "shell": ("program", "workdir", "expose", "home"),
}
BASE_KINDS = ("debian", "oci", "rootfs")
TARBALL_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.zst")
MIRROR_SCHEMES = ("http://", "https://", "file:/")
BASE_FORMS = (
    f"debian:<suite> ({', '.join(DEBIAN_SUITES)}), oci:<image reference>, "
    f"rootfs:<path to a {', '.join(TARBALL_SUFFIXES)} tarball>"
)
PROVIDERS = {"python": ("apt", "uv"), "node": ("apt", "npm")}
VERSION_RE = {"python": re.compile(r"\d+\.\d+(\.\d+)?"), "node": re.compile(r"\d+(\.\d+){0,2}")}
VERSION_FORMS = {
    "python": '"X.Y" or "X.Y.Z", e.g. "3.11"',
    "node": '"X", "X.Y" or "X.Y.Z", e.g. "20"',
}
HOMES = ("isolated", "host")
_TOML_AT = re.compile(r"\(at line (\d+), column (\d+)\)")


# -- finding and loading -------------------------------------------------------------------------


def find_spec(start: Path) -> Path | None:
    """The nearest devbox.toml in ``start`` (a directory, or a file in one) or its parents."""
    here = start.absolute()
    for directory in (here, *here.parents):
        candidate = directory / SPEC_NAME
        try:
            if candidate.is_file():
                return candidate
        except OSError:
            continue
    return None


def load_spec(path: Path) -> Spec:
    """Read and validate ``path``: SpecError for a bad spec, DevboxError if it can't be read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DevboxError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(
            str(path), f"not valid TOML: not UTF-8 text (byte {exc.start} is {data[exc.start]:#x})"
        ) from exc
    return parse_spec(text, path)


def parse_spec(text: str, path: Path) -> Spec:
    """Validate ``text``, the content of the spec file ``path`` (not read here), into a Spec."""
    doc = _parse_toml(text, str(path))
    try:
        lines = tomlpos.key_lines(text)
    except RecursionError:  # the locator only adds line numbers; the parser has the last word
        lines = {}
    ctx = Ctx(str(path), lines)
    _check_tables(ctx, doc)
    absolute = path.absolute()
    tables = {name: v.get_table(ctx, doc, (name,)) or {} for name in TABLES}
    name, base = _box(ctx, v.get_table(ctx, doc, ("box",)), absolute.parent.name)
    return Spec(
        path=absolute,
        name=name,
        base=base,
        apt=v.apt_packages(ctx, tables["packages"]),
        interpreters=tuple(_interpreter(ctx, k, val) for k, val in tables["interpreters"].items()),
        env=v.env_vars(ctx, tables["env"]),
        setup=Setup(v.setup_run(ctx, tables["setup"]), v.setup_inputs(ctx, tables["setup"])),
        shell=_shell(ctx, tables["shell"]),
    )


def _parse_toml(text: str, file: str) -> Table:
    try:
        return tomllib.loads(text)
    except RecursionError as exc:
        raise SpecError(file, "not valid TOML: arrays or tables nested too deeply") from exc
    except tomllib.TOMLDecodeError as exc:
        reason = str(exc)
        at = _TOML_AT.search(reason)
        line = int(at.group(1)) if at else max(1, len(text.splitlines()))
        message = f"not valid TOML: {reason[:1].lower()}{reason[1:]}"
        raise SpecError(file, message, line=line) from exc


def _check_tables(ctx: Ctx, doc: Table) -> None:
    """Only known tables, each a table, each with only its known keys."""
    for key, value in doc.items():
        if key not in TABLES:
            homes = [table for table, keys in TABLES.items() if key in keys]
            hint = f"; {key} belongs in [{homes[0]}]" if homes else v.did_you_mean(key, TABLES)
            what = "table" if isinstance(value, dict) else "top-level key"
            allowed = ", ".join(f"[{t}]" for t in TABLES)
            raise ctx.fail((key,), f"unknown {what}{hint}", allowed=allowed)
        table = v.get_table(ctx, doc, (key,))
        if table is not None and key != "env":
            what = "interpreter" if key == "interpreters" else "key"
            v.check_keys(ctx, table, (key,), TABLES[key], what)


# -- [box] ---------------------------------------------------------------------------------------


def _box(ctx: Ctx, box: Table | None, directory: str) -> tuple[str, Base]:
    if box is None:
        example = '[box] base = "debian:bookworm"'
        message = "missing: every devbox.toml needs a [box] table with a base"
        raise ctx.fail(("box",), message, allowed=f"{example}; base forms: {BASE_FORMS}")
    name = v.box_name(ctx, box)
    base = _base(ctx, box)
    mirror = v.get_str(ctx, box, ("box", "mirror"))
    if mirror is not None:
        base = Base(base.kind, base.ref, _mirror(ctx, base, mirror))
    return (name if name is not None else v.default_name(directory)), base


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
        if not ref or any(c.isspace() for c in ref) or ref.startswith("/"):
            example = "oci:<image reference>, e.g. oci:docker.io/library/debian:bookworm"
            raise ctx.fail(key, f'"{ref}" is not an image reference', allowed=example)
        return Base("oci", ref)
    if not ref.endswith(TARBALL_SUFFIXES) or ref in TARBALL_SUFFIXES:
        allowed = f"rootfs:<path ending in {', '.join(TARBALL_SUFFIXES)}>"
        raise ctx.fail(key, f'"{ref}" is not a rootfs tarball', allowed=allowed)
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


# -- [interpreters] and [shell] ------------------------------------------------------------------


def _interpreter(ctx: Ctx, name: str, value: object) -> Interpreter:
    key: KeyPath = ("interpreters", name)
    provider = None
    if isinstance(value, dict):
        v.check_keys(ctx, value, key, ("version", "provider"))
        version = v.get_str(ctx, value, (*key, "version"))
        if version is None:
            raise ctx.fail(key, "missing version", allowed=f"version = {VERSION_FORMS[name]}")
        provider = v.get_str(ctx, value, (*key, "provider"))
        version_key: KeyPath = (*key, "version")
    elif isinstance(value, str):
        version, version_key = value, key
    else:
        expected = 'a version string or a table {version = "...", provider = "..."}'
        raise v.wrong_type(ctx, key, expected, value)
    if not VERSION_RE[name].fullmatch(version):
        message = f'"{version}" is not a {name} version'
        raise ctx.fail(version_key, message, allowed=VERSION_FORMS[name])
    if provider is not None:
        v.one_of(ctx, (*key, "provider"), provider, PROVIDERS[name])
    return Interpreter(name, version, provider)


def _shell(ctx: Ctx, table: Table) -> Shell:
    home = v.get_str(ctx, table, ("shell", "home"))
    return Shell(
        program=v.shell_program(ctx, table),
        workdir=v.shell_workdir(ctx, table),
        expose=v.shell_expose(ctx, table),
        home="isolated" if home is None else v.one_of(ctx, ("shell", "home"), home, HOMES),
    )


def parse_bytes(spec_path: Path, data: bytes) -> Spec:
    """The spec whose file `spec_path` holds `data` (read once by the caller)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DevboxError(f"{spec_path} is not UTF-8 text (byte {e.start})") from e
    return parse_spec(text, spec_path)
