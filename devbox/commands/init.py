"""`devbox init`: write a starter devbox.toml, for what the project holds (detect.py) or from a
template."""

from __future__ import annotations

import json
from pathlib import Path

from devbox import nofollow
from devbox.commands import detect
from devbox.errors import DevboxError
from devbox.plan.interpreters import SUITE_PYTHON
from devbox.resources import data_dir
from devbox.spec.model import DEBIAN_SUITES, SPEC_NAME
from devbox.spec.tables import default_name


def templates_dir() -> Path:
    return data_dir("templates", "minimal.toml")


def template_names() -> list[str]:
    return sorted(p.stem for p in templates_dir().glob("*.toml"))


def render(template: str, name: str, base: str) -> str:
    path = templates_dir() / f"{template}.toml"
    if not path.is_file():
        raise DevboxError(
            f"no template named {template!r}",
            hint="templates: " + ", ".join(template_names()),
        )
    suite = base.split(":", 1)[1] if base.startswith("debian:") else ""
    python = SUITE_PYTHON.get(suite, "3.13")  # sid (and other bases): 3.13
    text = path.read_text().replace("{{name}}", name).replace("{{base}}", base)
    return text.replace("{{python}}", python)


def toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string


def detected_spec(found: detect.Found, name: str, base: str) -> str:
    """A devbox.toml for what `detect` found, saying in comments what and why."""
    lines = ["# devbox.toml: this project's box, written by `devbox init` from what it found:"]
    lines += [f"#   {note}" for note in found.notes]
    lines += ["# Reference: docs/spec.md in devbox.", "[box]", f"name = {toml_str(name)}"]
    lines += [f"base = {toml_str(base)}", "", "[packages]"]
    lines.append(f"apt = [{', '.join(map(toml_str, found.apt))}]")
    lines += ["", "[interpreters]"]
    if found.python and found.python_provider:
        version = toml_str(found.python)
        lines.append(f"python = {{ version = {version}, provider = {toml_str('uv')} }}")
    elif found.python:
        lines.append(f"python = {toml_str(found.python)}")
    if found.node:
        lines.append(f"node = {toml_str(found.node)}")
    lines += ["", "[env]", '# files = [".env"]  # KEY=VALUE files read at each entry']
    lines += [f"{k} = {toml_str(v)}" for k, v in found.env.items()]
    if found.node:
        bins = f"${{DEVBOX_PROJECT}}/node_modules/.bin:{detect.NODE_DEPS}/node_modules/.bin"
        lines.append(f"PATH = {toml_str(bins + ':${PATH}')}")
    if found.setup:
        lines += ["", "[setup]"]
        lines.append("# the dependencies, installed into the box (setup steps see the working tree")
        lines.append("# read-only); a change to an input rebuilds this layer")
        if found.node:
            lines.append(f"# node packages go to {detect.NODE_DEPS}, found from /node_modules")
        lines.append("run = [")
        lines += [f"  {toml_str(step)}," for step in found.setup]
        lines.append("]")
        lines.append(f"inputs = [{', '.join(map(toml_str, found.inputs))}]")
    return "\n".join(lines) + "\n"


def init(project: Path, *, base: str, template: str | None, force: bool) -> tuple[Path, list[str]]:
    """Write the spec (from `template`, or from what the project holds when None); the path
    and what was found."""
    target = project / SPEC_NAME
    if target.is_symlink():  # dangling or not: writing would go wherever it points
        raise DevboxError(
            f"{target} is a symlink: devbox init does not write through it",
            hint="remove it, then run devbox init again",
        )
    if target.exists() and not force:
        raise DevboxError(
            f"{target} already exists", hint="edit it, or pass --force to overwrite it"
        )
    if base.startswith("debian:") and base.split(":", 1)[1] not in DEBIAN_SUITES:
        raise DevboxError(
            f"unknown Debian suite in {base!r}", hint="suites: " + ", ".join(DEBIAN_SUITES)
        )
    name = default_name(project.name)
    notes: list[str] = []
    if template is None:
        suite = base.split(":", 1)[1] if base.startswith("debian:") else "bookworm"
        found = detect.detect(project, suite)
        notes = found.notes
        text = detected_spec(found, name, base) if notes else render("minimal", name, base)
    else:
        text = render(template, name, base)
    nofollow.write_replace(project, SPEC_NAME, text.encode(), 0o644)
    return target, notes
