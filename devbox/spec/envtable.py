"""[env]: variables (NAME = "value", in file order) and `files`, the .env files read at entry."""

from __future__ import annotations

import re

from devbox.spec.tables import relative_path_problem
from devbox.spec.validate import Ctx, Table, get_str_list, wrong_type

ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def env_vars(ctx: Ctx, table: Table) -> tuple[tuple[str, str], ...]:
    """[env]: NAME = "value" pairs, in file order."""
    env: list[tuple[str, str]] = []
    for name, value in table.items():
        if name == ENV_FILES and isinstance(value, list):
            continue  # env_files
        if not ENV_NAME_RE.fullmatch(name):
            allowed = "letters, digits and '_', not starting with a digit"
            message = f'"{name}" is not a valid environment variable name'
            raise ctx.fail(("env", name), message, allowed=allowed)
        if not isinstance(value, str):
            raise wrong_type(ctx, ("env", name), "a string", value, quote_hint=True)
        env.append((name, value))
    return tuple(env)


ENV_FILES = "files"  # [env] files = [".env"]: an array, where a variable's value is a string


def env_files(ctx: Ctx, table: Table) -> tuple[str, ...]:
    """[env] files: project-relative .env files, read at entry (spec/dotenv.py)."""
    value = table.get(ENV_FILES)
    if not isinstance(value, list):
        return ()
    files = get_str_list(ctx, table, ("env", ENV_FILES))
    for item in files:
        problem = relative_path_problem(item)
        if problem:
            allowed = 'paths relative to the project, e.g. ".env"'
            raise ctx.fail(("env", ENV_FILES), f'"{item}" {problem}', allowed=allowed)
    return files
