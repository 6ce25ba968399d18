"""``microdl gnd ...``: total dislocation density from GND maps (Zhang & Ngan 2019)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Total dislocation density and line count from GND density maps.",
                  no_args_is_help=True)
