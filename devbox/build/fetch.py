"""Downloads for builders: registry metadata and artifacts, verified against the published hash.

Plain urllib (no new dependency). Proxies come from the usual *_proxy variables.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from devbox import __version__
from devbox.build.progress import Display
from devbox.errors import DevboxError
from devbox.store import private

TIMEOUT = 60
HEADERS = {"User-Agent": f"devbox/{__version__}"}


def _open(url: str, accept: str | None = None) -> Any:
    headers = dict(HEADERS)
    if accept:
        headers["Accept"] = accept
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT)
    except urllib.error.HTTPError as e:
        raise DevboxError(
            f"{url}: the server said {e.code} {e.reason}",
            hint="check the version asked for, or your mirror",
        ) from e
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise DevboxError(
            f"could not reach {url} ({reason})",
            hint="check the network (and http_proxy/https_proxy if you use a proxy)",
        ) from e


def get_json(url: str, accept: str | None = None) -> Any:
    with _open(url, accept) as resp:
        try:
            return json.loads(resp.read())
        except ValueError as e:
            raise DevboxError(f"{url} did not return JSON ({e})") from e


def check_integrity(data_hash: dict[str, str], integrity: str) -> bool:
    """Subresource-integrity form ('sha512-BASE64', as npm publishes) or 'sha256:HEX'."""
    if integrity.startswith("sha256:"):
        return data_hash["sha256"] == integrity[len("sha256:") :]
    algo, _, b64 = integrity.partition("-")
    if algo not in data_hash:
        return False
    return base64.b64encode(bytes.fromhex(data_hash[algo])).decode() == b64


def download(
    url: str,
    dest: Path,
    integrity: str,
    display: Display,
    label: str,
    cache: Path | None = None,
    *,
    locked: bool = False,
) -> None:
    """Fetch `url` to `dest`, verifying `integrity`; a mismatch deletes the file and fails.
    With `cache`, a verified copy is kept there (keyed by the hash) and reused next time.
    `locked`: the hash came from devbox.lock (else from the registry's own index), which is
    what a mismatch is blamed on."""
    if cache is not None:
        from devbox.store.layers import download_key

        kept = cache / download_key(integrity)
        if kept.is_file() and _verified(kept, integrity):
            shutil.copyfile(kept, dest)
            return
    _fetch(url, dest, integrity, display, label, locked)
    if cache is not None:
        private.mkdirs(cache)
        tmp = kept.with_suffix(".part")
        shutil.copyfile(dest, tmp)
        os.replace(tmp, kept)


def _verified(path: Path, integrity: str) -> bool:
    hashes = {name: hashlib.new(name) for name in ("sha256", "sha512")}
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            for h in hashes.values():
                h.update(chunk)
    return check_integrity({k: h.hexdigest() for k, h in hashes.items()}, integrity)


def _fetch(
    url: str, dest: Path, integrity: str, display: Display, label: str, locked: bool
) -> None:
    hashes = {name: hashlib.new(name) for name in ("sha256", "sha512")}
    done = 0
    with _open(url) as resp, open(dest, "wb") as out:
        total = int(resp.headers.get("Content-Length") or 0)
        while chunk := resp.read(1 << 20):
            out.write(chunk)
            for h in hashes.values():
                h.update(chunk)
            done += len(chunk)
            size = f"{done / 2**20:.0f}" + (f"/{total / 2**20:.0f}" if total else "")
            display.status(f"{label}  downloading {url.rsplit('/', 1)[-1]} ({size} MiB)")
    if not check_integrity({k: h.hexdigest() for k, h in hashes.items()}, integrity):
        dest.unlink()
        if locked:
            raise DevboxError(
                f"{url}: the download's hash differs from the one devbox.lock pins for it "
                f"({integrity[:24]}...)",
                hint="if devbox.lock was edited, restore it (`git diff devbox.lock`); "
                "`devbox lock --update` resolves afresh and records the hash published now",
            )
        raise DevboxError(
            f"{url}: the download does not match its published hash ({integrity[:24]}...)",
            hint="retry; if it persists, your mirror or proxy serves a different file",
        )


def join(base: str, ref: str) -> str:
    return urllib.parse.urljoin(base, ref)
