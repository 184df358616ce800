"""`scripts/demo` as an unprivileged user (devbox is rootless): in the user's own checkout, with
the system packages already there, it sets nothing up as root and builds and enters the example
box in the user's own store."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.rootless import REPO, User, make_user, remove_user, runtime, scratch

pytestmark = pytest.mark.integration

NAME = "dbxt-demo"


@pytest.fixture(scope="module")
def base() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("creating a test user needs root (CI runs as root)")
    for tool in ("useradd", "newuidmap", "bwrap", "mmdebstrap"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is missing: ./scripts/test installs it")
    path = scratch()
    yield path
    remove_user(NAME)
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=False)


def checkout_for(user: User, where: Path) -> Path:
    """The files the demo reads, and a .venv that setup.sh finds ready (as after an earlier
    setup): the user's Python with this checkout of devbox on its path, the front as
    bin/devbox, bin/devbox-cli, and the install stamp newer than pyproject.toml."""
    root = where / "checkout"
    for rel in ("scripts/demo", "scripts/setup.sh", "devbox/front.sh", "pyproject.toml",
                "examples/hello/devbox.toml"):  # fmt: skip
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, root / rel)
    venv = root / ".venv"
    subprocess.run([user.python, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site,) = venv.glob("lib/python3*/site-packages")
    (site / "devbox-checkout.pth").write_text(user.pythonpath.replace(":", "\n") + "\n")
    cli = venv / "bin" / "devbox-cli"
    cli.write_text(
        f"#!{venv}/bin/python\nimport sys\nfrom devbox.__main__ import main\nsys.exit(main())\n"
    )
    cli.chmod(0o755)
    shutil.copy2(REPO / "devbox" / "front.sh", venv / "bin" / "devbox")
    os.utime(root / "pyproject.toml", (0, 0))
    (venv / ".devbox-installed").touch()
    user.own(root)
    return root


def test_the_demo_runs_as_a_user(base: Path) -> None:
    user = make_user(NAME, base, runtime(base), subids=True)
    root = checkout_for(user, base)
    drop = ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--init-groups", "--"]
    r = subprocess.run(
        [*drop, "bash", str(root / "scripts" / "demo")],
        cwd=base, env=user.env({"DEVBOX_LINGER": "1"}), capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=1200,
    )  # fmt: skip
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "demo: $ devbox build" in out and "hello: ready" in out
    assert "xmllint: using libxml" in out
    assert "hello from the box" in r.stdout
    assert "demo: done." in out
    assert "installing" not in out  # nothing set up: the packages and .venv were there
    assert (root / "examples" / "hello" / "devbox.lock").stat().st_uid == user.uid
    assert (user.home / ".local" / "share" / "devbox" / "layers").is_dir()  # the user's store
