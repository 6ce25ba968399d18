"""``microdl models ...``: the model registry."""

from __future__ import annotations

import typer

from microdl.cli._common import JSON_OPTION, report

app = typer.Typer(help="Models in the registry and their parameter counts.", no_args_is_help=True)


@app.command("list")
def list_(as_json: bool = JSON_OPTION) -> None:
    """List registered models with trainable parameter counts (and the paper's, where given)."""
    from microdl.models.summary import model_table

    rows = model_table()
    width = max([len("model")] + [len(r["name"]) for r in rows])
    lines = [f"{'model':{width}} {'parameters':>11} {'paper':>9}  {'shipped (test MAPE / N acc.)':28}  description"]
    for r in rows:
        paper = f"{r['paper_parameters']:,}" if r["paper_parameters"] else "-"
        m = r["shipped_test_metrics"]
        shipped = (f"{m['mape_rho_t']:.1f} % / {100 * m['n_accuracy']:.1f} %" if m else "-") + (
            " (default)" if r["default"] else "")
        lines.append(f"{r['name']:{width}} {r['parameters']:>11,} {paper:>9}  {shipped:28}  {r['summary']}")
    report({"models": rows}, as_json=as_json, human="\n".join(lines))
