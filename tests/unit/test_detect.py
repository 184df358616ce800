"""`devbox init`'s detection, one file kind at a time, and the spec it writes (valid, saying
why)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devbox.commands import detect
from devbox.commands.init import detected_spec, init
from devbox.errors import DevboxError
from devbox.spec.load import parse_spec


def project_with(tmp_path: Path, files: dict[str, str]) -> Path:
    project = tmp_path / "my app"
    project.mkdir(parents=True)
    for name, text in files.items():
        (project / name).write_text(text)
    return project


def found(tmp_path: Path, files: dict[str, str], suite: str = "bookworm") -> detect.Found:
    return detect.detect(project_with(tmp_path, files), suite)


@pytest.mark.parametrize(
    ("files", "python", "provider", "note"),
    [
        ({".python-version": "3.11.4\n"}, "3.11", None, ".python-version: python 3.11.4"),
        ({".python-version": "3.12\n"}, "3.12", "uv", ".python-version: python 3.12, built by uv"),
        ({".tool-versions": "nodejs 20\npython 3.10.2 3.9\n"}, "3.10.2", "uv", ".tool-versions"),
        (
            {"pyproject.toml": '[project]\nrequires-python = ">=3.9,<4"\n'},
            "3.11", None, "requires-python >=3.9,<4, met by Debian bookworm's python 3.11",
        ),
        (
            {"pyproject.toml": '[project]\nrequires-python = ">=3.12"\n'},
            "3.12", "uv", "requires-python >=3.12: python 3.12, built by uv",
        ),
        ({"requirements.txt": "flask\n"}, "3.11", None, "requirements.txt: python"),
        (  # .python-version wins over requires-python
            {".python-version": "3.13", "pyproject.toml": '[project]\nrequires-python = ">=3"\n'},
            "3.13", "uv", ".python-version",
        ),
    ],
)  # fmt: skip
def test_the_python_version(
    tmp_path: Path, files: dict[str, str], python: str, provider: str | None, note: str
) -> None:
    f = found(tmp_path, files)
    assert (f.python, f.python_provider) == (python, provider)
    assert any(note in n for n in f.notes), f.notes


def test_trixie_has_its_own_python(tmp_path: Path) -> None:
    f = found(tmp_path, {".python-version": "3.13.1"}, suite="trixie")
    assert (f.python, f.python_provider) == ("3.13", None)


@pytest.mark.parametrize(
    ("version", "spec", "ok"),
    [
        ("3.11", ">=3.9", True), ("3.11", ">=3.12", False), ("3.11", "<3.11", False),
        ("3.11", "~=3.10", True), ("3.11", "~=3.10.0", False), ("3.11", "==3.11.*", True),
        ("3.11", "^3.10", True), ("3.11", ">=3.8, <3.11", False), ("3.11", "!=3.11.*", False),
    ],
)  # fmt: skip
def test_requires_python_specifiers(version: str, spec: str, ok: bool) -> None:
    assert detect.satisfies(version, spec) is ok


def test_requirements_files_are_installed_and_are_inputs(tmp_path: Path) -> None:
    f = found(tmp_path, {"requirements.txt": "psycopg2==2.9\nPillow\n", "requirements-dev.txt": ""})
    assert f.setup == [
        "python -m pip install --no-cache-dir -r requirements-dev.txt -r requirements.txt"
    ]
    assert f.inputs == ["requirements-dev.txt", "requirements.txt"]
    assert f.apt == ["git", "libpq-dev"]  # the compiler and headers come with the python
    assert "psycopg2: compiles against libpq-dev, added to [packages]" in f.notes
    assert found(tmp_path / "b", {"requirements.txt": "psycopg2-binary\n"}).apt == ["git"]


def test_pyproject_dependencies_are_read_at_build_time(tmp_path: Path) -> None:
    text = '[project]\nrequires-python = ">=3.9"\ndependencies = ["iniconfig", "six"]\n'
    f = found(tmp_path, {"pyproject.toml": text})
    assert f.setup == [detect.PYPROJECT_DEPS] and f.inputs == ["pyproject.toml"]
    old = found(tmp_path / "b", {"pyproject.toml": text}, suite="bullseye")  # 3.9: no tomllib
    assert old.setup == ["python -m pip install --no-cache-dir iniconfig six"]


@pytest.mark.parametrize(
    ("files", "node", "note"),
    [
        ({".nvmrc": "v20.11.0\n", "package.json": "{}"}, "20", ".nvmrc: v20.11.0, node 20"),
        ({".nvmrc": "lts/iron"}, "20", ".nvmrc: lts/iron, node 20"),
        ({".tool-versions": "nodejs 18.19.0\n"}, "18", ".tool-versions: 18.19.0, node 18"),
        ({"package.json": '{"engines": {"node": "^20.3"}}'}, "20", "engines.node ^20.3"),
        ({"package.json": '{"engines": {"node": ">=18"}}'}, "22", "engines.node >=18, node 22"),
        ({"package.json": '{"name": "x"}'}, "22", "node 22 (no version asked for)"),
    ],
)
def test_the_node_version(tmp_path: Path, files: dict[str, str], node: str, note: str) -> None:
    f = found(tmp_path, files)
    assert f.node == node
    assert any(note in n for n in f.notes), f.notes


def test_node_dependencies_go_into_the_box_with_npm_ci_given_a_lock(tmp_path: Path) -> None:
    f = found(tmp_path, {"package.json": '{"dependencies": {"a": "1"}}', "package-lock.json": "{}"})
    assert f.inputs == ["package.json", "package-lock.json"]
    assert "npm ci" in f.setup[0] and "/node_modules" in f.setup[0]
    assert "package-lock.json: 1 dependency, `npm ci` in [setup]" in f.notes


def test_nothing_found_writes_the_minimal_template(tmp_path: Path) -> None:
    project = project_with(tmp_path, {"README": "hi"})
    done = init(project, base="debian:bookworm", template=None, force=False)
    assert (done.notes, done.files, done.services) == ([], ["devbox.toml"], False)
    assert "EXAMPLE" in done.spec.read_text()


def test_the_written_spec_is_valid_and_says_why(tmp_path: Path) -> None:
    files = {
        ".python-version": "3.12",
        "requirements.txt": "flask\n",
        "package.json": '{"devDependencies": {"vite": "5"}}',
        ".nvmrc": "20",
    }
    project = project_with(tmp_path, files)
    done = init(project, base="debian:bookworm", template=None, force=False)
    path, notes = done.spec, done.notes
    text = path.read_text()
    for note in notes:
        assert f"#   {note}\n" in text
    spec = parse_spec(text, path)
    assert spec.name == "my-app"
    assert [(i.name, i.version, i.provider) for i in spec.interpreters] == [
        ("python", "3.12", "uv"),
        ("node", "20", None),
    ]
    assert spec.setup.inputs == ("requirements.txt", "package.json")
    assert len(spec.setup.run) == 2
    with pytest.raises(DevboxError, match="already exists"):
        init(project, base="debian:bookworm", template=None, force=False)
    assert detected_spec(detect.Found(), "x", "debian:sid").startswith("# devbox.toml")


def test_a_symlinked_file_is_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "elsewhere.txt"
    secret.write_text("3.12\n")
    project = project_with(tmp_path, {})
    (project / ".python-version").symlink_to(secret)
    assert detect.detect(project, "bookworm").python is None
