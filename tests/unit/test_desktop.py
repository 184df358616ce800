"""Desktop entries on the host for a box's apps, from a store built by hand (the box's layers are
directories): what is written where, what goes when the spec or the project does, and that only
an allowed project gets them. tests/integration/test_desktop_entries.py does it with a real box;
tests/security/test_desktop_entries.py with hostile ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devbox.activation import desktop, trust
from devbox.commands import controls
from devbox.sandbox.host import Tier
from devbox.spec.load import parse_bytes
from devbox.spec.model import Spec
from devbox.store.paths import Store
from devbox.store.projects import register_project
from tests.helpers import add_layer, png

BASE, APPS = "a" * 64, "b" * 64
ENTRY = """[Desktop Entry]
Type=Application
Name={name}
Exec={command} %U
Icon={icon}
Categories=Utility;
"""


def box_with_apps(st: Store, project: Path, expose: list[str], name: str = "gui") -> Spec:
    """A project whose box (built by hand) has entries for `tool` and `other`."""
    add = {BASE: "debian", APPS: "apt"}
    for digest, kind in add.items():
        if not st.layer_dir(digest).exists():
            add_layer(st, digest, kind, kind, 0)
    root = st.layer_rootfs(APPS)
    files = {
        "usr/share/applications/tool.desktop": ENTRY.format(name="Tool", command="tool",
                                                            icon="tool"),
        "usr/share/applications/other.desktop": ENTRY.format(name="Other", command="other",
                                                             icon="/usr/share/pixmaps/o.png"),
        "usr/share/icons/hicolor/scalable/apps/tool.svg": "<svg></svg>",
    }  # fmt: skip
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "usr/share/icons/hicolor/48x48/apps").mkdir(parents=True, exist_ok=True)
    (root / "usr/share/icons/hicolor/48x48/apps/tool.png").write_bytes(png(48, 48))
    (root / "usr/share/pixmaps").mkdir(parents=True, exist_ok=True)
    (root / "usr/share/pixmaps/o.png").write_bytes(png(32, 32))
    project.mkdir(parents=True, exist_ok=True)
    text = f'[box]\nname = "{name}"\nbase = "debian:bookworm"\n[shell]\nexpose = {expose!r}\n'
    (project / "devbox.toml").write_text(text.replace("'", '"'))
    register_project(st, project, name, [BASE, APPS])
    return parse_bytes(project / "devbox.toml", (project / "devbox.toml").read_bytes())


@pytest.fixture
def st() -> Store:
    return Store.default()


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_entries_and_icons_are_written_for_exposed_apps(st: Store, tmp_path: Path) -> None:
    spec = box_with_apps(st, tmp_path / "proj", ["tool", "other", "missing"])
    shims = tmp_path / "shims"
    written = desktop.sync(spec, shims)
    xdg = tmp_path / "xdg-data"
    assert files_under(xdg) == [
        "applications/devbox-gui-other.desktop",
        "applications/devbox-gui-tool.desktop",
        "icons/hicolor/32x32/apps/devbox-gui-other.png",
        "icons/hicolor/48x48/apps/devbox-gui-tool.png",
        "icons/hicolor/scalable/apps/devbox-gui-tool.svg",
    ]
    assert [(w.command, w.name) for w in written] == [("tool", "Tool"), ("other", "Other")]
    lines = (xdg / "applications/devbox-gui-tool.desktop").read_text().splitlines()
    home = tmp_path / "devbox-home"
    assert f"Exec=env DEVBOX_HOME={home} {shims}/tool %U" in lines
    assert f"Path={tmp_path / 'proj'}" in lines
    assert "Name=Tool (box gui)" in lines and "Icon=devbox-gui-tool" in lines
    assert desktop.written(spec.project) == written
    tier = Tier(1, 0, 0, "root")
    assert controls.lines(spec, tier)[-1] == (
        f"desktop:  Tool ({xdg}/applications/devbox-gui-tool.desktop), "
        f"Other ({xdg}/applications/devbox-gui-other.desktop)"
    )
    as_json = controls.as_json(spec, tier)["desktop_entries"]
    assert [e["command"] for e in as_json] == ["tool", "other"]
    json.dumps(as_json)


def test_what_the_spec_no_longer_exposes_goes_and_so_does_a_denied_project(
    st: Store, tmp_path: Path
) -> None:
    spec = box_with_apps(st, tmp_path / "proj", ["tool", "other"])
    desktop.sync(spec, tmp_path / "shims")
    xdg = tmp_path / "xdg-data"
    spec = box_with_apps(st, tmp_path / "proj", ["tool"])
    desktop.sync(spec, tmp_path / "shims")
    assert not (xdg / "applications/devbox-gui-other.desktop").exists()
    assert not (xdg / "icons/hicolor/32x32/apps/devbox-gui-other.png").exists()
    # another project's box of the same name shares the file names: forgetting one keeps them
    twin = box_with_apps(st, tmp_path / "twin", ["tool"])
    desktop.sync(twin, tmp_path / "shims2")
    assert [w.command for w in desktop.forget(spec.project)] == ["tool"]
    assert (xdg / "applications/devbox-gui-tool.desktop").exists()
    assert desktop.written(spec.project) == []
    desktop.forget(twin.project)
    assert files_under(xdg) == []
    assert desktop.forget(twin.project) == []


def test_gc_removes_the_entries_of_a_deleted_project(st: Store, tmp_path: Path) -> None:
    kept = box_with_apps(st, tmp_path / "kept", ["tool"], name="kept")
    gone = box_with_apps(st, tmp_path / "gone", ["tool"], name="gone")
    for spec in (kept, gone):
        desktop.sync(spec, tmp_path / "shims")
    (gone.project / "devbox.toml").unlink()
    assert desktop.forget_deleted(dry_run=True) == [str(gone.project)]
    assert desktop.written(gone.project) != []
    assert desktop.forget_deleted() == [str(gone.project)]
    assert files_under(tmp_path / "xdg-data") == [
        "applications/devbox-kept-tool.desktop",
        "icons/hicolor/48x48/apps/devbox-kept-tool.png",
        "icons/hicolor/scalable/apps/devbox-kept-tool.svg",
    ]


def test_only_an_allowed_project_gets_entries_and_an_unchanged_box_is_not_read_again(
    st: Store, tmp_path: Path
) -> None:
    spec = box_with_apps(st, tmp_path / "proj", ["tool"])
    data = spec.path.read_bytes()
    assert desktop.refresh(spec, data) == []
    assert not (tmp_path / "xdg-data").exists()
    trust.allow(spec, data)
    assert [w.command for w in desktop.refresh(spec, data)] == ["tool"]
    entry = tmp_path / "xdg-data/applications/devbox-gui-tool.desktop"
    shim = entry.read_text().split("Exec=")[1].split()[2]
    assert Path(shim).is_file(), "the entry's shim is written with it"
    entry.unlink()
    assert [w.command for w in desktop.refresh(spec, data, [BASE, APPS])] == ["tool"]
    assert not entry.exists(), "the stack it was written for: nothing read or written"
    desktop.refresh(spec, data, [BASE])
    assert entry.exists()


def test_commands_a_desktop_file_cannot_name_and_unbuilt_boxes_get_none(
    st: Store, tmp_path: Path
) -> None:
    spec = box_with_apps(st, tmp_path / "proj", ["tool"])
    bad = parse_bytes(spec.path, spec.path.read_bytes().replace(b'"tool"', b'"to%ol"'))
    assert desktop.sync(bad, tmp_path / "shims") == []
    unbuilt = parse_bytes(tmp_path / "new" / "devbox.toml", spec.path.read_bytes())
    assert desktop.sync(unbuilt, tmp_path / "shims") == []
    assert not (tmp_path / "xdg-data").exists()
