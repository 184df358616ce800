"""Typing into real interactive shells through a terminal (pexpect), as a person does: a line is
sent only once the shell shows its prompt.

A line typed before the prompt races the shell: fish throws away what arrives before its first
prompt (it flushes the terminal's input as it starts reading), so a test that types ahead passes
on an idle machine and fails on a loaded one, or with a slow rc file. Every test that types into
a shell goes through `Terminal.sendline`.

A host shell whose rc file the test writes numbers its prompts, `<TAG N>` (`prompt_rc`): TAG is
this shell's own, N counts the prompts shown. Fish redraws its prompt as you type, so a marker
alone could be an old prompt redrawn; a number cannot. A shell whose rc file the test does not
write (`devbox shell`'s, in the box) is recognised by a pattern of its prompt instead, which is
safe as long as each line's output is read before the next line is sent (`Terminal.run`).
"""

from __future__ import annotations

import itertools
import re
import secrets

import pexpect

_count = itertools.count(1)


def new_tag() -> str:
    return f"prompt-{secrets.token_hex(4)}"


def box_prompt(name: str) -> str:
    """The pattern of `devbox shell`'s prompt for a box named `name` (its mark comes first)."""
    return re.escape(f"⬢ {name} ")


def prompt_rc(shell: str, tag: str, prompt: str, fish_before: str = "") -> str:
    """rc lines (at the end of the rc file) that make `shell`'s prompt `prompt` followed by
    `<tag N>`; N is counted once per prompt (in the prompt hook, which repaints do not run), and
    counting keeps the last command's status for the other hooks. `fish_before`: fish code that
    fish_prompt runs first (it sees the last command's $status)."""
    if shell == "bash":  # PS1 is expanded once per prompt
        return f"PS1='{prompt}<{tag} $((++_tp_count))> '\n"
    if shell == "zsh":
        return (
            "_tp_count() { psvar[9]=$(( ${psvar[9]:-0} + 1 )); }\n"
            "precmd_functions+=(_tp_count)\n"
            f"PS1='{prompt}<{tag} %9v> '\n"
        )
    if shell == "fish":
        return (
            "set -g _tp_count 0\n"
            "function _tp_next --on-event fish_prompt\n"
            "    set -g _tp_count (math $_tp_count + 1)\n"
            "end\n"
            f"function fish_prompt; {fish_before + '; ' if fish_before else ''}"
            f'printf "%s<{tag} %s> " "{prompt}" $_tp_count; end\n'
        )
    raise AssertionError(f"no numbered prompt for {shell}")


class Terminal:
    """A pexpect child running an interactive shell: `tag` for a numbered prompt (prompt_rc),
    else `prompt`, a regular expression of the prompt."""

    def __init__(
        self, child: pexpect.spawn[str], *, tag: str | None = None, prompt: str | None = None
    ) -> None:
        assert (tag is None) != (prompt is None), "a tag or a prompt pattern"
        self.child = child
        self.tag = tag
        self.prompt = prompt
        self.next = 1  # the number of the prompt to wait for
        self.ready = False  # the prompt has been seen and nothing typed since

    def wait_prompt(self, timeout: float = -1) -> None:
        """Read up to the next prompt the shell shows (not an old one redrawn), unless it has
        been read already; `timeout` in seconds, default the child's."""
        if self.ready:
            return
        if self.prompt is not None:
            self.child.expect(self.prompt, timeout=timeout)
        else:
            while True:
                self.child.expect(f"<{self.tag} (\\d+)> ", timeout=timeout)
                assert isinstance(self.child.match, re.Match), self.child.match
                n = int(self.child.match.group(1))
                if n >= self.next:
                    self.next = n + 1
                    break
        self.ready = True

    def sendline(self, line: str) -> None:
        """Type `line` once the shell is at its prompt."""
        self.wait_prompt()
        self.child.sendline(line)
        self.ready = False

    def run(self, command: str) -> str:
        """Type a command line; return its output (recognised among the terminal's noise)."""
        n = next(_count)
        self.sendline(f"echo BEGIN-{n}; {command}; echo END-{n}")
        self.child.expect(f"BEGIN-{n}\r?\n(.*?)END-{n}")
        assert isinstance(self.child.match, re.Match), self.child.match
        return self.child.match.group(1).replace("\r\n", "\n")
