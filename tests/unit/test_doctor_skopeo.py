"""`devbox doctor` on skopeo (which pulls `oci:` bases): the real one found with its version, a
missing one a warning with the apt command, unless a registered project's box is on an image."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from devbox.commands.doctor import SKOPEO_FIX, Check, _skopeo, report, uses_images, works
from devbox.sandbox.host import Tier
from tests.fake_images import make_image_store

needs_skopeo = pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo not installed")


@needs_skopeo
def test_the_real_skopeo_and_its_version() -> None:
    out = subprocess.run(["skopeo", "--version"], capture_output=True, text=True, check=True)
    found, version = _skopeo(needed=True)
    assert found == Check("skopeo", True, str(shutil.which("skopeo")))
    assert version.ok and version.name == "skopeo version"
    number = version.detail.split()[0]
    assert f"version {number}" in out.stdout  # skopeo version 1.9.3
    assert version.detail == f"{number} (pulls oci: bases)"


@pytest.fixture
def no_skopeo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


@pytest.mark.usefixtures("no_skopeo")
def test_missing_skopeo_is_a_warning_naming_the_apt_command() -> None:
    [check] = _skopeo(needed=False)
    assert not check.ok and check.optional
    assert check.detail == "not installed (only oci: bases need it)"
    assert check.fix == SKOPEO_FIX == "sudo apt-get install skopeo"
    assert works([Check("bwrap", True, "/usr/bin/bwrap"), check])
    lines = report([check], Tier(1, 0, 0, "root"), True)
    assert lines[0].startswith("--  skopeo ")
    assert lines[1].strip() == "fix: sudo apt-get install skopeo"


@pytest.mark.usefixtures("no_skopeo")
def test_missing_skopeo_fails_when_a_project_is_on_an_image() -> None:
    [check] = _skopeo(needed=True)
    assert not check.ok and not check.optional
    assert "a registered project's box is on an image" in check.detail
    assert not works([Check("bwrap", True, "/usr/bin/bwrap"), check])
    assert report([check], Tier(1, 0, 0, "root"), False)[0].startswith("!!  skopeo ")


def test_a_skopeo_that_does_not_run_is_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    broken = bin_dir / "skopeo"
    broken.write_text(
        "#!/bin/sh\necho 'skopeo: error while loading shared libraries' >&2\nexit 127\n"
    )
    broken.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    found, version = _skopeo(needed=False)
    assert found.ok and found.detail == str(broken)
    assert not version.ok and version.optional
    assert (
        version.detail == "`skopeo --version` failed: skopeo: error while loading shared libraries"
    )
    assert version.fix == "sudo apt-get install --reinstall skopeo"


def test_a_project_is_on_an_image_while_its_spec_is_there(tmp_path: Path) -> None:
    st = make_image_store(tmp_path)  # webimg (live) and oldimg (gone) are on images
    assert uses_images(st)
    (tmp_path / "src" / "webimg" / "devbox.toml").unlink()
    assert not uses_images(st), "only gone projects are on images"


def test_a_store_without_images_needs_no_skopeo(tmp_path: Path) -> None:
    from tests.helpers import make_fake_store

    assert not uses_images(make_fake_store(tmp_path))
    from devbox.store.paths import Store

    assert not uses_images(Store(tmp_path / "none"))
