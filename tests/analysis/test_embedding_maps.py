"""PCA and UMAP maps of embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from microdl.analysis.micrograph import embedding_pca_figure
from microdl.exceptions import InvalidParameterError, ShapeError


def _clusters():
    rng = np.random.default_rng(0)
    centres = np.eye(8)[:3] * 5
    emb = np.concatenate([c + 0.1 * rng.standard_normal((20, 8)) for c in centres])
    return emb, np.repeat([0, 1, 2], 20)


def test_pca_map():
    emb, labels = _clusters()
    fig = embedding_pca_figure(emb, labels, ("a", "b", "c"))
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith("PC1 (") and len(ax.collections) == 3
    pts = [c.get_offsets() for c in ax.collections]
    # three well separated clusters stay apart in the first two components
    centres = np.array([p.mean(0) for p in pts])
    assert min(np.linalg.norm(centres[i] - centres[j]) for i in range(3) for j in range(i + 1, 3)) > 3
    with pytest.raises(InvalidParameterError, match="method"):
        embedding_pca_figure(emb, labels, method="tsne")
    with pytest.raises(ShapeError):
        embedding_pca_figure(emb[:2], labels[:2])


def test_umap_map():
    pytest.importorskip("umap", reason="umap-learn is optional (pip install 'microdl[umap]')")
    emb, labels = _clusters()
    fig = embedding_pca_figure(emb, labels, ("a", "b", "c"), method="umap", seed=0)
    assert fig.axes[0].get_xlabel() == "UMAP 1" and len(fig.axes[0].collections) == 3
