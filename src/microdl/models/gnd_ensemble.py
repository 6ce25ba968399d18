"""An ensemble of GND models: one prediction and its spread, a per-prediction uncertainty.

Members are any registry GND models (:class:`~microdl.models.zhang2019.GNDModel`), typically
the same recipe trained with different seeds. The ensemble averages the members' N
probabilities and their ``ln rho_t`` (a geometric mean of the densities, then multiplied by
``exp(log_scale)``, a validation-fitted calibration as in :mod:`microdl.models.gnd_anchored`),
and :meth:`GNDEnsemble.spread` / :meth:`GNDEnsemble.spread_map` give the standard deviation of
the members' ``ln rho_t``: ``rho_t x exp(+-spread)`` is the band the members agree on. The
spread measures model uncertainty only (what other training runs would have said), not the
irreducible ambiguity of a window, and is far smaller than the actual errors; it does rank
them. :meth:`GNDEnsemble.calibrate_error` therefore fits, on validation windows, the median
``|ln(rho_pred / rho_true)|`` in quantile bins of the spread (made non-decreasing), and
:meth:`GNDEnsemble.typical_error` turns a spread into that calibrated typical error: the
honest error bar (a factor ``exp(+-e)`` holds half the true densities of such windows).

Outputs keep the family's convention (5 N logits, ``z = log(1 + rho_t / rho_unit)``), so every
GND tool uses an ensemble as it uses a single model; it is fully convolutional when all members are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from microdl.data.gnd import N_CLASSES
from microdl.exceptions import InvalidParameterError
from microdl.models.registry import create_model, register_model
from microdl.models.zhang2019 import GNDModel, target_to_rho
from microdl.simulate.gnd_config import RHO_UNIT_PER_M2

__all__ = ["GNDEnsemble", "gnd_ensemble"]


class GNDEnsemble(GNDModel):
    """Average of GND models with the spread of their ``ln rho_t``.

    Parameters
    ----------
    members
        ``[{"name": registry name, "cfg": factory options}, ...]``, at least two.
    rho_unit_per_m2
        Density unit of the ensemble's own output ``z``.
    error_bins
        Spread bins of the error calibration (:meth:`calibrate_error`).

    Examples
    --------
    >>> import torch
    >>> spec = [{"name": "gnd-fcn7", "cfg": {"width": 8}}] * 2
    >>> m = GNDEnsemble(spec).eval()
    >>> m(torch.full((3, 3, 7, 7), 1e14)).shape, m.spread(torch.full((3, 3, 7, 7), 1e14)).shape
    (torch.Size([3, 6]), torch.Size([3]))
    """

    input_transform = "asinh"

    def __init__(self, members: Sequence[Mapping[str, Any]], rho_unit_per_m2: float = RHO_UNIT_PER_M2,
                 error_bins: int = 8) -> None:
        super().__init__()
        if not isinstance(members, Sequence) or len(members) < 2:
            raise InvalidParameterError(f"members must list at least two models, got {members!r}")
        models = []
        for i, spec in enumerate(members):
            if not isinstance(spec, Mapping) or "name" not in spec:
                raise InvalidParameterError(f"members[{i}] must be {{'name': ..., 'cfg': {{...}}}}, got {spec!r}")
            model = create_model(spec["name"], **dict(spec.get("cfg", {})))
            if not isinstance(model, GNDModel):
                raise InvalidParameterError(f"members[{i}] ({spec['name']!r}) is not a GND model")
            models.append(model)
        self.members = nn.ModuleList(models)
        self.rho_unit_per_m2 = float(rho_unit_per_m2)
        self.fully_convolutional = all(m.fully_convolutional for m in models)
        self.register_buffer("log_scale", torch.zeros(()))
        if isinstance(error_bins, bool) or not isinstance(error_bins, int) or error_bins < 1:
            raise InvalidParameterError(f"error_bins must be an integer >= 1, got {error_bins!r}")
        self.register_buffer("error_edges", torch.zeros(error_bins - 1, dtype=torch.float64))
        self.register_buffer("error_values", torch.full((error_bins,), float("nan"), dtype=torch.float64))

    @property
    def error_calibrated(self) -> bool:
        """Whether :meth:`calibrate_error` has been fitted."""
        return bool(torch.isfinite(self.error_values).all())

    def calibrate_error(self, spread: Tensor, abs_log_error: Tensor) -> None:
        """Fit the typical error per spread bin on validation data (``spread``, ``|ln(pred/true)|``)."""
        s = torch.as_tensor(spread, dtype=torch.float64).flatten()
        e = torch.as_tensor(abs_log_error, dtype=torch.float64).flatten()
        k = len(self.error_values)
        if s.shape != e.shape or len(s) < 2 * k:
            raise InvalidParameterError(f"need >= {2 * k} equal-length spreads and errors, got {s.shape}, {e.shape}")
        edges = torch.quantile(s, torch.linspace(0, 1, k + 1, dtype=torch.float64)[1:-1])
        idx = torch.bucketize(s, edges)
        values = torch.stack([e[idx == b].median() if (idx == b).any() else torch.tensor(float("nan"))
                              for b in range(k)])
        values = torch.nan_to_num(values, nan=float(e.median()))
        self.error_edges.copy_(edges)
        self.error_values.copy_(torch.cummax(values, 0).values)

    def typical_error(self, spread: Tensor) -> Tensor:
        """Calibrated median ``|ln(rho_pred / rho_true)|`` for these spreads (NaN before calibration)."""
        return self.error_values[torch.bucketize(spread.to(torch.float64), self.error_edges)]

    @classmethod
    def from_models(cls, models: Sequence[GNDModel]) -> GNDEnsemble:
        """Build an ensemble (a registry model, so it saves) holding copies of trained registry models."""
        ens = create_model("gnd-ensemble", members=[{"name": m.model_name, "cfg": dict(m.model_cfg)} for m in models])
        for target, source in zip(ens.members, models, strict=True):
            target.load_state_dict(source.state_dict())
        return ens

    def _parts(self, outputs: list[Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """Mean probabilities, mean and standard deviation of ``ln(rho_t / rho_unit)`` over members."""
        prob = torch.stack([torch.softmax(o[:, :N_CLASSES], dim=1) for o in outputs]).mean(0)
        log_rho = torch.stack([
            torch.log(target_to_rho(o[:, N_CLASSES], m.rho_unit_per_m2).clamp_min(1e-30) / self.rho_unit_per_m2)
            for o, m in zip(outputs, self.members, strict=True)])
        return prob, log_rho.mean(0) + self.log_scale, log_rho.std(0)

    def _encode(self, prob: Tensor, log_rho: Tensor) -> Tensor:
        return torch.cat([torch.log(prob.clamp_min(1e-12)), F.softplus(log_rho).unsqueeze(1)], dim=1)

    def forward(self, x_per_m2: Tensor) -> Tensor:
        """``(n, 3, 7, 7)`` windows in m^-2 -> ``(n, 6)`` outputs (5 logits, z)."""
        prob, log_rho, _ = self._parts([m(x_per_m2) for m in self.members])
        return self._encode(prob, log_rho)

    def forward_map(self, x_per_m2: Tensor) -> Tensor:
        """``(n, 3, H + 6, W + 6)`` padded maps -> ``(n, 6, H, W)`` (fully convolutional members only)."""
        outs = [m.forward_map(x_per_m2) for m in self.members]
        n, _, h, w = outs[0].shape
        flat = [o.permute(0, 2, 3, 1).reshape(-1, N_CLASSES + 1) for o in outs]
        prob, log_rho, _ = self._parts(flat)
        return self._encode(prob, log_rho).reshape(n, h, w, N_CLASSES + 1).permute(0, 3, 1, 2)

    def spread(self, x_per_m2: Tensor) -> Tensor:
        """Standard deviation of the members' ``ln rho_t`` per window, ``(n,)``."""
        return self._parts([m(x_per_m2) for m in self.members])[2]

    def spread_map(self, x_per_m2: Tensor) -> Tensor:
        """Standard deviation of the members' ``ln rho_t`` per pixel of padded maps, ``(n, H, W)``."""
        outs = [m.forward_map(x_per_m2) for m in self.members]
        n, _, h, w = outs[0].shape
        flat = [o.permute(0, 2, 3, 1).reshape(-1, N_CLASSES + 1) for o in outs]
        return self._parts(flat)[2].reshape(n, h, w)


_DEFAULT_MEMBERS = ({"name": "gnd-anchored", "cfg": {"centre_table": 64}},) * 3


@register_model(
    "gnd-ensemble",
    paper=None,
    paper_parameters=None,
    input="(n, 3, 7, 7) m^-2 [screw, edge, |rho_GND|]; whole maps via forward_map if every member has it",
)
def gnd_ensemble(members: Sequence[Mapping[str, Any]] = _DEFAULT_MEMBERS,
                 rho_unit_per_m2: float = RHO_UNIT_PER_M2, error_bins: int = 8) -> GNDEnsemble:
    """Ensemble of GND models: mean prediction and the spread of ln rho_t (:class:`GNDEnsemble`).

    The default members are three ``gnd-anchored`` models with a 64 x 64 centre table, the
    shape of the shipped default.
    """
    return GNDEnsemble(list(members), rho_unit_per_m2=rho_unit_per_m2, error_bins=error_bins)
