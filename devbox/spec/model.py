"""devbox.toml as frozen dataclasses (load.py parses and validates a file into them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

SPEC_NAME = "devbox.toml"
DEBIAN_SUITES = ("bullseye", "bookworm", "trixie", "sid")
DEFAULT_MIRROR = "http://deb.debian.org/debian"


@dataclass(frozen=True)
class Base:
    kind: str  # "debian" | "oci" | "rootfs"
    ref: str  # suite, image reference, or tarball path (as written, relative to the project)
    mirror: str | None = None  # debian only; None for the other kinds


@dataclass(frozen=True)
class Interpreter:
    name: str  # "python" | "node"
    version: str
    provider: str | None = None  # None: the default provider for the base


@dataclass(frozen=True)
class Setup:
    run: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()  # project-relative paths


@dataclass(frozen=True)
class Shell:
    program: str | None = None  # None: login shell if the box has it, else bash, else sh
    workdir: str | None = None  # None: the same path as on the host
    expose: tuple[str, ...] = ()
    home: str = "isolated"  # "isolated" | "host"


@dataclass(frozen=True)
class Ready:
    """When a service is ready: `tcp` (a port on the host's loopback), `unix` (a socket path in
    its box) or `command` (a command in its box that exits 0); None: as soon as it runs."""

    kind: str  # "tcp" | "unix" | "command"
    value: str  # the port, path or command line, as written (${NAME} substituted at `up`)


@dataclass(frozen=True)
class Service:
    """[services.NAME]: a long-lived command in a box, started by `devbox up`."""

    name: str
    command: str  # a command line, run by the box's `sh -c`
    ready: Ready | None = None
    env: tuple[tuple[str, str], ...] = ()  # in file order
    depends_on: tuple[str, ...] = ()
    restart: str = "on-failure"  # "on-failure" | "no"
    stop_signal: str = "TERM"  # a signal name without SIG
    stop_timeout: float = 10.0  # seconds from stop_signal to SIGKILL
    ready_timeout: float = 60.0  # seconds `up` waits for ready
    box: str | None = None  # None: this project's box; else a project-relative directory
    user: str | None = None  # a user of the box to run as where devbox runs as root (tier 1)


@dataclass(frozen=True)
class Limits:
    """[limits]: what the box may use; None: no limit."""

    memory: int | None = None  # bytes ("2G" in the file)
    cpus: float | None = None  # CPUs' worth of time (1.5)
    pids: int | None = None  # processes and threads
    strict: bool = True  # a limit that cannot be enforced is an error (false: a warning)


@dataclass(frozen=True)
class ShareBind:
    """[share] binds: a host path seen in the box."""

    host: str  # as written ("~/datasets"): ~ is the user's home, else absolute
    box: str  # an absolute path in the box
    mode: str = "ro"  # "ro" | "rw"


@dataclass(frozen=True)
class Share:
    """[share]: what of the host's session the box gets."""

    display: bool = False  # the X11 or Wayland socket (and Xauthority)
    audio: bool = False  # the PipeWire or PulseAudio socket
    gpu: bool = False  # /dev/dri render nodes; NVIDIA device nodes and driver libraries
    ssh_agent: bool = False  # $SSH_AUTH_SOCK
    gitconfig: bool = True  # the user's git config (what devbox has always given a box)
    binds: tuple[ShareBind, ...] = ()


@dataclass(frozen=True)
class Spec:
    path: Path  # absolute path of devbox.toml
    name: str
    base: Base
    apt: tuple[str, ...] = ()
    interpreters: tuple[Interpreter, ...] = ()
    env: tuple[tuple[str, str], ...] = ()  # in file order
    setup: Setup = field(default_factory=Setup)
    shell: Shell = field(default_factory=Shell)
    # [scripts]: name -> a command line (str) or argv (tuple), in file order
    scripts: tuple[tuple[str, str | tuple[str, ...]], ...] = ()
    env_files: tuple[str, ...] = ()  # [env] files: project-relative .env files
    cache: str | None = None  # [cache] registry: the team layer cache, HOST[:PORT]/REPO
    services: tuple[Service, ...] = ()  # [services.NAME], in dependency order
    network: str = "host"  # [box] network: "host" | "none" | "private"
    ports: tuple[tuple[int, int], ...] = ()  # [box] ports: (host, box), private network only
    limits: Limits = field(default_factory=Limits)
    share: Share = field(default_factory=Share)

    @property
    def project(self) -> Path:
        return self.path.parent

    @property
    def inputs(self) -> tuple[str, ...]:
        """Files in the project a build reads: [setup].inputs, and a rootfs base's tarball."""
        tarball = (self.base.ref,) if self.base.kind == "rootfs" else ()
        return (*tarball, *self.setup.inputs)


# -- finding and loading -------------------------------------------------------------------------


# -- [box] ---------------------------------------------------------------------------------------


# -- [interpreters] and [shell] ------------------------------------------------------------------
