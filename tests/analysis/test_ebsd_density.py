"""Divergence-filtered GND windows, the step policy and the total-density command."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from microdl.analysis.ebsd_density import (
    _divergence,
    gnd_windows,
    slip_system_maps,
    step_factor,
    training_range_fraction,
)
from microdl.analysis.ebsd_gnd import ebsd_gnd
from microdl.exceptions import InvalidParameterError
from microdl.io.ebsd import EBSDMap

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_ebsd_gnd import _bent_map  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "ebsd"


def test_divergence_of_a_linear_field_per_step():
    yy, xx = np.mgrid[0:6, 0:7].astype(float)
    vec = np.stack([3.0 * xx, -1.0 * yy], -1)[:, :, None, :]  # d vx/dx = 3, d vy/dy = -1 per step
    div = _divergence(vec)
    assert np.all(np.isnan(div[0])) and np.all(np.isnan(div[:, -1]))
    np.testing.assert_allclose(div[1:-1, 1:-1], 2.0)


def test_slip_systems_pair_each_edge_with_the_screw_of_its_burgers_vector():
    m = _bent_map(np.radians(0.3) / 0.5e-6)
    res = ebsd_gnd(m)
    ch, vec, names = slip_system_maps(m, res)
    assert ch.shape == m.phase.shape + (24, 2) and len(names) == 24  # bcc: 12 {110} + 12 {112} systems
    assert names[0].startswith("{110}<111> edge") and names[-1].startswith("{112}<111> edge")
    # the in-plane GND vector's length never exceeds the system's density magnitude
    assert np.all(np.linalg.norm(vec, axis=-1) <= np.hypot(ch[..., 0], ch[..., 1]) * (1 + 1e-12))


def test_a_uniformly_bent_crystal_passes_the_filter_where_its_density_is_smooth():
    m = _bent_map(np.radians(0.3) / 0.5e-6, shape=(15, 15))
    res = ebsd_gnd(m)
    loose = gnd_windows(m, res, threshold=1e30)
    n_complete = 7 * 7  # the divergence needs both neighbours: 13 x 13 points, so 7 x 7 window centres
    assert loose.summary()["n_candidates"] == n_complete * 24
    strict = gnd_windows(m, res, threshold=2e11)
    assert 0 < strict.summary()["n_windows"] <= loose.summary()["n_windows"]
    assert strict.windows.shape[1:] == (7, 7, 3)
    np.testing.assert_allclose(strict.windows[..., 2], np.hypot(strict.windows[..., 0], strict.windows[..., 1]))
    c, s = strict.centre[0], strict.system[0]
    ch, _, _ = slip_system_maps(m, res)
    np.testing.assert_array_equal(strict.windows[0, 3, 3, :2], ch[c[0], c[1], s])  # centred where it says
    with pytest.raises(InvalidParameterError, match="positive"):
        gnd_windows(m, res, threshold=0)


def test_step_policy():
    assert step_factor(1.0, 3 / 7, "rescale") == pytest.approx(7 / 3)
    assert step_factor(1.0, 3 / 7, "none") == 1.0
    assert step_factor(3 / 7, 3 / 7, "refuse") == 1.0
    with pytest.raises(InvalidParameterError, match="step-policy rescale"):
        step_factor(1.0, 3 / 7, "refuse")
    with pytest.raises(InvalidParameterError, match="step_policy"):
        step_factor(1.0, 3 / 7, "guess")
    w = np.zeros((2, 7, 7, 3))
    w[0, ..., 2] = 1.0
    w[1, ..., 2] = 1e-3
    frac, med = training_range_fraction(w, 1.0, 1.0)
    assert frac == 0.5 and med == pytest.approx((1 + 1e-3) / 2)


def test_density_command_on_a_synthetic_map(tmp_path):
    from typer.testing import CliRunner

    from microdl.cli import app

    m = _bent_map(np.radians(0.3) / 0.5e-6, shape=(15, 15))
    path = tmp_path / "bent.ang"
    _write_ang(m, path)
    runner = CliRunner()
    r = runner.invoke(app, ["ebsd", "density", str(path), "--out", str(tmp_path / "o"), "--json", "--no-figure"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["n_windows"] > 0 and s["rho_t_mean_per_m2"] > 0
    assert s["density_factor"] == pytest.approx(0.5 / (3 / 7))
    assert s["taylor_stress_mpa"] == pytest.approx(2.86 * 0.23 * 82e9 * 2.482e-10 * np.sqrt(s["rho_t_mean_per_m2"]) / 1e6)
    ss = np.load(tmp_path / "o" / "slip_systems.npz")
    assert ss["channels"].shape == (15, 15, 24, 2) and len(ss["names"]) == 24
    saved = np.load(tmp_path / "o" / "windows.npz")
    assert np.mean(saved["rho_t"]) == pytest.approx(s["rho_t_mean_per_m2"], rel=1e-5)
    assert s["warnings"]  # 2e14 m^-2 at 0.5 um: far below the network's training densities, said so
    m2 = _bent_map(np.radians(0.6) / 0.5e-6, shape=(15, 15))  # twice the curvature
    _write_ang(m2, tmp_path / "bent2.ang")
    r = runner.invoke(app, ["ebsd", "density", str(path), "--compare", str(tmp_path / "bent2.ang"), "--json",
                            "--no-figure", "--div-threshold", "1e13"])
    assert r.exit_code == 0, r.output
    c = json.loads(r.stdout)
    assert c["compare"]["rho_gnd_mean_per_m2"] == pytest.approx(2 * c["rho_gnd_mean_per_m2"], rel=0.05)
    assert c["delta_taylor_stress_gnd_mpa"] > 0
    r = runner.invoke(app, ["taylor", "--rho", "9.28e14", "--rho2", "1.16e15", "--json"])
    assert json.loads(r.stdout)["delta_stress_mpa"] == pytest.approx(48.1, abs=0.05)


def test_density_command_refuses_a_step_mismatch_with_one_line(tmp_path, capsys):
    from microdl.cli import main

    path = tmp_path / "bent.ang"
    _write_ang(_bent_map(np.radians(0.3) / 0.5e-6, shape=(15, 15)), path)
    assert main(["ebsd", "density", str(path), "--step-policy", "refuse"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("microdl: error:") and "0.4286 µm" in err and len(err.strip().splitlines()) == 1


def _write_ang(m: EBSDMap, path: Path) -> None:
    ny, nx = m.shape
    dx, dy = m.step_um
    lines = ["# TEM_PIXperUM          1.000000", "# Phase 1", "# MaterialName  \tIron (Alpha)", "# Formula     \tFe",
             "# Symmetry              43", "# LatticeConstants      2.866 2.866 2.866  90.000  90.000  90.000",
             "# GRID: SqrGrid", f"# XSTEP: {dx}", f"# YSTEP: {dy}", f"# NCOLS_ODD: {nx}", f"# NCOLS_EVEN: {nx}",
             f"# NROWS: {ny}", "#"]
    for i in range(ny):
        for j in range(nx):
            e = m.euler[i, j] % (2 * np.pi)
            lines.append(f"{e[0]:.9f} {e[1]:.9f} {e[2]:.9f} {j * dx:.5f} {i * dy:.5f} 1000.0 0.900 1 0 1.0")
    path.write_text("\n".join(lines) + "\n")


def test_the_real_alpha_fe_map_is_far_below_the_training_densities():
    path = DATA / "DC06_2uniax.ang"
    if not path.is_file():
        pytest.skip(f"real EBSD file {path} not available (../shared/data)")
    from microdl.workflows.ebsd import ebsd_density_files

    with pytest.raises(InvalidParameterError, match="would keep 1 %"):
        ebsd_density_files(path, None, method="l2")  # the paper's 2e11 keeps nothing at a 1 um step
    r = ebsd_density_files(path, None, method="l2", div_threshold=3e13)
    assert r["n_windows"] > 100
    assert r["fraction_in_training_range"] < 0.05 and r["warnings"]
