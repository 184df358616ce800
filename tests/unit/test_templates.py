"""`devbox init --template`: every shipped template renders to specs that parse (its services'
boxes included), with every placeholder filled; a directory template's files are written
beneath the project, none over an existing file unless forced, and a refusal writes nothing."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from devbox.commands import templates
from devbox.commands.init import init, render
from devbox.errors import DevboxError
from devbox.spec.load import parse_spec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
SERVICE_TEMPLATES = ["django-postgres", "mariadb", "redis"]


def test_every_template_is_listed_single_files_and_directories() -> None:
    names = templates.names()
    assert {"minimal", "python", "node", "c", *SERVICE_TEMPLATES} <= set(names)
    assert names == sorted(names)


@pytest.mark.parametrize("name", templates.names())
def test_each_template_renders_specs_that_parse(name: str, tmp_path: Path) -> None:
    files = render(name, "my-app", "debian:trixie")
    assert files[0].rel == "devbox.toml"
    specs = {}
    for f in files:
        assert b"{{" not in f.data, f"{f.rel}: a placeholder left"
        if f.rel.endswith("devbox.toml"):
            path = tmp_path / f.rel
            specs[f.rel] = parse_spec(f.data.decode(), path)
    main = specs.pop("devbox.toml")
    assert (main.name, main.base.ref) == ("my-app", "trixie")
    for service in main.services:  # each service's box is a spec the template ships
        if service.box is not None:
            box = specs.pop(f"{service.box}/devbox.toml")
            assert box.name == f"my-app-{service.box.rsplit('/', 1)[-1]}"
            assert box.base.ref == "trixie"
    assert specs == {}, "a devbox.toml no service uses"
    if name in SERVICE_TEMPLATES:
        assert main.services and all(s.ready is not None for s in main.services)
        assert all(s.command.startswith("exec ") for s in main.services)


def test_django_postgres_is_what_the_services_design_asks_for() -> None:
    files = {f.rel: f for f in render("django-postgres", "shop", "debian:bookworm")}
    spec = tomllib.loads(files["devbox.toml"].data.decode())
    assert set(spec["env"]) >= {"DB_PORT", "REDIS_PORT", "WEB_PORT"}
    web = spec["services"]["web"]
    assert web["depends_on"] == ["db", "cache"] and web["ready"] == "tcp:${WEB_PORT}"
    assert spec["services"]["db"]["box"] == "services/db"
    assert spec["services"]["db"]["user"] == "postgres", "postgres does not run as root"
    db_box = tomllib.loads(files["services/db/devbox.toml"].data.decode())
    assert db_box["packages"]["apt"] == ["postgresql"]
    assert files["services/db/start-postgres.sh"].mode == 0o755
    assert files["manage.py"].mode == 0o755 and files["config/settings.py"].mode == 0o644
    assert "hits/migrations/0001_initial.py" in files
    assert not [rel for rel in files if "__pycache__" in rel or rel.endswith(".pyc")]


def test_a_long_directory_name_still_makes_valid_box_names(tmp_path: Path) -> None:
    project = tmp_path / ("x" * 70)
    project.mkdir()
    init(project, base="debian:bookworm", template="mariadb", force=False)
    for rel in ("devbox.toml", "services/db/devbox.toml"):
        parse_spec((project / rel).read_text(), project / rel)


def test_a_directory_template_writes_its_files_and_keeps_existing_ones(tmp_path: Path) -> None:
    done = init(tmp_path, base="debian:bookworm", template="django-postgres", force=False)
    assert done.services and done.files[0] == "devbox.toml"
    assert len(done.files) == len(render("django-postgres", "x", "debian:bookworm"))
    script = tmp_path / "services/db/start-postgres.sh"
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    other = tmp_path / "other"
    (other / "hits").mkdir(parents=True)
    (other / "manage.py").write_text("mine\n")
    (other / "hits/views.py").write_text("mine too\n")
    with pytest.raises(DevboxError, match="already exist") as e:
        init(other, base="debian:bookworm", template="django-postgres", force=False)
    assert "hits/views.py, manage.py" in e.value.message and "--force" in (e.value.hint or "")
    assert sorted(os.listdir(other)) == ["hits", "manage.py"], "nothing written"
    assert (other / "manage.py").read_text() == "mine\n"
    init(other, base="debian:bookworm", template="django-postgres", force=True)
    assert "django" in (other / "manage.py").read_text()


def test_a_refusal_anywhere_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "services").symlink_to(tmp_path / "elsewhere")
    for force in (False, True):
        with pytest.raises(DevboxError, match="symlink"):
            init(tmp_path, base="debian:bookworm", template="mariadb", force=force)
    assert sorted(os.listdir(tmp_path)) == ["services"]
    assert not (tmp_path / "elsewhere").exists()


def test_an_existing_single_file_spec_is_named_as_before(tmp_path: Path) -> None:
    (tmp_path / "devbox.toml").write_text("# mine\n")
    with pytest.raises(DevboxError, match=r"devbox.toml already exists") as e:
        init(tmp_path, base="debian:bookworm", template="redis", force=False)
    assert e.value.hint == "edit it, or pass --force to overwrite it"


def test_an_unknown_template_or_a_path_is_refused(tmp_path: Path) -> None:
    for name in ("cobol", "../templates/minimal", "django-postgres/services/db", ""):
        with pytest.raises(DevboxError, match="no template named") as e:
            render(name, "x", "debian:bookworm")
        assert "django-postgres" in (e.value.hint or "")


def test_the_wheel_ships_the_templates_directory_whole() -> None:
    """pyproject's force-include puts templates/ (directories too) where resources looks."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["force-include"]["templates"] == "devbox/_data/templates"
    assert "exclude" not in wheel
