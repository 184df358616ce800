"""Helpers of the network tests: a real HTTP server on the host, what a box reaches (bash's
/dev/tcp, in the box), a greeting server in a box (perl, in every Debian base) and waiting for it
from the host."""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
import time
from collections.abc import Iterator

# In the box: for each HOST PORT pair, the first line the server there answers to a GET, or
# "unreachable" (bash's own connect; `timeout` in case a packet is dropped rather than refused).
REACHES = r"""
while [ $# -gt 1 ]; do
  if timeout 5 bash -c 'exec 3<>"/dev/tcp/$0/$1" && printf "GET / HTTP/1.0\r\n\r\n" >&3 &&
      IFS= read -r line <&3 && printf "%s\n" "${line%$(printf "\r")}"' "$1" "$2" 2>/dev/null
  then :; else echo unreachable; fi
  shift 2
done
"""
OK = "HTTP/1.0 200 OK"
GREETING = "hello from the box"
# In the box: a server that greets every connection on ADDR:PORT (its one argument), a file of
# the project: `perl greeter.pl ADDR:PORT`
GREETER_PL = (
    "use IO::Socket::INET;\n"
    "my $s = IO::Socket::INET->new(LocalAddr => shift, Listen => 8, ReuseAddr => 1)\n"
    '  or die "listen: $!";\n'
    f'while (my $c = $s->accept) {{ print $c "{GREETING}\\n"; close $c }}\n'
)
FILES = {"greeter.pl": GREETER_PL}
# In the box: the first line the server on 127.0.0.1:PORT (its one argument) says, trying for
# up to ten seconds (while it starts)
READ_LOOPBACK = """
for i in $(seq 100); do exec 3<>"/dev/tcp/127.0.0.1/$1" && break; sleep 0.1; done 2>/dev/null
IFS= read -r line <&3 && printf '%s\\n' "$line"
"""


def greeted(port: int) -> list[str]:
    """The argv (after `devbox run --`) that prints what the box's own 127.0.0.1:port says."""
    return ["bash", "-c", READ_LOOPBACK, "greeted", str(port)]


def reaches(*targets: tuple[str, int]) -> list[str]:
    """The argv (after `devbox run --`) that prints what each target answers."""
    return ["bash", "-c", REACHES, "reaches", *(str(x) for t in targets for x in t)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def host_address() -> str | None:
    """The host's own address on its network (the source of its default route), if it has one
    other than loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.255", 9))  # no packet is sent: a route is chosen
        except OSError:
            return None
        addr: str = s.getsockname()[0]
    return None if addr.startswith("127.") else addr


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def host_server(address: str = "0.0.0.0") -> Iterator[int]:
    """Python's http.server on the host, on `address` (by default every one, the loopback
    included); its port."""
    server = http.server.ThreadingHTTPServer((address, 0), _Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def greeting(port: int, addr: str = "127.0.0.1", timeout: float = 30) -> str:
    """What the greeter answers on the host's addr:port, once it is up ("" if never)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((addr, port), timeout=2) as s:
                data = s.recv(100).decode()
            if data:
                return data.strip()
        except OSError:
            pass
        time.sleep(0.1)
    return ""


def refused(port: int, addr: str) -> bool:
    """No server answers on the host's addr:port."""
    try:
        with socket.create_connection((addr, port), timeout=2) as s:
            return not s.recv(100)
    except OSError:
        return True
