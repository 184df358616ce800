"""The launcher's words (launcher.py): argv words quoted for sh with the launcher's placeholders
(the command, the working directory, the supervisor's pid, bwrap's --new-session) as shell
expressions, and the bwrap options that give a command the env `devbox run` would."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from shlex import quote as q

from devbox.sandbox import boxenv

_CMD = "\x00cmd\x00"
_CWD = "\x00cwd\x00"
_PID = "\x00pid\x00"
_NEW_SESSION = "\x00new-session\x00"  # bwrap's --new-session, but not for a terminal's session
_EXPR = {_CMD: '"$@"', _CWD: '"$c"', _PID: '"$pid"', _NEW_SESSION: "${ns:+--new-session}"}


def _word(w: str) -> str:
    """Quote one argv word for sh, with the launcher's placeholders as shell expressions."""
    if w in _EXPR:
        return _EXPR[w]
    out = ""
    rest = w
    while True:
        hits = [(rest.find(t), t) for t in (_CWD, _PID) if t in rest]
        if not hits:
            return out + (q(rest) if rest or not out else "")
        i, t = min(hits)
        if rest[:i]:
            out += q(rest[:i])
        out += _EXPR[t]
        rest = rest[i + len(t) :]


def _words(argv: Iterable[str]) -> str:
    return " ".join(_word(w) for w in argv)


def env_options(entry_env: Mapping[str, str], probed: Mapping[str, str]) -> list[str] | None:
    """bwrap options that give the command the env `devbox run` would, host values passed
    through at run time; None when [env] derives a value from the host's (then only the
    Python path can compute it). `entry_env`/`probed`: the box env without host values and
    with a marker for each."""
    lines: list[str] = []
    static: list[str] = []
    for key in sorted(set(entry_env) | set(probed)):
        mine, theirs = entry_env.get(key), probed.get(key)
        if key in boxenv.PASS_THROUGH and theirs == _probe(key):
            if key == "TERM":
                lines.append('--setenv TERM "$TERM"')
            else:
                lines.append(f'${{{key}+--setenv}} ${{{key}+{key}}} ${{{key}+"${key}"}}')
        elif mine != theirs:
            return None
        elif mine is not None:
            static.append(f"--setenv {q(key)} {q(mine)}")
    return ["--clearenv", *lines, *static]


def _probe(key: str) -> str:
    return f"\x01devbox-probe-{key}\x01"
