"""A layer blob read once as a tar stream: the bytes as read are hashed (the layer's digest), and
so are the bytes after decompression (its diff id). The compression is told by the blob's first
bytes, as containers/storage does, not by the media type: gzip is decompressed in this process
(zlib, concatenated members too), zstd by the `zstd` program, fed from a thread.

tarfile gets a `Forward` file: reads through a 1 MiB `io.BufferedReader`, `tell`, and a `seek`
that only goes forward (what tarfile's random-access mode needs of a file). Its own stream mode
(`r|`) re-slices its whole read buffer on every 512-byte header read, which a layer of many small
files pays for dearly.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import queue
import subprocess
import tempfile
import threading
import zlib

CHUNK = 1 << 20
GZIP = b"\x1f\x8b"
ZSTD = b"\x28\xb5\x2f\xfd"
UNREAD = {b"\xfd7zXZ\x00": "xz", b"BZh": "bzip2", b"\x04\x22\x4d\x18": "lz4"}


class BadLayer(Exception):
    """The layer's content is damaged or hostile: exit status 3, the reason on one line."""


class Source:
    """The blob's bytes from an fd, hashed as read (the layer's digest)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.hash = hashlib.sha256()
        self.pending = b""

    def peek(self, n: int) -> bytes:
        while len(self.pending) < n:
            more = os.read(self.fd, CHUNK)
            if not more:
                break
            self.hash.update(more)
            self.pending += more
        return self.pending[:n]

    def read(self, n: int = CHUNK) -> bytes:
        if self.pending:
            data, self.pending = self.pending[:n], self.pending[n:]
            return data
        data = os.read(self.fd, n)
        self.hash.update(data)
        return data

    def readinto(self, b: memoryview) -> int:
        if self.pending:
            data = self.read(len(b))
            b[: len(data)] = data
            return len(data)
        n = os.readv(self.fd, [b])
        self.hash.update(b[:n])
        return n


class _Raw(io.RawIOBase):
    """The decompressed tar bytes, hashed as they come (the diff id)."""

    def __init__(self, src: Source) -> None:
        self.src = src
        self.hash = hashlib.sha256()

    def readable(self) -> bool:
        return True


class _Plain(_Raw):
    def __init__(self, src: Source) -> None:
        super().__init__(src)
        self.hash = src.hash  # the same bytes: one hash

    def readinto(self, b: memoryview) -> int:  # type: ignore[override]
        return self.src.readinto(b)


class _Gzip(_Raw):
    def __init__(self, src: Source) -> None:
        super().__init__(src)
        self.z = zlib.decompressobj(wbits=31)
        self.tail = b""

    def readinto(self, b: memoryview) -> int:  # type: ignore[override]
        while True:
            if not self.tail:
                if self.z.eof:  # a member ended: another may follow
                    self.tail = self.z.unused_data or self.src.read()
                    if not self.tail:
                        return 0
                    self.z = zlib.decompressobj(wbits=31)
                else:
                    self.tail = self.src.read()
                    if not self.tail:
                        raise BadLayer("the layer's gzip data ends early (a truncated blob)")
            try:
                out = self.z.decompress(self.tail, len(b))
            except zlib.error as e:
                raise BadLayer(f"the layer's gzip data is damaged ({e})") from None
            self.tail = self.z.unconsumed_tail
            if out:
                self.hash.update(out)
                b[: len(out)] = out
                return len(out)


class _Zstd(_Raw):
    """`zstd -dc`, its input written from a thread (so neither side waits on the other)."""

    def __init__(self, src: Source) -> None:
        super().__init__(src)
        self.err = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(
                ["zstd", "-dcq"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err,
                bufsize=0,
            )  # fmt: skip
        except FileNotFoundError:
            self.err.close()
            raise OSError("zstd layers need the zstd program (Debian: apt install zstd)") from None
        self.failure: BaseException | None = None
        self.feeder = threading.Thread(target=self._feed, daemon=True)
        self.feeder.start()

    def _feed(self) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        try:
            while chunk := self.src.read():
                stdin.write(chunk)
        except BrokenPipeError:
            pass  # zstd stopped: its status says why
        except BaseException as e:  # an error reading the blob: told by the reading side
            self.failure = e
        finally:
            try:
                stdin.close()
            except OSError:
                pass

    def readinto(self, b: memoryview) -> int:  # type: ignore[override]
        stdout = self.proc.stdout
        assert stdout is not None
        n = os.readv(stdout.fileno(), [b])
        if n:
            self.hash.update(b[:n])
            return n
        status = self.proc.wait()
        self.feeder.join()
        if self.failure is not None:
            raise self.failure
        if status != 0:
            self.err.seek(0)
            said = self.err.read().decode("utf-8", "replace").strip().splitlines()
            why = said[-1] if said else f"zstd exited with status {status}"
            raise BadLayer(f"the layer's zstd data is damaged ({why})")
        return 0

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.feeder.join(timeout=5)  # it ends with zstd's input (or is blocked reading the blob)
        for f in (self.proc.stdout, self.err):
            if f is not None:
                f.close()
        super().close()


class _Ahead(_Raw):
    """Another `_Raw` read ahead by a thread: reading the blob, hashing and decompressing it
    (zlib and hashlib let go of the GIL on big buffers) go on while the unpacking thread parses
    the tar and makes its files, on a second core."""

    DEPTH = 16

    def __init__(self, inner: _Raw) -> None:
        super().__init__(inner.src)
        self.inner = inner
        self.hash = inner.hash
        self.queue: queue.Queue[bytes | BaseException] = queue.Queue(self.DEPTH)
        self.chunk = memoryview(b"")
        self.done = False
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                buf = bytearray(CHUNK)
                n = self.inner.readinto(memoryview(buf))
                self.queue.put(bytes(buf[:n]))
                if not n:
                    return
        except BaseException as e:  # told by the reading side
            self.queue.put(e)

    def readinto(self, b: memoryview) -> int:  # type: ignore[override]
        if not self.chunk and not self.done:
            got = self.queue.get()
            if isinstance(got, BaseException):
                self.done = True
                raise got
            self.chunk = memoryview(got)
            self.done = not got
        n = min(len(b), len(self.chunk))
        b[:n] = self.chunk[:n]
        self.chunk = self.chunk[n:]
        return n

    def close(self) -> None:
        self.stop.set()
        with contextlib.suppress(queue.Empty):  # a full queue: room for the thread's last put
            self.queue.get_nowait()
        self.inner.close()  # zstd killed: a thread waiting on its output wakes up
        while self.thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self.queue.get(timeout=0.1)
        super().close()


class Forward:
    """A file for tarfile: buffered reads, `tell`, and `seek` forward only."""

    def __init__(self, raw: _Raw) -> None:
        self.raw = raw
        self.buf = io.BufferedReader(raw, CHUNK)
        self.pos = 0

    def read(self, n: int = -1, /) -> bytes:
        data = self.buf.read(n if n >= 0 else None)
        self.pos += len(data)
        return data

    def tell(self) -> int:
        return self.pos

    def seek(self, pos: int, /) -> int:
        if pos < self.pos:
            raise BadLayer("the tar stream asked to go back (a damaged archive)")
        while self.pos < pos and self.read(min(pos - self.pos, CHUNK)):
            pass
        return self.pos

    def write(self, b: bytes, /) -> int:
        raise io.UnsupportedOperation("write")

    def drain(self) -> None:
        """Read what is left (the tar's end blocks and padding): the hashes cover every byte."""
        while self.read(CHUNK):
            pass

    def close(self) -> None:
        self.buf.close()


class Layer:
    """A blob opened for unpacking: `tar` to read, then `digests()` once the tar is read."""

    def __init__(self, fd: int) -> None:
        self.src = Source(fd)
        head = self.src.peek(6)
        raw: _Raw
        if head.startswith(GZIP):
            self.compression, raw = "gzip", _Gzip(self.src)
        elif head.startswith(ZSTD):
            self.compression, raw = "zstd", _Zstd(self.src)
        else:
            for magic, name in UNREAD.items():
                if head.startswith(magic):
                    raise BadLayer(f"a {name}-compressed layer: devbox reads tar, gzip and zstd")
            self.compression, raw = "none", _Plain(self.src)
        self.tar = Forward(_Ahead(raw))

    def digests(self) -> tuple[str, str]:
        """(digest, diff id), after reading to the end of the stream."""
        self.tar.drain()
        rest = self.src.read()
        if rest:  # zstd stopped at the end of its frames: what follows is not a layer's
            raise BadLayer("the layer has bytes after its compressed data")
        return "sha256:" + self.src.hash.hexdigest(), "sha256:" + self.tar.raw.hash.hexdigest()

    def close(self) -> None:
        self.tar.close()
