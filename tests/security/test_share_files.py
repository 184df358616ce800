"""An image from a registry is untrusted: what `devbox devcontainer` and `devbox kube` write from
its config cannot change what a devcontainer tool mounts or expand the host's environment; and
the working tree is the box's, so a planted .devcontainer symlink is refused, not followed."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from devbox.errors import DevboxError
from devbox.nofollow import Refused
from devbox.publish import boximage, devcontainer
from devbox.spec.model import Base, Spec

REF = "registry.test:5000/team/box@sha256:" + "a" * 64


def parse(tmp_path: Path, **conf: Any) -> boximage.BoxImage:
    doc = {"config": {"WorkingDir": "/srv/demo", "User": "1000", **conf}}
    sp = Spec(path=tmp_path / "devbox.toml", name="demo", base=Base("debian", "bookworm"))
    return boximage.parse(REF, json.dumps(doc).encode(), sp)


@pytest.mark.parametrize(
    "conf",
    [
        {"WorkingDir": "/srv/x,source=/,target=/host"},  # a second mount in the mount string
        {"WorkingDir": "/srv/${localEnv:HOME}"},
        {"WorkingDir": "/srv/../../etc"},
        {"WorkingDir": "relative"},
        {"WorkingDir": "/srv/a\nb"},
        {"Env": ["TOKEN=${localEnv:GITHUB_TOKEN}"]},  # the host's secret, expanded by the tool
        {"Env": ["BAD NAME=x"]},
        {"Env": "PATH=/bin"},
        {"User": "root --privileged"},
        {"Labels": {"dev.devbox.box": "${localEnv:AWS_SECRET_ACCESS_KEY}"}},
        {"Labels": {"dev.devbox.spec": "${containerEnv:X}", "dev.devbox.box": "ok"}},
        {"Labels": ["not", "a", "map"]},
        {"Cmd": "sh -c 'x'"},
    ],
)
def test_hostile_config_values_are_refused(tmp_path: Path, conf: dict[str, Any]) -> None:
    with pytest.raises(DevboxError, match="is not one devbox writes"):
        parse(tmp_path, **conf)


def test_a_symlinked_devcontainer_dir_is_refused(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    target = tmp_path / "target"
    target.mkdir()
    (project / ".devcontainer").symlink_to(target)
    doc = devcontainer.render(parse(tmp_path))
    with pytest.raises(Refused, match="is a symlink"):
        devcontainer.write(project, doc, force=True)
    assert list(target.iterdir()) == []
    (project / ".devcontainer").unlink()
    (project / ".devcontainer").mkdir()
    outside = tmp_path / "outside.json"
    outside.write_text("{}")
    os.symlink(outside, project / ".devcontainer/devcontainer.json")
    with pytest.raises(Refused, match="is a symlink"):
        devcontainer.write(project, doc, force=True)
    assert outside.read_text() == "{}"


def test_a_devcontainer_json_devbox_did_not_write_is_kept(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    (project / ".devcontainer").mkdir(parents=True)
    mine = project / ".devcontainer/devcontainer.json"
    mine.write_text('{"image": "mine"}')
    doc = devcontainer.render(parse(tmp_path))
    with pytest.raises(DevboxError, match="was not written by devbox"):
        devcontainer.write(project, doc, force=False)
    assert mine.read_text() == '{"image": "mine"}'
    devcontainer.write(project, doc, force=True)
    assert json.loads(mine.read_text())["image"] == REF
    devcontainer.write(project, doc, force=False)  # its own file: replaced
    assert sorted(os.listdir(project / ".devcontainer")) == ["devcontainer.json"]
