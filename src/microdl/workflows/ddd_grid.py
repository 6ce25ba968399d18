"""The grids of DDD pillar simulations: presets (smoke, cpu, paper), keys, seeds and jobs.

A grid is widths x slip types x prior strains x samples; every sample reloads to the largest
reload snapshot and records a profile at each. :func:`grid_jobs` turns a preset into the jobs
that :func:`microdl.workflows.ddd_dataset.run_dataset` runs.

Seeds
    The seed of a sample depends only on ``(base_seed, width, slip, prior, index)``
    (a NumPy ``SeedSequence`` hash), so subsets are statistically independent, changing
    the widths of a grid does not change the other samples, and ``--samples`` can be
    raised later to extend a finished grid.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from microdl._registry import Registry
from microdl.data.ddd_profiles import SLIPS, format_number
from microdl.data.jobs import Job
from microdl.exceptions import InvalidParameterError
from microdl.simulate.ddd.config import PillarConfig

__all__ = [
    "CPU_PRESET",
    "DDDGridPreset",
    "PAPER_PRESET",
    "PRESETS",
    "PAPER_TABLE3",
    "SMOKE_PRESET",
    "check_widths",
    "get_preset",
    "grid_jobs",
    "paper_cell_samples",
    "sample_key",
    "sample_seed",
]

_SLIP_CODE = {"one": 1, "two": 2}


@dataclass(frozen=True)
class DDDGridPreset:
    """A grid of DDD samples: widths x slip types x prior strains x samples.

    Every sample reloads to ``max(reload_snapshots)`` and records a profile at each of
    ``reload_snapshots``, so one job gives the images of every reload strain.

    Parameters
    ----------
    name
        Label stored with the dataset.
    widths_um
        Pillar widths (um), within the limits of
        :class:`~microdl.simulate.ddd.config.PillarConfig` (checked here, before any run).
    slips
        Slip types, ``"one"`` and/or ``"two"``.
    priors
        Prior strains (fractions, ``0.001`` = 0.1 %).
    reload_snapshots
        Reload strains (fractions) at which profiles are recorded; the reload stops at the
        largest.
    n_samples
        Samples (seeds) per (width, slip, prior).
    cell_samples
        Optional per-(width, slip) sample counts, ``(width_um, slip, n)`` triples, that
        replace ``n_samples`` for those cells (the ``paper`` preset follows Table 3 of Yang
        et al. 2020 this way). ``replace(n_samples=...)`` (``--samples``) clears them.
    base_seed
        Seed from which the per-sample seeds are derived (:func:`sample_seed`).
    pillar_overrides
        Extra :class:`~microdl.simulate.ddd.config.PillarConfig` fields as ``(name,
        value)`` pairs (e.g. ``(("aspect", 4.0),)``); the grid sets ``width_um``,
        ``slip``, ``prior_strain``, ``reload_strain`` and ``reload_snapshots`` itself.
    description
        One line on what the preset is for.
    """

    name: str
    widths_um: tuple[float, ...]
    slips: tuple[str, ...] = SLIPS
    priors: tuple[float, ...] = (0.001, 0.01, 0.1)
    reload_snapshots: tuple[float, ...] = (0.001, 0.01)
    n_samples: int = 10
    cell_samples: tuple[tuple[float, str, int], ...] = ()
    base_seed: int = 0
    pillar_overrides: tuple[tuple[str, Any], ...] = ()
    description: str = ""

    def __post_init__(self) -> None:

        for name in ("widths_um", "slips", "priors", "reload_snapshots"):
            value = tuple(getattr(self, name))
            if not value:
                raise InvalidParameterError(f"{name} must not be empty, got {getattr(self, name)!r}")
            object.__setattr__(self, name, value)
        object.__setattr__(self, "widths_um", tuple(check_widths(self.widths_um)))
        bad = [s for s in self.slips if s not in SLIPS]
        if bad or len(set(self.slips)) != len(self.slips):
            raise InvalidParameterError(f"slips must be distinct values of {SLIPS}, got {self.slips!r}")
        object.__setattr__(self, "priors", tuple(_check_priors(self.priors)))
        snaps = tuple(float(s) for s in self.reload_snapshots)
        if any(not (0 < s <= 0.5) for s in snaps) or len(set(snaps)) != len(snaps):
            raise InvalidParameterError(
                f"reload_snapshots must be distinct fractions in (0, 0.5], got {self.reload_snapshots!r}")
        object.__setattr__(self, "reload_snapshots", tuple(sorted(snaps)))
        _check_samples(self.n_samples)
        cells = []
        for cell in self.cell_samples:
            if len(cell) != 3 or cell[1] not in SLIPS:
                raise InvalidParameterError(f"cell_samples must hold (width_um, slip, n) triples, got {cell!r}")
            cells.append((check_widths([cell[0]])[0], str(cell[1]), _check_samples(cell[2])))
        object.__setattr__(self, "cell_samples", tuple(cells))
        if isinstance(self.base_seed, bool) or not isinstance(self.base_seed, int) or self.base_seed < 0:
            raise InvalidParameterError(f"base_seed must be an integer >= 0, got {self.base_seed!r}")
        overrides = tuple((str(k), v) for k, v in dict(self.pillar_overrides).items())
        known = {f.name for f in dataclasses.fields(PillarConfig)}
        reserved = {"width_um", "slip", "prior_strain", "reload_strain", "reload_snapshots"}
        for key, _ in overrides:
            if key not in known or key in reserved:
                raise InvalidParameterError(
                    f"pillar_overrides must name PillarConfig fields other than {sorted(reserved)}, got {key!r}")
        object.__setattr__(self, "pillar_overrides", overrides)
        for w in self.widths_um:  # physical and memory limits of every width, before anything runs
            self._pillar(w, self.slips[0], max(self.priors))

    def _pillar(self, width_um: float, slip: str, prior: float) -> PillarConfig:
        snaps = tuple(self.reload_snapshots)
        return PillarConfig(width_um=width_um, slip=slip, prior_strain=prior, reload_strain=max(snaps),
                            reload_snapshots=snaps, **dict(self.pillar_overrides))

    def refused_cells(self) -> list[tuple[float, str, float, str]]:
        """``(width_um, slip, prior, reason)`` of the cells the simulator refuses.

        :meth:`PillarConfig.check_source_supply`: a pillar whose ~1 expected source would
        have to slip more than w/4 (62.5 nm at 10 % prior) loads elastically to GPa; those
        cells are left out of the grid (and named in the dataset report) rather than
        simulated into unphysical profiles.
        """
        out = []
        for w in self.widths_um:
            for slip in self.slips:
                for prior in self.priors:
                    try:
                        self._pillar(w, slip, prior).check_source_supply()
                    except InvalidParameterError as exc:
                        out.append((w, slip, prior, str(exc)))
        return out

    def samples_for(self, width_um: float, slip: str) -> int:
        """Samples per prior in the (width, slip) cell: ``cell_samples`` if listed, else ``n_samples``."""
        for w, sl, n in self.cell_samples:
            if sl == slip and math.isclose(w, width_um):
                return n
        return self.n_samples

    @property
    def n_jobs(self) -> int:
        """Simulations in the grid (refused cells left out)."""
        refused = {(w, s, p) for w, s, p, _ in self.refused_cells()}
        return sum(self.samples_for(w, s) for w in self.widths_um for s in self.slips for p in self.priors
                   if (w, s, p) not in refused)

    def replace(self, **changes: Any) -> DDDGridPreset:
        """A copy with some fields changed (validated again); a new ``n_samples`` clears ``cell_samples``."""
        if "n_samples" in changes and "cell_samples" not in changes:
            changes["cell_samples"] = ()
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (``pillar_overrides`` as a mapping)."""
        d = dataclasses.asdict(self)
        d["pillar_overrides"] = dict(self.pillar_overrides)
        return d


def check_widths(widths: Iterable[float]) -> list[float]:
    """Distinct positive widths (um) as floats."""
    out = []
    for w in widths:
        if isinstance(w, bool) or not isinstance(w, (int, float, np.floating, np.integer)) or not (
            0 < float(w) < math.inf
        ):
            raise InvalidParameterError(f"widths must be positive numbers (um), got {w!r}")
        out.append(float(w))
    if len(set(out)) != len(out):
        raise InvalidParameterError(f"widths must be distinct, got {out!r}")
    return out


def _check_priors(priors: Iterable[float]) -> list[float]:
    out = []
    for p in priors:
        if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)) or not (
            0 <= float(p) <= 0.5
        ):
            raise InvalidParameterError(f"priors must be strain fractions in [0, 0.5] (0.01 = 1 %), got {p!r}")
        out.append(float(p))
    if len(set(out)) != len(out):
        raise InvalidParameterError(f"priors must be distinct, got {out!r}")
    return out


def _check_samples(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InvalidParameterError(f"samples must be an integer >= 1, got {n!r}")
    return int(n)


SMOKE_PRESET = DDDGridPreset(
    name="smoke",
    widths_um=(0.0625,),
    slips=("one", "two"),
    priors=(0.001,),
    n_samples=2,
    description="4 samples at w = 62.5 nm, prior 0.1 %: a few minutes on 2 cores; to check an installation.",
)
"""Four samples at w = 62.5 nm, prior 0.1 %, both slip types, 0.1 % and 1 % images.

Measured 11--140 s per sample (2 workers on a loaded 2-core machine), about 2.5 min in all.
"""

CPU_PRESET = DDDGridPreset(
    name="cpu",
    widths_um=(0.0625, 0.125, 0.25, 0.5),
    n_samples=20,
    description=(
        "4 of the paper's widths (62.5-500 nm) x 2 slips x 3 priors x 20 samples = 440 simulations (62.5 nm "
        "cannot reach 10 %), 880 images (x 2 reference modes); about 3.6 h on 2 cores; resumable."
    ),
)
"""The paper's four smallest widths, both slip types, every prior and reload strain, 20 samples each.

At least 20 simulations per (width, slip, prior) cell, the floor for a test set of about 5
profiles per class and subset; the two 62.5 nm / 10 % cells are refused (a source-starved
pillar cannot reach 10 %, see ``PillarConfig.check_source_supply``), so 22 cells, 440
simulations. With the calibrated defaults one round of the 22 cells costs about 1,300
core-seconds (``benchmarks/ddd/cpu-v2/README.md``), about 7.3 core-hours in all. Older
cost, before calibration, from ``benchmarks/ddd/cpu_dataset.md`` (simulator of
commit 1195964, two simulations side by side on the 2-core machine): one sample of each of
the 24 cells costs 1861 core-seconds (prior 10 %: 93 % of it; 62.5 nm / two slip / 10 %
alone 364 s mean, 997 s max), i.e. 0.26 h per sample index on 2 workers, so 20 samples take
about 10.3 core-hours, 5.2 h on 2 cores. The build is resumable (``microdl ddd dataset``
skips finished samples), so it may run in parts. The 1 um width joins when the speed item
of issue 9 lands: today a 1 um sample can take up to ~30 min (``benchmarks/ddd/speed.md``),
i.e. 20 x 6 samples of 1 um would add days. A calibration of the plasticity (more sources
and obstacles) changes these costs; measure a round first (``--samples 1``).
"""

#: Profiles per subset (width um, reload %, slip) in Table 3 of Yang et al. (2020); 3648 in all.
PAPER_TABLE3: dict[tuple[float, float, str], int] = {
    (w, r, slip): n
    for (r, slip), counts in {(0.1, "two"): (154, 156, 154, 156, 155, 156), (0.1, "one"): (147, 147, 149, 150, 150, 150),
                              (1.0, "two"): (151, 156, 154, 156, 155, 156), (1.0, "one"): (150, 147, 149, 150, 150, 150),
                              }.items()
    for w, n in zip((2.0, 1.0, 0.5, 0.25, 0.125, 0.0625), counts, strict=True)
}


def paper_cell_samples() -> tuple[tuple[float, str, int], ...]:
    """Simulations per (width, slip, prior) from Table 3: ``ceil(max over reload of N / 3)``.

    Both reload profiles come from one simulation and a subset holds 3 prior classes, so
    a cell needs a third of its larger subset, rounded up: 52 for every two-slip cell, 49--50
    for one slip; 1833 simulations, 3666 profiles per reference against the paper's 3648
    (+0.5 %, before profiles without visible slip are dropped on export).
    """
    cells = {(w, slip) for w, _, slip in PAPER_TABLE3}
    return tuple((w, slip, math.ceil(max(PAPER_TABLE3[(w, r, slip)] for r in (0.1, 1.0)) / 3))
                 for w, slip in sorted(cells, reverse=True))


PAPER_PRESET = DDDGridPreset(
    name="paper",
    widths_um=(2.0, 1.0, 0.5, 0.25, 0.125, 0.0625),
    n_samples=52,
    cell_samples=paper_cell_samples(),
    description=(
        "Yang et al. (2020): 6 widths x 2 slips x 3 priors x 49-52 samples (Table 3) = 1833 simulations, each "
        "with 0.1 % and 1 % reload images (24 subsets, 3666 profiles against 3648); for a cluster."
    ),
)
"""The grid of Yang et al. (2020): 24 subsets (6 widths x 2 reload strains x 2 slip types).

Samples per (width, slip, prior) from Table 3 (:func:`paper_cell_samples`): 52 for two slip,
50 for one slip (49 at 1 um); 1833 simulations and 3666 profiles per reference mode; meant
for a Dask cluster (``--scheduler``). ``--samples N`` sets N for every cell instead.
"""

#: Presets by name: ``smoke`` (tests, installation check), ``cpu`` (one machine), ``paper``.
PRESETS: Registry[DDDGridPreset] = Registry("preset")
for _p in (SMOKE_PRESET, CPU_PRESET, PAPER_PRESET):
    PRESETS.add(_p.name, _p, description=_p.description)


def get_preset(name: str | DDDGridPreset) -> DDDGridPreset:
    """Return a preset by name (``"smoke"``, ``"cpu"``, ``"paper"``) or the preset itself.

    Raises
    ------
    UnknownNameError
        Listing the preset names.
    """
    return name if isinstance(name, DDDGridPreset) else PRESETS.get(name)


def sample_key(width_um: float, slip: str, prior: float, index: int) -> str:
    """File stem of one sample, e.g. ``"w0.0625_two_p0.1_i0003"`` (prior in percent)."""
    return f"w{format_number(width_um)}_{slip}_p{format_number(round(prior * 100, 10))}_i{index:04d}"


def sample_seed(base_seed: int, width_um: float, slip: str, prior: float, index: int) -> int:
    """Seed of one sample: a hash of ``(base_seed, width in pm, slip, prior in ppm, index)``.

    Depends on nothing else (not on the other widths of the grid or its sample count).
    """
    words = [int(base_seed), int(round(width_um * 1e6)), _SLIP_CODE[slip], int(round(prior * 1e6)), int(index)]
    return int(np.random.SeedSequence(words).generate_state(1, dtype=np.uint32)[0])


def grid_jobs(
    preset: str | DDDGridPreset,
    *,
    widths: Sequence[float] | None = None,
    samples: int | None = None,
    slips: Sequence[str] | None = None,
    priors: Sequence[float] | None = None,
) -> list[Job]:
    """Jobs of a grid: one per (width, slip, prior, sample), each recording every reload snapshot.

    Parameters
    ----------
    preset
        A :class:`DDDGridPreset` or the name of one of :data:`PRESETS`.
    widths, samples, slips, priors
        Overrides of the preset's ``widths_um``, ``n_samples``, ``slips`` and ``priors``.

    Returns
    -------
    list of Job
        Ordered sample-major (all subsets of sample 0, then sample 1, ...), so an
        interrupted grid is balanced across subsets and the progress bar's rate is
        representative; within a round the largest prior (the costliest samples) and
        widest pillar come first, which shortens the tail of a parallel run. ``params`` holds
        ``width_um``, ``slip``, ``prior_strain``, ``reload_strain``,
        ``reload_snapshots``, ``seed``, ``index`` and ``overrides``.
    """
    p = _apply_overrides(get_preset(preset), widths=widths, samples=samples, slips=slips, priors=priors)
    refused = {(w, s, pr) for w, s, pr, _ in p.refused_cells()}
    jobs = []
    for i in range(max(p.samples_for(w, s) for w in p.widths_um for s in p.slips)):
        for prior in sorted(p.priors, reverse=True):
            for w in sorted(p.widths_um, reverse=True):
                for slip in p.slips:
                    if i >= p.samples_for(w, slip) or (w, slip, prior) in refused:
                        continue
                    params = {
                        "width_um": w,
                        "slip": slip,
                        "prior_strain": prior,
                        "reload_strain": max(p.reload_snapshots),
                        "reload_snapshots": list(p.reload_snapshots),
                        "seed": sample_seed(p.base_seed, w, slip, prior, i),
                        "index": i,
                        "overrides": dict(p.pillar_overrides),
                    }
                    jobs.append(Job(sample_key(w, slip, prior, i), params, suffix=".npz"))
    return jobs


def _apply_overrides(p: DDDGridPreset, **kw: Any) -> DDDGridPreset:
    changes: dict[str, Any] = {}
    if kw.get("widths") is not None:
        changes["widths_um"] = tuple(kw["widths"])
    if kw.get("samples") is not None:
        changes["n_samples"] = _check_samples(kw["samples"])
    if kw.get("slips") is not None:
        changes["slips"] = tuple(kw["slips"])
    if kw.get("priors") is not None:
        changes["priors"] = tuple(kw["priors"])
    return p.replace(**changes) if changes else p
