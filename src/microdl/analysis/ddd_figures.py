"""Figures of one DDD pillar simulation: the stress--strain curve and the strain profiles."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from microdl.analysis.plots import curves, figure, save

__all__ = ["save_figures", "stress_strain_figure", "profile_figure"]


def stress_strain_figure(result: Any) -> Any:
    """Stress (MPa) against strain (%) of every stage (load, unload, reload) of a ``PillarResult``."""
    from microdl.simulate.ddd.protocol import STAGES

    c = result.curve
    fig, ax = figure(size=(5.5, 4))
    masks = [c["stage"] == k for k in range(len(STAGES))]
    cfg = result.config
    curves(ax, [100 * c["strain"][m] for m in masks], [c["stress_pa"][m] / 1e6 for m in masks],
           xlabel="strain U/h (%)", ylabel="stress F/w (MPa)", labels=list(STAGES), lw=1)
    ax.set_title(f"w = {cfg.width_um} um, {cfg.slip} slip, seed {result.seed}")
    return fig


def profile_figure(result: Any) -> Any:
    """``eps_yy - median`` of every reload snapshot, axes in um (loading axis horizontal)."""
    n = max(len(result.profiles), 1)
    fig, axes = figure(n, 1, size=(8, 1.0 + 1.6 * n), squeeze=False)
    dx, dy = result.pixel_size_m
    for ax, strain, prof in zip(axes[:, 0], result.snapshot_strains, result.profiles, strict=False):
        dev = prof - np.median(prof)
        lim = float(np.quantile(np.abs(dev), 0.999)) or 1e-6
        im = ax.imshow(dev, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest",
                       extent=(0, prof.shape[1] * dy * 1e6, prof.shape[0] * dx * 1e6, 0))
        ax.set_title(f"eps_yy - median, reload {100 * strain:.2f} % (ref.: unloaded state)", fontsize=9)
        ax.set_xlabel("y, loading axis (um)")
        ax.set_ylabel("x (um)")
        fig.colorbar(im, ax=ax, fraction=0.03)
    return fig


def save_figures(result: Any, out_dir: str | os.PathLike) -> list[Path]:
    """Write ``fig_stress_strain.png`` (all three stages) and ``fig_strain_profile.png`` (120 dpi)."""
    out = Path(out_dir)
    return [save(stress_strain_figure(result), out / "fig_stress_strain.png", dpi=120),
            save(profile_figure(result), out / "fig_strain_profile.png", dpi=120)]
