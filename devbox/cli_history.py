"""The history and rollback verbs (typer), registered on the app in cli.py. Thin: parse, call, print."""

from __future__ import annotations
