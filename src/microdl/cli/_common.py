"""Shared CLI plumbing: one JSON object on stdout with --json, human text otherwise."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from microdl.provenance import to_jsonable

JSON_OPTION = typer.Option(False, "--json", help="Print exactly one JSON object on stdout.")


def report(result: dict[str, Any], *, as_json: bool, human: str | None = None) -> None:
    """Print ``result`` as one JSON object (``as_json``) or as readable lines.

    Human-readable text goes to stdout too; progress bars and logs go to stderr,
    so ``--json`` output can always be piped into ``jq``.
    """
    if as_json:
        sys.stdout.write(json.dumps(to_jsonable(result)) + "\n")
        sys.stdout.flush()
        return
    if human is not None:
        typer.echo(human)
        return
    for key, value in to_jsonable(result).items():
        typer.echo(f"{key}: {value}")


def info(message: str) -> None:
    """A progress or status line on stderr (never pollutes --json stdout)."""
    typer.echo(message, err=True)
