import numpy as np
import pytest
from scipy import ndimage
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import StratifiedKFold, cross_val_score

from microdl.exceptions import InvalidParameterError, NonFiniteError, ShapeError, UnknownNameError
from microdl.features.texture import TextureFeatures, radial_average, texture_svm
from microdl.features.two_point import autocorrelation


def smooth_noise(rng, shape, sigma=2.0) -> np.ndarray:
    """uint8 texture with structure at a few pixels (no flat regions, so LBP has few ties)."""
    f = ndimage.gaussian_filter(rng.random(shape), sigma)
    f = (f - f.min()) / (f.max() - f.min())
    return np.rint(f * 255).astype(np.uint8)


def lamellae(rng, size=64) -> np.ndarray:
    """Pearlite-like stripes: random orientation, period 5-9 pixels, phase, noise."""
    y, x = np.mgrid[:size, :size]
    theta, period = rng.uniform(0, np.pi), rng.uniform(5, 9)
    f = 0.5 + 0.4 * np.sin(2 * np.pi * (x * np.cos(theta) + y * np.sin(theta)) / period + rng.uniform(0, 6.3))
    return np.clip(f + rng.normal(0, 0.05, f.shape), 0, 1)


def blobs(rng, size=64) -> np.ndarray:
    """Spheroidite-like bright particles on a dark matrix, with noise."""
    f = ndimage.gaussian_filter(rng.random((size, size)), 3.0)
    f = (f > np.quantile(f, 0.8)).astype(float) * 0.7 + 0.15
    return np.clip(ndimage.gaussian_filter(f, 1.0) + rng.normal(0, 0.05, f.shape), 0, 1)


def test_lbp_is_invariant_to_90_degree_rotation():
    img = smooth_noise(np.random.default_rng(0), (96, 130))
    tf = TextureFeatures(families=("lbp",)).fit([img])
    a, b = tf.transform([img, np.rot90(img)])
    np.testing.assert_allclose(a, b, atol=2e-3)
    assert np.abs(a - b).sum() < 0.01
    # the histograms are normalised, one per radius
    np.testing.assert_allclose([a[:10].sum(), a[10:28].sum(), a[28:].sum()], 1.0)


def test_gabor_rotation_by_90_degrees_swaps_orientations():
    img = smooth_noise(np.random.default_rng(1), (96, 96), sigma=1.5)
    tf = TextureFeatures(families=("gabor",)).fit([img])
    a, b = (v.reshape(3, 4, 2) for v in tf.transform([img, np.rot90(img)]))  # (frequency, orientation, stat)
    np.testing.assert_allclose(b, a[:, [2, 3, 0, 1]], rtol=1e-4)


def test_gabor_statistics_match_skimage_gabor():
    from skimage.filters import gabor

    img = smooth_noise(np.random.default_rng(7), (72, 90), sigma=1.5) / 255.0
    ours = TextureFeatures(families=("gabor",)).fit_transform([img])[0]
    z = (img - img.mean()) / img.std()
    ref = []
    for f in (0.0625, 0.125, 0.25):
        for j in range(4):
            real, imag = gabor(z, f, theta=np.pi * j / 4, mode="mirror")  # mirror = np.pad's "reflect"
            mag = np.hypot(real, imag)
            ref += [mag.mean(), mag.std()]
    # skimage truncates its kernels at 3 sigma; ours is the untruncated Gaussian
    np.testing.assert_allclose(ours, ref, rtol=0.02)


def test_gabor_response_peaks_at_the_stripe_frequency_and_orientation():
    y, x = np.mgrid[:128, :128]
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * 0.125 * x)  # period 8 px along x: theta = 0
    feat = TextureFeatures(families=("gabor",)).fit_transform([stripes])[0].reshape(3, 4, 2)
    means = feat[..., 0]
    assert np.unravel_index(means.argmax(), means.shape) == (1, 0)  # f = 0.125, theta = 0


def test_two_point_starts_at_the_otsu_phase_fraction():
    rng = np.random.default_rng(2)
    img = blobs(rng, 80)
    s2 = TextureFeatures(families=("two_point",), two_point_max_radius=10).fit_transform([img])[0]
    from skimage.filters import threshold_otsu

    phase = img > threshold_otsu(img)
    assert s2.shape == (11,)
    assert s2[0] == pytest.approx(phase.mean(), rel=1e-5)
    assert s2[-1] < s2[0]
    # one radius by hand: rint(|r|) = 1 holds for the 8 neighbours (|r| = 1 and sqrt(2))
    corr = autocorrelation(phase[None].astype(np.float32), cutoff=1)[0]
    assert s2[1] == pytest.approx((corr.sum() - corr[1, 1]) / 8, rel=1e-5)


def test_radial_average_of_a_known_window():
    ry, rx = np.mgrid[-3:4, -3:4]
    window = np.hypot(ry, rx)
    out = radial_average(window, 3)
    assert out.shape == (4,)
    np.testing.assert_allclose(out[:2], [0.0, (4 + 4 * np.sqrt(2)) / 8])  # rint(sqrt 2) = 1
    np.testing.assert_allclose(radial_average(np.stack([window, 2 * window]), 3)[1], 2 * out)


def test_shapes_dtypes_names_and_mixed_inputs():
    rng = np.random.default_rng(3)
    X = [smooth_noise(rng, (64, 80)), (smooth_noise(rng, (50, 70)).astype(np.uint16) * 257),
         rng.random((40, 45)).astype(np.float32)]
    tf = TextureFeatures()
    F = tf.fit_transform(X)
    assert F.shape == (3, 54 + 24 + 21) and F.dtype == np.float64 and np.isfinite(F).all()
    names = tf.get_feature_names_out()
    assert len(names) == tf.n_features_out_ == F.shape[1]
    assert names[0] == "lbp_r1_u0" and names[54] == "gabor_f0.0625_t0_mean" and names[-1] == "s2_r20"
    # uint16 = uint8 * 257 is the same image: the same features (LBP up to float ties in skimage's
    # interpolation)
    same = tf.transform([X[1] // 257, X[1]])
    np.testing.assert_allclose(same[0], same[1], atol=2e-3)
    np.testing.assert_allclose(same[0, 54:], same[1, 54:], rtol=1e-5)
    # families keep their canonical order; a stack (n, h, w) works; downsample shrinks lengths
    sub = TextureFeatures(families=("two_point", "lbp"), lbp_radii=(1,), two_point_max_radius=5, downsample=2)
    G = sub.fit_transform(np.stack([X[0], X[0]]))
    assert G.shape == (2, 10 + 6)
    assert list(sub.get_feature_names_out()[[0, -1]]) == ["lbp_r1_u0", "s2_r5"]
    assert clone(sub).get_params() == sub.get_params()


def test_pipeline_separates_lamellar_from_blobby_textures():
    rng = np.random.default_rng(4)
    X = [lamellae(rng) for _ in range(8)] + [blobs(rng) for _ in range(8)]
    y = np.array([0] * 8 + [1] * 8)
    cv = StratifiedKFold(4, shuffle=True, random_state=0)
    scores = cross_val_score(texture_svm(), X, y, cv=cv)
    assert scores.mean() == 1.0
    pipe = texture_svm(C=1.0, features=TextureFeatures(families=("lbp",))).fit(X, y)
    assert (pipe.predict(X) == y).all()


def test_bad_input_raises_clear_errors():
    rng = np.random.default_rng(5)
    img = smooth_noise(rng, (40, 40))
    tf = TextureFeatures()
    with pytest.raises(ShapeError, match=r"X\[1\] must be a 2-D gray image .* \(40, 40, 3\); convert"):
        tf.fit([img, np.stack([img] * 3, axis=-1)])
    with pytest.raises(ShapeError, match="looks like one colour image"):
        tf.fit(np.stack([img] * 3, axis=-1))
    with pytest.raises(ShapeError, match="at least one image, got an empty"):
        tf.fit([])
    with pytest.raises(ShapeError, match="one 2-D image of shape"):
        tf.fit(img)
    with pytest.raises(InvalidParameterError, match=r"X\[0\] is a float image .* \[0, 1\], got values from"):
        tf.fit([img.astype(float)])
    with pytest.raises(NonFiniteError, match=r"X\[0\] must be finite"):
        tf.fit([np.full((30, 30), np.nan)])
    with pytest.raises(InvalidParameterError, match="uint8, uint16 or float .* got dtype int64"):
        tf.fit([img.astype(np.int64)])
    with pytest.raises(ShapeError, match=r"X\[0\] of shape \(40, 40\) is too small after downsample=4"):
        TextureFeatures(downsample=4).fit([img])
    with pytest.raises(UnknownNameError, match="unknown \\['glcm'\\]"):
        TextureFeatures(families=("lbp", "glcm")).fit([img])
    with pytest.raises(InvalidParameterError, match="gabor_frequencies .* got \\(0.7,\\)"):
        TextureFeatures(gabor_frequencies=(0.7,)).fit([img])
    with pytest.raises(InvalidParameterError, match="downsample must be an integer >= 1, got 0"):
        TextureFeatures(downsample=0).fit([img])
    with pytest.raises(NotFittedError):
        TextureFeatures().transform([img])
    with pytest.raises(InvalidParameterError, match="C must be a number > 0"):
        texture_svm(C=0)


def test_real_uhcs_micrographs_give_finite_features(shared_data):
    import csv

    from microdl.io.images import read_gray_image

    folder = shared_data / "uhcs"
    if not (folder / "labels.csv").is_file():
        pytest.skip(f"UHCS micrographs not available at {folder}")
    with open(folder / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    picked = [r for c in ("network", "pearlite", "spheroidite")
              for r in [x for x in rows if x["class_name"] == c][:2]]
    images = [read_gray_image(folder / "micrographs" / r["file"]) for r in picked]
    assert all(im.ndim == 2 and im.dtype == np.uint8 for im in images)
    F = TextureFeatures().fit_transform(images)
    assert F.shape == (6, 99) and np.isfinite(F).all()
    assert F[:, :54].std(axis=0).max() > 0  # the images differ
