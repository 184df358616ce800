"""The transport: skopeo, driven as devbox drives mmdebstrap and bwrap.

skopeo already speaks the distribution API the way users have it set up: anonymous and token
auth, credentials from docker's config.json, containers' auth.json and credential helpers,
registries.conf (mirrors, insecure registries), certs.d, proxies, retries and resumed blob
downloads, digest-verified blobs. It runs as the invoking user, in every tier, so it reads that
user's credentials and writes only into the user's own store.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from devbox.errors import DevboxError, printable
from devbox.sandbox import host
from devbox.store import private
from devbox.store.fs import remove_tree

RETRIES = "3"
_MSG = re.compile(r'level=\w+ msg="((?:[^"\\]|\\.)*)"')
# what skopeo says -> (devbox's words, what to do); first match wins
_KNOWN: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("no space left on device",), "no space left on the device holding the store",
     "free some space (`devbox gc` removes unused layers and cached blobs) and try again"),
    (("digest did not match", "digest mismatch"), "a blob the registry sent does not match "
     "its digest (damaged in the registry or on the way)", "tell the registry's keeper; "
     "nothing was stored"),
    (("manifest unknown", "name unknown", "not found", "404"), "the registry has no such image",
     "check the name and tag (`skopeo inspect docker://REF` shows what the registry says)"),
    (("authentication required", "unauthorized", "invalid username/password", "401",
      "requested access to the resource is denied", "denied"),
     "the registry refused access (no credentials, or wrong ones)",
     "log in as you would for podman or docker: `skopeo login REGISTRY` (devbox reads "
     "containers' auth.json and docker's config.json, credential helpers included)"),
    (("x509", "certificate"), "the registry's TLS certificate is not trusted",
     "put its CA in /etc/containers/certs.d/REGISTRY/ca.crt (or ~/.config/containers/certs.d/ "
     "when not root), or mark the registry insecure in registries.conf"),
    (("connection refused", "no such host", "i/o timeout", "network is unreachable",
      "server misbehaving", "connection reset", "eof"),
     "cannot reach the registry", "check that it is up and reachable (and your proxy settings)"),
)  # fmt: skip


def tool() -> str:
    return host.tool("skopeo")


def explain(ref: str, output: str, doing: str = "pulling") -> DevboxError:
    """skopeo's failure in devbox's words, its own last line kept."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    last = lines[-1] if lines else "(no output)"
    said = _MSG.search(last)  # logrus: time="..." level=fatal msg="..."
    if said is not None:
        last = said.group(1).replace('\\"', '"')
    low = output.lower()
    for needles, what, hint in _KNOWN:
        if any(n in low for n in needles):
            return DevboxError(f"{doing} {ref}: {what}\n  skopeo: {printable(last)}", hint=hint)
    return DevboxError(f"{doing} {ref} failed\n  skopeo: {printable(last)}")


def inspect_raw(ref: str, log: Path | None = None) -> bytes:
    """The manifest (or index) the registry gives for `ref`, byte for byte."""
    argv = [tool(), "inspect", "--raw", "--retry-times", RETRIES, f"docker://{ref}"]
    rc, out, err = _run(argv, log)
    if rc != 0:
        raise explain(ref, err.decode(errors="replace"))
    return out


def inspect_config(ref: str, log: Path | None = None) -> bytes:
    """The image config of `ref` (for an index: the host platform's image), byte for byte."""
    argv = [tool(), "inspect", "--config", "--retry-times", RETRIES, f"docker://{ref}"]
    rc, out, err = _run(argv, log)
    if rc != 0:
        raise explain(ref, err.decode(errors="replace"), doing="reading")
    return out


def copy(
    ref: str,
    layout: Path,
    blobs: Path,
    log: Path | None = None,
    on_line: Callable[[str], None] | None = None,
) -> None:
    """Copy the image `ref` (by digest) into an OCI layout at `layout`, its blobs into `blobs`
    (skopeo skips the blobs already there)."""
    argv = [
        tool(), "copy", "--retry-times", RETRIES, "--dest-shared-blob-dir", str(blobs),
        f"docker://{ref}", f"oci:{layout}:devbox",
    ]  # fmt: skip
    rc, _, err = _run(argv, log, on_line, merge=True)
    if rc != 0:
        raise explain(ref, err.decode(errors="replace"))


def _run(
    argv: Sequence[str],
    log: Path | None,
    on_line: Callable[[str], None] | None = None,
    *,
    merge: bool = False,
) -> tuple[int, bytes, bytes]:
    """Run skopeo so that it dies with devbox (setpriv's parent-death signal, as build tools),
    its stderr (errors; with `merge` its stdout too: copy's per-blob progress) appended to `log`
    and passed line by line to `on_line`."""
    died_with_us = [host.tool("setpriv"), "--pdeathsig", "KILL", "--", *argv]
    env = dict(os.environ)
    if os.geteuid() != 0 and not env.get("XDG_RUNTIME_DIR"):
        # without a runtime dir skopeo looks for /run/containers/UID/auth.json, and fails when
        # that dir is root's (0700, made by root's podman): point it at an empty one of ours, so
        # it goes on to ~/.config/containers/auth.json and ~/.docker/config.json
        env["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="devbox-skopeo-")
    with tempfile.TemporaryFile() as out:
        try:
            proc = subprocess.Popen(
                died_with_us, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if merge else out,
                stderr=subprocess.STDOUT if merge else subprocess.PIPE,
                start_new_session=True, env=env,
            )  # fmt: skip
        except OSError as e:
            raise DevboxError(f"cannot run skopeo: {e.strerror}") from e
        pipe = proc.stdout if merge else proc.stderr
        assert pipe is not None
        err = bytearray()
        if log is not None:
            private.mkdirs(log.parent)
            with open(log, "ab") as logf:
                logf.write(("\n$ " + " ".join(argv) + "\n").encode(errors="replace"))
        pump = threading.Thread(target=_pump, args=(pipe, err, log, on_line), daemon=True)
        pump.start()
        try:
            rc = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            pump.join()
            host.end_session(proc.pid)
        if env.get("XDG_RUNTIME_DIR") != os.environ.get("XDG_RUNTIME_DIR"):
            remove_tree(Path(env["XDG_RUNTIME_DIR"]))
        out.seek(0)
        return rc, out.read(), bytes(err)


def _pump(
    pipe: object, err: bytearray, log: Path | None, on_line: Callable[[str], None] | None
) -> None:
    fd = pipe.fileno()  # type: ignore[attr-defined]
    logf = open(log, "ab") if log is not None else None
    try:
        buf = b""
        while chunk := os.read(fd, 65536):
            err += chunk
            if logf is not None:
                logf.write(chunk)
                logf.flush()
            buf += chunk
            *lines, buf = buf.replace(b"\r", b"\n").split(b"\n")
            for line in lines:
                if on_line is not None and line.strip():
                    on_line(line.decode(errors="replace").strip())
    finally:
        if logf is not None:
            logf.close()
