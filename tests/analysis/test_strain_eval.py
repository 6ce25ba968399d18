"""Accuracy tables of strain-profile classifiers and the profile probabilities of models and ensembles."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from microdl.analysis.strain_eval import accuracy_figure, accuracy_report, profile_probabilities, report_markdown
from microdl.exceptions import InvalidParameterError, ShapeError


def test_accuracy_report_by_hand():
    p = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    y = np.array([0, 1, 1, 2])
    meta = [{"width_um": 0.125, "slip": "one", "reload_pct": 0.1}, {"width_um": 0.125, "slip": "one", "reload_pct": 1.0},
            {"width_um": 0.5, "slip": "two", "reload_pct": 0.1}, {"width_um": 0.5, "slip": "two", "reload_pct": 0.1}]
    r = accuracy_report(p, y, meta)
    assert r["accuracy"] == 0.75 and r["n"] == 4
    assert r["confusion"] == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]
    assert r["per_width"] == {"0.125": {"n": 2, "accuracy": 1.0}, "0.5": {"n": 2, "accuracy": 0.5}}
    assert {(t["reload_pct"], t["slip"], t["width_um"]): (t["n"], t["accuracy"]) for t in r["table"]} == {
        (0.1, "one", 0.125): (1, 1.0), (1.0, "one", 0.125): (1, 1.0), (0.1, "two", 0.5): (2, 0.5)}
    assert r["per_class_recall"] == {"0.1": 1.0, "1": 0.5, "10": 1.0}
    md = report_markdown({"net": r, "other": accuracy_report(p[:, [1, 0, 2]], y, meta)})
    assert "| net | 4 | 75.0 | 100.0 | 50.0 |" in md and "| 0.1 | two | – | 50.0 (2) |" in md
    fig = accuracy_figure({"net": r})
    assert len(fig.axes) == 2
    with pytest.raises(ShapeError):
        accuracy_report(p[:3], y)
    with pytest.raises(InvalidParameterError):
        report_markdown({})


class _Mean(nn.Module):
    """Logits from the mean gray value: brighter crops -> class 2."""

    def __init__(self, sign: float = 1.0):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([-1.0, 0.0, 1.0]) * sign)

    def forward(self, x):
        return (x.mean(dim=(1, 2, 3))[:, None] / 255.0 - 0.5) * 10 * self.w


def test_profile_probabilities_average_crops_and_models():
    rng = np.random.default_rng(0)
    dark, bright = rng.integers(0, 30, (12, 40)).astype(np.uint8), rng.integers(220, 255, (12, 40)).astype(np.uint8)
    m = _Mean()
    m.train()
    p = profile_probabilities(m, [dark, bright], crop=16, batch_profiles=1)
    assert p.shape == (2, 3) and np.allclose(p.sum(1), 1) and p[0].argmax() == 0 and p[1].argmax() == 2
    assert m.training  # mode restored
    both = profile_probabilities([m, _Mean(-1.0)], [dark, bright], crop=16)
    assert np.allclose(both, (p + profile_probabilities(_Mean(-1.0), [dark, bright], crop=16)) / 2)
    with pytest.raises(InvalidParameterError):
        profile_probabilities([], [dark], crop=16)
