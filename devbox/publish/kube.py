"""A Kubernetes Pod manifest (YAML) for a pushed box: its image, env, working directory and user,
the working tree mounted where the box has it.

The working tree is a `hostPath` volume (the project's directory on the node): what a one-node
dev cluster (kind or minikube with the directory shared, `podman kube play`) can mount. An
`emptyDir` would start every pod with an empty tree, which is not a dev box.

The YAML is written by the small emitter below, not a library: every string is a double-quoted
JSON string (a valid YAML scalar whatever it holds: `yes`, `1.0`, `#`, a newline), numbers and
booleans are JSON's, so a value from the image can never become YAML syntax.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from devbox.publish.boximage import BoxImage, extra_env, uid_gid

# a shell that stays up with nothing to read: `kubectl exec -it POD -- bash` (or attach) enters
KEEP_ALIVE = "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"


def pod_name(box: str) -> str:
    """The box's name as a DNS-1123 label (a Pod's name)."""
    name = re.sub(r"[^a-z0-9-]+", "-", box.lower()).strip("-")[:63].strip("-")
    return name or "devbox"


def render(img: BoxImage, project: Path, command: Sequence[str] = ()) -> dict[str, Any]:
    """The Pod. `command`: what the container runs (default: a shell kept alive)."""
    env = [*img.env, *extra_env(img).items()]
    container: dict[str, Any] = {
        "name": "box",
        "image": img.ref,
        "workingDir": img.workdir,
        "command": list(command) if command else ["/bin/sh", "-c", KEEP_ALIVE],
        "env": [{"name": k, "value": v} for k, v in env],
        "volumeMounts": [{"name": "worktree", "mountPath": img.workdir}],
    }
    uid, gid, named = uid_gid(img.user)
    security: dict[str, Any] = {}
    if uid is not None:
        security["runAsUser"] = uid
    if gid is not None:
        security["runAsGroup"] = gid
    if named:  # a user name: the runtime takes it from the image; it is not root
        security["runAsNonRoot"] = True
    if security:
        container["securityContext"] = security
    spec: dict[str, Any] = {
        "containers": [container],
        "volumes": [{"name": "worktree", "hostPath": {"path": str(project), "type": "Directory"}}],
    }
    if command:
        spec["restartPolicy"] = "Never"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name(img.box),
            "labels": {
                "app.kubernetes.io/name": pod_name(img.box),
                "app.kubernetes.io/managed-by": "devbox",
            },
        },
        "spec": spec,
    }


def yaml(doc: Any) -> str:
    """`doc` (dicts, lists, str, int, bool) as block YAML, every string double-quoted."""
    return "".join(f"{line}\n" for line in _lines(doc, 0))


def _scalar(value: Any) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return json.dumps(value)
    raise TypeError(f"not a YAML scalar here: {type(value).__name__}")


def _lines(doc: Any, indent: int) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            head = f"{pad}{json.dumps(str(key))}:"
            out += _entry(head, value, indent)
    elif isinstance(doc, list):
        for item in doc:
            sub = _lines(item, indent + 2) if isinstance(item, (dict, list)) and item else None
            if sub:  # "- " takes the place of the first line's indent
                out.append(f"{pad}- {sub[0][indent + 2 :]}")
                out += sub[1:]
            else:
                out.append(f"{pad}- {_inline(item)}")
    else:
        out.append(pad + _scalar(doc))
    return out


def _entry(head: str, value: Any, indent: int) -> list[str]:
    if isinstance(value, (dict, list)) and value:
        return [head, *_lines(value, indent + 2)]
    return [f"{head} {_inline(value)}"]


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)
