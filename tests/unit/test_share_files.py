"""What `devbox devcontainer` and `devbox kube` write, from an image config: the files' content,
the YAML emitter (read back by a YAML parser), and where devcontainer.json may be written."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from devbox.errors import DevboxError
from devbox.publish import boximage, devcontainer, kube
from devbox.spec.model import Base, Spec

REF = "registry.test:5000/team/box@sha256:" + "a" * 64
yaml: Any = importlib.import_module("yaml")  # PyYAML, a test tool (pre-commit's)


def spec(tmp_path: Path) -> Spec:
    return Spec(path=tmp_path / "proj/devbox.toml", name="demo", base=Base("debian", "bookworm"))


def config(**conf: Any) -> bytes:
    base: dict[str, Any] = {
        "User": "1000:1000", "WorkingDir": "/srv/demo", "Env": ["PATH=/usr/bin:/bin"],
        "Cmd": ["/bin/bash"], "Labels": {"dev.devbox.box": "demo", "dev.devbox.version": "1"},
    }  # fmt: skip
    base.update(conf)
    return json.dumps({"architecture": "amd64", "os": "linux", "config": base}).encode()


def test_devcontainer_json_names_the_image_its_workdir_user_and_env(tmp_path: Path) -> None:
    img = boximage.parse(REF, config(), spec(tmp_path))
    doc = devcontainer.render(img)
    assert doc["image"] == REF and doc["workspaceFolder"] == "/srv/demo"
    assert doc["workspaceMount"] == ("source=${localWorkspaceFolder},target=/srv/demo,type=bind")
    assert doc["remoteUser"] == doc["containerUser"] == "1000"
    assert doc["containerEnv"] == {"DEVBOX_BOX": "demo", "DEVBOX_PROJECT": "/srv/demo",
                                   "LANG": "C.UTF-8"}  # fmt: skip
    assert doc["overrideCommand"] is True
    assert devcontainer.ours(json.dumps(doc).encode())
    assert not devcontainer.ours(b'{"image": "x"}') and not devcontainer.ours(b"// x\n{}")


def test_an_image_without_workdir_or_user(tmp_path: Path) -> None:
    img = boximage.parse(REF, config(WorkingDir="", User=""), spec(tmp_path))
    assert img.workdir == "/workspaces/proj"
    assert devcontainer.render(img)["remoteUser"] == "root"
    pod = kube.render(img, tmp_path / "proj")
    assert pod["spec"]["containers"][0]["securityContext"] == {"runAsUser": 0}
    named = boximage.parse(REF, config(User="dev"), spec(tmp_path))
    assert kube.render(named, tmp_path)["spec"]["containers"][0]["securityContext"] == {
        "runAsNonRoot": True
    }


def test_the_pod_reads_back_as_written(tmp_path: Path) -> None:
    tricky = ["yes", "1.0", "#not a comment", "a: b", "- x", "line\nbreak", "é\u2028", "", "~"]
    env = [f"V{i}={v}" for i, v in enumerate(tricky)]
    img = boximage.parse(REF, config(Env=env), spec(tmp_path))
    pod = kube.render(img, tmp_path / "my proj", ["sh", "-c", "echo 'hi: there'"])
    text = kube.yaml(pod)
    assert yaml.safe_load(text) == pod
    container = pod["spec"]["containers"][0]
    assert container["securityContext"] == {"runAsUser": 1000, "runAsGroup": 1000}
    assert container["workingDir"] == "/srv/demo" and pod["spec"]["restartPolicy"] == "Never"
    assert {"name": "V0", "value": "yes"} in container["env"]
    assert pod["spec"]["volumes"][0]["hostPath"]["path"] == str(tmp_path / "my proj")
    shell = kube.render(img, tmp_path)
    assert "restartPolicy" not in shell["spec"]
    assert shell["spec"]["containers"][0]["command"][:2] == ["/bin/sh", "-c"]
    assert yaml.safe_load(kube.yaml({"a": [], "b": {}, "c": [[1, 2], {"d": True}]})) == {
        "a": [],
        "b": {},
        "c": [[1, 2], {"d": True}],
    }


@pytest.mark.parametrize(
    ("box", "name"), [("demo", "demo"), ("My_Box.2", "my-box-2"), ("___", "devbox")]
)
def test_pod_names(box: str, name: str) -> None:
    assert kube.pod_name(box) == name


def test_pushed_json_gives_the_pushed_digest(tmp_path: Path) -> None:
    from devbox.store.paths import Store

    st = Store(tmp_path / "store")
    sp = spec(tmp_path)
    with pytest.raises(DevboxError, match="has not been pushed"):
        boximage.pushed_ref(st, sp)
    where = st.project_dir(sp.project)
    where.mkdir(parents=True)
    (where / "pushed.json").write_text(json.dumps({"ref": "r.test/a/b:1", "digest": "sha256:x"}))
    with pytest.raises(DevboxError, match="names no pushed image"):
        boximage.pushed_ref(st, sp)
    digest = "sha256:" + "b" * 64
    (where / "pushed.json").write_text(json.dumps({"ref": "r.test/a/b:1", "digest": digest}))
    assert boximage.pushed_ref(st, sp) == f"r.test/a/b@{digest}"
