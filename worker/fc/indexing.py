"""Views (``a[1:3, 0]``, ``a[dim$i]``) and index expressions (``a{find(...)}``) on arrays.

Pure array work, independent of how the indices were computed: the
interpreter passes plain numbers, the batch evaluator per-element batches
(``view_items`` takes the evaluator to use), and both place them the way the
original engine does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import ast
from .environment import Environment
from .errors import ProtocolError
from .values import DefaultValue, NullValue, as_int, number


def index_array(
    operand: np.ndarray, indices: np.ndarray, dim: int, shrink: float, pad: float, pad_value: float
) -> np.ndarray:
    """``operand{indices, dim, shrink, pad, pad_value}``, vectorised: the entries ``find`` located, regrouped.

    The result must be regular along ``dim`` unless ``shrink`` (drop the extra entries) or
    ``pad`` (fill the missing ones with ``pad_value``) says what to do, as in the original engine.
    """
    if indices.ndim != 2:
        raise ProtocolError(f"the indices array must have 2 dimensions, not {indices.ndim}")
    if not 0 <= dim < operand.ndim:
        raise ProtocolError(
            f"the operand has {operand.ndim} dimensions, so cannot be indexed along dimension {dim}"
        )
    if shrink != 0 and pad != 0:
        raise ProtocolError("cannot both pad and shrink")
    idx = indices.astype(int)
    if idx.shape[0] and idx.shape[1] != operand.ndim:
        raise ProtocolError(
            f"indices have {idx.shape[1]} columns but the operand has {operand.ndim} dimensions"
        )
    shape = list(operand.shape)
    shape[dim] = 1
    group_shape = tuple(shape)
    n_groups = int(np.prod(group_shape))
    group_idx = idx.copy()
    if idx.shape[0]:
        group_idx[:, dim] = 0
        groups = np.ravel_multi_index(tuple(group_idx.T), group_shape)
    else:
        groups = np.zeros(0, dtype=int)
    extents = np.bincount(groups, minlength=n_groups)
    max_extent, min_extent = int(extents.max()), int(extents.min())
    if (min_extent == 0 and pad == 0) or (min_extent != max_extent and shrink == 0 and pad == 0):
        raise ProtocolError(
            f"cannot index if the result is irregular (extent ranges from {min_extent} to {max_extent})"
        )
    extent = max_extent if pad != 0 else min_extent
    out_shape = list(operand.shape)
    out_shape[dim] = extent
    result = np.empty(out_shape)
    if pad != 0:
        result.fill(pad_value)
    backwards = shrink + pad < 0
    order = np.arange(idx.shape[0])
    if backwards:
        order = order[::-1]
    ordered_groups = groups[order]
    ranks = _ranks_within_groups(ordered_groups)
    keep = ranks < extent
    entries = idx[order][keep]
    ranks = ranks[keep]
    values = operand[tuple(entries.T)] if len(entries) else np.zeros(0)
    targets = entries.copy()
    targets[:, dim] = (extent - ranks - 1) if backwards else ranks
    if len(targets):
        result[tuple(targets.T)] = values
    return result


def _ranks_within_groups(groups: np.ndarray) -> np.ndarray:
    """For each entry, how many earlier entries share its group (its rank within the group, in order)."""
    n = len(groups)
    if n == 0:
        return np.zeros(0, dtype=int)
    if np.all(groups[1:] >= groups[:-1]) or np.all(groups[1:] <= groups[:-1]):
        # Groups come in runs (indices from find, along the last dimension): no sort needed.
        boundaries = np.flatnonzero(groups[1:] != groups[:-1]) + 1
        starts = np.concatenate(([0], boundaries))
        lengths = np.diff(np.concatenate((starts, [n])))
        in_runs: np.ndarray = np.arange(n) - np.repeat(starts, lengths)
        return in_runs
    sort = np.argsort(groups, kind="stable")
    sorted_groups = groups[sort]
    starts = np.searchsorted(sorted_groups, sorted_groups, side="left")
    ranks = np.empty(n, dtype=int)
    ranks[sort] = np.arange(n) - starts
    return ranks


def apply_view(array: np.ndarray, slices: list[Any]) -> np.ndarray:
    """The view of ``array`` that ``slices`` select; out-of-range indices are a protocol error."""
    try:
        result = array[tuple(slices)]
    except IndexError:
        raise ProtocolError(
            f"view indices {_show_slices(slices)} out of range for an array of shape {array.shape}"
        ) from None
    return result if isinstance(result, np.ndarray) else number(result)


def view_items(
    expr: ast.View, env: Environment, ev: Callable[[ast.Expr, Environment], Any]
) -> list[tuple[int | None, bool, Any]]:
    """Each view spec evaluated: (dimension or None, applies to all other dims, int index or slice).

    A value that is not a plain number (the batch evaluator's per-element values) is passed through.
    """
    items: list[tuple[int | None, bool, Any]] = []
    for spec in expr.specs:

        def val(e: ast.Expr | None) -> Any:
            if e is None:
                return None
            v = ev(e, env)
            if isinstance(v, NullValue | DefaultValue):
                return None
            if not isinstance(v, np.ndarray) and hasattr(v, "data"):
                return v
            return as_int(v, "a view index")

        start = val(spec.start)
        if spec.is_range:
            item: Any = slice(start, val(spec.end), val(spec.step))
        else:
            if start is None:
                raise ProtocolError("a view index is missing")
            item = start
        dim = (
            as_int(ev(spec.dim, env), "a view dimension")
            if spec.dim is not None and not spec.all_dims
            else None
        )
        items.append((dim, spec.all_dims, item))
    return items


def view_slices(shape: tuple[int, ...], items: list[tuple[int | None, bool, Any]]) -> list[Any]:
    """Where each view item applies, as the original engine places them; unspecified dimensions are whole."""
    ndim = len(shape)
    slices: list[Any] = [None] * ndim
    implicit: list[Any] = []
    rest: Any = None
    for dim, all_dims, item in items:
        if all_dims:
            rest = item
        elif dim is not None:
            if not -ndim <= dim < ndim:
                raise ProtocolError(f"the array has {ndim} dimensions, so has no dimension {dim}")
            slices[dim] = item
        else:
            implicit.append(item)
    for i in range(ndim):
        if slices[i] is None:
            if implicit:
                item = implicit.pop(0)
                if isinstance(item, slice):
                    _check_slice(item, shape[i])
                slices[i] = item
            else:
                slices[i] = rest if rest is not None else slice(None)
    return slices


def _check_slice(s: slice, length: int) -> None:
    if s.start is not None and not -length <= s.start < length:
        raise ProtocolError("the start of the slice is not within the range of the dimension")
    if s.stop is not None and not -(length + 1) <= s.stop < length + 1:
        raise ProtocolError("the end of the slice is not within the range of the dimension")
    if s.step is not None and s.start is not None and s.stop is not None and (s.stop - s.start) * s.step <= 0:
        raise ProtocolError("the sign of the step does not make sense")


def _show_slices(slices: list[Any]) -> str:
    def one(s: Any) -> str:
        if isinstance(s, slice):
            return ":".join("" if x is None else str(x) for x in (s.start, s.stop, s.step))
        return str(s)

    return "[" + ", ".join(one(s) for s in slices) + "]"
