"""The environment inside a box: a clean base, a few host values passed through, then [env]."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from devbox.sandbox.argv import RC_BIN
from devbox.spec import dotenv
from devbox.spec.model import Spec

# RC_BIN last: only what the box lacks (`sudo`, box.sync_rc)
BOX_PATH = f"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:{RC_BIN}"
PASS_THROUGH = (
    "TERM", "COLORTERM", "NO_COLOR", "TZ",
    "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
)  # fmt: skip
# Where `pip install` and `npm install -g` go when run as the user: in the box (its writable
# layer), never the host's home (the interpreter layers make these dirs, mode 1777).
PYTHON_USER_BASE = "/opt/devbox/python-user"
NPM_PREFIX = "/opt/devbox/npm-global"
IDENTITY = frozenset({"HOME", "USER", "LOGNAME", "SHELL"})  # the user's, never an image's
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def referenced(value: str) -> list[str]:
    """The names `expand` looks up for `value`."""
    return _VAR.findall(value)


def expand(value: str, env: Mapping[str, str]) -> str:
    """${VAR} from the box's env so far; unknown variables expand to nothing."""
    return _VAR.sub(lambda m: env.get(m.group(1), ""), value)


def box_env(
    spec: Spec,
    host_env: Mapping[str, str],
    *,
    user: str,
    home: str,
    shell: str,
    workdir: str,
    image_env: Sequence[str] = (),
) -> dict[str, str]:
    """The box's environment. `image_env`: an image base's Env (NAME=value), under [env] and
    over devbox's defaults, except who the user is and devbox's own variables."""
    names = {i.name for i in spec.interpreters}
    from_image = dict(e.split("=", 1) for e in image_env if "=" in e)
    path = BOX_PATH
    if from_image.get("PATH"):
        path = f"{from_image['PATH']}:{RC_BIN}"
    if "node" in names:
        path = f"{NPM_PREFIX}/bin:{path}"
    if "python" in names:
        path = f"{PYTHON_USER_BASE}/bin:{path}"
    env = {
        "PATH": path,
        "HOME": home,
        "USER": user,
        "LOGNAME": user,
        "SHELL": shell,
        "LANG": "C.UTF-8",
        "DEVBOX_BOX": spec.name,
        "DEVBOX_PROJECT": workdir,
    }
    for key, value in from_image.items():
        if key not in IDENTITY and key != "PATH" and not key.startswith("DEVBOX_"):
            env[key] = value
    if "python" in names:
        env["PYTHONUSERBASE"] = PYTHON_USER_BASE
    if "node" in names:
        env["NPM_CONFIG_PREFIX"] = NPM_PREFIX
    env.update({k: host_env[k] for k in PASS_THROUGH if k in host_env})
    if not env.get("TERM"):
        env["TERM"] = "dumb"
    env.update(dotenv.load(spec))  # [env] files first: [env] wins, and may use their values
    for key, value in spec.env:
        env[key] = expand(value, env)
    return env
