"""Several seeds, one summary: mean ± 95 % confidence interval, grouped tables, verdicts from numbers."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
from scipy import stats


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of the Student-t confidence interval (half-width NaN for one value)."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        raise ValueError("mean_ci needs at least one value")
    mean = float(arr.mean())
    if arr.size < 2:
        return mean, float("nan")
    sem = arr.std(ddof=1) / math.sqrt(arr.size)
    return mean, float(sem * stats.t.ppf(0.5 + confidence / 2, arr.size - 1))


def fmt_ci(values: Sequence[float], scale: float = 100.0, digits: int = 1) -> str:
    """``"83.2 ± 4.1"`` (percent by default); a single value has no interval."""
    mean, half = mean_ci(values)
    if math.isnan(half):
        return f"{mean * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f} ± {half * scale:.{digits}f}"


def summarise(rows: Iterable[dict], by: Sequence[str], metric: str) -> list[dict]:
    """Group ``rows`` by the keys ``by``; per group: ``n``, ``mean``, ``ci`` (half-width) and ``values`` of ``metric``.

    Groups keep the order in which they first appear.
    """
    groups: dict[tuple, list[float]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in by), []).append(float(row[metric]))
    out = []
    for key, values in groups.items():
        mean, half = mean_ci(values)
        out.append({**dict(zip(by, key)), "n": len(values), "mean": mean, "ci": half, "values": values})
    return out


def print_table(summary: list[dict], by: Sequence[str], title: str = "", scale: float = 100.0) -> None:
    """Print a summary from :func:`summarise` as an aligned text table (values in percent by default)."""
    if title:
        print(title)
    widths = [max(len(str(k)), *(len(str(r[k])) for r in summary)) for k in by]
    print("  ".join(f"{k:<{w}}" for k, w in zip(by, widths)) + "  mean ± 95% CI (n)")
    for r in summary:
        cells = "  ".join(f"{str(r[k]):<{w}}" for k, w in zip(by, widths))
        print(f"{cells}  {fmt_ci(r['values'], scale)} ({r['n']})")


def compare(a: Sequence[float], b: Sequence[float]) -> str:
    """Verdict on ``mean(a) - mean(b)``: whether it exceeds the combined 95 % interval of the paired difference.

    Values are paired by position (same seeds, same splits); returns ``"better"``, ``"worse"`` or
    ``"no clear difference"``.
    """
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    mean, half = mean_ci(diff)
    if math.isnan(half):
        return "better" if mean > 0 else "worse" if mean < 0 else "no clear difference"
    if mean - half > 0:
        return "better"
    if mean + half < 0:
        return "worse"
    return "no clear difference"
