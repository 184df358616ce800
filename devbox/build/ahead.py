"""Fetching ahead: a cold build downloads its `.deb`s a few at a time instead of apt's one
after another (docs/design/layers.md). Before mmdebstrap downloads the essential packages (it
waits in a setup hook), devbox has updated the lists itself and put those packages in the
suite's shared cache; the base's second half (the `required` packages, installed after the
essential ones) and the apt layers above it are downloaded while the essential ones install.

It all goes through apt (its update, `--print-uris` against an empty dpkg status to resolve,
`apt-helper download-file`); devbox checks size and SHA-256 again before it renames a file into
the cache. A fetch that fails or is stopped changes nothing but the files it finished, and lets
the bootstrap go on at once; the build downloads what it lacks as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from devbox.build import steps
from devbox.build.builders.context import build_env
from devbox.plan.recipe import LayerRecipe, Pins, from_archive
from devbox.sandbox import argv as sandbox
from devbox.sandbox import host

CONNECTIONS = 8  # apt-helper processes at once
# apt's own file names in its archives dir (an epoch's ':' is written %3a)
_DEB = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+~%_-]*\.deb")
_URIS = re.compile(r"^'([^']+)' (\S+) (\d+) (\S+)$")
DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
FETCHED = "fetched"  # the list of the files a fetch brought, for mmdebstrap's essential hook


def wanted(layers: Sequence[LayerRecipe], chain: Sequence[Pins | None]) -> tuple[str, ...]:
    """What the apt steps above a Debian base will install with the suite's shared cache (every
    layer below them from the archive): each package, `name=version` when the lock pins it."""
    out: list[str] = []
    for i, layer in enumerate(layers[1:], 1):
        if not all(from_archive(x.kind, x.recipe) for x in layers[:i]):
            break
        pins = dict((chain[i] or {}).get("packages", {}))
        names = [str(p) for p in layer.recipe.get("packages", [])]
        out += [f"{n}={pins[n]}" if n in pins else n for n in names]
        out += [f"{n}={v}" for n, v in sorted(pins.items()) if n not in names]
    return tuple(out)


class Fetch:
    """One fetch ahead, run by a thread: `start`, then `finish` (wait) or `stop` (kill)."""

    def __init__(
        self, *, root: Path, archives: Path, suite: str, mirror: str, packages: Sequence[str],
        tier: host.Tier, log: Path,
    ) -> None:  # fmt: skip
        self.root, self.archives, self.log = root, archives, log
        self.suite, self.mirror, self.packages, self.tier = suite, mirror, tuple(packages), tier
        self.status, self.error = "", ""  # what it is doing (the build display), what failed
        self.fetched: list[str] = []  # every file it put in the cache
        self.listed: list[str] = []  # those after the essential ones (the list file)
        self.bytes = 0
        self._stop = threading.Event()
        self._procs: list[subprocess.Popen[bytes]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._main, name="devbox-fetch", daemon=True)
        self.started = self.took = 0.0
        self.list_file = root / FETCHED  # for mmdebstrap's essential hook, once done
        self.ready = root / "ready"  # made once the essential packages are in (or never will be)

    def start(self) -> None:
        self.started = time.monotonic()
        self._setup()  # before mmdebstrap's setup hook looks at it
        self._thread.start()

    def running(self) -> bool:
        return self._thread.is_alive()

    def finish(self) -> None:
        if not self.ready.exists():  # the bootstrap ended without it: nothing left to fetch for
            self.stop()
            return
        self._thread.join()

    def stop(self) -> None:
        """End it now: its processes (and their sessions) killed, the thread joined."""
        self._stop.set()
        with self._lock:
            procs = list(self._procs)
        for p in procs:
            host.end_session(p.pid)
            with contextlib.suppress(OSError):
                p.kill()
        self._thread.join()
        self._release()

    def _main(self) -> None:
        try:
            self._fetch()
        except OSError as e:  # a fetch ahead never fails the build
            self.error = str(e)
        except Exception as e:
            self.error = f"{type(e).__name__}: {e}"
        finally:
            self._release()
            self.status = ""
            self.took = time.monotonic() - self.started

    def _release(self) -> None:
        """Let the bootstrap go on (its setup hook waits for this file)."""
        with contextlib.suppress(OSError):
            self.ready.touch()

    def _fetch(self) -> None:
        dpkg = ["dpkg", "--print-architecture"]  # the host's, as mmdebstrap's native one
        arch = subprocess.run(dpkg, capture_output=True, text=True, check=True).stdout.strip()
        self._configure(arch)
        self.status = "updating the package lists"
        self._apt(["apt-get", "-qq", "update", "--error-on=any"])
        (self.root / "updated").touch()  # every list there, checked: mmdebstrap may use them
        self.status = "resolving"
        narrow = steps.apt_narrow(self.suite, arch)
        essential = self._uris([f"?narrow({narrow},?essential)"], cached=True)
        if not essential:
            raise OSError("apt found no essential package in the lists")
        base = [f"?narrow({narrow},?essential)", f"?narrow({narrow},?priority(required))"]
        rest: dict[str, tuple[str, str, int, str]] = {}
        resolving = threading.Thread(target=self._resolve, args=(base, rest), daemon=True)
        resolving.start()  # beside the essential packages' download
        self._download([t for t in essential.values() if not self._cached(t[1])], listed=False)
        self._release()
        self._note(f"the essential packages are in the cache ({len(self.fetched)} fetched)")
        resolving.join()
        # while mmdebstrap extracts: done before the essential packages are installed
        self._download([t for n, t in sorted(rest.items()) if n not in essential])

    def _note(self, what: str) -> None:
        with open(self.log, "a") as logf:
            logf.write(f"devbox: (fetching ahead, {time.monotonic() - self.started:.2f}s) {what}\n")

    def _resolve(self, base: list[str], into: dict[str, tuple[str, str, int, str]]) -> None:
        with contextlib.suppress(OSError):  # then only the essential packages come ahead
            try:
                into.update(self._uris([*base, *self.packages]))
            except OSError:  # a package (or pin) apt cannot find: the layer above will say so
                into.update(self._uris(base))

    def _setup(self) -> None:
        for sub in ("lists/partial", "cache", "state", "parts", "prefs", "dl"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "state" / "status").touch()
        (self.root / "sources.list").write_text(f"deb {self.mirror} {self.suite} main\n")

    def _configure(self, arch: str) -> None:
        keys = subprocess.run(
            ["apt-config", "shell", "T", "Dir::Etc::trusted/f", "P", "Dir::Etc::trustedparts/d"],
            capture_output=True, text=True, check=True, env=build_env(),
        ).stdout  # fmt: skip
        found = dict(re.findall(r"^([TP])='([^']*)'$", keys, re.M))
        trusted = trusted_keyring(found.get("T", ""))
        conf = steps.fetch_apt_conf(str(self.root), arch, trusted, found.get("P", ""))
        (self.root / "apt.conf").write_text(conf)

    def _cached(self, name: str) -> bool:
        return os.path.lexists(self.archives / name)

    def _apt(self, argv: list[str]) -> bytes:
        """Run one apt command in the build's namespace (as mmdebstrap runs); its output, its
        errors to the log. Raises OSError when it fails or the fetch was stopped."""
        if self._stop.is_set():
            raise OSError("stopped")
        prefix = sandbox.unshare_argv(
            host.tool("unshare"), self.tier.userns, pid=True, setpriv=host.tool("setpriv")
        )
        full = [host.tool("setpriv"), "--pdeathsig", "KILL", "--", *prefix, *argv]
        env = {**build_env(), "APT_CONFIG": str(self.root / "apt.conf")}
        with open(self.log, "ab") as logf:
            at = time.monotonic() - self.started
            logf.write(f"\n$ (fetching ahead, {at:.2f}s) {' '.join(argv)[:300]}\n".encode())
            logf.flush()
            proc = subprocess.Popen(
                full, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=logf,
                env=env, start_new_session=True,
            )  # fmt: skip
            with self._lock:
                self._procs.append(proc)
            if self._stop.is_set():  # stopped while it was starting
                host.end_session(proc.pid)
                proc.kill()
            try:
                out, _ = proc.communicate()
            finally:
                host.end_session(proc.pid)
                with self._lock:
                    self._procs.remove(proc)
        if proc.returncode != 0 or self._stop.is_set():
            what = argv[0].rsplit("/", 1)[-1]
            raise OSError(f"{what} failed (exit status {proc.returncode}, see the log)")
        return out

    def _uris(self, args: list[str], cached: bool = False) -> dict[str, tuple[str, str, int, str]]:
        """apt's resolution with an empty dpkg status: file name -> (uri, file name, size,
        sha256) of each package it would download (`cached`: also those the cache has)."""
        out = self._apt(["apt-get", "-qq", "--print-uris", "-o", "Acquire::ForceHash=SHA256",
                         "install", "--", *args])  # fmt: skip
        got: dict[str, tuple[str, str, int, str]] = {}
        for line in out.decode(errors="replace").splitlines():
            m = _URIS.match(line)
            if m and _DEB.fullmatch(m.group(2)) and m.group(4).startswith("SHA256:"):
                if cached or not self._cached(m.group(2)):
                    got[m.group(2)] = (m.group(1), m.group(2), int(m.group(3)), m.group(4)[7:])
        return got

    def _download(self, todo: list[tuple[str, str, int, str]], listed: bool = True) -> None:
        """Fetch `todo` into the cache; `listed`: name them in the list file for the essential
        hook (the essential packages are in the cache before mmdebstrap syncs it in)."""
        if not todo:
            if listed:
                self._write_list()
            return
        total = sum(t[2] for t in todo)
        bins: list[list[tuple[str, str, int, str]]] = [[] for _ in range(CONNECTIONS)]
        for item in sorted(todo, key=lambda t: -t[2]):  # the biggest first, to the lightest bin
            min(bins, key=lambda b: sum(t[2] for t in b)).append(item)
        what = "packages ahead" if listed else "essential packages"
        self.status = f"fetching {len(todo)} {what} ({total / 2**20:.0f} MiB)"
        workers = [
            threading.Thread(target=self._helper, args=(b, listed), daemon=True) for b in bins if b
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        if listed:
            self._write_list()

    def _write_list(self) -> None:
        with self._lock:
            names = list(self.listed)
        (tmp := self.root / f"{FETCHED}.tmp").write_text("".join(f"{f}\n" for f in names))
        os.rename(tmp, self.list_file)

    def _helper(self, items: list[tuple[str, str, int, str]], listed: bool) -> None:
        dl = self.root / "dl"
        argv = [steps.APT_HELPER, "download-file"]
        for uri, name, _, sha in items:
            argv += [uri, str(dl / name), f"SHA256:{sha}"]
        with contextlib.suppress(OSError):  # what it did finish is still good
            self._apt(argv)
        while listed and not (self.root / "synced").exists():  # mmdebstrap copies the cache in
            if self._stop.wait(0.05):
                return
        for _, name, size, sha in items:
            if _verified(dl / name, size, sha):
                os.replace(dl / name, self.archives / name)
                with self._lock:
                    self.fetched.append(name)
                    self.listed += [name] if listed else []
                    self.bytes += size


def trusted_keyring(host: str, debian: str = DEBIAN_KEYRING) -> str:
    """The keyring the fetch's update trusts beside the host's trusted.gpg.d: Debian's archive
    keyring where it is installed (mmdebstrap checks a Debian suite against it when the host's
    apt does not trust it, as on Ubuntu), else the host's legacy trusted.gpg."""
    return debian if os.path.isfile(debian) else host


def _verified(path: Path, size: int, sha: str) -> bool:
    try:
        with open(path, "rb", buffering=0) as f:
            if os.fstat(f.fileno()).st_size != size:
                return False
            h = hashlib.sha256()
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except OSError:
        return False
    return h.hexdigest() == sha


@contextlib.contextmanager
def running(fetch: Fetch | None) -> Iterator[Fetch | None]:
    """Run `fetch` (if any) beside the body; on the way out wait for it, or, when the body
    fails or is interrupted, stop it before anything is cleaned up."""
    if fetch is None:
        yield None
        return
    fetch.start()
    try:
        yield fetch
        fetch.finish()
    except BaseException:
        fetch.stop()
        raise
