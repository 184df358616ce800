"""Where devbox keeps things. Tests redirect everything with DEVBOX_HOME."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from devbox import fastpath
from devbox.store import private


def store_root() -> Path:
    simple = fastpath.simple_store_root()  # DEVBOX_HOME, or XDG on Linux: no import needed
    if simple is not None:
        return Path(simple)
    from platformdirs import user_data_dir

    return Path(user_data_dir("devbox", appauthor=False))


def state_root() -> Path:
    """Per-user state that is not part of the store (trust decisions, the hook's stamps):
    `$DEVBOX_HOME/state` when DEVBOX_HOME is set, else the platform's user state dir. Opened
    as the store is (private.check_root): the user's own, 0700, or a DevboxError."""
    home = fastpath.devbox_home()  # normalised as the store root is: one tree
    if home is not None:
        store = private.check_root(Path(home), "store", private.STORE_MADE)
        return private.check_root(store / "state", "state dir", private.STATE_MADE)
    from platformdirs import user_state_dir

    state = Path(user_state_dir("devbox", appauthor=False))
    return private.check_root(state, "state dir", private.STATE_MADE)


def project_id(project: Path) -> str:
    """A stable id for a project directory (its real path)."""
    return fastpath.project_id(str(project))


def launcher_path(project: Path, store: Path | None = None) -> Path:
    """The project's launcher: an executable that runs `LAUNCHER CMD [ARGS...]` in the box
    with the current directory kept, stdio and exit status passed through, in milliseconds.
    When anything changed (spec, lock, setup inputs, layers) it hands over to
    `devbox run -- CMD...`, which rebuilds what is needed and rewrites it. It exists once the
    project's box has been entered (`devbox run` or `devbox shell`) at least once; until then,
    run `devbox run -- CMD` instead. `project`: the directory holding devbox.toml."""
    return ProjectPaths((store or store_root()) / "projects" / project_id(project)).launcher


def launcher_index(project: Path, store: Path | None = None) -> Path:
    """The project's entry in the store's by-path index: a symlink to its launcher at
    `STORE/by-path<REAL PATH OF project>/.launcher`, which the `devbox` front (an sh script)
    finds from the working directory without hashing. Written and removed with the launcher."""
    return Path(fastpath.index_entry(str(store or store_root()), str(project)))


@dataclass(frozen=True)
class Store:
    root: Path

    @classmethod
    def default(cls) -> Store:
        """The user's store, opened: made if missing, refused (DevboxError) if it is not the
        user's own or others can write it (private.check_root)."""
        return cls(private.check_root(store_root(), "store", private.STORE_MADE))

    @property
    def layers(self) -> Path:
        return self.root / "layers"

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def projects(self) -> Path:
        return self.root / "projects"

    @property
    def resolved(self) -> Path:
        """Unlocked requests -> the layer they last resolved to."""
        return self.root / "resolved"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def by_path(self) -> Path:
        """The index from projects' real paths to their launchers (see launcher_index)."""
        return self.root / fastpath.BY_PATH

    def layer_dir(self, digest: str) -> Path:
        return self.layers / digest

    def layer_rootfs(self, digest: str) -> Path:
        return self.layers / digest / "rootfs"

    def layer_meta(self, digest: str) -> Path:
        """What the layer is (store.layers.LayerMeta); a layer built again has a new one."""
        return self.layers / digest / "meta.json"

    def layer_lock(self, digest: str) -> Path:
        return self.locks / f"{digest}.lock"

    @property
    def downloads(self) -> Path:
        """Verified downloads (interpreter builds), keyed by their hash."""
        return self.cache / "downloads"

    @property
    def oci(self) -> Path:
        """Images: the blob cache, image records and pulls being staged."""
        return self.root / "oci"

    @property
    def blobs(self) -> Path:
        """Verified image blobs (skopeo's shared blob dir): blobs/sha256/<hex>."""
        return self.oci / "blobs"

    @property
    def images(self) -> Path:
        """Image records, one per pulled manifest: images/<manifest hex>.json."""
        return self.oci / "images"

    @property
    def packed(self) -> Path:
        """Store layers packed as image layers (export, push, the team cache):
        packed/<layer key>.json names the blob in `blobs`."""
        return self.oci / "packed"

    @property
    def history(self) -> Path:
        """Each project's generations (successful builds): history/<project id>/<n>.json."""
        return self.root / "history"

    def apt_cache(self, key: str) -> Path:
        return self.cache / "apt" / key

    def project_dir(self, project: Path) -> Path:
        return self.projects / project_id(project)


@dataclass(frozen=True)
class ProjectPaths:
    """The per-project state: the writable layer, the isolated home, the running box."""

    root: Path

    @property
    def upper(self) -> Path:
        return self.root / "upper"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def merged(self) -> Path:
        return self.root / "merged"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def rc(self) -> Path:
        return self.root / "rc"

    @property
    def info(self) -> Path:
        return self.root / "project.json"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def sessions(self) -> Path:
        """The FIFO every session holds open (box.py counts sessions by it)."""
        return self.run / "sessions.fifo"

    @property
    def holds(self) -> Path:
        """The FIFO an activated shell holds open: the box does not linger out meanwhile, but
        the shell is not a session (sandbox/sessions.py). Named in the activation code."""
        return self.run / "holds.fifo"

    @property
    def idle(self) -> Path:
        """Its mtime: when the running box began to linger (the supervisor touches it)."""
        return self.run / "idle"

    @property
    def start_lock(self) -> Path:
        return self.run / "start.lock"

    @property
    def stack_ids(self) -> Path:
        """What the running box has mounted (sandbox.box.stack_ids)."""
        return self.run / "stack.ids"

    @property
    def stack_file(self) -> Path:
        """The stack the writable layer was made for (its layer digests, bottom first)."""
        return self.root / "upper.stack"

    @property
    def supervisor_pid(self) -> Path:
        return self.run / "supervisor.pid"

    @property
    def supervisor_log(self) -> Path:
        return self.run / "supervisor.log"

    @property
    def network(self) -> Path:
        """The running box's network, as its supervisor was told (sandbox.network.net_id)."""
        return self.run / "network"

    @property
    def resolv_conf(self) -> Path:
        """A private network's resolv.conf (the supervisor writes it; sessions bind it)."""
        return self.run / "resolv.conf"

    @property
    def services(self) -> Path:
        """The project's services: supervisord's config, pid and log, each service's log and
        plan (devbox/services/). Not under run/: it outlives the box."""
        return self.root / "services"

    @property
    def launcher(self) -> Path:
        return self.root / fastpath.LAUNCHER

    @property
    def launcher_data(self) -> Path:
        """The launcher's stamps (one generation per launcher written) and seccomp filter."""
        return self.root / "launcher.d"


@dataclass(frozen=True)
class ShimPaths:
    """A spec's shim directory (activation.shims.shim_dir): one script per shimmed command, and
    stamps whose mtimes are the spec's and its trust record's when devbox last found it trusted."""

    root: Path

    @property
    def verified(self) -> Path:
        return self.root / ".verified"

    @property
    def verified_spec(self) -> Path:
        return self.verified / "spec"

    @property
    def verified_trust(self) -> Path:
        return self.verified / "trust"
