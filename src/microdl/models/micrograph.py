"""Micrograph encoder: the project's ResNet backbone, a per-crop standardisation and an embedding head.

``standardise - ResNetBackbone - linear - L2 normalise`` maps gray crops ``(n, 1, c, c)``
(values on any scale: each crop is brought to zero mean and unit standard deviation
first, so SEM brightness and contrast settings do not matter) to unit embedding vectors
``(n, embedding_dim)``. With ``n_classes > 0`` a linear classifier on the embedding
gives logits (the supervised objective); the Siamese, triplet and SimCLR objectives
(:mod:`microdl.train.tasks.micrograph`) use the embedding alone.

Sardeshmukh et al. do not publish their network; the preset below is ours, sized for
CPU training on crops of 128 px (about 0.3 M parameters), with the residual modules of
Yang et al. (2020) (:mod:`microdl.models.resnet`), shared rather than written again.

References
----------
Sardeshmukh, A., Reddy, S., Gautham, B. P. & Bhattacharyya, P. Towards better
microstructure representations using deep learning. MRS Communications (Siamese embeddings
of UHCS micrographs, 3-class accuracy 98.16 %).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from microdl.exceptions import InvalidParameterError
from microdl.models.registry import MODELS
from microdl.models.resnet import ResNetBackbone

__all__ = ["MicrographEncoder", "micrograph_resnet", "micrograph_resnet_small", "standardise_crops"]

STD_EPS = 1e-6


def standardise_crops(x: Tensor) -> Tensor:
    """Each crop of ``(n, c, h, w)`` to zero mean and unit standard deviation (``eps`` 1e-6)."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    std = x.std(dim=(1, 2, 3), keepdim=True, unbiased=False)
    return (x - mean) / (std + STD_EPS)


class MicrographEncoder(ResNetBackbone):
    """Gray micrograph crops -> unit embeddings (and class logits with ``n_classes > 0``).

    Parameters
    ----------
    widths, modules_per_stage, blocks_per_module, stem_width
        The backbone (:class:`~microdl.models.resnet.ResNetBackbone`).
    embedding_dim
        Length of the embedding.
    n_classes
        Classes of the linear classifier on the embedding (0: none).

    Examples
    --------
    >>> import torch
    >>> enc = micrograph_resnet_small().eval()
    >>> z = enc(torch.rand(2, 1, 64, 64))
    >>> z.shape, bool(torch.allclose(z.norm(dim=1), torch.ones(2)))
    (torch.Size([2, 32]), True)
    """

    def __init__(self, widths: tuple[int, ...] = (32, 64, 128), modules_per_stage: int = 1,
                 blocks_per_module: int = 2, stem_width: int = 16, embedding_dim: int = 64,
                 n_classes: int = 0) -> None:
        for key, v, low in (("embedding_dim", embedding_dim, 1), ("n_classes", n_classes, 0)):
            if isinstance(v, bool) or int(v) != v or v < low:
                raise InvalidParameterError(f"{key} must be an integer >= {low}, got {v!r}")
        super().__init__(widths, modules_per_stage, blocks_per_module, stem_width, in_channels=1)
        self.embedding_dim = int(embedding_dim)
        self.head = nn.Linear(self.n_features, self.embedding_dim)
        self.classifier = nn.Linear(self.embedding_dim, int(n_classes)) if n_classes else None

    def forward(self, x: Tensor) -> Tensor:
        """Unit embeddings ``(n, embedding_dim)`` of crops ``(n, 1, h, w)``."""
        return F.normalize(self.head(self.features(standardise_crops(x.to(torch.float32)))), dim=1)

    def classify(self, x: Tensor) -> Tensor:
        """Class logits ``(n, n_classes)`` (a model built with ``n_classes > 0`` only)."""
        if self.classifier is None:
            raise InvalidParameterError("this encoder has no classifier (built with n_classes=0)")
        return self.classifier(self(x))


_PAPER = "Sardeshmukh et al., MRS Communications (architecture not published; ours)"
_INPUT = "(n, 1, c, c) gray crops, any scale (standardised per crop); 128 px crops in training"


def micrograph_resnet(embedding_dim: int = 64, n_classes: int = 0) -> MicrographEncoder:
    """Encoder preset: stages of 32, 64, 128 filters, one module of two blocks each, 64-d embedding."""
    return MicrographEncoder((32, 64, 128), 1, 2, 16, embedding_dim, n_classes)


def micrograph_resnet_small(embedding_dim: int = 32, n_classes: int = 0) -> MicrographEncoder:
    """A smaller encoder (16, 32, 64 filters, 32-d embedding) for tests and quick runs."""
    return MicrographEncoder((16, 32, 64), 1, 2, 8, embedding_dim, n_classes)


MODELS.add("micrograph-resnet", micrograph_resnet, paper=_PAPER, paper_parameters=None, input=_INPUT,
           summary="Micrograph encoder: Yang-style residual stages 32-64-128, 64-d unit embedding.")
MODELS.add("micrograph-resnet-small", micrograph_resnet_small, paper=_PAPER, paper_parameters=None, input=_INPUT,
           summary="Small micrograph encoder (16-32-64, 32-d embedding) for tests and quick runs.")
