"""PNG outputs of one pillar simulation: 8-bit strain profiles and summary figures."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from microdl.simulate.ddd.profile import render_uint8
from microdl.simulate.ddd.protocol import STAGES, PillarResult


def snapshot_tag(strain: float) -> str:
    """File tag of a reload snapshot, e.g. ``0.001 -> 'reload0.10pct'``."""
    return f"reload{100 * strain:.2f}pct"


def _atomic_png(img: np.ndarray, path: Path) -> None:
    from PIL import Image

    tmp = path.with_name(path.name + ".tmp.png")
    Image.fromarray(img).save(tmp)
    os.replace(tmp, path)


def save_profile_images(result: PillarResult, out_dir: str | os.PathLike) -> list[Path]:
    """Write each snapshot as ``strain_profile_<tag>.png`` (8-bit, :func:`.profile.render_uint8`)
    and ``strain_profile_<tag>.npy`` (float64 eps_yy, ``[i_x, j_y]``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for strain, prof in zip(result.snapshot_strains, result.profiles, strict=True):
        tag = snapshot_tag(strain)
        png = out / f"strain_profile_{tag}.png"
        _atomic_png(render_uint8(prof), png)
        npy = out / f"strain_profile_{tag}.npy"
        tmp = npy.with_name(npy.name + ".tmp.npy")
        np.save(tmp, prof)
        os.replace(tmp, npy)
        paths += [png, npy]
    return paths


def save_curve_csv(result: PillarResult, out_dir: str | os.PathLike) -> Path:
    """Write the stress--strain curve as ``stress_strain.csv`` (strains as fractions, stress in Pa)."""
    out = Path(out_dir) / "stress_strain.csv"
    c = result.curve
    cols = ["stage", "step", "time_s", "displacement_m", "strain", "stress_pa", "n_dislocations", "n_surface_steps",
            "reload_strain"]
    data = np.column_stack([c[k] for k in cols])
    tmp = out.with_name(out.name + ".tmp")
    np.savetxt(tmp, data, delimiter=",", header=",".join(cols), comments="",
               fmt=["%d", "%d", "%.9e", "%.9e", "%.9e", "%.9e", "%d", "%d", "%.9e"])
    os.replace(tmp, out)
    return out


def save_figures(result: PillarResult, out_dir: str | os.PathLike) -> list[Path]:
    """``fig_stress_strain.png`` (all three stages) and ``fig_strain_profile.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    c = result.curve
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for k, name in enumerate(STAGES):
        m = c["stage"] == k
        ax.plot(100 * c["strain"][m], c["stress_pa"][m] / 1e6, lw=1, label=name)
    ax.set_xlabel("strain U/h (%)")
    ax.set_ylabel("stress F/w (MPa)")
    cfg = result.config
    ax.set_title(f"w = {cfg.width_um} um, {cfg.slip} slip, seed {result.seed}")
    ax.legend()
    fig.tight_layout()
    p1 = out / "fig_stress_strain.png"
    fig.savefig(p1, dpi=120)
    plt.close(fig)

    n = len(result.profiles)
    fig, axes = plt.subplots(max(n, 1), 1, figsize=(8, 1.0 + 1.6 * max(n, 1)), squeeze=False)
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
    fig.tight_layout()
    p2 = out / "fig_strain_profile.png"
    fig.savefig(p2, dpi=120)
    plt.close(fig)
    return [p1, p2]
