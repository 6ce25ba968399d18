import numpy as np
import pytest

from microdl.exceptions import DataFileError, NonFiniteError, ShapeError
from microdl.io.arrays import check_map, read_array, read_h5, write_h5


def _map(h=5, w=4):
    rng = np.random.default_rng(0)
    return rng.normal(size=(h, w, 2)) * 1e14


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".h5"])
def test_round_trip_binary_formats(tmp_path, suffix):
    m = _map()
    path = tmp_path / f"m{suffix}"
    if suffix == ".npy":
        np.save(path, m)
    elif suffix == ".npz":
        np.savez(path, gnd=m)
    else:
        write_h5(path, {"gnd": m}, {})
    np.testing.assert_array_equal(read_array(path), m)


def test_csv_long_and_wide(tmp_path):
    m = _map(3, 2)
    long = tmp_path / "long.csv"
    lines = ["row,col,screw,edge"] + [f"{i},{j},{float(m[i, j, 0])!r},{float(m[i, j, 1])!r}" for i in range(3) for j in range(2)]
    long.write_text("\n".join(lines) + "\n")
    np.testing.assert_allclose(read_array(long), m)
    wide = tmp_path / "wide.csv"
    np.savetxt(wide, m.reshape(3, 4), delimiter=",", fmt="%.17g")
    np.testing.assert_allclose(read_array(wide), m)


def test_csv_with_missing_pixel_is_an_error(tmp_path):
    p = tmp_path / "holes.csv"
    p.write_text("row,col,screw,edge\n0,0,1,2\n1,1,3,4\n")
    with pytest.raises(DataFileError, match="no line"):
        read_array(p)


def test_missing_file_and_unknown_suffix(tmp_path):
    with pytest.raises(DataFileError, match="not found"):
        read_array(tmp_path / "nope.npy")
    p = tmp_path / "x.tif"
    p.write_bytes(b"abc")
    with pytest.raises(DataFileError, match="unsupported"):
        read_array(p)


def test_npz_with_several_arrays_needs_a_key(tmp_path):
    p = tmp_path / "two.npz"
    np.savez(p, a=np.zeros(2), b=np.ones(2))
    with pytest.raises(DataFileError, match="several arrays"):
        read_array(p)
    np.testing.assert_array_equal(read_array(p, key="b"), np.ones(2))


def test_check_map_rejects_bad_shapes_and_values():
    with pytest.raises(ShapeError, match=r"\(H, W, 2\).*3 channels"):
        check_map(np.zeros((4, 4, 3)))
    with pytest.raises(ShapeError):
        check_map(np.zeros((4, 4)))
    bad = np.zeros((4, 4, 2))
    bad[1, 2, 1] = np.nan
    with pytest.raises(NonFiniteError, match="row 1, column 2, channel 1"):
        check_map(bad)
    bad[1, 2, 1] = np.inf
    with pytest.raises(NonFiniteError):
        check_map(bad)
    assert check_map(np.ones((2, 3, 2), dtype=np.float32)).dtype == np.float64


def test_h5_attrs_round_trip_nested(tmp_path):
    p = write_h5(tmp_path / "d.h5", {"x": np.arange(5000)}, {"config": {"a": [1, 2], "b": {"c": 0.5}}, "seed": 3})
    arrays, attrs = read_h5(p)
    assert attrs == {"config": {"a": [1, 2], "b": {"c": 0.5}}, "seed": 3}
    np.testing.assert_array_equal(arrays["x"], np.arange(5000))
    assert not (tmp_path / "d.h5.tmp").exists()


def _good_file(path):
    m = _map()
    if path.suffix == ".npy":
        np.save(path, m)
    elif path.suffix == ".npz":
        np.savez_compressed(path, gnd=m)
    elif path.suffix == ".h5":
        write_h5(path, {"gnd": m}, {})
    else:
        np.savetxt(path, m.reshape(5, 8), delimiter=",")


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".h5", ".csv"])
@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage"])
def test_empty_truncated_or_corrupt_files_are_one_line_data_file_errors(tmp_path, suffix, damage):
    path = tmp_path / f"m{suffix}"
    _good_file(path)
    data = path.read_bytes()
    if damage == "empty":
        path.write_bytes(b"")
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2] if suffix != ".csv" else data[: len(data) // 2] + b",x")
    else:
        path.write_bytes(b"\x00\xff\xfe garbage \x93NUMPY" * 7)
    with pytest.raises(DataFileError) as info:
        read_array(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    if damage == "empty":
        assert "empty" in message


def test_whitespace_only_csv_is_an_error(tmp_path):
    p = tmp_path / "blank.csv"
    p.write_text("\n\n  \n")
    with pytest.raises(DataFileError, match="blank.csv"):
        read_array(p)


def test_read_h5_of_a_corrupt_file_is_a_data_file_error(tmp_path):
    p = tmp_path / "bad.h5"
    p.write_bytes(b"not hdf5 at all")
    with pytest.raises(DataFileError, match="HDF5 file"):
        read_h5(p)


def test_write_h5_leaves_no_temporary_file(tmp_path):
    write_h5(tmp_path / "d.h5", {"x": np.arange(3)}, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.h5"]
