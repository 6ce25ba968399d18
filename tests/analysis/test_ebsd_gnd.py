"""GND densities of EBSD maps: synthetic maps with a known curvature, masks, and the real files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from microdl.analysis.ebsd_gnd import ebsd_gnd, lattice_of_phase
from microdl.exceptions import DataFileError, InvalidParameterError
from microdl.features.crystal import euler_to_matrix, rotation_matrix, rotation_vector, symmetry_operators
from microdl.io.ebsd import EBSDMap, EBSDPhase

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "ebsd"
FE = EBSDPhase(id=1, name="Iron (Alpha)", crystal_system="cubic", lattice=(2.8665, 2.8665, 2.8665, 90, 90, 90))


def _euler_of(g: np.ndarray) -> np.ndarray:
    """Bunge angles of orientation matrices (inverse of euler_to_matrix, Phi in (0, pi))."""
    phi = np.arccos(np.clip(g[..., 2, 2], -1, 1))
    phi1 = np.arctan2(g[..., 2, 0], -g[..., 2, 1])
    phi2 = np.arctan2(g[..., 0, 2], g[..., 1, 2])
    return np.stack([phi1, phi, phi2], -1)


def _bent_map(rate: float, shape=(8, 9), step_um=0.5, axis=(0, 0, 1)) -> EBSDMap:
    """A bcc crystal bent about ``axis`` along x: curvature ``kappa_{axis, x} = rate`` (rad/m)."""
    ny, nx = shape
    xx = np.mgrid[0:ny, 0:nx][1]
    g0 = euler_to_matrix(np.array([0.4, 0.7, 1.1]))
    r = rotation_matrix(np.broadcast_to(np.asarray(axis, float), (ny, nx, 3)), xx * step_um * 1e-6 * rate)
    g = np.swapaxes(r @ g0.T, -1, -2)
    return EBSDMap(euler=_euler_of(g), phase=np.ones(shape, int), quality=np.ones(shape),
                   image_quality=np.ones(shape), step_um=(step_um, step_um), phases=(FE,), source="bent.ang")


def test_euler_round_trip_of_the_test_helper():
    e = np.array([0.4, 0.7, 1.1])
    np.testing.assert_allclose(_euler_of(euler_to_matrix(e)), e, atol=1e-12)


def test_a_bent_crystal_has_the_gnd_density_its_curvature_requires():
    """Bending about z along x is alpha_13 = kappa: an edge density of at least kappa / b, and the
    minimum-energy fit needs at most a few types to carry it."""
    rate = np.radians(0.5) / 0.5e-6  # 0.5 degree per 0.5 um: 1.75e4 rad/m
    res = ebsd_gnd(_bent_map(rate), method="l1")
    b = 2.8665e-10 * np.sqrt(3) / 2
    assert res.used.all()
    total = res.total[res.used]
    # uniform curvature; the density changes slightly as the slip systems rotate with the lattice
    assert np.ptp(total) < 0.05 * total.mean()
    assert total.mean() >= rate / b * (1 - 1e-9)  # |alpha| <= |b| sum |rho|
    assert total.mean() < 3 * rate / b
    s = res.stats()
    assert s["fraction_used"] == 1.0 and s["lattice"] == "bcc" and s["n_types"] == 28
    assert s["rho_gnd_mean_per_m2"] == pytest.approx(total.mean())
    # the minimum norm fit spreads the same Nye tensor over more types: never less total line energy
    l2 = ebsd_gnd(_bent_map(rate), method="l2")
    e1 = np.sum(np.abs(res.rho[res.used]) * res.types.energy, axis=1)
    e2 = np.sum(np.abs(l2.rho[l2.used]) * l2.types.energy, axis=1)
    assert np.all(e1 <= e2 * (1 + 1e-9))


def test_symmetric_variants_unindexed_and_low_quality_points():
    rate = np.radians(0.3) / 0.5e-6
    m = _bent_map(rate)
    ref = ebsd_gnd(m).total
    sym = symmetry_operators("cubic")
    g = euler_to_matrix(m.euler)
    g[3, 4] = sym[5] @ g[3, 4]  # the same crystal written as another variant
    assert np.linalg.norm(rotation_vector(g[3, 4] @ euler_to_matrix(m.euler[3, 4]).T)) > 1.0
    euler = _euler_of(g)
    euler[0, 0] = np.nan  # not indexed
    phase = m.phase.copy()
    phase[0, 0] = 0
    quality = m.quality.copy()
    quality[5, 5] = 0.05  # below the default CI threshold of 0.1
    m2 = EBSDMap(euler=euler, phase=phase, quality=quality, image_quality=m.image_quality, step_um=m.step_um,
                 phases=m.phases, source="bent.ang")
    res = ebsd_gnd(m2)
    assert not res.used[0, 0] and not res.used[5, 5]
    ok = res.used
    np.testing.assert_allclose(res.total[ok], ref[ok], rtol=1e-6)
    assert res.stats()["n_used"] == m.phase.size - 2


def test_boundaries_are_masked_not_counted_as_curvature():
    m = _bent_map(np.radians(0.2) / 0.5e-6)
    g = euler_to_matrix(m.euler)
    g[:, 5:] = rotation_matrix(np.array([0.0, 1.0, 1.0]), np.radians(20)) @ g[:, 5:]
    m2 = EBSDMap(euler=_euler_of(g), phase=m.phase, quality=m.quality, image_quality=m.image_quality,
                 step_um=m.step_um, phases=m.phases, source="bent.ang")
    res = ebsd_gnd(m2, boundary_deg=5)
    ref = ebsd_gnd(m).total
    assert res.used.all()  # the points beside the boundary keep their one-sided differences
    np.testing.assert_allclose(res.total[:, :5], ref[:, :5], rtol=1e-6)  # same crystal left of it
    wild = ebsd_gnd(m2, boundary_deg=30)  # the 20 degree boundary counted as curvature: huge
    assert np.nanmax(wild.total) > 20 * np.nanmax(ref)


def test_lattice_from_the_phase_and_clear_errors():
    assert lattice_of_phase(FE) == "bcc"
    assert lattice_of_phase(EBSDPhase(2, "Aluminium", "cubic", (4.05, 4.05, 4.05, 90, 90, 90))) == "fcc"
    assert lattice_of_phase(EBSDPhase(3, "Magnesium", "hexagonal", (3.21, 3.21, 5.21, 90, 90, 120))) == "hcp"
    with pytest.raises(InvalidParameterError, match="pass lattice"):
        lattice_of_phase(EBSDPhase(4, "Mystery", "cubic", (4, 4, 4, 90, 90, 90)))
    m = _bent_map(1e4)
    empty = EBSDMap(euler=np.full(m.euler.shape, np.nan), phase=np.zeros_like(m.phase), quality=m.quality,
                    image_quality=m.image_quality, step_um=m.step_um, phases=m.phases, source="empty.ang")
    with pytest.raises(DataFileError, match="no indexed"):
        ebsd_gnd(empty)
    with pytest.raises(DataFileError, match="quality"):
        ebsd_gnd(m, quality=("min", 2.0))


def _real(name: str) -> Path:
    path = DATA / name
    if not path.is_file():
        pytest.skip(f"real EBSD file {path} not available (../shared/data)")
    return path


def test_the_deformed_alpha_fe_map_through_the_command_line(tmp_path):
    from typer.testing import CliRunner

    from microdl.cli import app

    path = _real("DC06_2uniax.ang")
    r = CliRunner().invoke(app, ["ebsd", "gnd", str(path), "--out", str(tmp_path / "o"), "--method", "l2",
                                 "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["lattice"] == "bcc" and s["shape"] == [101, 51]
    assert 0.9 < s["fraction_used"] <= 1.0
    assert 1e12 < s["rho_gnd_mean_per_m2"] < 1e15  # deformed ferrite at a 1 um step
    total = np.load(tmp_path / "o" / "gnd_total.npy")
    assert total.shape == (101, 51)
    assert np.nanmean(total) == pytest.approx(s["rho_gnd_mean_per_m2"], rel=1e-5)
    assert (tmp_path / "o" / "gnd_map.png").stat().st_size > 0


def test_the_magnesium_map_uses_hexagonal_types_and_masks_twins():
    from microdl.io.ebsd import read_ebsd

    m = read_ebsd(_real("twins_Mg.ctf"))
    res = ebsd_gnd(m, method="l2")
    s = res.stats()
    assert s["lattice"] == "hcp" and s["n_types"] == 27 and s["fraction_used"] > 0.9
    # twin boundaries (~86 degrees about <11-20>) are masked, not curvature: counted as curvature
    # (threshold 100 degrees) they put the top percent of points above 1e16 m^-2
    p99 = np.percentile(res.total[res.used], 99)
    wild = ebsd_gnd(m, method="l2", boundary_deg=100)
    assert p99 < 2e15
    assert np.percentile(wild.total[wild.used], 99) > 10 * p99


def test_map_figure_has_the_map_the_histogram_and_the_window_centres():
    from microdl.analysis.ebsd_gnd import gnd_map_figure

    res = ebsd_gnd(_bent_map(np.radians(0.3) / 0.5e-6))
    fig = gnd_map_figure(res)
    ax_map, ax_hist = fig.axes[0], fig.axes[1]
    assert len(ax_map.images) == 1 and len(ax_hist.patches) == 60
    fig = gnd_map_figure(res, centres=np.array([[3, 3], [4, 5]]))
    crosses = fig.axes[0].lines[-1]
    assert len(crosses.get_xdata()) == 2 and len(fig.axes[1].patches) == 60
