"""Centre-anchored ("wide and deep") GND model, invariant under the window symmetries.

What the window networks of Zhang & Ngan (2019) miss is the centre pixel's own signature:
the centre pixel's GND values carry most of the information about its total density, the
neighbourhood adds what the centre cannot tell (how many lines cross, whether they cancel).
:class:`GNDAnchored` therefore has two paths that meet in the head:

* **deep**: a fully convolutional trunk with a 7 x 7 receptive field (three 3 x 3 and one
  1 x 1 convolution, as :class:`~microdl.models.gnd_fcn.GNDFullyConvolutional`);
* **wide**: the centre pixel's features enter the head directly,
  ``[asinh|screw|, asinh|edge|, asinh|rho_GND|, ln(|rho_GND| / rho_unit + 1e-3)]``
  (densities over ``rho_unit``), through a small 1 x 1 network;
* **table** (``centre_table > 0``): a learned ``B x B`` table over the centre pixel's
  ``(asinh|screw|, asinh|edge|)``, read with bilinear interpolation and added to all six
  outputs: a prior of the centre pixel alone as sharp as a tree's, learned jointly, on
  which the two other paths learn a residual.

The head predicts N logits and ``ln(rho_t / rho_unit)``; the output column ``z`` keeps the
family's convention ``z = log(1 + rho_t / rho_unit)`` (:class:`~microdl.models.zhang2019.GNDModel`)
through ``z = softplus(ln(rho_t / rho_unit))``, so every GND tool decodes it unchanged.
A buffer ``log_scale`` multiplies the predicted density by ``exp(log_scale)``: a calibration
fitted on validation data after training (:func:`microdl.analysis.gnd.mape_scale`), stored
with the weights.

With ``symmetric=True`` (default) the model in evaluation mode averages its outputs over the
16 symmetries of :mod:`microdl.data.gnd_symmetry` (N probabilities and ``ln rho_t``), so its
predictions are exactly invariant under line reversal and the rotations and reflections of
the grid; in training it sees one view (random symmetry augmentation is the task's job).
Whole maps go through :meth:`GNDAnchored.forward_map` in one pass (all paths are convolutional).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from microdl.data.gnd import N_CLASSES, WINDOW
from microdl.data.gnd_symmetry import N_SYMMETRIES, apply_symmetry, undo_spatial
from microdl.exceptions import InvalidParameterError, ShapeError, check_positive
from microdl.models.registry import register_model
from microdl.models.zhang2019 import GNDModel
from microdl.simulate.gnd_config import RHO_UNIT_PER_M2

__all__ = ["GNDAnchored", "gnd_anchored"]

_H = WINDOW // 2


def _conv(c_in: int, c_out: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class GNDAnchored(GNDModel):
    """Wide-and-deep GND model: conv trunk over the window, centre pixel straight into the head.

    Parameters
    ----------
    width
        Channels of the trunk (``width/2, width, width, width``).
    wide
        Channels of the centre-pixel path.
    head
        Channels of the hidden head layer.
    dropout
        Dropout before the output layer.
    symmetric
        Average over the 16 window symmetries in evaluation mode (module notes).
    centre_table
        Bins per axis of the learned centre-pixel table (0: no table); it spans
        ``asinh(|screw| / rho_unit)`` and ``asinh(|edge| / rho_unit)`` in ``[0, table_max]``.
    table_max
        Upper end of the table's axes (larger values are clamped to it).
    rho_unit_per_m2
        Density unit (m^-2) of the input scaling and of the target.

    Examples
    --------
    >>> import torch
    >>> m = GNDAnchored(width=16, wide=8, head=16).eval()
    >>> m(torch.full((2, 3, 7, 7), 1e14)).shape
    torch.Size([2, 6])
    >>> m.forward_map(torch.full((1, 3, 16, 20), 1e14)).shape
    torch.Size([1, 6, 10, 14])
    """

    fully_convolutional = True
    input_transform = "asinh"

    def __init__(self, width: int = 128, wide: int = 64, head: int = 128, dropout: float = 0.0,
                 symmetric: bool = True, centre_table: int = 0, table_max: float = 3.0,
                 rho_unit_per_m2: float = RHO_UNIT_PER_M2) -> None:
        super().__init__()
        for name, value in (("width", width), ("wide", wide), ("head", head)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 2:
                raise InvalidParameterError(f"{name} must be an integer >= 2, got {value!r}")
        if not 0.0 <= dropout < 1.0:
            raise InvalidParameterError(f"dropout must be in [0, 1), got {dropout!r}")
        check_positive("rho_unit_per_m2", rho_unit_per_m2)
        check_positive("table_max", table_max)
        if isinstance(centre_table, bool) or not isinstance(centre_table, int) or centre_table < 0 \
                or centre_table == 1:
            raise InvalidParameterError(f"centre_table must be 0 or an integer >= 2, got {centre_table!r}")
        self.rho_unit_per_m2 = float(rho_unit_per_m2)
        self.table_max = float(table_max)
        self.table = nn.Parameter(torch.zeros(1, N_CLASSES + 1, centre_table, centre_table)) if centre_table else None
        self.symmetric = bool(symmetric)
        half = max(1, width // 2)
        self.input_norm = nn.BatchNorm2d(3)
        self.trunk = nn.Sequential(_conv(3, half, 3), _conv(half, width, 3), _conv(width, width, 3),
                                   _conv(width, width, 1))
        self.wide_path = nn.Sequential(nn.BatchNorm2d(4), _conv(4, wide, 1), _conv(wide, wide, 1))
        self.head = nn.Sequential(_conv(width + wide, head, 1), nn.Dropout(dropout),
                                  nn.Conv2d(head, N_CLASSES + 1, 1))
        self.register_buffer("log_scale", torch.zeros(()))

    def _centre_features(self, x_per_m2: Tensor) -> Tensor:
        """Per-pixel wide features of the centre pixels of all windows of a padded map."""
        c = x_per_m2[:, :, _H:x_per_m2.shape[2] - _H, _H:x_per_m2.shape[3] - _H] / self.rho_unit_per_m2
        mag = c[:, 2:3].abs()
        return torch.cat([torch.asinh(c[:, :2].abs()), torch.asinh(mag), torch.log(mag + 1e-3)], dim=1)

    def _table_lookup(self, x_per_m2: Tensor) -> Tensor:
        """Bilinear read of the centre table at every output pixel: ``(n, 6, H, W)``."""
        feats = self._centre_features(x_per_m2)[:, :2]  # asinh|screw|, asinh|edge|
        grid = (feats.clamp(0.0, self.table_max) / self.table_max * 2.0 - 1.0).permute(0, 2, 3, 1)
        table = self.table.expand(x_per_m2.shape[0], -1, -1, -1)
        return F.grid_sample(table, grid, mode="bilinear", padding_mode="border", align_corners=True)

    def _raw_map(self, x_per_m2: Tensor) -> Tensor:
        """``(n, 3, H + 6, W + 6)`` -> ``(n, 6, H, W)``: 5 logits and ``ln(rho_t / rho_unit)``."""
        deep = self.trunk(self.input_norm(self.scale_input(x_per_m2)))
        wide = self.wide_path(self._centre_features(x_per_m2))
        out = self.head(torch.cat([deep, wide], dim=1))
        if self.table is not None:
            out = out + self._table_lookup(x_per_m2)
        return torch.cat([out[:, :N_CLASSES], out[:, N_CLASSES:] + self.log_scale], dim=1)

    def _encode(self, logits: Tensor, log_rho: Tensor) -> Tensor:
        return torch.cat([logits, F.softplus(log_rho)], dim=1)

    def forward_map(self, x_per_m2: Tensor) -> Tensor:
        """``(n, 3, H + 6, W + 6)`` padded maps in m^-2 -> ``(n, 6, H, W)`` outputs (5 logits, z)."""
        if x_per_m2.ndim != 4 or x_per_m2.shape[1] != 3 or min(x_per_m2.shape[2:]) < WINDOW:
            raise ShapeError(f"x_per_m2 must have shape (n, 3, >=7, >=7), got {tuple(x_per_m2.shape)}")
        if self.training or not self.symmetric:
            raw = self._raw_map(x_per_m2)
            return self._encode(raw[:, :N_CLASSES], raw[:, N_CLASSES:])
        prob = 0.0
        log_rho = 0.0
        for k in range(N_SYMMETRIES):
            raw = undo_spatial(self._raw_map(apply_symmetry(x_per_m2, k)), k)
            prob = prob + torch.softmax(raw[:, :N_CLASSES], dim=1)
            log_rho = log_rho + raw[:, N_CLASSES:]
        return self._encode(torch.log(prob / N_SYMMETRIES), log_rho / N_SYMMETRIES)

    def forward(self, x_per_m2: Tensor) -> Tensor:
        """Map ``(n, 3, 7, 7)`` windows in m^-2 to ``(n, 6)`` outputs (5 logits, z)."""
        if x_per_m2.ndim != 4 or tuple(x_per_m2.shape[1:]) != (3, WINDOW, WINDOW):
            raise ShapeError(f"x_per_m2 must have shape (n, 3, 7, 7), got {tuple(x_per_m2.shape)}")
        return self.forward_map(x_per_m2).flatten(1)


@register_model(
    "gnd-anchored",
    paper=None,
    paper_parameters=None,
    input="(n, 3, 7, 7) m^-2 [screw, edge, |rho_GND|]; whole maps (n, 3, H, W) via forward_map",
)
def gnd_anchored(width: int = 128, wide: int = 64, head: int = 128, dropout: float = 0.0, symmetric: bool = True,
                 centre_table: int = 0, table_max: float = 3.0,
                 rho_unit_per_m2: float = RHO_UNIT_PER_M2) -> GNDAnchored:
    """Centre-anchored wide-and-deep GND model, symmetry-averaged at evaluation (:class:`GNDAnchored`)."""
    return GNDAnchored(width=width, wide=wide, head=head, dropout=dropout, symmetric=symmetric,
                       centre_table=centre_table, table_max=table_max, rho_unit_per_m2=rho_unit_per_m2)
