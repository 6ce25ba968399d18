"""Metric-learning losses against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from microdl.exceptions import InvalidParameterError, ShapeError
from microdl.train.metric_losses import (batch_hard_triplet_loss, contrastive_loss, nt_xent_loss,
                                         pairwise_distances)


def test_pairwise_distances_match_cdist_and_have_finite_gradients():
    x = torch.randn(6, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x[3] = x[1]  # a duplicate: distance 0, gradient must stay finite
    x.requires_grad_(True)
    d = pairwise_distances(x)
    ref = torch.cdist(x.detach(), x.detach())
    assert torch.allclose(d.detach(), ref, atol=1e-6)
    assert float(d.detach()[1, 3]) == 0.0 and torch.all(d.detach().diagonal() == 0)
    d.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_contrastive_loss_by_hand():
    a = torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    b = torch.tensor([[0.6, 0.8], [0.3, 0.4], [3.0, 4.0]])  # distances 1, 0.5, 5
    same = torch.tensor([1, 0, 0])
    # positive: d^2 = 1; negative at 0.5 < margin 1: (1 - 0.5)^2 = 0.25; negative at 5: 0
    assert math.isclose(float(contrastive_loss(a, b, same, margin=1.0)), (1 + 0.25 + 0) / 3, rel_tol=1e-6)
    with pytest.raises(InvalidParameterError, match="margin"):
        contrastive_loss(a, b, same, margin=0)
    with pytest.raises(ShapeError, match="same shape"):
        contrastive_loss(a, b[:2], same)


def test_batch_hard_triplet_picks_the_hardest_pairs():
    emb = torch.tensor([[0.0], [1.0], [3.0], [1.5]])
    labels = torch.tensor([0, 0, 0, 1])
    # anchor 0: hardest pos 3 (item 2), nearest neg 1.5 -> 3 - 1.5 + 0.2 = 1.7
    # anchor 1: hardest pos 2 (item 2), neg 0.5 -> 1.7; anchor 2: pos 3, neg 1.5 -> 1.7
    # anchor 3 has no positive: not counted
    assert math.isclose(float(batch_hard_triplet_loss(emb, labels, margin=0.2)), 1.7, rel_tol=1e-5)
    separated = torch.tensor([[0.0], [0.1], [5.0], [5.1]])
    assert float(batch_hard_triplet_loss(separated, torch.tensor([0, 0, 1, 1]))) == 0.0
    with pytest.raises(InvalidParameterError, match="at least two items of one class"):
        batch_hard_triplet_loss(emb, torch.tensor([0, 1, 2, 3]))


def test_nt_xent_is_low_for_matching_views_and_log_2n_minus_1_for_uninformative_ones():
    g = torch.Generator().manual_seed(1)
    z = torch.nn.functional.normalize(torch.randn(8, 16, generator=g), dim=1)
    good = float(nt_xent_loss(z, z + 1e-3 * torch.randn(8, 16, generator=g), temperature=0.1))
    shuffled = float(nt_xent_loss(z, z[torch.randperm(8, generator=g)], temperature=0.1))
    assert good < 0.1 < shuffled
    same = torch.ones(4, 3)  # every view identical: uniform over the 2n - 1 = 7 candidates
    assert math.isclose(float(nt_xent_loss(same, same)), math.log(7), rel_tol=1e-5)
    with pytest.raises(ShapeError, match="n >= 2"):
        nt_xent_loss(z[:1], z[:1])


def test_nt_xent_groups_leave_same_source_views_out_of_the_negatives():
    g = torch.Generator().manual_seed(2)
    z1 = torch.randn(4, 8, generator=g)
    z2 = z1 + 0.05 * torch.randn(4, 8, generator=g)
    z1[1], z2[1] = z1[0], z2[0]  # pairs 0 and 1 are crops of one micrograph: near-identical views
    plain = float(nt_xent_loss(z1, z2, 0.1))
    grouped = float(nt_xent_loss(z1, z2, 0.1, groups=torch.tensor([7, 7, 8, 9])))
    assert grouped < plain - 0.3  # without groups the twin pair is a hard "negative"
    assert math.isclose(grouped, float(nt_xent_loss(z1, z2, 0.1, groups=torch.tensor([0, 0, 1, 2]))))
    with pytest.raises(ShapeError, match="groups"):
        nt_xent_loss(z1, z2, groups=torch.tensor([0, 1]))
