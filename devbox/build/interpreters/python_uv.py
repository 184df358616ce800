"""python, provider "uv": a python-build-standalone build installed by uv (uv itself from PyPI).

Any version uv knows. uv downloads the build itself (from GitHub by default), verifying it
against the sha256 embedded in that uv release, so the lock's uv version + download URL pin
the exact artifact. `UV_PYTHON_INSTALL_MIRROR` (and the other UV_* download settings) are
passed through for users behind a mirror.
"""

from __future__ import annotations

import io
import os
import platform
import shlex
import zipfile
from typing import Any

from devbox import nofollow
from devbox.build import steps
from devbox.build.builders.context import BuildContext
from devbox.errors import DevboxError
from devbox.plan.interpreters import matches
from devbox.plan.recipe import LayerRecipe
from devbox.sandbox.boxenv import PYTHON_USER_BASE as USER_BASE
from devbox.store import layers as store

PYPI = "https://pypi.org/pypi"
INSTALL_DIR = "/opt/devbox/python"
OUT = steps.BUILD_OUT  # where the builder puts uv and reads results
PASS_ENV = ("UV_PYTHON_INSTALL_MIRROR", "UV_PYTHON_DOWNLOADS_JSON_URL", "UV_NATIVE_TLS",
            "SSL_CERT_FILE", "UV_HTTP_TIMEOUT")  # fmt: skip
WHEEL_TAGS = {"x86_64": "musllinux_1_1_x86_64", "aarch64": "musllinux_1_1_aarch64"}


def pypi() -> str:
    return os.environ.get("DEVBOX_PYPI_JSON", PYPI).rstrip("/")


def uv_wheel(version: str | None) -> dict[str, str]:
    """uv's static (musl) wheel for this machine: version, URL, sha256."""
    from devbox.build import fetch  # urllib.request: ~20 ms, only when downloading

    tag = WHEEL_TAGS.get(platform.machine())
    if tag is None:
        raise DevboxError(f"no uv build for this machine ({platform.machine()})")
    url = f"{pypi()}/uv/{version}/json" if version else f"{pypi()}/uv/json"
    doc = fetch.get_json(url)
    for f in doc.get("urls", []):
        if f["filename"].endswith(f"-py3-none-{tag}.whl"):
            return {
                "uv-version": str(doc["info"]["version"]),
                "uv-url": fetch.join(url, f["url"]),
                "uv-sha256": str(f["digests"]["sha256"]),
            }
    raise DevboxError(f"PyPI has no uv wheel for {tag} ({url})")


def script(version: str) -> str:
    v = shlex.quote(version)
    env = f"UV_PYTHON_INSTALL_DIR={INSTALL_DIR} UV_PYTHON_PREFERENCE=only-managed UV_NO_CACHE=1"
    return f"""set -eu
install -m 755 {OUT}/uv /usr/local/bin/uv
uv --version > {OUT}/uv-version
export {env}
uv python list {v} --only-downloads --output-format json > {OUT}/uv-python.json || true
uv python install --no-bin {v}
py="$(uv python find {v})"
minor="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
"$py" -m pip --version >/dev/null 2>&1 || "$py" -m ensurepip
for name in python python3 "python$minor"; do ln -sf "$py" "/usr/local/bin/$name"; done
for name in pip pip3 "pip$minor"; do
  printf '#!/bin/sh\\nexec %s -m pip "$@"\\n' "$py" > "/usr/local/bin/$name"
  chmod 755 "/usr/local/bin/$name"
done
mkdir -p {USER_BASE} && chmod 1777 {USER_BASE}
"$py" -c 'import platform; print(platform.python_version())' > {OUT}/python-version
"""


def build(ctx: BuildContext, layer: LayerRecipe) -> dict[str, Any]:
    from devbox.build import fetch  # urllib.request: ~20 ms, only when downloading

    pins = ctx.pins or {}
    wheel = (
        {k: pins[k] for k in ("uv-version", "uv-url", "uv-sha256")}
        if pins.get("uv-url")
        else uv_wheel(None)
    )
    whl = ctx.out / "uv.whl"
    (integrity,) = store.pinned_downloads(wheel)
    fetch.download(
        wheel["uv-url"],
        whl,
        integrity,
        ctx.display,
        ctx.label,
        ctx.store.downloads,
        locked=bool(pins.get("uv-url")),
    )
    with zipfile.ZipFile(io.BytesIO(whl.read_bytes())) as z:
        name = next((n for n in z.namelist() if n.endswith(".data/scripts/uv")), None)
        if name is None:
            raise DevboxError(f"{wheel['uv-url']} holds no uv binary")
        (ctx.out / "uv").write_bytes(z.read(name))
    whl.unlink()
    version = str(pins.get("version") or layer.recipe["version"])
    # the compiler from the suite first (python-build-standalone ships headers, venv and pip)
    if ctx.has_apt():  # an image without apt: the interpreter alone, no compiler
        ctx.run_over_lowers(ctx.apt_install_script(layer.recipe.get("packages", [])), apt=True)
    try:
        ctx.run_over_lowers(script(version) + steps.packages_query(OUT), env=uv_env())
    except DevboxError as e:
        mirror = os.environ.get("UV_PYTHON_INSTALL_MIRROR")
        where = f"the mirror {mirror}" if mirror else "GitHub (python-build-standalone releases)"
        raise DevboxError(
            f"uv could not install python {version} from {where}: {e.message}",
            hint="check the network, or set UV_PYTHON_INSTALL_MIRROR to a mirror of "
            "python-build-standalone releases; the log has uv's own words",
            log=e.log,
        ) from None
    exact = nofollow.read_beneath(ctx.out, "python-version").decode(errors="replace").strip()
    if not matches(layer.recipe["version"], exact):
        raise DevboxError(f"uv installed python {exact}, not {layer.recipe['version']}")
    # uv's version as the binary says (a lock whose uv-version was edited must not pass)
    uv = nofollow.read_beneath(ctx.out, "uv-version").decode(errors="replace").split()
    wheel = {**wheel, "uv-version": uv[1] if len(uv) > 1 else ""}
    return {"version": exact, **wheel, "url": _download_url(ctx)}


def uv_env() -> dict[str, str]:
    return {k: os.environ[k] for k in PASS_ENV if k in os.environ}


def _download_url(ctx: BuildContext) -> str:
    import json

    try:
        entries = json.loads(nofollow.read_beneath(ctx.out, "uv-python.json"))
        return str(entries[0].get("url") or "")
    except (OSError, ValueError, IndexError, AttributeError):
        return ""
