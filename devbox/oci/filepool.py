"""Regular files of a layer written by a second thread, while the first reads the tar.

Making a file (open with O_CREAT|O_EXCL, write, owner, mode, times, close) is almost all system
calls, which run without the GIL: on two cores two threads make files nearly twice as fast. The
reading thread hands over a file whole (its bytes already read from the tar) with a duplicate of
its parent's dir fd, so the worker never looks a path up. What could see a half-done state waits
first (`settle`): any entry at, above or linking to a name still being written, and the
directories' final modes and times.
"""

from __future__ import annotations

import os
import queue
import stat
import threading
from collections.abc import Callable
from typing import Protocol

from devbox.oci.layermeta import Parts
from devbox.oci.layerstream import BadLayer

Job = Callable[[], None]


class Reader(Protocol):
    def read(self, n: int, /) -> bytes: ...


FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
DEPTH = 64  # files in flight
BIG = 4 << 20  # a file this big is written by the reading thread (no copy held in memory)


class Pool:
    def __init__(self) -> None:
        self.jobs: queue.Queue[tuple[Parts, Job] | None] = queue.Queue(DEPTH)
        self.lock = threading.Lock()
        self.pending: dict[Parts, int] = {}  # a name being written, and each dir above it
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._work, daemon=True)
        self.thread.start()

    def _work(self) -> None:
        while (item := self.jobs.get()) is not None:
            parts, job = item
            try:
                if self.error is None:
                    job()
            except BaseException as e:
                self.error = e
            finally:
                self._done(parts)
                self.jobs.task_done()
        self.jobs.task_done()

    def _done(self, parts: Parts) -> None:
        with self.lock:
            for i in range(1, len(parts) + 1):
                key = parts[:i]
                n = self.pending[key] - 1
                if n:
                    self.pending[key] = n
                else:
                    del self.pending[key]

    def busy(self, parts: Parts) -> bool:
        """Is a file at `parts`, or under it, still being written?"""
        with self.lock:
            return parts in self.pending

    def submit(self, parts: Parts, job: Job) -> None:
        self.check()
        with self.lock:
            for i in range(1, len(parts) + 1):
                self.pending[parts[:i]] = self.pending.get(parts[:i], 0) + 1
        self.jobs.put((parts, job))

    def settle(self) -> None:
        """Wait until every file handed over is written; raise what went wrong in one."""
        self.jobs.join()
        self.check()

    def check(self) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            self.error = error  # keep it: later jobs are skipped
            raise error

    def close(self) -> None:
        if self.thread.is_alive():
            self.jobs.put(None)
            self.thread.join()


def is_dir(parent: int, name: bytes) -> bool:
    try:
        return stat.S_ISDIR(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return False


def read_all(tar: Reader, size: int, entry: str) -> bytes:
    data = tar.read(size)
    if len(data) != size:
        raise BadLayer(f"{entry}: the layer ends inside this file's data")
    return data


def file_job(parent: int, name: bytes, data: bytes, finish: Callable[[int], None]) -> Job:
    """Making the file `name` in `parent` (through a duplicate of that fd, which the job
    closes), replacing a file or link there; `finish` sets its metadata."""
    pfd = os.dup(parent)

    def job() -> None:
        try:
            try:
                fd = os.open(name, FILE_FLAGS, 0o600, dir_fd=pfd)
            except FileExistsError:
                os.unlink(name, dir_fd=pfd)
                fd = os.open(name, FILE_FLAGS, 0o600, dir_fd=pfd)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                finish(fd)
            finally:
                os.close(fd)
        finally:
            os.close(pfd)

    return job
