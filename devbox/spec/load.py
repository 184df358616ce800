"""Finding, reading and parsing devbox.toml into a Spec (model.py); every error names the
file, the key path and the line, and says what is allowed."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from devbox import nofollow
from devbox.errors import DevboxError, SpecError
from devbox.spec import envtable, network, tomlpos
from devbox.spec import limits as limits_
from devbox.spec import scripts as scripts_
from devbox.spec import services as services_
from devbox.spec import share as share_
from devbox.spec import tables as t
from devbox.spec import validate as v
from devbox.spec.model import SPEC_NAME, Setup, Spec
from devbox.spec.validate import Ctx, Table

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

_TOML_AT = re.compile(r"\(at line (\d+), column (\d+)\)")


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
        data = nofollow.read_file(path)  # the working tree is the box's to write: no symlink
    except OSError as exc:
        raise DevboxError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except nofollow.Refused as exc:
        raise DevboxError(f"cannot read {exc.message}", hint=exc.hint) from None
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
    ctx = Ctx(str(path), lines, tuple(text.splitlines()))
    t.check_tables(ctx, doc)
    absolute = path.absolute()
    tables = {name: v.get_table(ctx, doc, (name,)) or {} for name in t.TABLES}
    name, base = t.box_table(ctx, v.get_table(ctx, doc, ("box",)), absolute.parent.name)
    net, ports = network.box_network(ctx, v.get_table(ctx, doc, ("box",)))
    return Spec(
        path=absolute,
        name=name,
        base=base,
        apt=t.apt_packages(ctx, tables["packages"]),
        interpreters=tuple(
            t.interpreter_entry(ctx, k, val, base) for k, val in tables["interpreters"].items()
        ),
        env=envtable.env_vars(ctx, tables["env"]),
        setup=Setup(t.setup_run(ctx, tables["setup"]), t.setup_inputs(ctx, tables["setup"])),
        shell=t.shell_table(ctx, tables["shell"]),
        scripts=scripts_.scripts_table(ctx, tables["scripts"]),
        env_files=envtable.env_files(ctx, tables["env"]),
        cache=v.cache_registry(ctx, tables["cache"]),
        services=services_.services_table(ctx, tables["services"]),
        limits=limits_.limits_table(ctx, tables["limits"]),
        share=share_.share_table(ctx, tables["share"], tables["shell"]),
        network=net,
        ports=ports,
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


def parse_bytes(spec_path: Path, data: bytes) -> Spec:
    """The spec whose file `spec_path` holds `data` (read once by the caller)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DevboxError(f"{spec_path} is not UTF-8 text (byte {e.start})") from e
    return parse_spec(text, spec_path)
