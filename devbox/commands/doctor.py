"""`devbox doctor`: which privilege tier this user gets and why, and how to fix what is missing.

Each check probes the real thing (creating a user namespace, mounting an overlay in one) rather
than guessing from config files, then explains a failure with the command that fixes it.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devbox.commands import imagestore as images
from devbox.errors import DevboxError
from devbox.sandbox import host, limits, network
from devbox.spec.load import find_spec, load_spec
from devbox.spec.model import SPEC_NAME, Limits
from devbox.store import private, projects
from devbox.store.paths import Store, store_root

SKOPEO_FIX = "sudo apt-get install skopeo"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    optional: bool = False  # a missing piece that only costs a tier


def _run(argv: list[str]) -> tuple[bool, str]:
    rc, out = host.run_captured(argv, timeout=20)
    return rc == 0, out


def _tool(name: str) -> Check:
    path = host.which(name)
    pkg, purpose = host.TOOLS[name]
    if path is None:
        return Check(
            name, False, f"not installed (needed for {purpose})", f"sudo apt-get install {pkg}"
        )
    return Check(name, True, path)


def _bwrap_version() -> Check:
    path = host.which("bwrap")
    if path is None:
        return Check("bwrap version", False, "bwrap is missing", "sudo apt-get install bubblewrap")
    _, out = _run([path, "--version"])
    m = re.search(r"(\d+)\.(\d+)", out)
    version = m.group(0) if m else "unknown"
    note = (
        "has --overlay (unused: devbox mounts overlays itself)"
        if m and (int(m.group(1)), int(m.group(2))) >= (0, 11)
        else "no --overlay; devbox mounts overlays itself"
    )
    return Check("bwrap version", True, f"{version}: {note}")


def _sysctl(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _userns_probe(flags: tuple[str, ...]) -> Check:
    unshare = host.which("unshare")
    if unshare is None:
        return Check(
            "user namespaces", False, "unshare is missing", "sudo apt-get install util-linux"
        )
    ok, out = _run([unshare, *flags, "--", "true"])
    if ok:
        return Check("user namespaces", True, "can be created")
    err = host.userns_failure(out or "unshare failed")
    why = err.message if err else out
    fix = err.hint or "" if err else ""
    restrict = _sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
    if restrict == "1":
        why += "; Ubuntu's AppArmor restricts unprivileged user namespaces"
        fix = ("sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (or an AppArmor "
               "profile allowing userns for bwrap and unshare)")  # fmt: skip
    return Check("user namespaces", False, why, fix)


def _overlay_probe(tier: host.Tier) -> Check:
    unshare = host.which("unshare")
    if unshare is None:
        return Check("overlayfs", False, "unshare is missing", "sudo apt-get install util-linux")
    with tempfile.TemporaryDirectory(prefix="devbox-doctor-") as tmp:
        for d in ("l", "u", "w", "m"):
            os.mkdir(os.path.join(tmp, d))
        opts = "lowerdir=l,upperdir=u,workdir=w" + (",userxattr" if tier.level > 1 else "")
        flags = list(tier.userns.unshare_flags) if tier.userns else []
        script = f'cd "$1" && mount -t overlay doctor -o {opts} m && touch m/x && rm m/x'
        ok, out = _run([unshare, *flags, "--mount", "--", "/bin/sh", "-c", script, "sh", tmp])
        if tier.level == 2 and host.which("unshare"):
            _run([unshare, *flags, "--", "rm", "-rf", os.path.join(tmp, "w")])
    if ok:
        where = "in a user namespace" if tier.level > 1 else "as root"
        return Check("overlayfs", True, f"mounts {where}")
    return Check(
        "overlayfs",
        False,
        f"cannot mount {out}",
        "a kernel >= 5.11 is needed for overlayfs in a user namespace",
    )


def _subids(tier: host.Tier) -> Check:
    if tier.level == 1:
        return Check("subuid/subgid", True, "not needed as root")
    if tier.subuid and tier.subgid:
        return Check("subuid/subgid", True, f"ranges {tier.subuid} and {tier.subgid}")
    free = host.free_subid_range()
    return Check(
        "subuid/subgid",
        False,
        f"no range of {host.MIN_RANGE} ids for {tier.user} (so tier 3; tier 2 is more faithful)",
        f"sudo usermod --add-subuids {free} --add-subgids {free} {tier.user}",
        optional=True,
    )


def _store() -> Check:
    root = store_root()
    if root.exists():
        try:
            private.check_root(root, "store")
        except DevboxError as e:
            return Check("store", False, e.message, e.hint or "")
    probe = root
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free / 2**30
    ok = free > 1
    return Check(
        "store",
        ok,
        f"{root} ({free:.1f} GiB free)",
        "" if ok else "free some space, or set DEVBOX_HOME to a bigger disk",
    )


def uses_images(st: Store) -> bool:
    """Whether a registered project whose devbox.toml is still there has an image base (a layer
    of kind "oci" in its recorded stack). Reads only the store; a project never built on an
    image yet does not count."""
    for _, info in projects.registered(st):
        path = info.get("path")
        stack = info.get("stack")
        if not (isinstance(path, str) and isinstance(stack, list)):
            continue
        if not (Path(path) / SPEC_NAME).is_file():
            continue
        if any(
            isinstance(d, str) and images.kind(images.read_meta(st.layer_dir(d))) == "oci"
            for d in stack
        ):
            return True
    return False


def _skopeo(needed: bool) -> list[Check]:
    """skopeo pulls `oci:` bases: there, and `skopeo --version` runs. Missing is a warning
    (optional) unless a registered project's box is on an image."""
    who = "a registered project's box is on an image" if needed else "only oci: bases need it"
    path = host.which("skopeo")
    if path is None:
        return [Check("skopeo", False, f"not installed ({who})", SKOPEO_FIX, not needed)]
    ok, out = _run([path, "--version"])
    m = re.search(r"version (\d+\.\d+(?:\.\d+)?)", out)
    if not ok or m is None:
        said = out.strip().splitlines()[-1] if out.strip() else "no output"
        fix = "sudo apt-get install --reinstall skopeo"
        detail = f"`skopeo --version` failed: {said}"
        return [
            Check("skopeo", True, path),
            Check("skopeo version", False, detail, fix, not needed),
        ]
    return [
        Check("skopeo", True, path),
        Check("skopeo version", True, f"{m.group(1)} (pulls oci: bases)"),
    ]


def _needs_images() -> bool:
    try:
        return uses_images(Store(store_root()))
    except OSError:
        return False


def _limits(tier: host.Tier) -> list[Check]:
    """How [limits] would be held here (each limit's mechanism), and, in a project with
    [limits], what is in force for it. A limit that cannot be held costs only that limit."""
    every = limits.plan(Limits(memory=2**30, cpus=1.0, pids=512), tier, "probe")
    lost = [what.split(" ")[0] for what, _ in every.missing]
    names = [line.split(" ", 1)[0] for line in every.lines]
    ways = [line.split("(", 1)[1].rstrip(")") for line in every.lines]
    held = "; ".join(f"{n} by {w}" for n, w in zip(names, ways) if n not in lost)
    fix = "" if not lost else (
        "run as root, or have the host delegate cgroup v2 to you (systemd's user@.service, "
        "Delegate=yes)")  # fmt: skip
    detail = held + (f"; {', '.join(lost)} cannot be limited here" if lost else "")
    checks = [Check("limits", not lost, detail, fix, optional=True)]
    spec = find_spec(Path.cwd())
    try:
        mine = load_spec(spec).limits if spec is not None else Limits()
    except DevboxError:
        return checks
    in_force = limits.in_force(mine, tier)
    if in_force:
        missing = any("not enforced" in line for line in in_force)
        checks.append(Check("limits in force", not missing, "; ".join(in_force), fix, True))
    return checks


def run_checks() -> tuple[list[Check], host.Tier, bool]:
    """All checks, the tier devbox will use, and whether it works."""
    tier = host.current_tier()
    needed = ("bwrap", "mmdebstrap", "unshare", "nsenter", "flock", "setpriv", "dd", "mount")
    checks = [_tool(t) for t in needed]
    checks.append(_bwrap_version())
    if tier.level > 1:
        ids = [_tool("newuidmap"), _tool("newgidmap")]
        checks += [Check(c.name, c.ok, c.detail, c.fix, optional=True) for c in ids]
        checks.append(_subids(tier))
        checks.append(_userns_probe(tier.userns.unshare_flags if tier.userns else ()))
    checks.append(_overlay_probe(tier))
    checks += _skopeo(_needs_images())
    checks += [Check(*c, optional=True) for c in network.doctor(tier.level)]
    checks.append(_store())
    checks += _limits(tier)
    return checks, tier, works(checks)


def works(checks: list[Check]) -> bool:
    """Whether devbox works with these: optional pieces (a lower tier, skopeo when no project is
    on an image) and the store's free space do not count."""
    optional = ("subuid/subgid", "newuidmap", "newgidmap", "store")
    return all(c.ok for c in checks if not c.optional and c.name not in optional)


def report(checks: list[Check], tier: host.Tier, works: bool) -> list[str]:
    lines = []
    for c in checks:
        mark = "ok " if c.ok else ("-- " if c.optional else "!! ")
        lines.append(f"{mark} {c.name:<16} {c.detail}")
        if c.fix and not c.ok:
            lines.append(f"    {'':<16} fix: {c.fix}")
    lines.append("")
    if works:
        lines.append(f"devbox works here: {tier.describe()}.")
    else:
        lines.append(
            f"devbox cannot run boxes here yet ({tier.describe()}): fix the lines marked !! above."
        )
    return lines


def report_json(checks: list[Check], tier: host.Tier, works: bool) -> dict[str, Any]:
    """`devbox doctor --json`: whether devbox works here, the tier, and every check."""
    return {
        "works": works,
        "tier": {"level": tier.level, "user": tier.user, "description": tier.describe()},
        "checks": [
            {"name": c.name, "ok": c.ok, "optional": c.optional, "detail": c.detail, "fix": c.fix}
            for c in checks
        ],
    }
