"""One table for the rule the `devbox` front (devbox/front.sh) deliberately re-implements in sh:
which arguments take the fast path of `devbox run` (fastpath.run_command, and the hand-over
variable fastpath.exec_launcher checks). tests/unit/test_fastpath.py runs every case through
fastpath.exec_launcher and tests/unit/test_front.py through the sh front; both must agree with
the table, hence with each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from devbox.fastpath import HANDOVER_ENV

# argument words a shell must pass through untouched
AWKWARD_ARGV = ("sh", "-c", 'echo "$1"', "x", "a  b", "", "*", "-v", "--", "it's $x\n\\")


@dataclass(frozen=True)
class RunCase:
    args: tuple[str, ...]
    command: tuple[str, ...] | None  # what the launcher runs; None: Python gets `args` as they are
    env: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        env = "".join(f"{k}={v!r} " for k, v in self.env.items())
        return env + (" ".join(repr(a) for a in self.args) or "(none)")


RUN_CASES = [
    RunCase(("run", "--", "make", "-j2"), ("make", "-j2")),
    RunCase(("run", "make", "--", "x"), ("make", "--", "x")),
    RunCase(("run", "--", "--weird"), ("--weird",)),
    RunCase(("run", "--", "--"), ("--",)),
    RunCase(("run", "--", *AWKWARD_ARGV), AWKWARD_ARGV),
    RunCase(("run", *AWKWARD_ARGV), AWKWARD_ARGV),
    RunCase(("run", "", "x"), ("", "x")),  # an empty command is the launcher's to refuse
    RunCase(("run", "--", ""), ("",)),
    RunCase(("run", "true"), None, {HANDOVER_ENV: "/a/devbox.toml"}),  # a launcher handed over
    RunCase(("run", "true"), ("true",), {HANDOVER_ENV: ""}),  # only a non-empty value counts
    RunCase((), None),
    RunCase(("run",), None),
    RunCase(("run", "--"), None),
    RunCase(("run", "--root", "--", "id"), None),
    RunCase(("run", "-v", "x"), None),
    RunCase(("run", "-", "x"), None),
    RunCase(("run", "--help"), None),
    RunCase(("-q", "run", "--", "true"), None),
    RunCase(("-v", "run", "--", "x"), None),
    RunCase(("RUN", "x"), None),
    RunCase(("shell",), None),
    RunCase(("build", "--locked"), None),
    RunCase(("--version",), None),
    RunCase(("status", "a b", "", "*"), None),
]
