import json

import numpy as np
import pytest
from matplotlib.figure import Figure

from microdl.analysis.similarity import SimilarityIndex, neighbours_figure, precision_at_k
from microdl.exceptions import DataFileError, InvalidParameterError, ShapeError


def brute_force(x: np.ndarray, q: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """float64 distances of every pair, stable sort (ties to the lower index)."""
    x64, q64 = x.astype(np.float64), q.astype(np.float64)
    if metric == "cosine":
        xn = x64 / np.linalg.norm(x64, axis=1, keepdims=True)
        qn = q64 / np.linalg.norm(q64, axis=1, keepdims=True)
        d = 1.0 - qn @ xn.T
    else:
        d = np.sqrt(((q64[:, None, :] - x64[None, :, :]) ** 2).sum(-1))
    idx = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, idx, 1), idx


def names(n):
    return [f"micrographs/im{i}.png" for i in range(n)]


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_query_agrees_with_brute_force(metric):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5003, 16)).astype(np.float32)  # enough columns for the grouped partition
    q = rng.normal(size=(37, 16)).astype(np.float32)
    index = SimilarityIndex.build(x, names(5003), metric=metric)
    dist, idx = index.query(q, k=7)
    ref_d, ref_i = brute_force(x, q, 7, metric)
    assert dist.shape == idx.shape == (37, 7) and idx.dtype == np.int64 and dist.dtype == np.float64
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_allclose(dist, ref_d, atol=1e-12)
    # one (d,) vector is one query; k = n returns every item in order
    d1, i1 = index.query(q[3], k=5003)
    np.testing.assert_array_equal(i1[0, :7], ref_i[3])
    assert sorted(i1[0].tolist()) == list(range(5003)) and (np.diff(d1[0]) >= 0).all()


@pytest.mark.parametrize("n", [1000, 5000, 5031])
def test_grouped_partition_finds_the_smallest_scores(n):
    from microdl.analysis.similarity import _smallest

    rng = np.random.default_rng(n)
    ties = rng.integers(0, 50, (6, n)).astype(np.float32)
    for scores in (rng.normal(size=(6, n)).astype(np.float32), ties):
        cols = _smallest(scores, 21)
        assert cols.shape == (6, 21) and all(len(set(row)) == 21 for row in cols.tolist())
        got = np.sort(np.take_along_axis(scores, cols, 1), 1)
        np.testing.assert_array_equal(got, np.sort(scores, 1)[:, :21])


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_blocks_of_the_matrix_product_change_nothing(metric, monkeypatch):
    import microdl.analysis.similarity as sim

    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 8)).astype(np.float32)
    q = rng.normal(size=(20, 8)).astype(np.float32)
    expect = SimilarityIndex.build(x, names(300), metric=metric).query(q, k=5)
    monkeypatch.setattr(sim, "_BLOCK", 64)  # 5 database chunks of 64 rows, one query per block
    got = SimilarityIndex.build(x, names(300), metric=metric).query(q, k=5)
    np.testing.assert_array_equal(got[1], expect[1])
    np.testing.assert_allclose(got[0], expect[0], atol=1e-12)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_each_item_is_its_own_nearest_neighbour_at_distance_zero(metric):
    x = np.random.default_rng(2).normal(size=(200, 32)) * 100
    index = SimilarityIndex.build(x, names(200), metric=metric)
    dist, idx = index.query(index.embeddings, k=3)
    np.testing.assert_array_equal(idx[:, 0], np.arange(200))
    assert (dist[:, 0] == 0).all() and (dist[:, 1] > 0).all()
    # neighbours() leaves the item out
    d2, i2 = index.neighbours(np.arange(200), k=2)
    np.testing.assert_array_equal(i2, idx[:, 1:])
    np.testing.assert_allclose(d2, dist[:, 1:])


def test_save_load_roundtrip(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50, 6)).astype(np.float32)
    data = tmp_path / "data"
    full = [str(data / "micrographs" / f"im{i}.jpg") for i in range(50)]
    labels = np.array(["pearlite", "network"] * 25)
    index = SimilarityIndex.build(x, full, labels=labels, metric="euclidean")
    folder = index.save(tmp_path / "index", root=data)
    meta = json.loads((folder / "index.json").read_text())
    assert meta["names"][0] == "micrographs/im0.jpg" and meta["metric"] == "euclidean" and meta["d"] == 6
    assert str(tmp_path) not in (folder / "index.json").read_text()  # portable: no absolute path
    back = SimilarityIndex.load(folder, root=data)
    assert back.names == full and back.metric == "euclidean" and len(back) == 50 and back.dim == 6
    np.testing.assert_array_equal(back.embeddings, x)
    np.testing.assert_array_equal(back.labels, labels)
    np.testing.assert_array_equal(back.query(x[:4], 3)[1], index.query(x[:4], 3)[1])
    # relative names without a root; no labels
    plain = SimilarityIndex.build(x, names(50)).save(tmp_path / "plain")
    again = SimilarityIndex.load(plain)
    assert again.names == names(50) and again.labels is None and again.metric == "cosine"


def test_precision_at_k():
    rng = np.random.default_rng(4)
    centres = rng.normal(size=(3, 20)) * 10
    y = np.repeat(np.arange(3), 40)
    x = centres[y] + rng.normal(size=(120, 20)) * 0.1
    for metric in ("cosine", "euclidean"):
        assert precision_at_k(x, y, k=5, metric=metric) == 1.0
    noise = rng.normal(size=(1500, 16))
    random_labels = rng.integers(0, 3, 1500)
    assert precision_at_k(noise, random_labels, k=10) == pytest.approx(1 / 3, abs=0.03)
    # string labels; leave-one-out (duplicates of each item do not count the item itself)
    dup = np.repeat(np.eye(4), 2, axis=0)
    assert precision_at_k(dup, ["a", "a", "b", "b", "c", "c", "d", "d"], k=1) == 1.0


def test_clear_errors(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(10, 4))
    index = SimilarityIndex.build(x, names(10))
    with pytest.raises(ShapeError, match=r"vectors must have d = 4 columns .* got shape \(2, 3\)"):
        index.query(np.ones((2, 3)), k=1)
    with pytest.raises(InvalidParameterError, match=r"k must be <= 10 \(the number of stored items\), got 1"):
        index.query(x, k=11)
    with pytest.raises(InvalidParameterError, match="k must be an integer >= 1, got 0"):
        index.query(x, k=0)
    with pytest.raises(InvalidParameterError, match="metric must be one of .* got 'manhattan'"):
        SimilarityIndex.build(x, names(10), metric="manhattan")
    with pytest.raises(ShapeError, match=r"names must have one entry per embedding \(10\), got 9"):
        SimilarityIndex.build(x, names(9))
    with pytest.raises(ShapeError, match=r"labels must have shape \(10,\)"):
        SimilarityIndex.build(x, names(10), labels=[0, 1])
    with pytest.raises(InvalidParameterError, match=r"no zero vectors .* got 1 \(rows \[2\]\)"):
        SimilarityIndex.build(np.where(np.arange(10)[:, None] == 2, 0.0, x), names(10))
    with pytest.raises(InvalidParameterError, match="embeddings must be finite"):
        SimilarityIndex.build(np.full((3, 2), np.nan), names(3))
    with pytest.raises(InvalidParameterError, match="absolute path; pass root"):
        SimilarityIndex.build(x, [str(tmp_path / f"{i}.png") for i in range(10)]).save(tmp_path / "abs")
    with pytest.raises(InvalidParameterError, match=r"names\[0\] .* is not under root"):
        elsewhere = SimilarityIndex.build(x, [f"/elsewhere/{i}.png" for i in range(10)])
        elsewhere.save(tmp_path / "abs", root=tmp_path)
    with pytest.raises(InvalidParameterError, match=r"k must be <= 9 \(the number of other items"):
        precision_at_k(x, np.zeros(10), k=10)
    # files
    with pytest.raises(DataFileError, match="folder .* does not exist"):
        SimilarityIndex.load(tmp_path / "nowhere")
    folder = index.save(tmp_path / "index")
    (folder / "embeddings.npz").write_bytes(b"not a zip file")
    with pytest.raises(DataFileError, match="embeddings.npz' is unreadable or corrupt"):
        SimilarityIndex.load(folder)
    (folder / "embeddings.npz").unlink()
    with pytest.raises(DataFileError, match="embeddings.npz' does not exist"):
        SimilarityIndex.load(folder)
    folder = index.save(tmp_path / "index")
    meta = json.loads((folder / "index.json").read_text())
    (folder / "index.json").write_text(json.dumps({**meta, "d": 5}))
    with pytest.raises(DataFileError, match=r"inconsistent: .* says n=10, d=5, got embeddings \(10, 4"):
        SimilarityIndex.load(folder)
    (folder / "index.json").write_text("{not json")
    with pytest.raises(DataFileError, match="similarity index metadata .* is not valid JSON"):
        SimilarityIndex.load(folder)
    (folder / "index.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(DataFileError, match="is not a microdl-similarity-index file"):
        SimilarityIndex.load(folder)
    (folder / "index.json").unlink()
    with pytest.raises(DataFileError, match="similarity index metadata .* does not exist"):
        SimilarityIndex.load(folder)


def test_neighbours_figure():
    rng = np.random.default_rng(6)
    query = rng.random((30, 40))
    neigh = [rng.integers(0, 255, (30, 40), dtype=np.uint8) for _ in range(3)]
    fig = neighbours_figure(query, neigh, [0.0, 0.1, 0.25], ["a/im1.jpg", "a/im2.jpg", "b/im3.jpg"],
                            metric="cosine distance")
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    assert fig.axes[1].get_title() == "im1.jpg\ncosine distance 0" and fig.axes[0].get_title() == "query"
    with pytest.raises(ShapeError, match="same length, got 3, 2 and 3"):
        neighbours_figure(query, neigh, [0.0, 0.1], ["a", "b", "c"])
    with pytest.raises(ShapeError, match=r"neighbour_images\[0\] must be a 2-D gray"):
        neighbours_figure(query, [np.ones((2, 3, 5))], [0.0], ["a"])
