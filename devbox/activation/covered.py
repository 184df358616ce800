"""What trust covers, read without following a symlink: the spec, devbox.lock, the setup inputs.

All three live in the project's working tree, which every box of the project can write: a box can
plant a symlink there. The spec and the lock are read with the no-follow helper (a symlink is
refused with a DevboxError that says why); the setup inputs hash exactly as the build hashes them
(plan.recipe.input_digests: a symlink as its target string, like git), so what trust covers is
what the build uses.
"""

from __future__ import annotations

from pathlib import Path

from devbox import nofollow
from devbox.errors import DevboxError, printable
from devbox.plan.recipe import input_digests

MISSING = "missing"  # an input that does not exist (the build says so; trust only compares)
# [env] files are covered beside the setup inputs, under this prefix (no input path has it):
# their values reach the hook-activated shell on the host, so a box must not choose them
ENV_FILE = "env:"


def linked(path: Path | str) -> DevboxError:
    """The refusal for a symlink where a project's own file should be."""
    return DevboxError(
        f"{printable(str(path))} is a symbolic link: devbox does not follow links in a project "
        "(a box can plant one in the working tree it writes)",
        hint="replace it with the file itself",
    )


def sha256(data: bytes) -> str:
    import hashlib  # here: `run` imports this module, and hashlib loads OpenSSL

    return hashlib.sha256(data).hexdigest()


def read_file(path: Path) -> bytes | None:
    """The content of the regular file `path` (its last component not followed if a symlink);
    None when it does not exist."""
    try:
        return nofollow.read_file(path)
    except FileNotFoundError:
        return None
    except nofollow.Refused:
        if path.is_symlink():
            raise linked(path) from None
        raise
    except OSError as e:
        raise DevboxError(f"cannot read {printable(str(path))}: {e.strerror or e}") from e


def read_spec(path: Path) -> bytes:
    """devbox.toml's content; a symlink or a missing file is a DevboxError."""
    data = read_file(path)
    if data is None:
        raise DevboxError(f"cannot read {printable(str(path))}: No such file or directory")
    return data


def lock_hash(lock: Path) -> str | None:
    """The lock's content hash, None when there is none."""
    data = read_file(lock)
    return None if data is None else sha256(data)


def input_hashes(project: Path, inputs: tuple[str, ...]) -> dict[str, str]:
    """{path in the project: sha256 or MISSING} for the setup inputs, as the build hashes them."""
    out: dict[str, str] = {}
    for rel in inputs:
        got = input_digests(project, rel)
        if got is None:
            out["/".join(nofollow.parts(rel))] = MISSING
        else:
            out.update(got)
    return dict(sorted(out.items()))


def env_file_hashes(project: Path, files: tuple[str, ...]) -> dict[str, str]:
    """{ENV_FILE + path: sha256 or MISSING} for the [env] files; a symlinked one is refused."""
    out: dict[str, str] = {}
    for rel in files:
        name = "/".join(nofollow.parts(rel))
        try:
            data = nofollow.read_beneath(project, name)
        except FileNotFoundError:
            out[ENV_FILE + name] = MISSING
            continue
        except nofollow.Refused as e:
            raise DevboxError(f"[env] files: {e.message}", hint=e.hint) from None
        except OSError as e:
            path = printable(str(project / name))
            raise DevboxError(f"cannot read the env file {path}: {e.strerror or e}") from e
        out[ENV_FILE + name] = sha256(data)
    return out
