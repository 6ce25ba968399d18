"""Load--unload--reload protocol of a compressed pillar: one call, one sample.

:func:`simulate_pillar` runs the three stages of Yang et al. (2020) / Papanikolaou et
al. (2019) with displacement control at ``|dU/dt| = strain_rate * h``:

1. load from ``U = 0`` to ``U = prior_strain * h``;
2. unload until the platen force reaches zero; ``U0`` is the zero-force displacement
   (found exactly by linear interpolation with frozen dislocations, since the force
   is linear in ``U`` at fixed dislocations); dislocations and pins are kept and the
   source timers reset;
3. reload from ``U0`` to ``U0 + reload_strain * h``; the strain profile
   (:mod:`.profile`) is recorded at each of ``reload_snapshots``, so a 0.1 % and a 1 %
   image come from one trajectory.

The result is fully determined by ``(config, seed)``: the seed is used once, to place
sources and obstacles and draw their strengths; the dynamics is deterministic and the
Numba kernels use no fast-math or threads.

Stress--strain curve: ``stress = F / w`` (Pa; F per unit thickness, compression
positive) against ``strain = U / h``, every ``record_every`` steps and at stage ends.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from microdl._rng import as_generator
from microdl.exceptions import InvalidParameterError
from microdl.simulate.ddd.config import PillarConfig
from microdl.simulate.ddd.dynamics import PillarModel
from microdl.simulate.ddd.profile import jump_correction, pixel_grid, slip_cuts, strain_profile

STAGES = ("load", "unload", "reload")


@dataclass
class PillarResult:
    """Everything one simulation produces (SI units unless a name says otherwise).

    Attributes
    ----------
    config, seed
        The inputs; ``(config, seed)`` reproduces every array bit for bit.
    curve
        Stress--strain curve: ``stage`` (0 load, 1 unload, 2 reload), ``step``,
        ``time_s``, ``displacement_m`` (U), ``strain`` (U/h), ``stress_pa`` (F/w,
        compression positive), ``n_dislocations``, ``n_surface_steps``, and
        ``reload_strain`` ((U - U0)/h, the test strain of the reload stage).
    snapshot_strains
        Reload strains (fractions) of the recorded profiles.
    profiles
        ``eps_yy[u(reload) - u(unloaded)]`` per snapshot, shape ``(n_snap, nx, ny)``
        (axis 1 across the width, axis 2 along the loading axis).
    u_unloaded, u_snapshots
        Total displacement (m) at the pixel corners, ``(2, nx+1, ny+1)`` and
        ``(n_snap, 2, nx+1, ny+1)``, to rebuild profiles with another reference mode.
    jump_unloaded, jump_snapshots
        :func:`.profile.jump_correction` of the slip cuts of those states, ``(nx, ny)`` and
        ``(n_snap, nx, ny)``: added to the corner differences of ``u``, they make the jump
        part of each pixel exact (empty arrays: corner differences alone).
    pixel_size_m
        Exact pixel sizes ``(dx, dy)`` (m).
    unload_displacement_m
        ``U0``, the platen displacement at zero force after unloading.
    dislocations
        Final dislocations: ``x_m``, ``y_m``, ``sign``, ``system``, ``plane``, ``pinned``.
    sources, obstacles
        ``x_m``, ``y_m``, ``system`` (and ``tau_nuc_pa`` for sources).
    surface_steps
        Exited dislocations (+s exits): ``(x0, y0, b, cos, sin)`` rows.
    stats
        Counters, timings and derived numbers (yield stress, work, steps per stage).
    unloaded_checkpoint
        State at zero force after unloading; pass it back as ``unloaded=`` to rerun the
        reload only.
    """

    config: PillarConfig
    seed: int
    curve: dict[str, np.ndarray]
    snapshot_strains: tuple[float, ...]
    profiles: np.ndarray
    u_unloaded: np.ndarray
    u_snapshots: np.ndarray
    pixel_size_m: tuple[float, float]
    unload_displacement_m: float
    dislocations: dict[str, np.ndarray]
    sources: dict[str, np.ndarray]
    obstacles: dict[str, np.ndarray]
    surface_steps: np.ndarray
    stats: dict[str, Any] = field(default_factory=dict)
    unloaded_checkpoint: dict[str, Any] = field(default_factory=dict)
    jump_unloaded: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    jump_snapshots: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))

    def profile(self, reload_strain: float | None = None, mode: str = "full") -> np.ndarray:
        """Strain profile at one snapshot (default: the last), ``mode`` as in :func:`.profile.strain_profile`."""
        k = len(self.snapshot_strains) - 1
        if reload_strain is not None:
            matches = [i for i, s in enumerate(self.snapshot_strains) if math.isclose(s, reload_strain)]
            if not matches:
                raise InvalidParameterError(
                    f"reload_strain must be one of {self.snapshot_strains}, got {reload_strain!r}"
                )
            k = matches[0]
        if mode == "full":
            return self.profiles[k]
        exact = len(self.jump_snapshots) == len(self.snapshot_strains)
        return strain_profile(self.u_snapshots[k], self.u_unloaded, self.pixel_size_m[1], mode=mode,
                              correction_current=self.jump_snapshots[k] if exact else None,
                              correction_reference=self.jump_unloaded if exact else None)


def _total_displacement(model: PillarModel, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    px, py = np.meshgrid(gx, gy, indexing="ij")
    ux, uy = model.displacement_tilde(px.ravel(), py.ravel())
    hx, hy = model.fe.displacement_at(model.u_hat, px.ravel(), py.ravel())
    return np.stack([(ux + hx).reshape(px.shape), (uy + hy).reshape(px.shape)])


def _jump_correction(model: PillarModel, shape: tuple[int, int], pixel: tuple[float, float]) -> np.ndarray:
    """:func:`.profile.jump_correction` of the current dislocations' and surface steps' cuts."""
    cuts = slip_cuts(*model.dislocation_arrays(), model.steps, model.width, model.height)
    return jump_correction(cuts, shape, pixel)


def yield_stress(strain: np.ndarray, stress: np.ndarray, modulus: float, offset: float = 0.002) -> float | None:
    """0.2 %-offset yield stress (Pa) of a loading curve, or None if never reached.

    ``modulus`` (Pa) is the elastic slope; the yield point is the first recorded point
    with plastic strain ``strain - stress / modulus >= offset``.
    """
    plastic = np.asarray(strain) - np.asarray(stress) / modulus
    idx = np.flatnonzero(plastic >= offset)
    return float(stress[idx[0]]) if len(idx) else None


def flow_stress(strain: np.ndarray, stress: np.ndarray, lo: float, hi: float) -> float | None:
    """Mean stress (Pa) of the recorded points with ``lo <= strain <= hi``, or None.

    None when the curve does not reach ``hi`` (or has no point in the window). Averaging
    over a strain window smooths the stress drops of small pillars.
    """
    strain = np.asarray(strain, dtype=float)
    stress = np.asarray(stress, dtype=float)
    if not 0 <= lo < hi:
        raise InvalidParameterError(f"need 0 <= lo < hi, got lo={lo!r}, hi={hi!r}")
    inside = (strain >= lo) & (strain <= hi * (1 + 1e-9))
    if not len(strain) or strain.max() < hi * (1 - 1e-9) or not inside.any():
        return None
    return float(stress[inside].mean())


def _elastic_stiffness(model: PillarModel, du: float) -> float:
    """dF/dU (N/m per m) at frozen dislocations: the force is linear in U."""
    model.solve_fields(0.0)
    f0 = model.force_per_m
    model.solve_fields(du)
    return (model.force_per_m - f0) / du


def _load(model: PillarModel, n_steps: int, du: float, record_every: int, record: Any, bar: Any) -> float:
    """Monotonic loading from U = 0 in ``n_steps`` steps of ``du``; returns the time (s)."""
    t = 0.0
    for k in range(1, n_steps + 1):
        model.step(k * du)
        t += model.dt
        if k % record_every == 0 or k == n_steps:
            record(0, k, t)
        if bar is not None:
            bar.update(1)
    return t


@dataclass
class LoadingResult:
    """A monotonic compression curve (:func:`simulate_loading`), SI units.

    Attributes
    ----------
    config, seed
        The inputs (``config.prior_strain`` and the reload settings are not used).
    max_strain
        Strain U/h at the end of loading.
    curve
        ``step``, ``time_s``, ``strain``, ``stress_pa`` (F/w, compression positive),
        ``n_dislocations``, ``n_surface_steps``, every ``record_every`` steps.
    stats
        ``yield_stress_pa`` (0.2 % offset, None if not reached), ``flow_stress_pa``
        (mean over the last half of the strain range), ``elastic_modulus_pa`` (the
        pillar's effective modulus, clamped ends included), ``n_dislocations_final``,
        ``n_dislocations_mean`` (over the last half), ``n_surface_steps``,
        ``n_sources``, ``n_obstacles``, step counters and ``seconds``.
    """

    config: PillarConfig
    seed: int
    max_strain: float
    curve: dict[str, np.ndarray]
    stats: dict[str, Any] = field(default_factory=dict)


def simulate_loading(config: PillarConfig, seed: int, max_strain: float = 0.01,
                     progress: bool = False) -> LoadingResult:
    """Compress a pillar monotonically to ``max_strain``: the curve for size-effect studies.

    Stage 1 of :func:`simulate_pillar` alone (same model, same seed, same steps), run to
    ``max_strain`` instead of the prior strain, without unloading or images.

    Parameters
    ----------
    config
        All parameters; ``prior_strain`` and the reload settings are ignored.
    seed
        Integer seed for sources and obstacles.
    max_strain
        Final strain U/h (fraction, ``0.01`` = 1 %).
    progress
        Show a tqdm progress bar on stderr.

    Examples
    --------
    >>> from microdl.simulate.ddd import PillarConfig
    >>> from microdl.simulate.ddd.protocol import simulate_loading
    >>> res = simulate_loading(PillarConfig(width_um=0.0625), seed=0, max_strain=0.01)  # doctest: +SKIP
    >>> res.stats["yield_stress_pa"] / 1e6  # doctest: +SKIP
    """
    if not isinstance(config, PillarConfig):
        raise InvalidParameterError(f"config must be a PillarConfig, got {type(config).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidParameterError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(max_strain, bool) or not isinstance(max_strain, (int, float)) or not 0 < max_strain <= 0.5:
        raise InvalidParameterError(f"max_strain must be a strain fraction in (0, 0.5], got {max_strain!r}")
    with threadpool_limits(limits=1, user_api="blas"):
        t_start = time.perf_counter()
        model = PillarModel(config, as_generator(int(seed)))
        h, w = model.height, model.width
        rate_dt = config.strain_rate_per_s * model.dt
        du = rate_dt * h
        n_load = max(1, int(round(max_strain / rate_dt)))
        rows: list[tuple] = []

        def record(stage: int, step: int, t: float) -> None:
            rows.append((step, t, model.top_displacement / h, model.force_per_m / w, model.n_dislocations,
                         len(model.steps)))

        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=n_load, file=sys.stderr, unit="step", desc=f"ddd load w={config.width_um}um")
        k_el = _elastic_stiffness(model, du)
        try:
            _load(model, n_load, du, config.record_every, record, bar)
        finally:
            if bar is not None:
                bar.close()
    arr = np.array(rows, dtype=float).reshape(-1, 6)
    curve = {"step": arr[:, 0].astype(np.int64), "time_s": arr[:, 1], "strain": arr[:, 2],
             "stress_pa": arr[:, 3], "n_dislocations": arr[:, 4].astype(np.int64),
             "n_surface_steps": arr[:, 5].astype(np.int64)}
    modulus = k_el * h / w
    eps_end = float(curve["strain"][-1])
    late = curve["strain"] >= 0.5 * eps_end
    stats = {
        **{k: (int(v) if isinstance(v, (int, np.integer)) else float(v)) for k, v in vars(model.stats).items()},
        "elastic_modulus_pa": float(modulus),
        "yield_stress_pa": yield_stress(curve["strain"], curve["stress_pa"], modulus),
        "flow_stress_pa": flow_stress(curve["strain"], curve["stress_pa"], 0.5 * eps_end, eps_end),
        "max_stress_pa": float(curve["stress_pa"].max()),
        "n_dislocations_final": int(model.n_dislocations),
        "n_dislocations_mean": float(curve["n_dislocations"][late].mean()),
        "n_surface_steps": int(len(model.steps)),
        "n_sources": int(len(model.src_xi)), "n_obstacles": int(len(model.obs_xi)),
        "seconds": time.perf_counter() - t_start,
    }
    return LoadingResult(config=config, seed=int(seed), max_strain=eps_end, curve=curve, stats=stats)


def simulate_pillar(
    config: PillarConfig,
    seed: int,
    progress: bool = False,
    unloaded: dict[str, Any] | None = None,
) -> PillarResult:
    """Simulate one pillar: load to the prior strain, unload to zero force, reload.

    Parameters
    ----------
    config
        All parameters (:class:`PillarConfig`).
    seed
        Integer seed for sources and obstacles.
    progress
        Show a tqdm progress bar on stderr.
    unloaded
        ``result.unloaded_checkpoint`` of an earlier run with the same config (except
        the reload settings) and seed: skip stages 1--2.

    Returns
    -------
    PillarResult

    Raises
    ------
    InvalidParameterError
        A bad seed, or a strain its expected sources cannot carry
        (:meth:`PillarConfig.check_source_supply`: 62.5 nm at 10 % prior).

    Examples
    --------
    >>> from microdl.simulate.ddd import PillarConfig, simulate_pillar
    >>> cfg = PillarConfig(width_um=0.0625, prior_strain=0.001, reload_strain=0.001)
    >>> res = simulate_pillar(cfg, seed=0)  # doctest: +SKIP
    >>> res.profiles.shape  # doctest: +SKIP
    (1, 31, 125)

    References
    ----------
    Z. Yang et al., Sci. Rep. 10, 8262 (2020); V. S. Deshpande, A. Needleman and
    E. Van der Giessen, J. Mech. Phys. Solids 53, 2661 (2005).
    """
    if not isinstance(config, PillarConfig):
        raise InvalidParameterError(f"config must be a PillarConfig, got {type(config).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidParameterError(f"seed must be a non-negative integer, got {seed!r}")
    config.check_source_supply()  # source-starved pillars load elastically to GPa: refused (config.py)
    # One simulation per core: BLAS/LAPACK (banded Cholesky, small products) run single-
    # threaded for the duration of the call; the previous limits are restored afterwards.
    with threadpool_limits(limits=1, user_api="blas"):
        return _simulate(config, int(seed), progress, unloaded)


def _simulate(config: PillarConfig, seed: int, progress: bool, unloaded: dict[str, Any] | None) -> PillarResult:
    t_start = time.perf_counter()
    model = PillarModel(config, as_generator(int(seed)))
    h, w = model.height, model.width
    rate_dt = config.strain_rate_per_s * model.dt  # strain per step
    du = rate_dt * h
    n_load = int(round(config.prior_strain / rate_dt))
    n_reload = int(round(config.reload_strain / rate_dt))
    snap_steps = [int(round(s / rate_dt)) for s in config.reload_snapshots]
    nxp, nyp, gx, gy = pixel_grid(w, h, config.pixel_size_nm * 1e-9)
    pixel = (w / nxp, h / nyp)

    rows: list[tuple] = []
    timings = {}

    def record(stage: int, step: int, t: float) -> None:
        rows.append((stage, step, t, model.top_displacement, model.top_displacement / h, model.force_per_m / w,
                     model.n_dislocations, len(model.steps)))

    bar = None
    if progress:
        from tqdm import tqdm

        est = n_load + int(0.5 * n_load) + n_reload if unloaded is None else n_reload
        bar = tqdm(total=est, file=sys.stderr, unit="step", desc=f"ddd w={config.width_um}um")

    k_el = _elastic_stiffness(model, du)

    t = 0.0
    if unloaded is None:
        # stage 1: loading
        t0 = time.perf_counter()
        t = _load(model, n_load, du, config.record_every, record, bar)
        timings["load_s"] = time.perf_counter() - t0
        steps_load = model.stats.steps
        # stage 2: unloading to zero force
        t0 = time.perf_counter()
        u = n_load * du
        model.solve_fields(u)
        # enough steps to unload elastically from the peak stress reached (plane strain E'),
        # never fewer than max_unload_strain: the zero-force state is then found, not extrapolated
        sigma_peak = max(model.force_per_m / model.width, 0.0)
        elastic_unload = 1.5 * sigma_peak * (1.0 - model.nu ** 2) / model.e
        n_max = int(round(max(config.max_unload_strain, elastic_unload) / rate_dt))
        k = 0
        while model.force_per_m > 0.0 and k < n_max and n_load > 0:
            k += 1
            u -= du
            model.step(u)
            t += model.dt
            if k % config.record_every == 0:
                record(1, k, t)
            if bar is not None:
                bar.update(1)
        # zero-force displacement with the final dislocation structure
        model.solve_fields(u)
        u0 = u - model.force_per_m / k_el
        model.solve_fields(u0)
        record(1, k, t)
        timings["unload_s"] = time.perf_counter() - t0
        steps_unload = model.stats.steps - steps_load
        model.reset_source_timers()
        u_ref = _total_displacement(model, gx, gy)
        j_ref = _jump_correction(model, (nxp, nyp), pixel)
        checkpoint = {"state": model.get_state(), "u0": u0, "u_ref": u_ref, "time_s": t,
                      "curve_rows": np.array(rows, dtype=float), "stats": dict(vars(model.stats))}
    else:
        model.set_state(unloaded["state"])
        u0 = float(unloaded["u0"])
        u_ref = np.asarray(unloaded["u_ref"])
        t = float(unloaded["time_s"])
        rows = [tuple(r) for r in np.asarray(unloaded["curve_rows"]).reshape(-1, 8)]
        for key, val in unloaded["stats"].items():
            setattr(model.stats, key, val)
        checkpoint = unloaded
        steps_load = steps_unload = None
        model.solve_fields(u0)
        j_ref = _jump_correction(model, (nxp, nyp), pixel)  # the checkpoint's state is the unloaded one

    # stage 3: reload
    t0 = time.perf_counter()
    steps_before = model.stats.steps
    snaps: list[np.ndarray] = []
    jumps: list[np.ndarray] = []
    for k in range(1, n_reload + 1):
        u = u0 + k * du
        model.step(u)  # fields at u are solved first; a snapshot sees the state before this step's glide
        t += model.dt
        if k in snap_steps:
            model.solve_fields(u)
            for _ in range(snap_steps.count(k)):
                snaps.append(_total_displacement(model, gx, gy))
                jumps.append(_jump_correction(model, (nxp, nyp), pixel))
        if k % config.record_every == 0 or k == n_reload:
            record(2, k, t)
        if bar is not None:
            bar.update(1)
    timings["reload_s"] = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    u_snap = np.stack(snaps) if snaps else np.zeros((0, 2, nxp + 1, nyp + 1))
    j_snap = np.stack(jumps) if jumps else np.zeros((0, nxp, nyp))
    profiles = (np.stack([strain_profile(s, u_ref, pixel[1], correction_current=j, correction_reference=j_ref)
                          for s, j in zip(u_snap, j_snap, strict=True)]) if snaps else np.zeros((0, nxp, nyp)))

    arr = np.array(rows, dtype=float).reshape(-1, 8)
    curve = {
        "stage": arr[:, 0].astype(np.int64), "step": arr[:, 1].astype(np.int64), "time_s": arr[:, 2],
        "displacement_m": arr[:, 3], "strain": arr[:, 4], "stress_pa": arr[:, 5],
        "n_dislocations": arr[:, 6].astype(np.int64), "n_surface_steps": arr[:, 7].astype(np.int64),
        "reload_strain": (arr[:, 3] - u0) / h,
    }
    x, y, _, _, _ = model.dislocation_arrays()
    disl = {"x_m": x, "y_m": y, "sign": model.d_sign.astype(np.int64), "plane": model.d_plane,
            "system": model.planes.system[model.d_plane], "pinned": model.d_pin >= 0}
    ox, oy = model.planes.xy(model.obs_plane, model.obs_xi)
    load = curve["stage"] == 0
    work = float(np.trapezoid(curve["stress_pa"] * w, curve["displacement_m"])) if len(arr) > 1 else 0.0
    st = vars(model.stats)
    stats = {
        **{k: (int(v) if isinstance(v, (int, np.integer)) else float(v)) for k, v in st.items()},
        "steps_load": steps_load, "steps_unload": steps_unload, "steps_reload": model.stats.steps - steps_before,
        "n_sources": int(len(model.src_xi)), "n_obstacles": int(len(model.obs_xi)),
        "n_dislocations_final": model.n_dislocations, "n_surface_steps": int(len(model.steps)),
        "elastic_stiffness_n_per_m2": float(k_el),
        "yield_stress_pa": (yield_stress(curve["strain"][load], curve["stress_pa"][load], k_el * h / w)
                            if np.any(load) else None),
        "max_stress_pa": float(curve["stress_pa"].max()) if len(arr) else 0.0,
        "external_work_j_per_m": work,
        "seconds": time.perf_counter() - t_start,
        **timings,
    }
    return PillarResult(
        config=config, seed=int(seed), curve=curve, snapshot_strains=tuple(config.reload_snapshots),
        profiles=profiles, u_unloaded=u_ref, u_snapshots=u_snap, pixel_size_m=pixel,
        unload_displacement_m=float(u0), dislocations=disl,
        sources={"x_m": model.src_x, "y_m": model.src_y, "system": model.planes.system[model.src_plane],
                 "tau_nuc_pa": model.src_tau},
        obstacles={"x_m": ox, "y_m": oy, "system": model.planes.system[model.obs_plane]},
        surface_steps=model.steps.copy(), stats=stats, unloaded_checkpoint=checkpoint,
        jump_unloaded=j_ref, jump_snapshots=j_snap,
    )
