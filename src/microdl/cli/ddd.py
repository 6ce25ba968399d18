"""``microdl ddd ...``: 2D discrete dislocation dynamics of pillar compression."""

from __future__ import annotations

import typer

app = typer.Typer(help="2D discrete dislocation dynamics of compressed pillars.", no_args_is_help=True)
