"""Write a run's outputs as files in the layout of the Web Lab's results.

* ``outputs_<name>.csv`` for each output, as in ``fc/reference``: a comment
  line with the description, then

  - 2-d arrays: the transpose, one row per line, comma separated (the
    original's ``load2d`` reads them back with ``unpack=True``);
  - other arrays: a line ``ndim,shape...`` (just ``0`` for a number), then
    every value on its own line, in C order;

  numbers are written with Python's shortest round-trip ``repr``.
* ``outputs-contents.csv``: ``Variable id,Variable name,Units,Number of
  dimensions,File name,Type,Dimensions`` (one row per output; the extents
  follow as the last columns).
* ``outputs-default-plots.csv``: ``Plot title,File name,Data file name,Line
  style,First variable id,Optional second variable id,Optional key variable
  id`` (first variable = x axis, second = y; the data file is the y output's
  CSV).
* ``errors.txt`` when the run recorded errors.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .protocol import Protocol, RunResult

CONTENTS_HEADER = [
    "Variable id",
    "Variable name",
    "Units",
    "Number of dimensions",
    "File name",
    "Type",
    "Dimensions",
]
PLOTS_HEADER = [
    "Plot title",
    "File name",
    "Data file name",
    "Line style",
    "First variable id",
    "Optional second variable id",
    "Optional key variable id",
]


def format_array(array: np.ndarray, description: str) -> str:
    """The text of an ``outputs_<name>.csv`` file."""
    out = io.StringIO()
    out.write(f"# {description}\n")
    a = np.asarray(array, dtype=float)
    if a.ndim == 2:
        for row in a.T:
            out.write(",".join(repr(float(x)) for x in row))
            out.write("\n")
    else:
        out.write(",".join(str(n) for n in (a.ndim, *a.shape)) + "\n")
        for x in a.reshape(-1):
            out.write(repr(float(x)) + "\n")
    return out.getvalue()


def read_output(path: str | Path) -> np.ndarray:
    """Read an ``outputs_<name>.csv`` file (ours or a reference one) back into an array."""
    return parse_output(Path(path).read_text())


def parse_output(text: str) -> np.ndarray:
    """The array an ``outputs_<name>.csv`` text holds: the one reader of the format, for the engine and for
    the platform's result graphs alike (``resolvers/provenance.py``). Raises ValueError when the text holds
    something other than numbers."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not lines:
        return np.array([])
    first = lines[0].split(",")
    if all(_is_int(x) for x in first) and int(first[0]) == len(first) - 1:
        ndim = int(first[0])
        shape = tuple(int(x) for x in first[1:])
        values = np.array([float(x) for x in lines[1:]])
        if ndim == 0:
            return values.reshape(())
        if ndim == 1:
            return values  # some reference files carry a stale length in their header
        return values.reshape(shape)
    rows = np.array([[float(x) for x in line.split(",")] for line in lines])
    return rows.T


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def sanitise(name: str) -> str:
    name = name.strip().replace(" ", "_")
    return "".join(c for c in name if c.isalnum() or c in "._")


def write_outputs(protocol: Protocol, result: RunResult, folder: Path) -> list[Path]:
    """Write the output files of a run into ``folder`` (created if needed); returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    interface = {o.name: o for o in protocol.interface_outputs()}
    rows = []
    for name, array in result.outputs.items():
        spec = interface.get(name)
        description = spec.description if spec and spec.description else name
        path = folder / f"outputs_{name}.csv"
        path.write_text(format_array(array, description))
        written.append(path)
        a = np.asarray(array)
        rows.append(
            [
                name,
                description,
                (spec.units if spec and spec.units else ""),
                str(a.ndim),
                path.name,
                "Raw",
                *[str(n) for n in a.shape],
            ]
        )
    contents = folder / "outputs-contents.csv"
    _write_csv(contents, CONTENTS_HEADER, rows)
    written.append(contents)
    plot_rows = []
    for plot in protocol.plots:
        for curve in plot.curves:
            for y in curve.y:
                if y not in result.outputs or curve.x not in result.outputs:
                    continue
                plot_rows.append(
                    [
                        plot.title,
                        sanitise(plot.title) + ".png",
                        f"outputs_{y}.csv",
                        plot.using or "lines",
                        curve.x,
                        y,
                        curve.key or "",
                    ]
                )
    plots = folder / "outputs-default-plots.csv"
    _write_csv(plots, PLOTS_HEADER, plot_rows)
    written.append(plots)
    if result.messages:
        errors = folder / "errors.txt"
        errors.write_text("\n".join(result.messages) + "\n")
        written.append(errors)
    return written


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
