"""`devbox watch`: rebuild the box when its spec, its lock or its setup inputs change.

watchdog wakes us; what decides a rebuild is content. Each wake compares a fingerprint of the
sources (the spec's bytes and the setup inputs' contents, taken before the last build started)
and the lock's bytes (taken after the last build wrote it) with what they are now. So the lock a
build writes itself, reads of the files (by the build, or by us), touches and editors' temp files
never cause a rebuild, while an edit made during a build is caught by the next comparison.

Directories are watched, not files: editors save by writing a new file and renaming it over the
old one, which a watch on the old file's inode would miss. Events are filtered by path.
"""

from __future__ import annotations

import errno
import hashlib
import os
import queue
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch

from devbox import nofollow
from devbox.build import writable
from devbox.build.progress import Display
from devbox.build.stack import build_box
from devbox.errors import DevboxError
from devbox.plan.lockfile import LOCK_NAME
from devbox.plan.recipe import input_digests
from devbox.sandbox.host import current_tier
from devbox.spec.load import load_spec
from devbox.spec.model import Spec
from devbox.store.layers import size_of
from devbox.store.paths import Store

DEBOUNCE = 0.4  # seconds of quiet before acting on a burst of events
MAX_WAIT = 3.0  # act anyway after this long, even if events keep coming
CONTENT_EVENTS = frozenset({"created", "modified", "deleted", "moved", "closed"})


@dataclass(frozen=True)
class Targets:
    """What is watched: the spec, the lock and the setup inputs (files or directories)."""

    spec: Path
    inputs: tuple[str, ...] = ()

    @property
    def project(self) -> Path:
        return self.spec.parent

    @property
    def lock(self) -> Path:
        return self.project / LOCK_NAME

    def paths(self) -> list[Path]:
        return [self.spec, self.lock, *(self.project / rel for rel in self.inputs)]

    def directories(self) -> dict[Path, bool]:
        """Directory -> recursive: the project (spec and lock), each input directory (deep),
        each input file's directory, and for a missing input its nearest existing ancestor
        (so that its creation is seen)."""
        dirs: dict[Path, bool] = {self.project: False}
        for rel in self.inputs:
            path = self.project / rel
            if path.is_dir():
                directory, deep = path, True
            else:
                directory, deep = path.parent, False
                while not directory.is_dir() and directory != directory.parent:
                    directory = directory.parent
            dirs[directory] = dirs.get(directory, False) or deep
        return dirs

    def concerns(self, path: Path) -> bool:
        """Is an event at `path` about a watched file: the file itself, something in a watched
        directory, or a directory on the way to a watched path (created, moved or deleted)?"""
        for target in self.paths():
            if path == target or target in path.parents:
                return True
            if path in target.parents and self.project in path.parents:
                return True
        return False


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read(path: Path) -> bytes | None:
    try:
        return nofollow.read_file(path)
    except (OSError, DevboxError):
        return None


def sources(targets: Targets) -> tuple[str, str]:
    """(the spec's content hash, the setup inputs' content hash). Missing files hash as such;
    nothing in the working tree is followed or waited on (recipe.input_digests)."""
    spec = _read(targets.spec)
    h = hashlib.sha256()
    for rel in targets.inputs:
        try:
            digests = input_digests(targets.project, rel)
        except (OSError, DevboxError) as e:
            digests = {rel: f"unreadable {e}"}
        for name, digest in sorted((digests if digests is not None else {rel: "missing"}).items()):
            h.update(f"{name}\0{digest}".encode())
    return ("missing" if spec is None else _sha(spec), h.hexdigest())


def lock_content(targets: Targets) -> bytes | None:
    return _read(targets.lock)


class _Wake(FileSystemEventHandler):
    """Puts a token in `wake` for each event about a watched path (watchdog's thread)."""

    def __init__(self, wake: queue.Queue[None], concerns: Callable[[Path], bool]) -> None:
        self.wake = wake
        self.concerns = concerns

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in CONTENT_EVENTS:
            return  # opened, closed without writing, attributes: reads and touches
        if event.is_directory and event.event_type == "modified":
            return  # an entry changed: that entry has its own event
        paths = [event.src_path, getattr(event, "dest_path", "")]
        if any(p and self.concerns(Path(os.fsdecode(p))) for p in paths):
            self.wake.put(None)


class Watcher:
    """The loop: build, then wait for a change, settle, rebuild if the content changed."""

    def __init__(
        self,
        spec_path: Path,
        st: Store,
        display: Display,
        *,
        say: Callable[[str], None],
        debounce: float = DEBOUNCE,
    ) -> None:
        self.targets = Targets(spec_path)
        self.st = st
        self.display = display
        self.say = say
        self.debounce = debounce
        self.wake: queue.Queue[None] = queue.Queue()
        # One handler for every watch; it asks the current targets (they change with the spec).
        self.handler = _Wake(self.wake, lambda path: self.targets.concerns(path))
        self.observer: BaseObserver = Observer()
        self.watches: dict[Path, tuple[bool, ObservedWatch]] = {}
        self.built_from: tuple[str, str] = ("", "")
        self.lock_after: bytes | None = None

    def run(self) -> None:
        """Until interrupted (KeyboardInterrupt, which SIGTERM raises too)."""
        self.observer.start()
        try:
            self._watch_targets()
            self.rebuild()
            self.say(f"watching {self._names()} (Ctrl-C stops)")
            while True:
                self._settle()
                reason = self.changed()
                if reason:
                    self.say(f"{reason} changed: rebuilding")
                    self.rebuild()
        finally:
            self.observer.stop()
            self.observer.join(timeout=5)

    def changed(self) -> str | None:
        """What changed since the last build, in words, or None."""
        now = sources(self.targets)
        if now[0] != self.built_from[0]:
            return self.targets.spec.name
        if now[1] != self.built_from[1]:
            return "a setup input"
        if lock_content(self.targets) != self.lock_after:
            return LOCK_NAME
        return None

    def rebuild(self) -> Spec | None:
        """Re-read the spec and build; report the outcome. Errors are reported, not raised."""
        self.built_from = sources(self.targets)
        spec: Spec | None = None
        try:
            spec = load_spec(self.targets.spec)
            if spec.inputs != self.targets.inputs:
                self.targets = Targets(self.targets.spec, spec.inputs)
                self.built_from = sources(self.targets)
                self._watch_targets()
            # a rebuild may reset the writable layer: said, not asked (nobody is there to answer)
            writable.warn(spec, self.st, current_tier().key, self.display)
            metas = build_box(spec, self.st, self.display)
        except DevboxError as e:
            print(e.render(), file=sys.stderr, flush=True)
            self.say("the build failed; still watching for the next change")
            return None
        except OSError as e:
            from devbox.errors import os_error

            print(os_error(e), file=sys.stderr, flush=True)
            self.say("the build failed; still watching for the next change")
            return None
        finally:
            self.lock_after = lock_content(self.targets)
        size = sum(size_of(self.st, m) for m in metas) / 2**20
        self.say(f"{spec.name}: ready ({len(metas)} layers, {size:.0f} MiB)")
        return spec

    def _settle(self) -> None:
        """Wait for an event, then for `debounce` seconds without one (at most MAX_WAIT)."""
        while True:
            try:
                self.wake.get(timeout=1.0)  # a timeout keeps Ctrl-C prompt
                break
            except queue.Empty:
                continue
        deadline = time.monotonic() + MAX_WAIT
        while (left := deadline - time.monotonic()) > 0:
            try:
                self.wake.get(timeout=min(self.debounce, left))
            except queue.Empty:
                return

    def _watch_targets(self) -> None:
        """Schedule watches for the current targets; drop those no longer needed."""
        want = self.targets.directories()
        for directory, (deep, watch) in list(self.watches.items()):
            if want.get(directory) != deep:
                self.observer.unschedule(watch)
                del self.watches[directory]
        for directory, deep in want.items():
            if directory not in self.watches:
                try:
                    watch = self.observer.schedule(self.handler, str(directory), recursive=deep)
                except OSError as e:
                    raise DevboxError(
                        f"cannot watch {directory}: {e.strerror or e}",
                        hint="on Linux, raise fs.inotify.max_user_watches "
                        "(sudo sysctl -w fs.inotify.max_user_watches=524288)"
                        if e.errno == errno.ENOSPC  # out of inotify watches
                        else None,
                    ) from e
                self.watches[directory] = (deep, watch)

    def _names(self) -> str:
        return ", ".join(_rel(p, self.targets.project) for p in self.targets.paths())


def _rel(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def watch(spec_path: Path, st: Store, display: Display, *, say: Callable[[str], None]) -> None:
    Watcher(spec_path, st, display, say=say).run()
