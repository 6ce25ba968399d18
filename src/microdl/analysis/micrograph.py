"""Micrograph embeddings in use: embed images, classify from embeddings, score, and draw the PCA map.

* :func:`embed_images`: a micrograph's embedding is the normalised mean of the encoder's
  unit embeddings of ``n_crops`` evenly spaced crops (deterministic);
* :func:`classify_embeddings`: an SVM or a kNN vote (cosine) trained on some embeddings,
  applied to others;
* :func:`classification_scores`: accuracy, confusion matrix, per-class recall;
* :func:`embedding_pca_figure`: the first two principal components coloured by class
  (Sardeshmukh et al. read PC1 as morphology, PC2 as isotropy).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from microdl.exceptions import InvalidParameterError, ShapeError

__all__ = ["embed_images", "classify_embeddings", "classification_scores", "embedding_pca_figure",
           "CLASSIFIERS", "linear_probe"]

CLASSIFIERS = ("svm", "knn")


@torch.no_grad()
def embed_images(model: torch.nn.Module, images: Sequence[np.ndarray], *, crop: int, n_crops: int = 9,
                 batch_size: int = 64, device: str | torch.device | None = None,
                 progress: bool = False) -> np.ndarray:
    """Unit embeddings ``(n_images, d)`` of gray images: the normalised mean over ``n_crops`` grid crops.

    Parameters
    ----------
    model
        An encoder returning unit embeddings (``micrograph-resnet``).
    images
        2-D gray images (float 0..1), each at least ``crop`` pixels on both sides.
    crop, n_crops
        Crop side (px) and number of evenly spaced crops per image.
    batch_size
        Crops per forward pass.
    device
        ``None``: the model's device.
    progress
        Show a progress bar over images.
    """
    from tqdm.auto import tqdm

    from microdl.data.micrograph_aug import grid_crops

    if len(images) == 0:
        raise InvalidParameterError("images must hold at least one image, got none")
    model.eval()
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    out = []
    for img in tqdm(images, desc="embedding", unit="image", disable=not progress):
        arr = np.asarray(img)
        if arr.ndim != 2 or min(arr.shape) < crop:
            raise ShapeError(f"each image must be 2-D and at least {crop} px on both sides, got shape {arr.shape}")
        crops = grid_crops(torch.as_tensor(arr, dtype=torch.float32)[None], n_crops, crop)
        z = torch.cat([model(crops[i:i + batch_size].to(dev)).float().cpu()
                       for i in range(0, len(crops), batch_size)])
        out.append(F.normalize(z.mean(0), dim=0))
    return torch.stack(out).numpy()


def linear_probe(seed: int = 0):
    """The linear probe of an encoder: standardised embeddings into a logistic regression (scikit-learn).

    Standardising matters: unit embeddings have coordinates of order ``1 / sqrt(d)``, which the
    default L2 penalty would otherwise flatten into near-uniform probabilities.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, random_state=seed))


def classify_embeddings(train_emb: np.ndarray, train_labels: np.ndarray, test_emb: np.ndarray, *,
                        method: str = "svm", k: int = 5, seed: int = 0) -> np.ndarray:
    """Predicted labels of ``test_emb`` from a classifier fitted on ``(train_emb, train_labels)``.

    ``"svm"``: RBF support-vector machine on standardised embeddings (C = 10); ``"knn"``:
    majority vote of the ``k`` nearest training embeddings by cosine distance
    (``k`` is capped at the training size).
    """
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    if method not in CLASSIFIERS:
        raise InvalidParameterError(f"method must be one of {list(CLASSIFIERS)}, got {method!r}")
    train_emb, test_emb = np.asarray(train_emb, dtype=np.float64), np.asarray(test_emb, dtype=np.float64)
    train_labels = np.asarray(train_labels)
    if train_emb.ndim != 2 or test_emb.ndim != 2 or train_emb.shape[1] != test_emb.shape[1]:
        raise ShapeError(f"embeddings must be (n, d) with the same d, got {train_emb.shape} and {test_emb.shape}")
    if len(train_labels) != len(train_emb):
        raise ShapeError(f"train_labels must have {len(train_emb)} entries, got {len(train_labels)}")
    if len(np.unique(train_labels)) < 2:
        raise InvalidParameterError("a classifier needs training embeddings of at least two classes")
    if method == "svm":
        clf = make_pipeline(StandardScaler(), SVC(C=10.0, kernel="rbf", random_state=seed))
    else:
        clf = KNeighborsClassifier(n_neighbors=min(int(k), len(train_emb)), metric="cosine")
    return clf.fit(train_emb, train_labels).predict(test_emb)


def classification_scores(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]) -> dict[str, Any]:
    """``accuracy``, ``confusion`` (rows: true class, columns: predicted) and ``recall`` per class name."""
    y_true, y_pred = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ShapeError(f"y_true and y_pred must be 1-D of equal length, got {y_true.shape}, {y_pred.shape}")
    n = len(class_names)
    conf = np.zeros((n, n), dtype=int)
    np.add.at(conf, (y_true, y_pred), 1)
    recall = {name: (float(conf[i, i] / conf[i].sum()) if conf[i].sum() else None)
              for i, name in enumerate(class_names)}
    return {"accuracy": float((y_true == y_pred).mean()) if len(y_true) else float("nan"),
            "n": int(len(y_true)), "confusion": conf.tolist(), "class_names": list(class_names),
            "recall": recall}


def embedding_pca_figure(emb: np.ndarray, labels: np.ndarray | None, class_names: Sequence[str] = (),
                         *, title: str = "embedding, first two principal components", method: str = "pca",
                         seed: int = 0) -> Any:
    """Scatter of the embedding's first two principal components (or a UMAP map), coloured by class.

    ``method="umap"`` needs the optional ``umap-learn`` (``pip install microdl[umap]``); it is
    seeded with ``seed``.
    """
    from microdl.analysis.plots import figure

    emb = np.asarray(emb, dtype=np.float64)
    if emb.ndim != 2 or len(emb) < 3 or emb.shape[1] < 2:
        raise ShapeError(f"emb must be (n >= 3, d >= 2), got {emb.shape}")
    if method not in ("pca", "umap"):
        raise InvalidParameterError(f"method must be 'pca' or 'umap', got {method!r}")
    if method == "umap":
        try:
            import umap
        except ImportError:
            raise InvalidParameterError("method='umap' needs umap-learn: pip install 'microdl[umap]'") from None
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "n_jobs overridden by random_state": seeded on purpose
            pcs = umap.UMAP(n_neighbors=min(15, len(emb) - 1), random_state=seed).fit_transform(emb)
        var = None
    else:
        centred = emb - emb.mean(0)
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
        pcs = centred @ vt[:2].T
        var = s ** 2 / max((s ** 2).sum(), 1e-300)
    fig, ax = figure(size=(5.0, 4.5))
    if labels is None:
        ax.scatter(pcs[:, 0], pcs[:, 1], s=10, alpha=0.7, lw=0)
    else:
        labels = np.asarray(labels, dtype=int)
        for c in np.unique(labels):
            name = class_names[c] if c < len(class_names) else str(c)
            ax.scatter(pcs[labels == c, 0], pcs[labels == c, 1], s=10, alpha=0.7, lw=0, label=name)
        ax.legend(loc="best", fontsize=8)
    if var is None:
        ax.set_xlabel("UMAP 1")
        ax.set_ylabel("UMAP 2")
    else:
        ax.set_xlabel(f"PC1 ({100 * var[0]:.0f} % of variance)")
        ax.set_ylabel(f"PC2 ({100 * var[1]:.0f} % of variance)")
    ax.set_title(title, fontsize=9)
    return fig
