"""The devcontainer and kube verbs (typer), registered in cli.py."""

from __future__ import annotations
