"""2D discrete dislocation dynamics (DDD) of pillar compression (Van der Giessen--Needleman).

The data source for strain-profile learning (Yang et al. 2020). One call of
:func:`simulate_pillar` is one sample, determined by its :class:`PillarConfig` and seed.
Physics only: nothing here writes files.

Modules: :mod:`.config` (parameters, units and limits), :mod:`.fields` (analytic
edge-dislocation fields), :mod:`.kernels` (Numba sums), :mod:`.fem` (FE hat correction),
:mod:`.dynamics` (sources, obstacles, glide, events), :mod:`.protocol` (load--unload--reload,
monotonic loading), :mod:`.profile` (strain images).

Files of a result: :mod:`microdl.data.ddd_result`; grids of samples and their profiles:
:mod:`microdl.workflows.ddd_dataset` and :mod:`microdl.data.ddd_profiles`; figures:
:mod:`microdl.analysis.ddd_figures`; the size-effect study: :mod:`microdl.workflows.size_effect`.
"""

from microdl.simulate.ddd.config import AL_PRESET, Material, PillarConfig, material
from microdl.simulate.ddd.protocol import LoadingResult, PillarResult, simulate_loading, simulate_pillar

__all__ = [
    "AL_PRESET",
    "LoadingResult",
    "Material",
    "PillarConfig",
    "PillarResult",
    "material",
    "simulate_loading",
    "simulate_pillar",
]
