"""node, provider "npm": the official Node.js build for the box's architecture, published on the
npm registry as `node-linux-<arch>`, plus the newest `npm` release that supports it (npm and npx).
node-gyp (npm's) builds addons against the headers that build ships (npm's builtin `nodedir`),
with the compiler and python3 installed from the suite first.

`version` may be exact (20.18.0) or a prefix (20, 20.18): the newest match wins, and the lock
records the exact version, tarball URL and integrity hash, which a locked build reuses as is.
"""

from __future__ import annotations

import os
import urllib.parse
from typing import Any

from devbox import nofollow
from devbox.build import steps
from devbox.build.builders.context import BuildContext
from devbox.build.interpreters import semver
from devbox.errors import DevboxError
from devbox.plan.interpreters import matches
from devbox.plan.recipe import LayerRecipe
from devbox.sandbox.boxenv import NPM_PREFIX as GLOBAL

REGISTRY = "https://registry.npmjs.org"
CORGI = "application/vnd.npm.install-v1+json"  # the registry's abbreviated metadata
PREFIX = "/opt/devbox/node"


def registry() -> str:
    return os.environ.get("DEVBOX_NPM_REGISTRY", REGISTRY).rstrip("/")


def newest(versions: dict[str, Any], want: str) -> str | None:
    """The newest release (no pre-releases) matching `want` (X, X.Y or X.Y.Z)."""
    found = [v for v in versions if semver.parse(v) is not None and matches(want, v)]
    return max(found, key=lambda v: semver.parse(v) or (0, 0, 0), default=None)


def resolve(version: str, arch: str) -> dict[str, Any]:
    """What to install: exact versions, tarball URLs and integrity of node and npm."""
    from devbox.build import fetch  # urllib.request: ~20 ms, only when downloading

    package = f"node-linux-{arch}"
    doc = fetch.get_json(f"{registry()}/{urllib.parse.quote(package)}", CORGI)
    exact = newest(doc.get("versions", {}), version)
    if exact is None:
        raise DevboxError(
            f"the npm registry has no {package} release matching {version}",
            hint=f"see `npm view {package} versions` for what exists",
        )
    node = doc["versions"][exact]["dist"]
    npm_doc = fetch.get_json(f"{registry()}/npm", CORGI)
    fits = {
        v: meta
        for v, meta in npm_doc.get("versions", {}).items()
        if semver.parse(v) is not None
        and semver.satisfies(exact, str((meta.get("engines") or {}).get("node", "*")))
    }
    npm_version = max(fits, key=lambda v: semver.parse(v) or (0, 0, 0), default=None)
    if npm_version is None:
        raise DevboxError(f"no npm release on the registry supports node {exact}")
    npm = fits[npm_version]["dist"]
    return {
        "version": exact,
        "url": fetch.join(f"{registry()}/", node["tarball"]),
        "integrity": node["integrity"],
        "npm-version": npm_version,
        "npm-url": fetch.join(f"{registry()}/", npm["tarball"]),
        "npm-integrity": npm["integrity"],
    }


OUT = steps.BUILD_OUT  # where the builder puts the downloads
SCRIPT = f"""set -eu
out={OUT}
mkdir -p {PREFIX}/lib/node_modules/npm {GLOBAL}
tar -xzf "$out/node.tgz" -C {PREFIX} --strip-components=1 --no-same-owner
tar -xzf "$out/npm.tgz" -C {PREFIX}/lib/node_modules/npm --strip-components=1 --no-same-owner
chmod 755 {PREFIX}/bin/node {PREFIX}/lib/node_modules/npm/bin/npm-cli.js \\
  {PREFIX}/lib/node_modules/npm/bin/npx-cli.js
chmod 1777 {GLOBAL}
ln -sf {PREFIX}/bin/node /usr/local/bin/node
ln -sf {PREFIX}/lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm
ln -sf {PREFIX}/lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx
printf 'nodedir=%s\n' {PREFIX} > {PREFIX}/lib/node_modules/npm/npmrc
/usr/local/bin/node --version | sed 's/^v//' > "$out/node-version"
/usr/local/bin/node -p "require('{PREFIX}/lib/node_modules/npm/package.json').version" \\
  > "$out/npm-version"
"""


def build(ctx: BuildContext, layer: LayerRecipe) -> dict[str, Any]:
    from devbox.build import fetch  # urllib.request: ~20 ms, only when downloading

    pins = ctx.pins
    locked = pins is not None and bool(pins.get("url"))  # the hashes are devbox.lock's
    if pins is None or not locked:
        ctx.display.status(f"{ctx.label}  resolving node {layer.recipe['version']} on the registry")
        pins = resolve(layer.recipe["version"], layer.recipe["arch"])
    cache = ctx.store.downloads
    fetch.download(
        pins["url"],
        ctx.out / "node.tgz",
        pins["integrity"],
        ctx.display,
        ctx.label,
        cache,
        locked=locked,
    )
    fetch.download(
        pins["npm-url"],
        ctx.out / "npm.tgz",
        pins["npm-integrity"],
        ctx.display,
        ctx.label,
        cache,
        locked=locked,
    )
    if ctx.has_apt():  # an image without apt: the interpreter alone, no compiler
        ctx.run_over_lowers(ctx.apt_install_script(layer.recipe.get("packages", [])), apt=True)
    ctx.run_over_lowers(SCRIPT + steps.packages_query(OUT))
    for name in ("node.tgz", "npm.tgz"):
        (ctx.out / name).unlink()
    # what the layer holds, read from it: a lock whose version was edited (its URL and hash
    # kept) must not pass as that version
    got = {k: _read(ctx, k) for k in ("node-version", "npm-version")}
    return {"version": got["node-version"], "url": pins["url"], "integrity": pins["integrity"],
            "npm-version": got["npm-version"], "npm-url": pins["npm-url"],
            "npm-integrity": pins["npm-integrity"]}  # fmt: skip


def _read(ctx: BuildContext, name: str) -> str:
    return nofollow.read_beneath(ctx.out, name).decode(errors="replace").strip()
