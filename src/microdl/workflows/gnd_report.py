"""``results.md`` of the GND benchmark: the paper's Table 1 layout, then every predictor on one test set."""

from __future__ import annotations

from typing import Any

__all__ = ["results_markdown", "leaderboard"]


def _fmt(v: float | None, pct: bool = False) -> str:
    if v is None:
        return "-"
    return f"{100 * v:.1f} %" if pct else f"{v:.1f} %"


def _ci(row: dict[str, Any], key: str, pct: bool = False) -> str:
    iv = (row.get("intervals") or {}).get(key)
    if not iv:
        return ""
    f = 100.0 if pct else 1.0
    return f" [{f * iv['low']:.1f}, {f * iv['high']:.1f}]"


def _headline(row: dict[str, Any]) -> float | None:
    """MAPE of the validation-scaled prediction (the scale is in the weights or applied after)."""
    if row.get("mape_rho_t") is None:
        return None
    scaled = row.get("scaled")
    return scaled["mape_rho_t"] if scaled else row["mape_rho_t"]


def leaderboard(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Networks and baselines as uniform rows, best validation-scaled MAPE first (N-only rows last)."""
    rows = []
    for r in results["configs"]:
        name = r["model"] if r.get("recipe", "paper") == "paper" else f"{r['model']} ({r['recipe']})"
        rows.append({"name": f"{name}, {r['reg']}, ratio {r['ratio']:g}", "kind": "network", **r})
    for name, b in results.get("baselines", {}).items():
        rows.append({"name": f"{name}: {b['description']}".replace("|", "/"), "kind": "baseline", **b})
    return sorted(rows, key=lambda r: (_headline(r) is None, _headline(r) or 0.0))


def results_markdown(results: dict[str, Any]) -> str:
    """Render benchmark results: Table 1 beside the paper, then the leaderboard with intervals."""
    lines = [
        f"# GND total density: Zhang & Ngan 2019 Table 1 and microdl's models (preset `{results['preset']['name']}`)",
        "",
        f"Command: `{results['command']}`",
        "",
        f"Machine: {results['machine']['cpu_count']} CPU cores, accelerator={results['machine']['accelerator']}; "
        f"microdl {results['environment'].get('microdl_version')} (git {results['environment'].get('git_commit')}).",
        "",
        "## Table 1 layout",
        "",
        "MAPE of rho_t on the test set as the networks output it (lower is better) and N accuracy (higher is "
        "better); the paper's values from Zhang & Ngan 2019, Table 1.",
        "",
        "| model | reg | ratio | MAPE rho_t (ours) | MAPE (paper) | N accuracy (ours) | N acc. (paper) | epochs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    paper_rows = [r for r in results["configs"] if r.get("recipe", "paper") == "paper"]
    if not paper_rows:
        lines += ["| (not trained in this run: `--rows` left out `table1`) | | | | | | | |"]
    for r in paper_rows:
        lines.append(
            f"| {r['model']} | {r['reg']} | {r['ratio']:g} | {_fmt(r['mape_rho_t'])} | {_fmt(r['paper_mape_rho_t'])} | "
            f"{_fmt(r['n_accuracy'], pct=True)} | {_fmt(r['paper_n_accuracy_percent'])} | {r.get('epochs')} |"
        )
    lines += [
        "", "## Every predictor on the same test set", "",
        "MAPE after a density scale fitted on the validation windows only (in the weights for `gnd-anchored`, "
        "applied after prediction for the others), with its 95 % bootstrap interval over test windows; "
        "raw MAPE without the scale; median APE; Pearson correlation of ln rho_t; N accuracy with its interval; "
        "MAPE per true N.", "",
        "| predictor | training windows | MAPE (val-scaled) | raw MAPE | median APE | Pearson ln | N accuracy "
        "| MAPE N=1 / 2 / 3 / 4 / 5 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in leaderboard(results):
        head = _headline(r)
        seen = r.get("train_windows_seen") or r.get("train_windows")
        by_n = r.get("mape_rho_t_by_n") or {}
        per_n = " / ".join("-" if by_n.get(str(k)) is None else f"{by_n[str(k)]:.0f}" for k in range(1, 6)) \
            if head is not None else "-"
        pearson = r.get("pearson_log_rho_t") or (r.get("intervals") or {}).get("pearson_log_rho_t", {}).get("value")
        lines.append(
            f"| {r['name']} | {seen if seen is not None else '-'} | "
            f"{_fmt(head)}{_ci(r, 'mape_rho_t') if head is not None else ''} | {_fmt(r.get('mape_rho_t'))} | "
            f"{_fmt(r.get('median_ape_rho_t'))} | {'-' if pearson is None or head is None else f'{pearson:.3f}'} | "
            f"{_fmt(r.get('n_accuracy'), pct=True)}{_ci(r, 'n_accuracy', pct=True) if r.get('n_accuracy') else ''} "
            f"| {per_n} |")
    ds = results["datasets"]
    lines += ["", "Data: " + ", ".join(f"{k} {v['n_windows']} windows" for k, v in ds.items())
              + f"; Pearson(N, rho_t) = {ds['train']['pearson_n_rho_t']:.3f} (paper 0.898); "
              f"mean rho_t = {ds['train']['rho_t_mean_per_m2']:.3g} m^-2. The streamed recipes draw fresh "
              "windows from the same generator every epoch (their training-window count is the total seen).", ""]
    return "\n".join(lines)
