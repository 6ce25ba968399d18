"""2D discrete dislocation dynamics (DDD) of pillar compression (Van der Giessen--Needleman).

The data source for strain-profile learning (Yang et al. 2020). One call of
:func:`simulate_pillar` is one sample, determined by its :class:`PillarConfig` and seed.

Modules: :mod:`.fields` (analytic edge-dislocation fields), :mod:`.kernels` (Numba sums),
:mod:`.fem` (FE hat correction), :mod:`.dynamics` (sources, obstacles, glide, events),
:mod:`.protocol` (load--unload--reload), :mod:`.profile` (strain images),
:mod:`.io` (save/load), :mod:`.figures` (PNG outputs).
"""

from microdl.simulate.ddd.config import AL_PRESET, Material, PillarConfig, material
from microdl.simulate.ddd.io import load_result, save_result
from microdl.simulate.ddd.protocol import PillarResult, simulate_pillar

__all__ = [
    "AL_PRESET",
    "Material",
    "PillarConfig",
    "PillarResult",
    "load_result",
    "material",
    "save_result",
    "simulate_pillar",
]
