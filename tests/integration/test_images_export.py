"""`devbox export` and `devbox push` for real: a built box (apt packages, python from apt, a
[setup] step) as an OCI image that skopeo, umoci and podman accept and run, pushed to the
session's registry; bad input is one line, exit 1, and leaves nothing half-written."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from collections.abc import Iterator

import pytest

from devbox.sandbox.boxenv import PASS_THROUGH
from tests.helpers import write_project
from tests.images import Podman
from tests.integration.conftest import Box  # the session's built box (fixture `box`)
from tests.registry import Registry

SPEC = """\
[box]
name = "exported"
base = "debian:bookworm"

[packages]
apt = ["libxml2-utils"]

[interpreters]
python = { version = "3.11", provider = "apt" }

[env]
GREETING = "hello from the box"

[setup]
run = ["xmllint --version 2>&1 | head -n1 > /etc/xmllint-version"]
"""
# names whose values differ between `devbox run -- env` and the image by design
BY_DESIGN = {
    "HOME", "USER", "LOGNAME", "SHELL",  # the image runs as root (a box runs as you)
    "PWD", "HOSTNAME", "container", "SHLVL", "_",  # the runtime's and the shell's own
    "CURL_CA_BUNDLE", "GIT_SSL_CAINFO", "NODE_EXTRA_CA_CERTS", "PIP_CERT", "REQUESTS_CA_BUNDLE",
    "SSL_CERT_FILE", "GIT_CONFIG_SYSTEM",  # this host's CA and git settings, added at entry
    *PASS_THROUGH,  # the terminal's and the host's proxies, passed through at entry
}  # fmt: skip
ULIMITS = ("--ulimit", "nofile=1000:1000", "--ulimit", "nproc=1000:1000")


@pytest.fixture(scope="session")
def podman(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Podman]:
    p = Podman(registry, tmp_path_factory.mktemp("podman-export"))
    yield p
    p.close()


def one_line_error(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 1, r
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("devbox: error:")]
    assert len(lines) == 1, r.stderr
    return lines[0]


def env_of(text: str) -> dict[str, str]:
    return dict(ln.split("=", 1) for ln in text.splitlines() if "=" in ln)


def test_an_exported_box_runs_in_podman_and_umoci_reads_it(box: Box, podman: Podman) -> None:
    out = box.tmp / "image"
    r = box("export", str(out))
    assert r.returncode == 0, r.stderr
    assert "layer 4/4" in r.stderr
    again = box("-q", "export", str(box.tmp / "again"))
    assert again.returncode == 0 and again.stderr == "", again.stderr
    one = json.loads(subprocess.check_output(["skopeo", "inspect", f"oci:{out}"]))
    two = json.loads(subprocess.check_output(["skopeo", "inspect", f"oci:{box.tmp / 'again'}"]))
    assert one["Digest"] == two["Digest"]  # the same box exported twice: the same image
    assert one["Labels"]["dev.devbox.box"] == "exported" and len(one["Layers"]) == 4
    subprocess.run(["umoci", "stat", "--image", f"{out}:latest"], check=True, capture_output=True)
    bundle = box.tmp / "bundle"
    subprocess.run(["umoci", "raw", "unpack", "--rootless", "--image", f"{out}:latest",
                    str(bundle)], check=True, capture_output=True)  # fmt: skip
    assert (bundle / "etc/xmllint-version").read_text().startswith("xmllint")

    ran = podman("run", "--rm", "--network", "none", *ULIMITS, f"oci:{out}", "sh", "-c",
                 "xmllint --version 2>&1 | head -n1; python3 --version; echo ---; env")  # fmt: skip
    head, _, env_text = ran.partition("---\n")
    assert "libxml" in head and "Python 3.11" in head
    in_box = env_of(box("run", "--", "env").stdout)
    in_image = env_of(env_text)
    assert in_image["HOME"] == "/root" and in_image["USER"] == "root"
    assert {k: v for k, v in in_image.items() if k not in BY_DESIGN} == {
        k: v for k, v in in_box.items() if k not in BY_DESIGN
    }

    for fmt in ("oci-archive", "docker-archive"):
        tar = box.tmp / f"{fmt}.tar"
        r = box("-q", "export", "--format", fmt, "--tag", f"exported-{fmt}", str(tar))
        assert r.returncode == 0, r.stderr
        assert "Loaded image" in podman("load", "-q", "-i", str(tar))
    assert not [p for p in box.tmp.iterdir() if ".devbox-" in p.name]


def test_push_sends_the_image_once(box: Box, registry: Registry) -> None:
    ref = registry.ref("team/exported:1")
    r = box("push", ref)
    assert r.returncode == 0, r.stderr
    got = json.loads(subprocess.check_output(
        ["skopeo", "inspect", "--creds", registry.creds, "--cert-dir", str(registry.cert_dir),
         f"docker://{ref}"]))  # fmt: skip
    assert got["Labels"]["dev.devbox.version"] == "1"
    assert json.loads(got["Labels"]["dev.devbox.layers"])[-1]["kind"] == "setup"
    pushed = json.loads((box.devbox.store / "projects").joinpath(
        *_project_dir(box), "pushed.json").read_text())  # fmt: skip
    assert (pushed["ref"], pushed["digest"]) == (ref, got["Digest"])
    uploads = registry.requests("POST", "/v2/team/exported/blobs/uploads")
    assert uploads >= 4
    r = box("push", ref)
    assert r.returncode == 0, r.stderr
    assert registry.requests("POST", "/v2/team/exported/blobs/uploads") == uploads  # none again


def _project_dir(box: Box) -> tuple[str]:
    from devbox.store.paths import project_id

    return (project_id(box.project.resolve()),)


def test_bad_input_is_one_line_and_leaves_nothing(box: Box, registry: Registry) -> None:
    nobody = box.tmp / "nobody"  # a HOME without the registry's login
    registry.trust(nobody)
    line = one_line_error(box("push", registry.ref("team/denied:1"), home=nobody))
    assert "refused access" in line
    with socket.socket() as held:  # bound, never listening: refused, and no other test's
        held.bind(("127.0.0.1", 0))  # registry can take the port meanwhile
        port = held.getsockname()[1]
        line = one_line_error(box("push", f"127.0.0.1:{port}/team/down:1"))
    assert "cannot reach the registry" in line
    line = one_line_error(box("push", registry.ref("team/notag")))
    assert "names no tag" in line
    never = write_project(box.tmp / "never", SPEC.replace('"exported"', '"never"'))
    never_r = box.devbox("export", str(box.tmp / "never-image"), cwd=never)
    assert "is not built" in one_line_error(never_r) and "`devbox build`" in never_r.stderr
    assert not (box.tmp / "never-image").exists()
    oci = box.devbox.store / "oci"
    assert not [p for p in oci.iterdir() if p.name.startswith(".tmp-")]
    for record in (oci / "packed").iterdir():
        digest = json.loads(record.read_text())["digest"]
        assert (oci / "blobs/sha256" / digest[7:]).is_file()
    for name in ("team/denied", "team/down", "team/notag"):
        r = subprocess.run(["skopeo", "list-tags", "--creds", registry.creds, "--cert-dir",
                            str(registry.cert_dir), f"docker://{registry.ref(name)}"],
                           capture_output=True)  # fmt: skip
        assert r.returncode != 0 or json.loads(r.stdout)["Tags"] == []
    shutil.rmtree(box.tmp / "never")
