"""Publish a private box's ports on the host: one `add_hostfwd` request per port to slirp4netns's
API socket (as rootless podman does). Run by the box's network helper (network.sh.in) as
`python -I -S hostfwd.py SOCKET ADDR:HOST:BOX...` (the standard library only: it runs without
devbox's path); a port that cannot be published stops the box's start with a line saying why."""

from __future__ import annotations

import json
import socket
import sys


def request(sock: str, addr: str, host: int, box: int) -> str | None:
    """Publish one port; None when done, else what slirp4netns said."""
    args = {"proto": "tcp", "host_addr": addr, "host_port": host, "guest_port": box}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(sock)
        s.sendall(json.dumps({"execute": "add_hostfwd", "arguments": args}).encode())
        s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    try:
        answer = json.loads(data or b"{}")
    except ValueError:
        return f"an answer that is not JSON: {data[:200]!r}"
    if isinstance(answer, dict) and "return" in answer:
        return None
    error = answer.get("error") if isinstance(answer, dict) else None
    desc = error.get("desc") if isinstance(error, dict) else None
    return str(desc or "no answer")


def printable(text: str) -> str:
    """`text` with control characters escaped (errors.printable's rule, without importing devbox:
    this runs on the standard library alone)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def main(argv: list[str]) -> int:
    sock, ports = argv[0], argv[1:]
    for port in ports:
        addr, host, box = port.split(":")
        said = f"devbox: cannot publish the box's port {box} on {addr}:{host}"
        try:
            why = request(sock, addr, int(host), int(box))
        except OSError as e:
            why = f"slirp4netns's API socket: {e.strerror or e}"
        else:  # slirp4netns says only that binding failed: in use, or a privileged port
            why = why and f"{why}; is that port in use on the host?"
        if why:
            print(printable(f"{said} ({why})"), file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
