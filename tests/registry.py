"""A real OCI registry on 127.0.0.1 for the image tests and the image benchmark: Debian's
`docker-registry` (the CNCF distribution registry), with TLS from a test CA made by openssl and
htpasswd (bcrypt) logins, storage and access log in a temp dir. tests/images.py builds and
pushes the test images into it.

What skopeo 1.9 (containers/image 5.23) reads, checked against this registry (as root and as a
created user; tests/integration/test_registry_fixture.py keeps the checks):
- Certificates: per registry `HOST:PORT/` directories (`ca.crt`, any `*.crt`) under
  `$HOME/.config/containers/certs.d`, then `/etc/containers/certs.d`, then `/etc/docker/certs.d`;
  the first that has the host's directory wins. The home one is read as root too (HOME as set, not
  /root), so `trust(home, ...)` works for root and users alike; `trust(None)` writes the system
  one, which every user reads. `--cert-dir DIR` replaces the search (DIR holds `ca.crt` itself).
- Credentials: `--authfile FILE`, defaulting to `$REGISTRY_AUTH_FILE` (honoured), else
  `$XDG_RUNTIME_DIR/containers/auth.json` (or `/run/containers/UID/auth.json` when unset), then
  `$XDG_CONFIG_HOME/containers/auth.json` (`~/.config/...`), then `~/.docker/config.json`
  (`{"auths": {HOST: {"auth": base64("USER:PW")}}}`), then `~/.dockercfg`: the first file with an
  entry for the host is used. `login()` writes `~/.docker/config.json` of the given home.
  A file without an entry for the host (or missing) is passed over; one with a wrong entry is
  used (and fails). `--creds USER:PW` overrides them all. A user without XDG_RUNTIME_DIR is
  refused outright once root podman has made /run/containers (0700): reading
  /run/containers/UID/auth.json is "permission denied", which skopeo does not pass over; give
  such a user an XDG_RUNTIME_DIR (or `--authfile`).
- `$CONTAINERS_REGISTRIES_CONF` is NOT honoured by skopeo 1.9 (podman reads it; skopeo only
  reads `--registries-conf FILE`, else /etc/containers/registries.conf and
  `~/.config/containers/registries.conf`): a registries.conf with `insecure = true` for the host
  makes skopeo skip verifying the certificate when given with `--registries-conf`, and changes
  nothing when given through the variable.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

SYSTEM_CERTS = Path("/etc/containers/certs.d")
USER = "devbox"

CONFIG = """\
version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: {host}
  secret: {secret}
  tls:
    certificate: {cert}
    key: {key}
auth:
  htpasswd:
    realm: devbox-test
    path: {htpasswd}
"""


@dataclass
class Registry:
    host: str  # "127.0.0.1:PORT"
    ca: Path  # the test CA's certificate (what a client must trust)
    user: str
    password: str
    storage: Path
    log: Path  # the access log (one combined-log line per request)
    dir: Path
    process: subprocess.Popen[bytes] | None = None
    trusted: list[Path] = field(default_factory=list)

    def ref(self, name: str) -> str:
        """`test/base:1` -> `127.0.0.1:PORT/test/base:1`."""
        return f"{self.host}/{name}"

    @property
    def creds(self) -> str:
        return f"{self.user}:{self.password}"

    @property
    def cert_dir(self) -> Path:
        """A directory with the CA as `ca.crt`: for `--cert-dir` of skopeo and podman."""
        return self.dir / "certs"

    def requests(self, method: str, path_part: str) -> int:
        """How many requests of `method` whose path contains `path_part` the registry served
        (e.g. `requests("GET", "/v2/test/sib/blobs/")`)."""
        needle = f'"{method} '
        count = 0
        for line in self.log.read_text(errors="replace").splitlines():
            at = line.find(needle)
            if at >= 0 and path_part in line[at + len(needle) :].split(" ", 1)[0]:
                count += 1
        return count

    def blob_path(self, digest: str) -> Path:
        """The registry's own file of a blob (to corrupt one under its digest)."""
        algo, hexd = digest.split(":", 1)
        return self.storage / "docker/registry/v2/blobs" / algo / hexd[:2] / hexd / "data"

    def trust(self, home: Path | None = None, owner: tuple[int, int] | None = None) -> Path:
        """Make skopeo and podman trust the test CA: for everyone (home None, the system
        certs.d; removed by stop()), or for a user with that home (owner: uid, gid)."""
        base = SYSTEM_CERTS if home is None else home / ".config/containers/certs.d"
        return self._write(base / self.host / "ca.crt", self.ca.read_bytes(), home, owner)

    def login(self, home: Path, owner: tuple[int, int] | None = None) -> Path:
        """Store the credentials where skopeo and podman read them: `HOME/.docker/config.json`
        (give root a HOME of the test's too, never /root)."""
        auth = base64.b64encode(self.creds.encode()).decode()
        path = home / ".docker/config.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            data = {}
        data.setdefault("auths", {})[self.host] = {"auth": auth}
        return self._write(path, json.dumps(data).encode(), home, owner)

    def _write(self, path: Path, data: bytes, home: Path | None, owner: tuple[int, int] | None
               ) -> Path:  # fmt: skip
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if home is None:
            self.trusted.append(path.parent)
        elif owner is not None:
            d = path
            while d != home:
                os.lchown(d, *owner)
                d = d.parent
        return path

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for d in self.trusted:
            shutil.rmtree(d, ignore_errors=True)
        self.trusted.clear()


ARCHES = {"amd64": "amd64", "arm64": "arm64", "armhf": "arm", "i386": "386", "ppc64el": "ppc64le",
          "s390x": "s390x", "riscv64": "riscv64"}  # fmt: skip


def arch() -> str:
    """The host's architecture in OCI's words (Debian's amd64 is OCI's amd64, armhf is arm)."""
    deb = run("dpkg", "--print-architecture").strip()
    return ARCHES.get(deb, deb)


def run(*argv: str, cwd: Path | None = None) -> str:
    r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr.strip()[-500:]}")
    return r.stdout


def make_ca(d: Path) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for 127.0.0.1 and localhost signed by it (EC keys:
    quick to make). Returns (ca.crt, server.crt, server.key)."""
    d.mkdir(parents=True, exist_ok=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    run("openssl", "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
         "-subj", "/CN=devbox test CA", cwd=d)  # fmt: skip
    run("openssl", "req", *ec, "-keyout", "server.key", "-out", "server.csr",
         "-subj", "/CN=localhost", cwd=d)  # fmt: skip
    (d / "ext.cnf").write_text(
        "basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "extendedKeyUsage=serverAuth\n"
    )
    run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "ext.cnf",
         cwd=d)  # fmt: skip
    for name in ("ca.key", "server.key"):
        (d / name).chmod(0o600)
    return d / "ca.crt", d / "server.crt", d / "server.key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_registry(tmp: Path, timeout: float = 20) -> Registry:
    """Start a registry in `tmp` (made if missing) on a free port of 127.0.0.1 and wait until it
    answers (`/v2/` without credentials: 401)."""
    for tool in ("docker-registry", "openssl", "htpasswd"):
        if not shutil.which(tool):
            raise RuntimeError(f"{tool} is missing: scripts/setup.sh installs it")
    tmp.mkdir(parents=True, exist_ok=True)
    ca, cert, key = make_ca(tmp / "tls")
    password = secrets.token_hex(8)
    htpasswd = tmp / "htpasswd"
    htpasswd.write_text(run("htpasswd", "-Bbn", USER, password))
    (tmp / "certs").mkdir(exist_ok=True)
    shutil.copyfile(ca, tmp / "certs" / "ca.crt")
    storage = tmp / "storage"
    storage.mkdir(exist_ok=True)
    for _ in range(5):  # another process may take the free port before the registry does
        host = f"127.0.0.1:{free_port()}"
        config = tmp / "config.yml"
        secret = secrets.token_hex(16)
        config.write_text(CONFIG.format(storage=storage, host=host, cert=cert, key=key,
                                        htpasswd=htpasswd, secret=secret))  # fmt: skip
        log = tmp / "access.log"
        reg = Registry(host, ca, USER, password, storage, log, tmp)
        # distribution writes its access log (combined log format) to stdout, the rest to stderr
        with log.open("wb") as out, (tmp / "registry.log").open("ab") as err:
            reg.process = subprocess.Popen(
                ["docker-registry", "serve", str(config)], stdout=out, stderr=err,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        if _wait(reg, timeout):
            return reg
        reg.stop()
    raise RuntimeError(f"the registry did not start: see {tmp / 'registry.log'}")


def _wait(reg: Registry, timeout: float) -> bool:
    ctx = ssl.create_default_context(cafile=str(reg.ca))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if reg.process is None or reg.process.poll() is not None:
            return False
        try:
            urllib.request.urlopen(f"https://{reg.host}/v2/", context=ctx, timeout=2)
        except urllib.error.HTTPError as e:
            if e.code == 401:
                return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def skopeo(reg: Registry, *args: str, creds: bool = True, cert_dir: bool = True) -> str:
    """Run `skopeo` (as root) with this registry's credentials and CA given on the command line
    (`--creds`, `--cert-dir`: the flags of inspect; copy takes `--src-`/`--dest-` ones, see
    copy())."""
    extra = []
    if creds:
        extra += ["--creds", reg.creds]
    if cert_dir:
        extra += ["--cert-dir", str(reg.cert_dir)]
    return run("skopeo", args[0], *extra, *args[1:])


def copy(reg: Registry, src: str, dest: str, *more: str) -> None:
    """`skopeo copy SRC DEST` with the registry's credentials and CA on both sides that are this
    registry (transport names included: `docker://HOST/...`)."""
    flags: list[str] = []
    for side, ref in (("src", src), ("dest", dest)):
        if ref.startswith(f"docker://{reg.host}/"):
            flags += [f"--{side}-creds", reg.creds, f"--{side}-cert-dir", str(reg.cert_dir)]
    run("skopeo", "copy", "--quiet", *flags, *more, src, dest)
