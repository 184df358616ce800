"""`devbox init`: write a starter devbox.toml from a template."""

from __future__ import annotations

from pathlib import Path

from .errors import DevboxError
from .interpreters.python_apt import SUITE_PYTHON
from .spec import DEBIAN_SUITES, SPEC_NAME
from .spec_validate import default_name


def templates_dir() -> Path:
    here = Path(__file__).parent
    for candidate in (here / "_data" / "templates", here.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise DevboxError(
        "devbox's templates are missing from this installation", hint="reinstall devbox"
    )


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
    if target.exists() and not force:
        raise DevboxError(
            f"{target} already exists", hint="edit it, or pass --force to overwrite it"
        )
    if base.startswith("debian:") and base.split(":", 1)[1] not in DEBIAN_SUITES:
        raise DevboxError(
            f"unknown Debian suite in {base!r}", hint="suites: " + ", ".join(DEBIAN_SUITES)
        )
    text = render(template, default_name(project.name), base)
    target.write_text(text)
    return target
