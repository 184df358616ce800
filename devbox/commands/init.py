"""`devbox init`: write a starter devbox.toml from a template."""

from __future__ import annotations

from pathlib import Path

from devbox import nofollow
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


def init(project: Path, *, base: str, template: str, force: bool) -> Path:
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
    text = render(template, default_name(project.name), base)
    nofollow.write_replace(project, SPEC_NAME, text.encode(), 0o644)
    return target
