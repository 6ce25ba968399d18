"""Read EBSD orientation maps from TSL/EDAX ``.ang`` and Oxford ``.ctf`` text files.

Both readers return an :class:`EBSDMap` on a ``(ny, nx)`` square grid built from
the x, y columns and the step (not the line order). A missing, truncated or
malformed file, an incomplete grid, an unknown crystal symmetry code, an
undeclared phase id or a map without any indexed point raise
:class:`~microdl.exceptions.DataFileError` with one line naming the file.

Format conventions:

* ``.ang``: Euler angles in radians, columns ``phi1 Phi phi2 x y IQ CI phase ...``.
  A point is not indexed when CI < 0, when its three Euler angles are 4 pi (the
  TSL "no solution" value 12.566...) or when its phase id is <= 0 after this
  remapping: TSL writes phase 0 for the only phase of a single-phase scan
  (``DC06_2uniax.ang`` has phase 0 at every point), so when the header declares
  exactly one phase and no point carries its id, phase 0 means that phase.
  Otherwise phase 0 means not indexed. Hexagonal grids (``GRID: HexGrid``) are refused.
* ``.ctf``: Euler angles in degrees (converted to radians), columns named by the
  header line ``Phase X Y Bands Error Euler1 Euler2 Euler3 MAD BC BS``; phase 0
  means not indexed. Crystal systems come from the Laue group numbers (1-11).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from microdl.exceptions import DataFileError, UnknownNameError

__all__ = ["EBSD_SUFFIXES", "EBSDMap", "EBSDPhase", "read_ang", "read_ctf", "read_ebsd"]

EBSD_SUFFIXES = (".ang", ".ctf")

# TSL "# Symmetry" codes are point groups (43 = 432, 62 = 622; also accepted: 222, 422, 622, 432).
_TSL_SYMMETRY = {
    1: "triclinic", 2: "monoclinic", 20: "monoclinic", 21: "monoclinic", 22: "orthorhombic",
    222: "orthorhombic", 3: "trigonal", 32: "trigonal", 4: "tetragonal", 42: "tetragonal",
    422: "tetragonal", 6: "hexagonal", 62: "hexagonal", 622: "hexagonal", 23: "cubic", 43: "cubic",
    432: "cubic",
}  # fmt: skip
# Oxford Laue groups: -1, 2/m, mmm, 4/m, 4/mmm, -3, -3m, 6/m, 6/mmm, m-3, m-3m.
_OXFORD_LAUE = {
    1: "triclinic", 2: "monoclinic", 3: "orthorhombic", 4: "tetragonal", 5: "tetragonal",
    6: "trigonal", 7: "trigonal", 8: "hexagonal", 9: "hexagonal", 10: "cubic", 11: "cubic",
}  # fmt: skip
_ANG_PHASE_KEYS = ("MaterialName", "Formula", "Info", "Symmetry", "LatticeConstants")
_CTF_COLUMNS = ("Phase", "X", "Y", "Euler1", "Euler2", "Euler3", "MAD", "BC")


@dataclass(frozen=True)
class EBSDPhase:
    """One crystallographic phase declared in an EBSD file header.

    Attributes
    ----------
    id
        Phase id as used in the file's phase column (>= 1).
    name
        Material name (``.ang``: MaterialName, else Formula; ``.ctf``: the phase name).
    crystal_system
        ``"cubic"``, ``"hexagonal"``, ``"tetragonal"``, ``"trigonal"``,
        ``"orthorhombic"``, ``"monoclinic"`` or ``"triclinic"``.
    lattice
        ``(a, b, c, alpha, beta, gamma)``: lengths in angstrom, angles in degrees
        (all NaN if an ``.ang`` phase gives no LatticeConstants).
    """

    id: int
    name: str
    crystal_system: str
    lattice: tuple[float, float, float, float, float, float]


@dataclass(frozen=True, eq=False)
class EBSDMap:
    """An EBSD orientation map on a square grid.

    Arrays are indexed ``[row, column]`` = ``[iy, ix]``: the point at
    ``x = x0 + j * dx``, ``y = y0 + i * dy`` is at ``[i, j]`` (y increases with
    the row index; ``x0``, ``y0`` are the smallest coordinates in the file).

    Attributes
    ----------
    euler
        ``(ny, nx, 3)`` float64 Bunge Euler angles ``(phi1, Phi, phi2)`` in radians;
        NaN where not indexed.
    phase
        ``(ny, nx)`` int64 phase id (an :attr:`EBSDPhase.id`); 0 where not indexed.
    quality
        ``(ny, nx)`` float64 indexing quality, NaN where not indexed. ``.ang``: the
        confidence index CI (0 to 1, higher is better); ``.ctf``: the mean angular
        deviation MAD in degrees (LOWER is better).
    image_quality
        ``(ny, nx)`` float64 pattern quality at every point, indexed or not:
        ``.ang``: image quality IQ (arbitrary units); ``.ctf``: band contrast BC
        (0-255). Higher is better for both.
    step_um
        ``(dx, dy)`` grid step in micrometres.
    phases
        The phases declared in the header.
    source
        Name of the file the map was read from.
    """

    euler: np.ndarray
    phase: np.ndarray
    quality: np.ndarray
    image_quality: np.ndarray
    step_um: tuple[float, float]
    phases: tuple[EBSDPhase, ...]
    source: str

    @property
    def shape(self) -> tuple[int, int]:
        """``(ny, nx)``: number of rows (y) and columns (x) of the grid."""
        return (int(self.phase.shape[0]), int(self.phase.shape[1]))

    @property
    def indexed(self) -> np.ndarray:
        """``(ny, nx)`` bool: True where the phase is > 0 and the three Euler angles are finite."""
        return (self.phase > 0) & np.isfinite(self.euler).all(axis=-1)

    def phase_by_id(self, pid: int) -> EBSDPhase:
        """Return the declared phase with id ``pid``.

        Raises
        ------
        UnknownNameError
            If no phase of the map has that id.
        """
        found = [ph for ph in self.phases if ph.id == pid]
        if found:
            return found[0]
        known = ", ".join(f"{ph.id} ({ph.name})" for ph in self.phases)
        raise UnknownNameError(f"{self.source} has no phase with id {pid!r}; its phases are {known}")


def read_ebsd(path: str | os.PathLike) -> EBSDMap:
    """Read an EBSD map, choosing the reader by suffix (``.ang`` or ``.ctf``, any case).

    Raises
    ------
    DataFileError
        If the suffix is not supported, or as :func:`read_ang` / :func:`read_ctf`.
    """
    p = Path(path)
    if (reader := {".ang": read_ang, ".ctf": read_ctf}.get(p.suffix.lower())) is not None:
        return reader(p)
    raise DataFileError(
        f"unsupported EBSD file type {p.suffix or '(no suffix)'!r} for {p}; "
        f"expected one of {', '.join(EBSD_SUFFIXES)} (TSL/EDAX .ang, Oxford .ctf)"
    )


def read_ang(path: str | os.PathLike) -> EBSDMap:
    """Read a TSL/EDAX ``.ang`` file on a square grid.

    Parameters
    ----------
    path
        The ``.ang`` file.

    Returns
    -------
    EBSDMap
        Euler angles in radians as stored; ``quality`` = CI, ``image_quality`` = IQ;
        step from ``XSTEP``/``YSTEP`` (micrometres); grid from ``NCOLS_ODD`` x ``NROWS``.

    Raises
    ------
    DataFileError
        If the file is missing, on a hexagonal grid, truncated or has a malformed
        line, its grid is incomplete, a phase has an unknown Symmetry code, a line
        has a phase id the header does not declare, or no point is indexed.
    """
    p = _require_file(path)
    header: dict[str, str] = {}
    blocks, first_data, n_header = [], "", 0  # blocks: one dict per "# Phase" section
    with open(p, encoding="latin-1") as fh:
        for line in fh:
            s = line.strip()
            if s and not s.startswith("#"):
                first_data = s
                break
            n_header += 1
            parts = s[1:].strip().split(None, 1)
            if parts:
                key, value = parts[0].rstrip(":"), (parts[1].strip() if len(parts) > 1 else "")
                if key == "Phase":
                    blocks.append({"Phase": value, "line": str(n_header)})
                elif key in _ANG_PHASE_KEYS and blocks:
                    blocks[-1].setdefault(key, value)
                else:
                    header.setdefault(key, value)
    grid = header.get("GRID", "SqrGrid")
    if grid.lower().startswith("hex"):
        raise DataFileError(
            f"{p} is on a hexagonal grid (GRID: {grid}); only square grids (SqrGrid) are supported: convert "
            "the scan to a square grid in the acquisition software (OIM: hexagonal-to-square grid conversion)"
        )
    if not grid.lower().startswith("sqr"):
        raise DataFileError(f"{p}: unknown GRID {grid!r}; only square grids (SqrGrid) are supported")
    phases = tuple(_ang_phase(p, block) for block in blocks)
    if len({ph.id for ph in phases}) != len(phases):
        raise DataFileError(f"{p}: the header declares a phase id twice: {[ph.id for ph in phases]}")
    step, size = _grid_header(p, header, "XSTEP", "YSTEP", "NCOLS_ODD", "NROWS")
    if (ncols := len(first_data.split())) < 8:
        what = f"line {n_header + 1} has {ncols} values" if first_data else "no data lines (truncated file)"
        raise DataFileError(f"{p}: {what}; .ang data lines need at least 8 (phi1 Phi phi2 x y IQ CI phase)")
    table = _Table(p, n_header, "#")
    data = table.load(ncols)
    euler, ci = data[:, 0:3], data[:, 6]
    single = phases[0].id if len(phases) == 1 else None  # TSL writes phase 0 for the only phase
    phase = table.phase_ids(data[:, 7], {ph.id for ph in phases}, zero_means=single)
    no_solution = (ci < 0) | np.isclose(euler, 4 * np.pi, atol=1e-3).all(axis=1)
    cols = {"x": data[:, 3], "y": data[:, 4], "euler": euler, "phase": np.where(no_solution, 0, phase),
            "quality": ci, "image_quality": data[:, 5]}  # fmt: skip
    return table.assemble(cols, step, size, phases)  # type: ignore[arg-type]


def read_ctf(path: str | os.PathLike) -> EBSDMap:
    """Read an Oxford Instruments Channel Text File (``.ctf``).

    Parameters
    ----------
    path
        The ``.ctf`` file.

    Returns
    -------
    EBSDMap
        Euler angles converted from degrees to radians; ``quality`` = MAD (degrees,
        lower is better), ``image_quality`` = band contrast BC; step from
        ``XStep``/``YStep`` (micrometres); grid from ``XCells`` x ``YCells``.

    Raises
    ------
    DataFileError
        If the file is missing, truncated or has a malformed line, its grid is
        incomplete, a phase has an unknown Laue group, a line has a phase id the
        header does not declare, or no point is indexed.
    """
    p = _require_file(path)
    header: dict[str, str] = {}
    phases_list, columns = [], []
    n_header = pending = 0  # pending: phase lines still expected after "Phases N"
    with open(p, encoding="latin-1") as fh:
        for line in fh:
            n_header += 1
            fields = line.rstrip("\r\n").split("\t")
            if pending:
                phases_list.append(_ctf_phase(p, fields, len(phases_list) + 1, n_header))
                pending -= 1
                continue
            key = fields[0].strip()
            if key == "Phase" and len(fields) > 2 and fields[1].strip() == "X":
                columns = [f.strip() for f in fields if f.strip()]
                break
            header.setdefault(key, fields[1].strip() if len(fields) > 1 else "")
            if key == "Phases":
                pending = int(_header_number(p, header, "Phases") or 0)
    missing = [c for c in _CTF_COLUMNS if c not in columns]
    if missing:
        raise DataFileError(
            f"{p}: no data table header line with the columns {' '.join(_CTF_COLUMNS)} (missing: "
            f"{' '.join(missing)}); the file is truncated or not a .ctf"
        )
    phases = tuple(phases_list)
    step, size = _grid_header(p, header, "XStep", "YStep", "XCells", "YCells")
    table = _Table(p, n_header, None)
    data = table.load(len(columns))
    col = {name: data[:, columns.index(name)] for name in _CTF_COLUMNS}
    cols = {
        "x": col["X"], "y": col["Y"], "quality": col["MAD"], "image_quality": col["BC"],
        "phase": table.phase_ids(col["Phase"], {ph.id for ph in phases}),
        "euler": np.deg2rad(np.column_stack([col["Euler1"], col["Euler2"], col["Euler3"]])),
    }  # fmt: skip
    return table.assemble(cols, step, size, phases)  # type: ignore[arg-type]


# --- header helpers -------------------------------------------------------------------------------


def _require_file(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.is_file():
        raise DataFileError(f"EBSD file not found: {p}" + (" (it is a directory)" if p.is_dir() else ""))
    try:
        with open(p, "rb") as fh:
            empty = not fh.read(1)
    except OSError as exc:
        raise DataFileError(f"cannot read {p}: {exc.strerror or exc}") from exc
    if empty:
        raise DataFileError(f"{p} is empty (0 bytes)")
    return p


def _header_number(p: Path, header: dict[str, str], key: str, *, step: bool = False) -> float | int | None:
    """Header ``key``: a positive step in micrometres (required) or a count (None when absent)."""
    if key not in header and not step:
        return None  # the grid size is then inferred from the x, y columns
    value = _numbers((header.get(key, "").split() or [""])[0], 1)
    if value is None or not (value[0] > 0 if step else value[0] == int(value[0]) >= 0):
        what = "a positive step in micrometres" if step else "a count"
        raise DataFileError(f"{p}: the header's {key} should be {what}, got {header.get(key, 'nothing')!r}")
    return value[0] if step else int(value[0])


def _grid_header(p: Path, header: dict[str, str], *keys: str) -> tuple[tuple, tuple]:
    """``((dx, dy), (nx, ny))`` from the header keys for the two steps and the two counts."""
    steps = tuple(_header_number(p, header, k, step=True) for k in keys[:2])
    return steps, tuple(_header_number(p, header, k) for k in keys[2:])


def _numbers(text: str, n: int, sep: str | None = None) -> tuple[float, ...] | None:
    """``n`` numbers separated by ``sep``, or None if ``text`` is anything else."""
    try:
        values = tuple(float(t) for t in text.split(sep))
    except ValueError:
        return None
    return values if len(values) == n and all(math.isfinite(v) for v in values) else None


def _ang_phase(p: Path, block: dict[str, str]) -> EBSDPhase:
    where = f"{p}: the '# Phase' block at line {block['line']}"
    pid_text = (block["Phase"].split() or [""])[0]
    sym = _numbers((block.get("Symmetry", "").split() or [""])[0], 1)
    if not pid_text.isdigit() or (pid := int(pid_text)) < 1:
        raise DataFileError(f"{where} has no phase id >= 1: {block['Phase']!r}")
    if sym is None:
        raise DataFileError(f"{where} (phase {pid}) declares no numeric Symmetry: {block.get('Symmetry')!r}")
    code = int(sym[0])
    if code not in _TSL_SYMMETRY:
        raise DataFileError(
            f"{p}: phase {pid} has an unknown or unsupported TSL Symmetry code {code}; "
            f"known codes are {', '.join(str(c) for c in sorted(_TSL_SYMMETRY))}"
        )
    lattice = _numbers(block["LatticeConstants"], 6) if block.get("LatticeConstants") else (math.nan,) * 6
    if lattice is None:
        raise DataFileError(
            f"{where}: LatticeConstants should be 6 numbers (a b c alpha beta gamma), "
            f"got {block['LatticeConstants']!r}"
        )
    name = (block.get("MaterialName") or block.get("Formula") or f"phase {pid}").strip()
    return EBSDPhase(pid, name, _TSL_SYMMETRY[code], lattice)  # type: ignore[arg-type]


def _ctf_phase(p: Path, fields: list[str], pid: int, lineno: int) -> EBSDPhase:
    lengths = _numbers(fields[0], 3, ";")
    angles = _numbers(fields[1], 3, ";") if len(fields) > 1 else None
    if len(fields) < 4 or lengths is None or angles is None:
        raise DataFileError(
            f"{p}: line {lineno} (phase {pid}) should be 'a;b;c<TAB>alpha;beta;gamma<TAB>name<TAB>Laue "
            f"group ...', got {chr(9).join(fields)!r}; the file is truncated or malformed"
        )
    laue = fields[3].strip()
    if laue not in {str(k) for k in _OXFORD_LAUE}:
        raise DataFileError(f"{p}: phase {pid} has an unknown Oxford Laue group {laue!r}; expected 1 to 11")
    name = fields[2].strip() or f"phase {pid}"
    return EBSDPhase(pid, name, _OXFORD_LAUE[int(laue)], lengths + angles)  # type: ignore[arg-type]


# --- data helpers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Table:
    """The data lines of a file, after ``start_line`` header lines (error messages give 1-based lines)."""

    path: Path
    start_line: int
    comments: str | None

    def lines(self) -> Iterator[tuple[int, str]]:
        with open(self.path, encoding="latin-1") as fh:
            for lineno, line in enumerate(fh, 1):
                s = line.strip()
                if lineno > self.start_line and s and not (self.comments and s.startswith(self.comments)):
                    yield lineno, s

    def line_of(self, row: int) -> int:
        """File line number of data row ``row`` (only called to word an error)."""
        return next((lineno for k, (lineno, _) in enumerate(self.lines()) if k == row), -1)

    def load(self, ncols: int) -> np.ndarray:
        """All data lines as a float64 ``(n, ncols)`` array; a bad line raises with its number."""
        p = self.path
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
                data = np.loadtxt(
                    p, comments=self.comments, skiprows=self.start_line, ndmin=2, encoding="latin-1"
                )
        except ValueError as exc:
            detail = self._bad_line(ncols) or " ".join(str(exc).split())
            raise DataFileError(f"{p}: {detail}; the file is truncated or malformed") from None
        except OSError as exc:
            raise DataFileError(f"cannot read {p}: {exc.strerror or exc}") from exc
        if data.shape[0] == 0 or data.shape[1] != ncols:
            what = f"lines have {data.shape[1]} values, expected {ncols}" if len(data) else "no data lines"
            raise DataFileError(f"{p}: {what}; the file is truncated or malformed")
        return data

    def _bad_line(self, ncols: int) -> str | None:
        for lineno, s in self.lines():
            tokens = s.split()
            if len(tokens) != ncols:
                return f"line {lineno} has {len(tokens)} values instead of {ncols} ({s[:60]!r})"
            try:
                [float(t) for t in tokens]
            except ValueError:
                return f"line {lineno} holds a value that is not a number ({s[:60]!r})"
        return None

    def phase_ids(self, values: np.ndarray, declared: set[int], zero_means: int | None = None) -> np.ndarray:
        """Integer phase ids (negative ones become 0); an id the header does not declare raises."""
        ints = np.rint(values)
        bad = ~np.isfinite(values) | (np.abs(values - ints) > 1e-6)
        if bad.any():
            line = self.line_of(int(np.argmax(bad)))
            raise DataFileError(f"{self.path}: line {line} has a phase id that is not an integer")
        ids = np.maximum(ints.astype(np.int64), 0)
        if zero_means is not None and not np.any(ids == zero_means):
            ids[ids == 0] = zero_means
        undeclared = (ids > 0) & ~np.isin(ids, sorted(declared))
        if undeclared.any():
            row = int(np.argmax(undeclared))
            raise DataFileError(
                f"{self.path}: line {self.line_of(row)} has phase id {int(ids[row])}, which the header "
                f"does not declare (undeclared ids {sorted(set(ids[undeclared].tolist()))}; "
                f"declared {sorted(declared) or 'none'})"
            )
        return ids

    def grid_index(
        self, x: np.ndarray, y: np.ndarray, step: tuple[float, float], size: tuple[int | None, int | None]
    ) -> tuple[np.ndarray, int, int]:
        """Flat ``iy * nx + ix`` index of every data row, checking that the grid is complete."""
        (dx, dy), (nx, ny), p, n = step, size, self.path, x.size
        if nx is not None and ny is not None and n != nx * ny:
            what = "the file is truncated" if n < nx * ny else "there are too many lines"
            raise DataFileError(f"{p} has {n} data lines for the {nx} x {ny} grid of its header; {what}")
        fx, fy = (x - np.nanmin(x)) / dx, (y - np.nanmin(y)) / dy
        ix, iy = np.rint(np.nan_to_num(fx)).astype(np.int64), np.rint(np.nan_to_num(fy)).astype(np.int64)
        off = ~((np.abs(fx - ix) <= 0.25) & (np.abs(fy - iy) <= 0.25))  # NaN or off the grid
        if off.any():
            row = int(np.argmax(off))
            raise DataFileError(
                f"{p}: line {self.line_of(row)} (x = {x[row]:g}, y = {y[row]:g}) is not on the square "
                f"grid of step {dx:g} x {dy:g} um given in the header"
            )
        nx = int(ix.max()) + 1 if nx is None else nx
        ny = int(iy.max()) + 1 if ny is None else ny
        if ix.max() >= nx or iy.max() >= ny:
            raise DataFileError(
                f"{p}: the x, y coordinates span {int(ix.max()) + 1} x {int(iy.max()) + 1} points of step "
                f"{dx:g} x {dy:g} um, not the {nx} x {ny} grid of the header"
            )
        flat = iy * nx + ix
        counts = np.bincount(flat, minlength=nx * ny)
        if (counts != 1).any():
            k = int(np.argmax(counts != 1))
            xk, yk = x.min() + (k % nx) * dx, y.min() + (k // nx) * dy
            what = "is missing" if counts[k] == 0 else f"appears {int(counts[k])} times"
            raise DataFileError(f"{p}: the point x = {xk:g}, y = {yk:g} {what} in the {nx} x {ny} grid")
        return flat, nx, ny

    def assemble(
        self, cols: dict[str, np.ndarray], step: tuple[float, float], size: tuple[int | None, int | None],
        phases: tuple[EBSDPhase, ...],
    ) -> EBSDMap:
        """Place the per-line columns on the ``(ny, nx)`` grid; unindexed points get NaN Euler and quality."""
        flat, nx, ny = self.grid_index(cols["x"], cols["y"], step, size)
        euler, phase = cols["euler"], cols["phase"]
        indexed = (phase > 0) & np.isfinite(euler).all(axis=1)
        if not indexed.any():
            why = "all have phase 0 or no orientation" if phases else "its header declares no phase"
            raise DataFileError(f"{self.path} has no indexed point ({why})")

        def grid(values: np.ndarray, dtype: type) -> np.ndarray:
            out = np.empty((nx * ny,) + values.shape[1:], dtype=dtype)
            out[flat] = values
            return out.reshape((ny, nx) + values.shape[1:])

        return EBSDMap(
            euler=grid(np.where(indexed[:, None], euler, np.nan), np.float64),
            phase=grid(np.where(indexed, phase, 0), np.int64),
            quality=grid(np.where(indexed, cols["quality"], np.nan), np.float64),
            image_quality=grid(cols["image_quality"], np.float64),
            step_um=(float(step[0]), float(step[1])),
            phases=phases,
            source=self.path.name,
        )
