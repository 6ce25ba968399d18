"""Figure and results.md of the size-effect study, built from a small synthetic sample list."""

from __future__ import annotations

import numpy as np

from microdl.analysis.plots import save
from microdl.analysis.size_effect import summarise
from microdl.analysis.size_effect_report import markdown_report, measured_sentence, size_effect_figure


def _samples() -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for w in (0.25, 0.5, 1.0):
        for i in range(6):
            y = 80 * w**-0.5 * np.exp(rng.normal(0, 0.2))
            never = (w == 0.25 and i < 4) or (w == 0.5 and i == 0)  # 0.25 um: most never yield
            rows.append({"width_um": w, "slip": "two", "index": i, "yield_stress_mpa": None if never else y,
                         "max_stress_mpa": 3 * y if never else 1.1 * y, "flow_stress_mpa": 0.95 * y,
                         "flow_noise": 0.05, "n_sources": 10 * w, "n_dislocations_final": 20 * w,
                         "n_at_0.2pct": 3})
    return rows


def test_figure_and_report_build_from_synthetic_samples(tmp_path):
    samples = _samples()
    summary = summarise(samples, n_boot=40, seed=0)
    fig = size_effect_figure(samples, summary, {"w = 1 um": {"strain": np.linspace(0, 0.03, 5),
                                                             "stress_pa": np.linspace(0, 8e7, 5)}})
    ax = fig.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert "(um)" in ax.get_xlabel() and "(MPa)" in ax.get_ylabel()
    labels = " ".join(t.get_text() for t in ax.get_legend().get_texts())
    assert "never yielded" in labels and "w^-0.55" in labels and "fit to medians" in labels
    assert "lower bound" in labels  # 0.25 um: KM median undefined
    path = save(fig, tmp_path / "size_effect.png")
    assert path.stat().st_size > 0
    text = markdown_report(summary, n_samples=len(samples), max_strain=0.03, command="cmd",
                           figure_name=path.name)
    assert "| two | 0.25 | 6 | 4 |" in text and "(undefined)" in text  # n, censored, median undefined
    assert "Kaplan-Meier" in text and "Local exponents" in text and measured_sentence(summary) in text
    assert "Papanikolaou" in text and "Dou & Derby 2009" in text and "size_effect.png" in text
    assert "from 1.5 to 3 % strain" in text


def test_measured_sentence_says_whether_the_intervals_contain_the_literature_exponents():
    fits = {"two": {"yield": {"alpha": 0.5, "alpha_ci95": [0.3, 0.58], "widths_used": [0.25, 1.0]},
                    "flow": {"alpha": 0.1, "alpha_ci95": [0.02, 0.2], "widths_used": [0.25, 1.0]}}}
    text = measured_sentence({"fits": fits})
    yield_part, flow_part = text.split("; ")
    assert "two slip, yield: alpha = 0.50 [0.30, 0.58]" in yield_part
    assert yield_part.endswith("(its interval contains 0.55)")  # 0.6 lies above it
    assert "flow: alpha = 0.10 [0.02, 0.20]" in flow_part and "excludes both 0.55 and 0.6" in flow_part
    assert "no exponent yet" in measured_sentence({"fits": {"two": {}}})
