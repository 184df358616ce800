"""What the host has: the tools devbox drives, and which privilege tier this user gets."""

from __future__ import annotations

import os
import shutil

from .errors import HostError

# tool -> (Debian package, what it is for)
TOOLS = {
    "bwrap": ("bubblewrap", "the sandbox"),
    "mmdebstrap": ("mmdebstrap", "building debian:<suite> bases"),
    "unshare": ("util-linux", "namespaces"),
    "nsenter": ("util-linux", "joining a running box"),
    "flock": ("util-linux", "keeping a box up while sessions use it"),
    "mount": ("mount", "overlay mounts"),
}


def tool(name: str) -> str:
    path = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if path is None:
        pkg, purpose = TOOLS.get(name, (name, name))
        raise HostError(
            f"`{name}` is not installed; devbox needs it for {purpose}",
            hint=f"install it: sudo apt-get install {pkg}   (then `devbox doctor` checks the rest)",
        )
    return path


def tier() -> int:
    """The privilege tier of this process (DESIGN.md): 1 host root. Rootless tiers come later."""
    if os.geteuid() == 0:
        return 1
    raise HostError(
        "devbox runs as root only in this version; rootless boxes are not supported yet",
        hint="run it with sudo for now",
    )
