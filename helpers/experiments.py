"""Grids of runs cached in a results file; several seeds, one summary (mean ± 95 % interval);
verdicts from numbers."""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

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
    """Group ``rows`` by the keys ``by``; per group: ``n``, ``mean``, ``ci`` (half-width) and
    ``values`` of ``metric``.

    Groups keep the order in which they first appear.
    """
    groups: dict[tuple, list[float]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in by), []).append(float(row[metric]))
    out = []
    for key, values in groups.items():
        mean, half = mean_ci(values)
        out.append(
            {**dict(zip(by, key)), "n": len(values), "mean": mean, "ci": half, "values": values}
        )
    return out


def print_table(
    summary: list[dict], by: Sequence[str], title: str = "", scale: float = 100.0
) -> None:
    """Print a summary from :func:`summarise` as an aligned text table (values in percent by
    default)."""
    if title:
        print(title)
    widths = [max(len(str(k)), *(len(str(r[k])) for r in summary)) for k in by]
    print("  ".join(f"{k:<{w}}" for k, w in zip(by, widths)) + "  mean ± 95% CI (n)")
    for r in summary:
        cells = "  ".join(f"{str(r[k]):<{w}}" for k, w in zip(by, widths))
        print(f"{cells}  {fmt_ci(r['values'], scale)} ({r['n']})")


_MISSING = object()


def select(rows: Iterable[dict], **match) -> list[dict]:
    """The rows whose fields equal every ``key=value`` in ``match``, sorted by ``seed``.

    ``select(rows, scenario="small-similar", strategy="scratch")``: one row per seed, in seed
    order, so two selections pair up position by position (see :func:`compare`). Rows without
    a ``seed`` keep their order.
    """
    chosen = [r for r in rows if all(r.get(k, _MISSING) == v for k, v in match.items())]
    return sorted(chosen, key=lambda r: r.get("seed", 0))


def values(rows: Iterable[dict], metric: str, **match) -> list[float]:
    """``metric`` of the rows :func:`select` picks, in seed order: the list to average or pair."""
    return [float(r[metric]) for r in select(rows, **match)]


def compare(a: Sequence[float], b: Sequence[float]) -> str:
    """Verdict on ``mean(a) - mean(b)``: whether it exceeds the combined 95 % interval of the
    paired difference.

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


# ------------------------------------------------------------------------ grids with a results file


def results_path(name: str, profile: str | None = None) -> Path:
    """``data/cache/results/<name>-<profile>.jsonl``: where a notebook's grid keeps its rows."""
    from . import config

    return config.cache_dir("results") / f"{name}-{profile or config.profile()}.jsonl"


def _key(cell: dict) -> str:
    return json.dumps(cell, sort_keys=True, default=str)


def settings_hash(settings: dict) -> str:
    """A short hash of everything besides the cell that changes a result (sizes, epochs, LRs…)."""
    return hashlib.blake2b(_key(settings).encode(), digest_size=6).hexdigest()


def read_results(path: str | Path, settings: dict | None = None) -> list[dict]:
    """Rows of a results file; rows written under other ``settings`` are skipped, a torn last line
    is ignored."""
    path = Path(path)
    if not path.exists():
        return []
    wanted = settings_hash(settings) if settings is not None else None
    rows, skipped = [], 0
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            warnings.warn(
                f"{path.name}: line {number} is not a complete row (interrupted write?); ignored",
                stacklevel=2,
            )
            continue
        if wanted is not None and row.get("settings") != wanted:
            skipped += 1
            continue
        rows.append(row)
    if skipped:
        warnings.warn(
            f"{path.name}: {skipped} rows from other settings ignored (they will be recomputed)",
            stacklevel=2,
        )
    return rows


def run_grid(
    cells: Iterable[dict],
    run: Callable[[dict], dict],
    path: str | Path,
    *,
    settings: dict | None = None,
    recompute: bool = False,
    progress: bool = True,
) -> list[dict]:
    """Run ``run(cell)`` for every cell not yet in the results file; return all rows in cell order.

    ``cells``: dicts of JSON-able values (e.g.
    ``{"scenario": "small-similar", "strategy": "scratch",
    "seed": 0}``). ``run`` returns a dict of metrics; each row is ``{**cell, **metrics, "seconds",
    "settings"}``. Every finished row is appended and flushed at once, so an interrupted grid
    resumes where it stopped and re-running a finished grid only reads the file. ``settings``
    (profile knobs) are hashed into each row: change them and the affected rows are recomputed.
    ``recompute=True`` starts the file afresh.
    """
    from tqdm.auto import tqdm

    path = Path(path)
    cells = list(cells)
    keys = [_key(c) for c in cells]
    if len(set(keys)) != len(keys):
        raise ValueError(
            "run_grid: two cells are identical; add a field (e.g. seed) that tells them apart"
        )
    settings = settings or {}
    tag = settings_hash(settings)
    if recompute and path.exists():
        path.unlink()
    done = {}
    for row in read_results(path, settings):
        cell_key = _key({k: row[k] for k in row.get("cell_keys", [])})
        done[cell_key] = row
    todo = [c for c, k in zip(cells, keys) if k not in done]
    path.parent.mkdir(parents=True, exist_ok=True)
    bar = tqdm(todo, desc=path.stem, disable=not progress or not todo)
    with path.open("a") as out:
        if path.stat().st_size and not path.read_bytes().endswith(b"\n"):
            out.write("\n")  # close a line torn by an interrupted write
        for cell in bar:
            bar.set_postfix_str(" ".join(str(v) for v in cell.values()))
            start = time.perf_counter()
            metrics = run(dict(cell))
            if clash := set(metrics) & set(cell):
                raise ValueError(f"run() returned keys that are also cell keys: {sorted(clash)}")
            row = {**cell, **metrics, "seconds": round(time.perf_counter() - start, 3)}
            row.update(settings=tag, cell_keys=list(cell))
            out.write(json.dumps(row, default=float) + "\n")
            out.flush()
            os.fsync(out.fileno())
            done[_key(cell)] = row
    return [done[k] for k in keys]


def pivot(
    summary: list[dict], rows: str, cols: str, value: str = "mean"
) -> tuple[list, list, np.ndarray]:
    """A 2-D table from :func:`summarise` output: ``(row_labels, col_labels, values)`` (NaN where
    missing)."""
    row_labels = list(dict.fromkeys(r[rows] for r in summary))
    col_labels = list(dict.fromkeys(r[cols] for r in summary))
    table = np.full((len(row_labels), len(col_labels)), np.nan)
    for r in summary:
        table[row_labels.index(r[rows]), col_labels.index(r[cols])] = r[value]
    return row_labels, col_labels, table
