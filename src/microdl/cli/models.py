"""``microdl models ...``: the model registry."""

from __future__ import annotations

import typer

from microdl.cli._common import JSON_OPTION, report

app = typer.Typer(help="Models in the registry and their parameter counts.", no_args_is_help=True)

#: Parameter counts the source papers print, for comparison.
PAPER_COUNTS = {"zhang2019-gnd": 343_434}


@app.command("list")
def list_(as_json: bool = JSON_OPTION) -> None:
    """List registered models with trainable parameter counts (and the paper's, where given)."""
    from microdl.models import count_parameters, create_model, list_models
    from microdl.pretrained import ALIASES, shipped_info

    rows = []
    for name in list_models():
        model = create_model(name)
        rows.append({"name": name, "parameters": count_parameters(model),
                     "parameters_keras_convention": count_parameters(model, convention="keras"),
                     "paper_parameters": PAPER_COUNTS.get(name),
                     "summary": (type(model).__doc__ or "").strip().splitlines()[0],
                     "default": ALIASES["default"] == name,
                     "shipped_test_metrics": shipped_info(name).get("test_metrics")})
    lines = [f"{'model':16} {'parameters':>11} {'paper':>9}  {'shipped (test MAPE / N acc.)':28}  description"]
    for r in rows:
        paper = f"{r['paper_parameters']:,}" if r["paper_parameters"] else "-"
        m = r["shipped_test_metrics"]
        shipped = (f"{m['mape_rho_t_percent']:.1f} % / {100 * m['n_accuracy']:.1f} %" if m else "-") + (
            " (default)" if r["default"] else "")
        lines.append(f"{r['name']:16} {r['parameters']:>11,} {paper:>9}  {shipped:28}  {r['summary']}")
    report({"models": rows}, as_json=as_json, human="\n".join(lines))
