"""``microdl data ...`` and ``microdl runs ...``: browse the catalog.

Thin: the status shown is the one the catalog reports (``running``, ``done``,
``failed``, or ``interrupted`` for a run whose process died). Catalog problems
(unreachable, unreadable, unknown id) are :class:`~microdl.exceptions.MicrodlError`,
so they end as one line with exit code 2. ``microdl --catalog URL_OR_PATH``
chooses the catalog.
"""

from __future__ import annotations

import typer

from microdl.cli._common import JSON_OPTION, report
from microdl.data.catalog import Catalog

data_app = typer.Typer(help="Datasets recorded in the catalog.", no_args_is_help=True)
runs_app = typer.Typer(help="Training and benchmark runs recorded in the catalog.", no_args_is_help=True)


def _table(kind: str, as_json: bool) -> None:
    cat = Catalog()
    entries = cat.list(kind)
    rows = [
        {"id": e.id, "name": e.name, "created_utc": e.created_utc, "status": e.status,
         "seed": e.seed, "path": e.path, "metrics": e.metrics}
        for e in entries
    ]
    if as_json:
        report({"catalog": str(cat.path or cat.url), "entries": rows}, as_json=True)
        return
    if not rows:
        report({}, as_json=False, human=f"no {kind}s recorded in {cat.path or cat.url}")
        return
    lines = [f"{'id':12}  {'name':18}  {'created (UTC)':25}  {'status':11}  path"]
    for r in rows:
        lines.append(f"{r['id']:12}  {r['name'][:18]:18}  {r['created_utc']:25}  {r['status']:11}  {r['path']}")
    report({}, as_json=False, human="\n".join(lines))


def _show(entry_id: str, as_json: bool) -> None:
    e = Catalog().get(entry_id)
    report(e.__dict__, as_json=as_json)


@data_app.command("list")
def data_list(as_json: bool = JSON_OPTION) -> None:
    """List generated datasets, newest first."""
    _table("dataset", as_json)


@data_app.command("show")
def data_show(entry_id: str = typer.Argument(..., help="Dataset id (a unique prefix is enough)."),
              as_json: bool = JSON_OPTION) -> None:
    """Show one dataset's config, seed, versions, checksum and statistics."""
    _show(entry_id, as_json)


@runs_app.command("list")
def runs_list(as_json: bool = JSON_OPTION) -> None:
    """List training and benchmark runs, newest first."""
    _table("run", as_json)


@runs_app.command("show")
def runs_show(entry_id: str = typer.Argument(..., help="Run id (a unique prefix is enough)."),
              as_json: bool = JSON_OPTION) -> None:
    """Show one run's config, seed, versions, metrics and files."""
    _show(entry_id, as_json)
