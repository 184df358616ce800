"""The devcontainer and kube verbs (typer), registered in cli.py."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from devbox.errors import terminal

if TYPE_CHECKING:
    from devbox.publish.boximage import BoxImage
    from devbox.spec.model import Spec


def _say(ctx: typer.Context, line: str) -> None:
    """A line for the user on stderr, unless the global --quiet was given."""
    if not ctx.find_root().params.get("quiet"):
        typer.echo(terminal(line), err=True)


IMAGE_HELP = "An image reference (default: the project's last pushed image, by digest)."


def _box_image(image: str | None) -> tuple[BoxImage, Spec]:
    """The image to name and its config, for the project here."""
    from devbox.activation.entry import spec_here
    from devbox.publish import boximage
    from devbox.store.paths import Store

    spec = spec_here()[0]
    st = Store.default()
    ref = image if image is not None else boximage.pushed_ref(st, spec)
    log = st.logs / f"{time.strftime('%Y%m%d-%H%M%S')}-{spec.name}-publish.log"
    return boximage.read(ref, spec, log), spec


def devcontainer(
    ctx: typer.Context,
    image: Annotated[str | None, typer.Option("--image", metavar="REF", help=IMAGE_HELP)] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace a devcontainer.json that devbox did not write."),
    ] = False,
) -> None:
    """Write .devcontainer/devcontainer.json for the pushed box (VS Code, Codespaces)."""
    from devbox.publish import devcontainer as dc

    img, spec = _box_image(image)
    path = dc.write(spec.project, dc.render(img), force=force)
    _say(ctx, f"wrote {path} for {img.ref}")


def kube(
    ctx: typer.Context,
    command: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="-- COMMAND...",
            help="What the container runs (default: a "
            "shell kept alive, to enter with `kubectl exec`).",
        ),
    ] = None,
    image: Annotated[str | None, typer.Option("--image", metavar="REF", help=IMAGE_HELP)] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write here (default: stdout)."),
    ] = None,
) -> None:
    """Print (or write) a Kubernetes Pod manifest (YAML) for the pushed box."""
    from devbox.publish import kube as k

    img, spec = _box_image(image)
    text = k.yaml(k.render(img, spec.project, command or ()))
    if output is None:
        typer.echo(terminal(text), nl=False)
        return
    from devbox import nofollow

    target = output.absolute()
    nofollow.write_replace(target.parent, target.name, text.encode())
    _say(ctx, f"wrote {target} for {img.ref}")
