"""Frozen configuration of a 2D DDD pillar-compression simulation.

Every parameter of a run lives in one :class:`PillarConfig` (with a nested
:class:`Material`), which is saved as JSON next to each output. Units are in the
field names: ``_um`` micrometres, ``_nm`` nanometres, ``_b`` Burgers vectors,
``_mpa`` megapascals, ``_gpa`` gigapascals, ``_ns`` nanoseconds, ``_per_um2`` per
square micrometre, ``_per_s`` per second. Strains are plain fractions
(``0.01`` = 1 %). The simulator converts everything to SI internally.

References
----------
V. S. Deshpande, A. Needleman and E. Van der Giessen, "Plasticity size effects in
tension and compression of single crystals", J. Mech. Phys. Solids 53, 2661 (2005)
(the "Al-like" parameter set used here).
Z. Yang et al., "Learning to predict crystal plasticity at the nanoscale: deep
residual networks and size effects in uniaxial compression discrete dislocation
simulations", Sci. Rep. 10, 8262 (2020) (protocol: prior strain, unload, reload).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from microdl.exceptions import InvalidParameterError, UnknownNameError, check_positive

#: Pillar widths (um) for which this 2D DDD model is meaningful and affordable. Below 10 nm
#: (40 b) a pillar holds fewer than one slip plane of each system per 25 nm plane spacing and
#: the far-field dislocation solutions break down within a few core radii of both surfaces;
#: above 20 um the source and obstacle counts (~110 and ~440 per um^2, i.e. ~1e6 at 20 um x
#: 80 um) make the O(N^2) interaction sums run for days, and the size effect the model is
#: built to resolve has vanished (bulk behaviour). The published grid spans 0.0625--2 um.
WIDTH_RANGE_UM = (0.01, 20.0)
#: Height / width ratios accepted: squatter pillars are dominated by the clamped platens, taller
#: ones buckle in practice and only multiply the cost (the FE rows grow with the height).
ASPECT_RANGE = (0.5, 10.0)
#: Upper bound on the pixels of one strain-profile snapshot: the displacement field on the
#: pixel corners and its temporaries take ~40 bytes per pixel, i.e. ~2 GB at this bound (the
#: published 2 um pillar at 2 nm pixels has 4 million).
MAX_PROFILE_PIXELS = 50_000_000
#: Largest slip offset per expected source plane, as a fraction of the width (see
#: :meth:`PillarConfig.check_source_supply`): beyond it the few sources of a small pillar cannot
#: carry the strain within the small-strain model (62.5 nm at 10 %: ~1 source, offset ~w/2).
MAX_SLIP_OFFSET_PER_WIDTH = 0.25


@dataclass(frozen=True)
class Material:
    """Elastic constants, Burgers vector and drag.

    Parameters
    ----------
    name
        Label stored with the output.
    youngs_modulus_gpa, poisson_ratio
        Isotropic elasticity (plane strain).
    burgers_nm
        Burgers vector magnitude.
    drag_pa_s
        Drag coefficient ``B``; glide velocity ``v = f / B`` (f in N/m).
    """

    name: str = "Al-like"
    youngs_modulus_gpa: float = 70.0
    poisson_ratio: float = 0.33
    burgers_nm: float = 0.25
    drag_pa_s: float = 1e-4

    def __post_init__(self) -> None:
        check_positive("youngs_modulus_gpa", self.youngs_modulus_gpa)
        check_positive("burgers_nm", self.burgers_nm)
        check_positive("drag_pa_s", self.drag_pa_s)
        if not 0.0 <= self.poisson_ratio < 0.5:
            raise InvalidParameterError(f"poisson_ratio must be in [0, 0.5), got {self.poisson_ratio!r}")

    @property
    def shear_modulus_pa(self) -> float:
        """``mu = E / (2 (1 + nu))`` in Pa (26.3 GPa for the Al preset)."""
        return self.youngs_modulus_gpa * 1e9 / (2.0 * (1.0 + self.poisson_ratio))


#: Al-like constants of Deshpande, Needleman & Van der Giessen (2005), as in the spec's table.
AL_PRESET = Material()

MATERIALS: dict[str, Material] = {"al": AL_PRESET}


def material(name: str) -> Material:
    """Return a named material preset (``"al"``)."""
    try:
        return MATERIALS[name.lower()]
    except KeyError:
        raise UnknownNameError(f"material must be one of {sorted(MATERIALS)}, got {name!r}") from None


@dataclass(frozen=True)
class PillarConfig:
    """All parameters of one pillar simulation (load, unload to F = 0, reload).

    Parameters
    ----------
    width_um
        Pillar width ``w`` (x, lateral), within :data:`WIDTH_RANGE_UM` (0.01--20 um: the range in
        which a 2D discrete-dislocation model is both meaningful and affordable, see there).
    aspect
        Height / width; the loading axis is y and ``h = aspect * w``; within
        :data:`ASPECT_RANGE` (0.5--10).
    slip
        ``"one"``: a single system at ``+slip_angle_deg`` to the loading axis;
        ``"two"``: systems at ``+-slip_angle_deg``.
    slip_angle_deg
        Angle between slip planes and the loading axis (30 degrees: slip direction
        at 60 degrees from x for the ``+`` system).
    plane_spacing_b
        Spacing of the discrete slip planes of each system (100 b = 25 nm).
    source_density_per_um2, source_strength_mean_mpa, source_strength_sd_mpa
        Frank--Read point sources: number ~ Poisson(density * w * h) (see
        ``min_sources``) and Gaussian strengths ``tau_nuc`` (truncated at
        ``0.1 * mean``). Default 110 per um^2 of 50 +- 10 MPa: twice the density of
        Deshpande et al. (2005), from the calibration of issue 9
        (``benchmarks/ddd/calibration.md``, ``docs/ddd.md``).
    min_sources
        Lower bound on the number of sources. Small pillars are source-starved
        (1.7 expected sources at w = 62.5 nm); the default 1 guarantees that
        every sample can deform plastically. Set 0 for the pure Poisson count.
    nucleation_time_ns
        ``t_nuc``: ``|tau| > tau_nuc`` must hold this long before a dipole of
        spacing ``L_nuc = mu b / (2 pi (1 - nu) tau_nuc)`` is emitted.
    obstacle_density_per_um2
        Point obstacles on slip planes (per um^2); default 440 (four times the source
        density, from the same calibration: obstacles on the active planes pin
        dislocations and end interior slip traces). ``None`` means twice the source
        density, the choice of Deshpande et al. (2005): ``source_density_per_um2=55,
        obstacle_density_per_um2=None`` is their set.
    obstacle_strength_mpa
        ``tau_obs``: a pinned dislocation is released when ``|tau| >= tau_obs``.
    annihilation_distance_b
        ``L_e``: opposite-sign dislocations on one plane closer than this annihilate.
    dt_ns, strain_rate_per_s
        Time step and applied strain rate ``|dU/dt| / h`` (loading and unloading).
    prior_strain, reload_strain
        Prior (pre-)strain and test (reload) strain, fractions.
    reload_snapshots
        Reload strains (fractions, each ``<= reload_strain``) at which a strain
        profile is recorded; empty means ``(reload_strain,)``. One trajectory
        thus yields e.g. the 0.1 % and 1 % images.
    fe_nx
        FE elements across the width (``n_y ~ fe_nx * aspect`` uniform rows).
    fe_end_refinement_nm
        Height of the FE rows at the top and bottom faces; rows grow geometrically (x1.25)
        to the uniform size (adds ~10-20 rows per end). 0 gives a uniform mesh.
    image_force
        How the image field of the free lateral faces is computed: ``"analytic"`` (default):
        Head's exact half-plane image for dislocations within 3--6 FE columns of a face, the
        FE correcting the rest (:mod:`microdl.simulate.ddd.fem`; Head's force within 1 % up to
        two FE columns from a face, 10 % beyond); ``"fe"``: the FE mesh alone, as before (0.2--0.5
        of Head's force 5 nm from a face at w = 1-2 um). Configs saved without it load as ``"fe"``.
    block_standoff_nm
        Distance from a top/bottom face at which a dislocation gliding towards it stops
        (plane ends on these faces are impenetrable).
    pixel_size_nm
        Target pixel size of the strain profile; the pixel count per side is
        ``round(side / pixel)`` and the exact pixel size is stored with the result. One
        snapshot may hold at most :data:`MAX_PROFILE_PIXELS` (50 million) pixels, which bounds
        its memory; larger pillars need larger pixels.
    max_substeps
        Upper bound on explicit sub-steps per time step (see
        :mod:`microdl.simulate.ddd.dynamics`).
    max_glide_nm
        Accuracy control: a step is split into sub-steps so that no free dislocation
        glides more than this per sub-step (fields recomputed in between); 0 disables.
        Velocities are not capped. Sub-steps are bounded by ``max_substeps``.
    record_every
        Stress--strain curve sampling interval in steps.
    max_unload_strain
        Safety bound: unloading stops after this much strain even if F > 0, or after 1.5
        times the elastic unloading strain of the peak stress if that is larger (so the
        zero-force state is reached rather than extrapolated from a high stress).
    ends
        Top/bottom boundary condition: ``"clamped"`` (sticking platens, u_x = 0; the
        default, as in Deshpande et al. 2005) or ``"frictionless"`` (only u_y imposed).
        With clamped ends, slip on a single system builds up a lateral offset of the
        platens whose constraint stress lowers the force faster than the resolved
        shear on that system (tau/F at a source: ~0.40 for the surface-step field
        against ~0.43 for uniform loading at w = 0.125 um), which softens the curve of
        source-starved pillars at large strain; frictionless ends remove the lateral
        constraint.
    material
        Elastic constants (default :data:`AL_PRESET`).
    fe_gauss_points
        Gauss points per edge of the lateral faces for the FE traction load (the top and
        bottom faces keep 4). 2 (default since the speed work of issue 9; 4 before): the
        analytic images cancel the own-face traction of dislocations within 3 face columns,
        so the remaining tractions vary over more than an element, and 2 points reproduce
        4 within 0.1 MPa of resolved shear (``tests/simulate/ddd/test_speed_paths.py``).
    hat_refresh_nm
        Within a time step, the FE hat problem is solved again at a global sub-step only
        once a dislocation has glided more than this (or a quarter of its distance to the
        nearer clamped end) since the last solve, or one was added or removed; in between,
        pair and image forces are recomputed and the (smooth) hat field is kept. 0: a new
        solve at every sub-step (the behaviour before issue 9).
    """

    width_um: float = 0.125
    aspect: float = 4.0
    slip: str = "two"
    slip_angle_deg: float = 30.0
    plane_spacing_b: float = 100.0
    source_density_per_um2: float = 110.0
    source_strength_mean_mpa: float = 50.0
    source_strength_sd_mpa: float = 10.0
    min_sources: int = 1
    nucleation_time_ns: float = 10.0
    obstacle_density_per_um2: float | None = 440.0
    obstacle_strength_mpa: float = 150.0
    annihilation_distance_b: float = 6.0
    dt_ns: float = 0.5
    strain_rate_per_s: float = 1e4
    prior_strain: float = 0.01
    reload_strain: float = 0.01
    reload_snapshots: tuple[float, ...] = ()
    fe_nx: int = 32
    fe_end_refinement_nm: float = 0.4
    image_force: str = "analytic"
    block_standoff_nm: float = 2.0
    pixel_size_nm: float = 2.0
    max_substeps: int = 32
    max_glide_nm: float = 20.0
    record_every: int = 10
    max_unload_strain: float = 0.05
    ends: str = "clamped"
    material: Material = field(default_factory=lambda: AL_PRESET)
    fe_gauss_points: int = 2
    hat_refresh_nm: float = 100.0

    def __post_init__(self) -> None:
        for name in (
            "width_um", "aspect", "plane_spacing_b", "source_strength_mean_mpa", "nucleation_time_ns",
            "obstacle_strength_mpa", "dt_ns", "strain_rate_per_s", "reload_strain", "pixel_size_nm",
            "max_unload_strain", "block_standoff_nm",
        ):
            check_positive(name, getattr(self, name))
        for name in ("source_density_per_um2", "source_strength_sd_mpa", "annihilation_distance_b", "prior_strain",
                     "max_glide_nm", "fe_end_refinement_nm", "hat_refresh_nm"):
            check_positive(name, getattr(self, name), allow_zero=True)
        if self.obstacle_density_per_um2 is not None:
            check_positive("obstacle_density_per_um2", self.obstacle_density_per_um2, allow_zero=True)
        self._check_limits()
        if self.slip not in ("one", "two"):
            raise InvalidParameterError(f"slip must be 'one' or 'two', got {self.slip!r}")
        if not 0.0 < self.slip_angle_deg < 90.0:
            raise InvalidParameterError(f"slip_angle_deg must be in (0, 90), got {self.slip_angle_deg!r}")
        if self.image_force not in ("analytic", "fe"):
            raise InvalidParameterError(f"image_force must be 'analytic' or 'fe', got {self.image_force!r}")
        if self.ends not in ("clamped", "frictionless"):
            raise InvalidParameterError(f"ends must be 'clamped' or 'frictionless', got {self.ends!r}")
        for name in ("fe_nx", "max_substeps", "record_every", "fe_gauss_points"):
            if int(getattr(self, name)) < 1:
                raise InvalidParameterError(f"{name} must be an integer >= 1, got {getattr(self, name)!r}")
        if int(self.min_sources) < 0:
            raise InvalidParameterError(f"min_sources must be >= 0, got {self.min_sources!r}")
        if self.prior_strain > 0.5 or self.reload_strain > 0.5:
            raise InvalidParameterError(
                f"strains are fractions (0.01 = 1 %); got prior_strain={self.prior_strain!r}, "
                f"reload_strain={self.reload_strain!r}"
            )
        snaps = tuple(float(s) for s in self.reload_snapshots)
        if any(s <= 0 or s > self.reload_strain * (1 + 1e-12) for s in snaps):
            raise InvalidParameterError(
                f"reload_snapshots must lie in (0, reload_strain={self.reload_strain}], got {snaps!r}"
            )
        object.__setattr__(self, "reload_snapshots", tuple(sorted(set(snaps))) or (float(self.reload_strain),))
        if isinstance(self.material, dict):  # from JSON
            object.__setattr__(self, "material", Material(**self.material))

    def _check_limits(self) -> None:
        """Physical range of the width and aspect, memory bound of the profile image."""
        for name, (lo, hi), unit in (("width_um", WIDTH_RANGE_UM, " um"), ("aspect", ASPECT_RANGE, "")):
            value = getattr(self, name)
            if not lo <= value <= hi:
                raise InvalidParameterError(
                    f"{name} must be in [{lo:g}, {hi:g}]{unit} (the range of 2D DDD pillars), got {value!r}")
        nx = max(1, round(self.width_um * 1e3 / self.pixel_size_nm))
        ny = max(1, round(self.height_um * 1e3 / self.pixel_size_nm))
        if nx * ny > MAX_PROFILE_PIXELS:
            need = self.pixel_size_nm * math.sqrt(nx * ny / MAX_PROFILE_PIXELS)
            raise InvalidParameterError(
                f"pixel_size_nm must give at most {MAX_PROFILE_PIXELS} pixels per strain profile (memory), got "
                f"{self.pixel_size_nm!r} nm: {nx} x {ny} pixels at width {self.width_um:g} um; use >= {need:.3g} nm")

    def source_slip_offset(self) -> float:
        """Slip offset per expected source plane over the width for the total strain (fraction).

        ``(prior + reload) h / (n cos(slip_angle)) / w`` with ``n = max(density w h, min_sources)``
        expected sources: the slip each source plane must carry if they share the strain
        equally (``inf`` without sources, 0 without strain). 62.5 nm, 10 % + 1 %: 0.51.
        """
        n = max(self.source_density_per_um2 * self.width_um * self.height_um, float(self.min_sources))
        strain = self.prior_strain + self.reload_strain
        if strain == 0:
            return 0.0
        return math.inf if n == 0 else strain * self.aspect / (n * math.cos(math.radians(self.slip_angle_deg)))

    def check_source_supply(self) -> None:
        """Refuse a strain the expected sources cannot carry (:data:`MAX_SLIP_OFFSET_PER_WIDTH`).

        Such pillars (62.5 nm at 10 % prior: ~1 source) either pile their only plane up against
        a clamped end and then load elastically (7.9 GPa at 10 %, then reverse slip on
        unloading), or shear one plane by half the width: both outside this model, which has
        no surface nucleation and small strains. Pillars without sources are elastic by choice
        and pass.
        """
        ratio = self.source_slip_offset()
        if math.isfinite(ratio) and ratio > MAX_SLIP_OFFSET_PER_WIDTH:
            limit = (self.prior_strain + self.reload_strain) * MAX_SLIP_OFFSET_PER_WIDTH / ratio
            raise InvalidParameterError(
                f"prior_strain + reload_strain must be <= {limit:.3g} at width_um={self.width_um:g} (its "
                f"~{max(self.source_density_per_um2 * self.width_um * self.height_um, self.min_sources):.2g} "
                f"expected source(s) would each have to slip more than w/4: a source-starved pillar loads "
                f"elastically to GPa), got {self.prior_strain + self.reload_strain:g}")

    # derived quantities -------------------------------------------------------------
    @property
    def height_um(self) -> float:
        return self.width_um * self.aspect

    @property
    def obstacle_density(self) -> float:
        """Obstacle density (per um^2); twice the source density unless given."""
        if self.obstacle_density_per_um2 is None:
            return 2.0 * self.source_density_per_um2
        return self.obstacle_density_per_um2

    @property
    def slip_directions_rad(self) -> tuple[float, ...]:
        """Angles of the slip directions to the x axis (rad): 60 deg, and 120 deg for two systems."""
        a = math.radians(90.0 - self.slip_angle_deg)
        return (a,) if self.slip == "one" else (a, math.pi - a)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PillarConfig:
        """Rebuild a config saved with :meth:`to_dict` (JSON lists become tuples)."""
        data = dict(data)
        data.setdefault("image_force", "fe")  # saved before the analytic image existed
        data.setdefault("fe_gauss_points", 4)  # saved before the speed work of issue 9
        data.setdefault("hat_refresh_nm", 0.0)
        if "material" in data and isinstance(data["material"], dict):
            data["material"] = Material(**data["material"])
        if "reload_snapshots" in data:
            data["reload_snapshots"] = tuple(data["reload_snapshots"])
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise InvalidParameterError(f"unknown PillarConfig fields {sorted(unknown)}")
        return cls(**data)
