"""`devbox init`: write a starter devbox.toml, for what the project holds (detect.py) or from a
template."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from devbox.commands import detect, templates
from devbox.errors import DevboxError
from devbox.plan.interpreters import SUITE_PYTHON
from devbox.spec.model import DEBIAN_SUITES, SPEC_NAME
from devbox.spec.tables import default_name


def render(template: str, name: str, base: str) -> list[templates.File]:
    """The files of `template` for a project named `name` on `base`."""
    suite = base.split(":", 1)[1] if base.startswith("debian:") else ""
    python = SUITE_PYTHON.get(suite, "3.13")  # sid (and other bases): 3.13
    # at most 60 characters: a template may name a service's box "{{name}}-db"
    values = {"name": name[:60], "base": base, "python": python}
    return templates.render(template, values)


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


@dataclass(frozen=True)
class Written:
    spec: Path
    notes: list[str]  # what was found in the project (no template)
    files: list[str]  # what was written, relative to the project, devbox.toml first
    services: bool  # whether the spec has [services]


def init(project: Path, *, base: str, template: str | None, force: bool) -> Written:
    """Write the spec (from `template`, with the files beside it, or from what the project
    holds when None)."""
    if base.startswith("debian:") and base.split(":", 1)[1] not in DEBIAN_SUITES:
        raise DevboxError(
            f"unknown Debian suite in {base!r}", hint="suites: " + ", ".join(DEBIAN_SUITES)
        )
    name = default_name(project.name)
    notes: list[str] = []
    if template is None:
        if templates.exists(project, SPEC_NAME) and not force:  # before looking at the project
            raise DevboxError(
                f"{project / SPEC_NAME} already exists",
                hint="edit it, or pass --force to overwrite it",
            )
        suite = base.split(":", 1)[1] if base.startswith("debian:") else "bookworm"
        found = detect.detect(project, suite)
        notes = found.notes
        if notes:
            files = [templates.File(SPEC_NAME, detected_spec(found, name, base).encode(), 0o644)]
        else:
            files = render("minimal", name, base)
    else:
        files = render(template, name, base)
    templates.write(project, files, force=force)
    services = b"[services." in files[0].data
    return Written(project / SPEC_NAME, notes, [f.rel for f in files], services)
