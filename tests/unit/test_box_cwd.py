from __future__ import annotations

from pathlib import Path

import pytest

from devbox.sandbox.enter import box_cwd
from devbox.spec.load import parse_spec
from devbox.spec.model import Spec


def make_spec(project: Path, workdir: str | None = None) -> Spec:
    project.mkdir(parents=True, exist_ok=True)
    text = '[box]\nbase = "debian:bookworm"\n'
    if workdir is not None:
        text += f'[shell]\nworkdir = "{workdir}"\n'
    return parse_spec(text, project / "devbox.toml")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    p = tmp_path / "proj"
    (p / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "proj-sibling").mkdir()
    return p


# -- default workdir: the same path as on the host -----------------------------------------------


def test_project_root_maps_to_itself(project: Path) -> None:
    assert box_cwd(make_spec(project), str(project)) == str(project)


def test_subdirectory_is_kept(project: Path) -> None:
    assert box_cwd(make_spec(project), str(project / "src" / "pkg")) == str(project / "src/pkg")


def test_outside_the_project_goes_to_the_workdir(project: Path, tmp_path: Path) -> None:
    spec = make_spec(project)
    assert box_cwd(spec, str(tmp_path / "elsewhere")) == str(project)
    assert box_cwd(spec, "/") == str(project)
    assert box_cwd(spec, str(tmp_path)) == str(project)


def test_a_sibling_sharing_the_name_prefix_is_outside(project: Path, tmp_path: Path) -> None:
    assert box_cwd(make_spec(project), str(tmp_path / "proj-sibling")) == str(project)


def test_unnormalised_cwd(project: Path) -> None:
    spec = make_spec(project)
    assert box_cwd(spec, f"{project}/src/../src/pkg/") == str(project / "src/pkg")
    assert box_cwd(spec, f"{project}/src/../..") == str(project)  # the parent: outside


# -- a custom [shell].workdir --------------------------------------------------------------------


def test_custom_workdir_project_root(project: Path) -> None:
    assert box_cwd(make_spec(project, "/workspace"), str(project)) == "/workspace"


def test_custom_workdir_subdirectory(project: Path) -> None:
    spec = make_spec(project, "/workspace")
    assert box_cwd(spec, str(project / "src" / "pkg")) == "/workspace/src/pkg"


def test_custom_workdir_outside(project: Path, tmp_path: Path) -> None:
    spec = make_spec(project, "/srv/app")
    assert box_cwd(spec, str(tmp_path / "elsewhere")) == "/srv/app"
    assert box_cwd(spec, str(tmp_path / "proj-sibling")) == "/srv/app"
    assert box_cwd(spec, "/") == "/srv/app"


def test_custom_workdir_with_a_trailing_slash(project: Path) -> None:
    spec = make_spec(project, "/workspace/")
    assert box_cwd(spec, str(project / "src")) == "/workspace/src"


# -- symlinks ------------------------------------------------------------------------------------


def test_project_reached_through_a_symlink(project: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(project)
    spec = make_spec(link, "/workspace")
    assert box_cwd(spec, str(link / "src")) == "/workspace/src"
    assert box_cwd(spec, str(project / "src")) == "/workspace/src"
    assert box_cwd(spec, str(link)) == "/workspace"


def test_project_reached_through_a_symlink_default_workdir(project: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(project)
    spec = make_spec(link)
    assert box_cwd(spec, str(project / "src")) == f"{link}/src"


def test_a_symlink_in_the_project_that_leads_outside_is_outside(
    project: Path, tmp_path: Path
) -> None:
    (project / "out").symlink_to(tmp_path / "elsewhere")
    assert box_cwd(make_spec(project, "/workspace"), str(project / "out")) == "/workspace"
