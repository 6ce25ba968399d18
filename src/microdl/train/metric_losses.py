"""Losses of metric and self-supervised learning on embeddings: contrastive pairs, triplets, NT-Xent.

All take embeddings as rows of a float tensor; distances are Euclidean (on unit vectors,
``d**2 = 2 - 2 cos``).

* :func:`contrastive_loss` (Hadsell, Chopra & LeCun 2006; the Siamese loss):
  ``y d**2 + (1 - y) max(0, margin - d)**2`` averaged over pairs, ``y = 1`` for a
  pair of the same class.
* :func:`batch_hard_triplet_loss` (Hermans, Beyer & Leibe 2017): for every anchor
  the farthest positive and the nearest negative in the batch,
  ``max(0, d_ap - d_an + margin)``, averaged over anchors that have both.
* :func:`nt_xent_loss` (Chen et al. 2020, SimCLR): for ``2n`` views, the cross-entropy
  of picking each view's partner among the other ``2n - 1`` with cosine similarity
  divided by ``temperature`` as logits.

References
----------
Hadsell, R., Chopra, S. & LeCun, Y. (2006). Dimensionality reduction by learning an invariant mapping. CVPR.
Hermans, A., Beyer, L. & Leibe, B. (2017). In defense of the triplet loss for person re-identification.
arXiv:1703.07737.
Chen, T., Kornblith, S., Norouzi, M. & Hinton, G. (2020). A simple framework for contrastive learning of
visual representations. ICML.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from microdl.exceptions import InvalidParameterError, ShapeError

__all__ = ["pairwise_distances", "contrastive_loss", "batch_hard_triplet_loss", "nt_xent_loss"]


def _check_positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise InvalidParameterError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _check_rows(name: str, x: Tensor) -> None:
    if x.ndim != 2 or x.shape[0] == 0:
        raise ShapeError(f"{name} must have shape (n, d) with n >= 1, got {tuple(x.shape)}")


def pairwise_distances(x: Tensor, eps: float = 1e-12) -> Tensor:
    """Euclidean distances ``(n, n)`` between the rows of ``x``; differentiable (zero on the diagonal)."""
    _check_rows("x", x)
    sq = (x * x).sum(1)
    d2 = (sq[:, None] + sq[None, :] - 2.0 * x @ x.T).clamp_min(0.0)
    d2 = d2 * (1.0 - torch.eye(len(x), dtype=x.dtype, device=x.device))  # exact zeros on the diagonal
    return torch.sqrt(d2 + eps) * (d2 > 0)  # eps keeps the gradient finite at d = 0


def contrastive_loss(a: Tensor, b: Tensor, same: Tensor, margin: float = 1.0) -> Tensor:
    """Mean contrastive loss of pairs ``(a[i], b[i])``; ``same[i]`` is 1 (same class) or 0.

    Parameters
    ----------
    a, b
        ``(n, d)`` embeddings of the two members of each pair.
    same
        ``(n,)`` 1 for a positive (similar) pair, 0 for a negative one.
    margin
        Distance beyond which a negative pair costs nothing.
    """
    margin = _check_positive("margin", margin)
    _check_rows("a", a)
    if a.shape != b.shape or tuple(same.shape) != (a.shape[0],):
        raise ShapeError(f"a and b must have the same shape (n, d) and same shape (n,), got {tuple(a.shape)}, "
                         f"{tuple(b.shape)}, {tuple(same.shape)}")
    y = same.to(a.dtype)
    d2 = ((a - b) ** 2).sum(1)
    d = torch.sqrt(d2 + 1e-12)
    return (y * d2 + (1.0 - y) * F.relu(margin - d) ** 2).mean()


def batch_hard_triplet_loss(emb: Tensor, labels: Tensor, margin: float = 0.2) -> Tensor:
    """Batch-hard triplet loss: hardest positive and hardest negative per anchor.

    Parameters
    ----------
    emb
        ``(n, d)`` embeddings.
    labels
        ``(n,)`` integer classes; a batch needs at least two classes and an anchor
        counts only when it has a positive (another item of its class).
    margin
        Required gap between the negative and the positive distance.

    Raises
    ------
    InvalidParameterError
        No anchor has both a positive and a negative in the batch.
    """
    margin = _check_positive("margin", margin)
    _check_rows("emb", emb)
    if tuple(labels.shape) != (emb.shape[0],):
        raise ShapeError(f"labels must have shape ({emb.shape[0]},), got {tuple(labels.shape)}")
    d = pairwise_distances(emb)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(emb), dtype=torch.bool, device=emb.device)
    pos, neg = same & ~eye, ~same
    valid = pos.any(1) & neg.any(1)
    if not bool(valid.any()):
        raise InvalidParameterError("batch_hard_triplet_loss needs a batch with at least two items of one class "
                                    "and one item of another class")
    hardest_pos = torch.where(pos, d, torch.zeros_like(d)).max(1).values
    hardest_neg = torch.where(neg, d, torch.full_like(d, float("inf"))).min(1).values
    return F.relu(hardest_pos - hardest_neg + margin)[valid].mean()


def nt_xent_loss(z1: Tensor, z2: Tensor, temperature: float = 0.5, groups: Tensor | None = None) -> Tensor:
    """NT-Xent (normalised temperature-scaled cross-entropy) of two views ``z1[i]``, ``z2[i]`` of item ``i``.

    Parameters
    ----------
    z1, z2
        ``(n, d)`` embeddings of the two views (normalised here), ``n >= 2``.
    temperature
        Softmax temperature of the cosine similarities.
    groups
        ``(n,)`` source of each pair (e.g. the micrograph two crops came from): views of
        another pair from the same source are left out of the negatives, not pushed away.
    """
    temperature = _check_positive("temperature", temperature)
    _check_rows("z1", z1)
    if z1.shape != z2.shape or z1.shape[0] < 2:
        raise ShapeError(f"z1 and z2 must have the same shape (n, d) with n >= 2, got {tuple(z1.shape)}, "
                         f"{tuple(z2.shape)}")
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = (z @ z.T) / temperature
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    drop = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    if groups is not None:
        if tuple(groups.shape) != (n,):
            raise ShapeError(f"groups must have shape ({n},), got {tuple(groups.shape)}")
        g = torch.cat([groups, groups]).to(z.device)
        drop = drop | ((g[:, None] == g[None, :]) & (torch.arange(2 * n, device=z.device)[None, :] != target[:, None]))
    logits = logits.masked_fill(drop, float("-inf"))
    return F.cross_entropy(logits, target)
