"""EBSD readers: tiny synthetic .ang/.ctf files with known values, error cases, and the real files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from microdl.exceptions import DataFileError, UnknownNameError
from microdl.io.ebsd import EBSDMap, EBSDPhase, read_ang, read_ctf, read_ebsd

REAL_EBSD = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "ebsd"

NX, NY, DX, DY = 3, 2, 0.5, 0.25
FOUR_PI = 4 * math.pi

FE_BLOCK = """# Phase 1
# MaterialName  \tIron (Alpha)
# Formula     \tFe
# Info \t\t
# Symmetry              43
# LatticeConstants      2.870 2.870 2.870  90.000  90.000  90.000
# NumberFamilies        1
# hklFamilies   \t 0 -1  1 1 5.936393 1
#
"""
TI_BLOCK = """# Phase 2
# MaterialName  \tTitanium (Alpha)
# Formula     \tTi
# Symmetry              62
# LatticeConstants      2.950 2.950 4.680  90.000  90.000 120.000
#
"""


def _ang_euler(i: int, j: int) -> tuple[float, float, float]:
    return (0.1 + 0.1 * j + 1.0 * i, 0.5 + 0.1 * j, 1.0 + 0.2 * i)


def _ang_text(phase_blocks: str = FE_BLOCK, grid: str = "SqrGrid", phase_of=lambda i, j: 0,
              unindexed=((0, 1),), rows_reversed: bool = True) -> str:
    """A 3 x 2 .ang (step 0.5 x 0.25 um); point (i, j) is at x = j * DX, y = i * DY."""
    header = (
        "# TEM_PIXperUM          1.000000\n# WorkingDistance       14.000000\n#\n" + phase_blocks
        + f"# GRID: {grid}\n# XSTEP: {DX:.6f}\n# YSTEP: {DY:.6f}\n# NCOLS_ODD: {NX}\n# NCOLS_EVEN: {NX}\n"
        + f"# NROWS: {NY}\n#\n# OPERATOR: \tAdministrator\n#\n"
    )
    rows = []
    for i in range(NY):
        for j in range(NX):
            k = i * NX + j
            e = (FOUR_PI,) * 3 if (i, j) in unindexed else _ang_euler(i, j)
            ci = -1.0 if (i, j) in unindexed else 0.5 + 0.05 * k
            rows.append(f"  {e[0]:.5f}   {e[1]:.5f}   {e[2]:.5f}   {j * DX:10.5f}   {i * DY:10.5f} "
                        f"{100.0 + 10 * k:.1f}  {ci:.3f}  {phase_of(i, j)}      1  0.581 \n")
    if rows_reversed:
        rows.reverse()
    return header + "".join(rows)


CTF_PHASES = (
    "3.2089;3.2089;5.2101\t90;90;120\tMagnesium\t9\t194\t\t\tsome reference\n"
    "4.05;4.05;4.05\t90;90;90\tAluminium\t11\t225\n"
)


def _ctf_euler_deg(i: int, j: int) -> tuple[float, float, float]:
    return (10.0 * j + 30.0 * i, 45.0 + j, 60.0 + i)


def _ctf_text(phases: str = CTF_PHASES, n_phases: int = 2, phase_of=lambda i, j: 1 + (j % 2),
              unindexed=((1, 0),)) -> str:
    """A 3 x 2 .ctf (step 0.5 x 0.25 um), phases 1 and 2 alternating along x, one point not indexed."""
    header = (
        "Channel Text File\nPrj\tC:\\test.cpr\nAuthor\t\nJobMode\tGrid\n"
        f"XCells\t{NX}\nYCells\t{NY}\nXStep\t{DX}\nYStep\t{DY}\nAcqE1\t0\nAcqE2\t0\nAcqE3\t0\n"
        "Euler angles refer to Sample Coordinate system (CS0)!\tMag\t400\tCoverage\t96\n"
        f"Phases\t{n_phases}\n" + phases + "Phase\tX\tY\tBands\tError\tEuler1\tEuler2\tEuler3\tMAD\tBC\tBS\n"
    )
    rows = []
    for i in range(NY):
        for j in range(NX):
            k = i * NX + j
            if (i, j) in unindexed:
                rows.append(f"0\t{j * DX:.4f}\t{i * DY:.4f}\t0\t3\t0\t0\t0\t0\t40\t90\n")
            else:
                e = _ctf_euler_deg(i, j)
                rows.append(f"{phase_of(i, j)}\t{j * DX:.4f}\t{i * DY:.4f}\t9\t0\t{e[0]:.3f}\t{e[1]:.3f}\t"
                            f"{e[2]:.3f}\t{0.3 + 0.1 * k:.4f}\t{100 + k}\t200\n")
    return header + "".join(rows)


def _write(path: Path, text: str) -> Path:
    path.write_bytes(text.replace("\n", "\r\n").encode("latin-1"))  # CRLF, as the instruments write
    return path


# --- synthetic .ang --------------------------------------------------------------------------------


def test_ang_every_field(tmp_path):
    m = read_ang(_write(tmp_path / "scan.ang", _ang_text()))
    assert isinstance(m, EBSDMap)
    assert m.shape == (NY, NX)
    assert m.step_um == (DX, DY)
    assert m.source == "scan.ang"
    assert m.phases == (EBSDPhase(1, "Iron (Alpha)", "cubic", (2.87, 2.87, 2.87, 90.0, 90.0, 90.0)),)
    assert m.euler.shape == (NY, NX, 3) and m.euler.dtype == np.float64
    assert np.issubdtype(m.phase.dtype, np.integer)
    for i in range(NY):
        for j in range(NX):
            k = i * NX + j
            assert m.image_quality[i, j] == pytest.approx(100.0 + 10 * k)
            if (i, j) == (0, 1):
                continue
            np.testing.assert_allclose(m.euler[i, j], _ang_euler(i, j), atol=1e-9)  # radians, unchanged
            assert m.quality[i, j] == pytest.approx(0.5 + 0.05 * k)  # CI
    # TSL phase 0 in a single-phase file is that phase; the 4 pi / CI = -1 point is not indexed
    expected_indexed = np.ones((NY, NX), bool)
    expected_indexed[0, 1] = False
    np.testing.assert_array_equal(m.indexed, expected_indexed)
    np.testing.assert_array_equal(m.phase, np.where(expected_indexed, 1, 0))
    assert np.isnan(m.euler[0, 1]).all() and np.isnan(m.quality[0, 1])
    assert m.phase_by_id(1).crystal_system == "cubic"
    # orientation of the grid: x = 2 dx, y = 1 dy is at [1, 2]
    np.testing.assert_allclose(m.euler[1, 2], _ang_euler(1, 2), atol=1e-9)
    assert m.image_quality[1, 2] == pytest.approx(100.0 + 10 * 5)


def test_ang_grid_follows_coordinates_not_line_order(tmp_path):
    a = read_ang(_write(tmp_path / "fwd.ang", _ang_text(rows_reversed=False)))
    b = read_ang(_write(tmp_path / "rev.ang", _ang_text(rows_reversed=True)))
    np.testing.assert_array_equal(a.euler, b.euler)
    np.testing.assert_array_equal(a.image_quality, b.image_quality)


def test_ang_two_phases_and_phase_zero_means_not_indexed(tmp_path):
    def phase_of(i, j):
        return 0 if (i, j) == (1, 1) else 1 + i

    text = _ang_text(FE_BLOCK + TI_BLOCK, phase_of=phase_of, unindexed=())
    m = read_ang(_write(tmp_path / "two.ang", text))
    assert [(ph.id, ph.name, ph.crystal_system) for ph in m.phases] == [
        (1, "Iron (Alpha)", "cubic"), (2, "Titanium (Alpha)", "hexagonal")]
    assert m.phase_by_id(2).lattice == (2.95, 2.95, 4.68, 90.0, 90.0, 120.0)
    np.testing.assert_array_equal(m.phase, [[1, 1, 1], [2, 0, 2]])
    assert np.isnan(m.euler[1, 1]).all() and m.indexed.sum() == 5


def test_ang_single_phase_file_using_its_id_keeps_zero_as_not_indexed(tmp_path):
    text = _ang_text(phase_of=lambda i, j: 0 if (i, j) == (0, 0) else 1, unindexed=())
    m = read_ang(_write(tmp_path / "p1.ang", text))
    assert m.phase[0, 0] == 0 and not m.indexed[0, 0] and m.indexed.sum() == 5


def test_read_ebsd_dispatches_on_suffix_case_insensitively(tmp_path):
    assert read_ebsd(_write(tmp_path / "A.ANG", _ang_text())).shape == (NY, NX)
    assert read_ebsd(_write(tmp_path / "B.Ctf", _ctf_text())).phases[1].name == "Aluminium"
    p = tmp_path / "scan.h5"
    p.write_bytes(b"x")
    with pytest.raises(DataFileError, match=r"\.ang.*\.ctf"):
        read_ebsd(p)


def test_phase_by_id_unknown(tmp_path):
    m = read_ang(_write(tmp_path / "s.ang", _ang_text()))
    with pytest.raises(UnknownNameError, match="no phase with id 7"):
        m.phase_by_id(7)


# --- synthetic .ctf --------------------------------------------------------------------------------


def test_ctf_every_field(tmp_path):
    m = read_ctf(_write(tmp_path / "scan.ctf", _ctf_text()))
    assert m.shape == (NY, NX)
    assert m.step_um == (DX, DY)
    assert m.source == "scan.ctf"
    assert m.phases == (
        EBSDPhase(1, "Magnesium", "hexagonal", (3.2089, 3.2089, 5.2101, 90.0, 90.0, 120.0)),
        EBSDPhase(2, "Aluminium", "cubic", (4.05, 4.05, 4.05, 90.0, 90.0, 90.0)),
    )
    for i in range(NY):
        for j in range(NX):
            k = i * NX + j
            if (i, j) == (1, 0):
                assert m.phase[i, j] == 0 and not m.indexed[i, j]
                assert np.isnan(m.euler[i, j]).all() and np.isnan(m.quality[i, j])
                assert m.image_quality[i, j] == 40
                continue
            assert m.phase[i, j] == 1 + (j % 2)
            np.testing.assert_allclose(m.euler[i, j], np.radians(_ctf_euler_deg(i, j)), atol=1e-9)
            assert m.quality[i, j] == pytest.approx(0.3 + 0.1 * k)  # MAD, degrees
            assert m.image_quality[i, j] == 100 + k  # BC
    assert m.indexed.sum() == NX * NY - 1
    np.testing.assert_allclose(m.euler[1, 2], np.radians(_ctf_euler_deg(1, 2)), atol=1e-9)  # x = 2 dx, y = dy


@pytest.mark.parametrize(("laue", "system"), [(1, "triclinic"), (2, "monoclinic"), (3, "orthorhombic"),
                                              (5, "tetragonal"), (7, "trigonal"), (8, "hexagonal"),
                                              (10, "cubic")])
def test_ctf_laue_groups(tmp_path, laue, system):
    phases = CTF_PHASES.replace("\t11\t", f"\t{laue}\t")
    assert read_ctf(_write(tmp_path / "l.ctf", _ctf_text(phases))).phase_by_id(2).crystal_system == system


@pytest.mark.parametrize(("code", "system"), [(1, "triclinic"), (2, "monoclinic"), (22, "orthorhombic"),
                                              (42, "tetragonal"), (32, "trigonal"), (6, "hexagonal"),
                                              (23, "cubic"), (432, "cubic")])
def test_ang_symmetry_codes(tmp_path, code, system):
    text = _ang_text(FE_BLOCK.replace("Symmetry              43", f"Symmetry              {code}"))
    assert read_ang(_write(tmp_path / "s.ang", text)).phases[0].crystal_system == system


# --- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reader", [read_ang, read_ctf, read_ebsd])
def test_missing_file(tmp_path, reader):
    with pytest.raises(DataFileError, match="not found.*nope"):
        reader(tmp_path / "nope.ang")


@pytest.mark.parametrize(("name", "make"), [("t.ang", _ang_text), ("t.ctf", _ctf_text)])
def test_truncated_at_a_line_boundary(tmp_path, name, make):
    lines = make().splitlines(keepends=True)
    p = _write(tmp_path / name, "".join(lines[:-1]))
    with pytest.raises(DataFileError, match=r"5 data lines for the 3 x 2 grid.*truncated") as err:
        read_ebsd(p)
    assert name in str(err.value)


@pytest.mark.parametrize(("name", "make"), [("t.ang", _ang_text), ("t.ctf", _ctf_text)])
def test_truncated_in_the_middle_of_a_line(tmp_path, name, make):
    lines = make().splitlines(keepends=True)
    p = _write(tmp_path / name, "".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])
    with pytest.raises(DataFileError, match=rf"line {len(lines)} has \d+ values instead of"):
        read_ebsd(p)


def test_malformed_value_names_the_line(tmp_path):
    lines = _ctf_text().splitlines(keepends=True)
    lines[-2] = lines[-2].replace("\t9\t", "\tnine\t", 1)
    with pytest.raises(DataFileError, match=rf"line {len(lines) - 1} holds a value that is not a number"):
        read_ctf(_write(tmp_path / "m.ctf", "".join(lines)))


def test_hexagonal_grid_is_refused(tmp_path):
    with pytest.raises(DataFileError, match=r"hexagonal grid.*square grids"):
        read_ang(_write(tmp_path / "h.ang", _ang_text(grid="HexGrid")))


@pytest.mark.parametrize(("name", "text"), [
    ("n.ang", _ang_text(unindexed=tuple((i, j) for i in range(NY) for j in range(NX)))),
    ("n.ctf", _ctf_text(unindexed=tuple((i, j) for i in range(NY) for j in range(NX)))),
])
def test_no_indexed_point(tmp_path, name, text):
    with pytest.raises(DataFileError, match="no indexed point"):
        read_ebsd(_write(tmp_path / name, text))


def test_unknown_symmetry_codes(tmp_path):
    with pytest.raises(DataFileError, match="unknown or unsupported TSL Symmetry code 99"):
        read_ang(_write(tmp_path / "u.ang", _ang_text(FE_BLOCK.replace("Symmetry              43",
                                                                        "Symmetry              99"))))
    with pytest.raises(DataFileError, match="unknown Oxford Laue group '12'"):
        read_ctf(_write(tmp_path / "u.ctf", _ctf_text(CTF_PHASES.replace("\t11\t", "\t12\t"))))


def test_undeclared_phase_id(tmp_path):
    def phase_of(i, j):
        return 3 if (i, j) == (0, 2) else 1

    text = _ang_text(FE_BLOCK + TI_BLOCK, phase_of=phase_of, rows_reversed=False)
    n_header = sum(line.startswith("#") for line in text.splitlines())
    with pytest.raises(DataFileError, match=rf"line {n_header + 3} has phase id 3, which the header"):
        read_ang(_write(tmp_path / "p.ang", text))
    text = _ctf_text(CTF_PHASES.split("\n")[0] + "\n", n_phases=1)  # declares phase 1 only, data uses 2
    with pytest.raises(DataFileError, match=r"phase id 2, which the header does not declare"):
        read_ctf(_write(tmp_path / "p.ctf", text))


def test_incomplete_grid_and_off_grid_points(tmp_path):
    lines = _ang_text(rows_reversed=False).splitlines(keepends=True)
    duplicated = lines[:-1] + [lines[-2]]  # 6 lines: (x = dx, y = dy) twice, (x = 2 dx, y = dy) missing
    with pytest.raises(DataFileError, match=r"x = 0.5, y = 0.25 appears 2 times in the 3 x 2 grid"):
        read_ang(_write(tmp_path / "d.ang", "".join(duplicated)))
    off = lines[:-1] + [lines[-1].replace("   1.00000 ", "   1.20000 ", 1)]
    with pytest.raises(DataFileError, match=rf"line {len(lines)} \(x = 1.2, y = 0.25\) is not on the square"):
        read_ang(_write(tmp_path / "o.ang", "".join(off)))


def test_empty_and_header_only_files(tmp_path):
    (tmp_path / "e.ang").write_bytes(b"")
    with pytest.raises(DataFileError, match=r"is empty \(0 bytes\)"):
        read_ang(tmp_path / "e.ang")
    header_only = "".join(line for line in _ang_text().splitlines(keepends=True) if line.startswith("#"))
    with pytest.raises(DataFileError, match="no data lines"):
        read_ang(_write(tmp_path / "h.ang", header_only))


# --- the real files ----------------------------------------------------------------------------------


def _real(name: str) -> Path:
    p = REAL_EBSD / name
    if not p.is_file():
        pytest.skip(f"real EBSD file not available at {p.resolve()} (shared data not checked out)")
    return p


def test_real_tsl_ang_alpha_iron():
    m = read_ang(_real("DC06_2uniax.ang"))
    assert m.shape == (101, 51)
    assert m.step_um == (1.0, 1.0)
    (fe,) = m.phases
    assert (fe.id, fe.name, fe.crystal_system) == (1, "Iron (Alpha)", "cubic")
    assert fe.lattice == pytest.approx((2.87, 2.87, 2.87, 90.0, 90.0, 90.0))
    assert 0.9 <= m.indexed.mean() <= 1.0  # every point carries an orientation (phase 0 = the only phase)
    assert set(np.unique(m.phase[m.indexed])) == {1}
    ok = m.indexed
    assert np.all((m.euler[ok] >= 0) & (m.euler[ok] <= 2 * np.pi + 1e-6))
    assert np.nanmin(m.quality) >= 0 and np.nanmax(m.quality) <= 1  # CI
    assert np.all(m.image_quality > 0)


def test_real_oxford_ctf_magnesium():
    m = read_ctf(_real("twins_Mg.ctf"))
    assert m.shape == (137, 167)
    assert m.step_um == (0.3, 0.3)
    (mg,) = m.phases
    assert (mg.id, mg.name, mg.crystal_system) == (1, "Magnesium", "hexagonal")
    assert mg.lattice == pytest.approx((3.2089, 3.2089, 5.2101, 90.0, 90.0, 120.0))
    assert 0.95 <= m.indexed.mean() < 1.0  # a few points are phase 0
    ok = m.indexed
    assert np.all((m.euler[ok] >= 0) & (m.euler[ok] <= 2 * np.pi + 1e-6))
    assert np.nanmax(m.euler[..., 1]) <= np.pi + 1e-6
    assert 0 < np.nanmin(m.quality) and np.nanmax(m.quality) < 5  # MAD in degrees
    assert np.all((m.image_quality >= 0) & (m.image_quality <= 255))  # BC
    # first data line: 1  0.0000  0.0000 ... 99.591 20.385 37.253 ...
    np.testing.assert_allclose(m.euler[0, 0], np.radians([99.591, 20.385, 37.253]))
