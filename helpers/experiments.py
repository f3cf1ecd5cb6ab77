"""The results store: grids of runs cached in a results file, read back by row; several seeds,
one summary (mean ± 95 % interval). Verdicts are :mod:`helpers.stats`'s; :func:`compare_rows`
hands it two lists of rows with the design they record."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from scipy import stats
from tqdm.auto import tqdm

from . import codekey, config
from .stats import NO_VERDICT, VERDICTS, Verdict, bits, compare, holm, unbits  # noqa: F401


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


def table(
    rows: Iterable[dict], by: Sequence[str], metric: str, title: str = "", scale: float = 100.0
) -> list[dict]:
    """:func:`summarise` the rows by ``by``, :func:`print_table` the summary, and return it."""
    summary = summarise(rows, by, metric)
    print_table(summary, by, title=title, scale=scale)
    return summary


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


def choose(
    rows: Iterable[dict], by: str, metric: str = "val_acc", among: Sequence | None = None, **match
):
    """The value of ``by`` whose rows score best on ``metric`` (validation accuracy), averaged
    over seeds — the course's one way to choose (a learning rate, a stage, a strategy) without
    looking at test. ``among``: the values to choose from, in order (default: every value the
    rows have, sorted). Ties (equal means) go to the first value in that order — the smaller
    learning rate, the earlier stage — never to the order of a set. ``match``: :func:`select`'s.
    """
    mine = select(rows, **match)
    found = {r[by] for r in mine}
    options = (
        [o for o in among if o in found]
        if among is not None
        else sorted(found, key=lambda o: (isinstance(o, str), o))
    )
    if not options:
        raise ValueError(f"choose: no rows match {match}" + (f" among {among}" if among else ""))
    means = {o: float(np.mean(values(mine, metric, **{by: o}))) for o in options}
    best = max(means.values())
    return next(o for o in options if means[o] >= best - 1e-12)


def chosen(
    rows: Iterable[dict], by: str, metric: str = "val_acc", among: Sequence | None = None, **match
) -> list[dict]:
    """The rows (one per seed, in seed order) of the value :func:`choose` picks."""
    rows = list(rows)
    return select(rows, **match, **{by: choose(rows, by, metric, among, **match)})


def compare_rows(
    a: Sequence[dict], b: Sequence[dict], metric: str = "test_acc", **options
) -> Verdict:
    """:func:`compare` of two lists of rows (paired by seed), with the design the rows record.

    Rows of a fixed test set shared by every seed (``"design": "fixed"``) carry each test
    image's correctness (``test_correct`` for ``test_acc``; ``probe_correct`` for
    ``probe_acc``…): the interval then includes test sampling. A metric may carry its own design
    (``probe_design`` for ``probe_acc``), else the row's counts. Rows of a
    pool re-split by every seed (``"design": "resplit"``, with ``"resplit"``: test/train images)
    get Nadeau & Bengio's correction. ``options``: :func:`compare`'s (``margin``, ``scale``…).
    """
    seeds = [[r.get("seed") for r in rows] for rows in (a, b)]
    if seeds[0] != seeds[1]:
        raise ValueError(
            f"compare_rows pairs rows by seed: one side holds seeds {seeds[0]}, "
            f"the other {seeds[1]}"
        )
    x, y = ([float(r[metric]) for r in rows] for rows in (a, b))
    # a metric may have its own design (a damage probe on a fixed set beside a re-split target)
    own = metric.replace("acc", "design", 1)
    designs = {r.get(own, r.get("design")) for r in [*a, *b]}
    per_image = metric.replace("acc", "correct", 1)  # test_acc → test_correct, probe_acc → …
    if per_image != metric and designs == {"fixed"} and all(per_image in r for r in [*a, *b]):
        options.setdefault(
            "correct", tuple(np.stack([unbits(r[per_image]) for r in rows]) for rows in (a, b))
        )
    elif designs == {"resplit"}:
        options.setdefault("resplit", float(np.mean([r["resplit"] for r in [*a, *b]])))
    return compare(x, y, **options)


def versus(
    a: Sequence[float], b: Sequence[float], names: tuple[str, str] | None = None, **options
) -> str:
    """One line for two accuracies paired by seed, ``a`` against ``b``: ``"83.2 ± 4.1 % vs
    80.0 ± 2.0 % → better (+3.2 ± 1.9 points, n=3)"`` (:func:`compare`'s verdict, with its
    ``options``), each side preceded by its name when ``names`` are given."""
    left, right = (f"{n} " for n in names) if names else ("", "")
    return f"{left}{fmt_ci(a)} % vs {right}{fmt_ci(b)} % → {compare(a, b, **options)}"


# ------------------------------------------------------------------------ grids with a results file


def results_path(name: str, profile: str | None = None) -> Path:
    """``data/cache/results/<name>-<profile>.jsonl``: where a notebook's grid keeps its rows."""
    return config.cache_dir("results") / f"{name}-{profile or config.profile()}.jsonl"


SOURCES = ("compute", "reference")


def results_source() -> str:
    """Where grids take their rows from: ``$TL_RESULTS`` = ``compute`` (default) or ``reference``.

    ``reference``: the committed reference run of this profile (``data/reference/``), where its
    rows are current; rows it lacks, or whose code changed since, are computed as usual.
    """
    source = os.environ.get("TL_RESULTS", "").strip().lower() or "compute"
    if source not in SOURCES:
        raise ValueError(f"TL_RESULTS={source!r}: expected one of {', '.join(SOURCES)}")
    return source


def reference_dir() -> Path:
    """``$TL_REFERENCE_DIR``, else the course's ``data/reference/`` (committed reference runs)."""
    env = os.environ.get("TL_REFERENCE_DIR")
    return Path(env).expanduser() if env else config.repo_root() / "data" / "reference"


def reference_path(path: str | Path) -> Path:
    """The committed reference file of a results file (same name, in :func:`reference_dir`)."""
    return reference_dir() / Path(path).name


PROVENANCE = "provenance.json"
REGENERATE = "make reference"


class NoReference(RuntimeError):
    """``TL_RESULTS=reference`` where no reference run of the active profile exists."""


class StaleReference(RuntimeError):
    """``TL_STALE_REFERENCE=fail`` (``make test``) and a reference row whose code or settings
    changed: the reference is out of date, and the test says so instead of recomputing."""


def reference_profiles() -> list[str]:
    """The profiles the reference runs in :func:`reference_dir` were made in (their files'
    names end in ``-<profile>.jsonl``)."""
    found = {p.stem.rsplit("-", 1)[-1] for p in reference_dir().glob("*.jsonl")}
    return sorted(found & set(config.PROFILES))


def _missing_reference(path: Path, progress: bool) -> None:
    """``TL_RESULTS=reference`` and no reference file for this grid: one line when other grids
    of its profile have one (a new exercise's grid is computed here); :class:`NoReference` when
    its profile has no reference run at all — then nothing trains unasked."""
    profile, have = path.stem.rsplit("-", 1)[-1], reference_profiles()
    if profile in have or profile not in config.PROFILES:
        _report(f"{path.stem}: the reference has no rows for this grid; computed here", progress)
        return
    if not have:
        where = "there are no reference runs (`make reference` writes them)"
        raise NoReference(f"TL_RESULTS=reference, but {where}; unset TL_RESULTS to compute here")
    switch = f'`%env TL_PROFILE={have[0]}` (or `config.set_profile("{have[0]}")`)'
    raise NoReference(
        f"TL_RESULTS=reference, but the reference runs are of the {' and '.join(have)} profile, "
        f"not {profile}: set {switch} before the configuration cell to read them on this machine "
        f"(on any device they are the course's evidence), or unset TL_RESULTS to compute the "
        f"{profile} grids here"
    )


def provenance(name: str | Path) -> dict | None:
    """What the reference file ``name`` was produced with (profile, date, machine, torch,
    commit, wall time), or None when it has no entry."""
    path = reference_dir() / PROVENANCE
    if not path.exists():
        return None
    return json.loads(path.read_text()).get("files", {}).get(Path(name).name)


def describe_reference(name: str | Path) -> str:
    """One line: ``reference run of <date> on <machine>, torch <v>, commit <c>``."""
    p = provenance(name) or {}
    return (
        f"reference run of {p.get('date', '?')} on {p.get('machine', '?')}, "
        f"torch {p.get('torch', '?')}, commit {str(p.get('commit', '?'))[:10]}"
    )


def origin(*row_lists: Iterable[dict]) -> str:
    """Where these rows come from: computed on this machine, a reference run, or both."""
    rows = [r for rows in row_lists for r in rows]
    files = sorted({r["reference"] for r in rows if r.get("reference")})
    here = sum(not r.get("reference") for r in rows)
    if not files:
        return "computed on this machine"
    runs = sorted({describe_reference(f) for f in files})
    text = "; ".join(runs)
    return text if not here else f"{len(rows) - here} rows from {text}; {here} computed here"


def _compare_with_reference(path: Path, rows: list[dict], reference: dict[str, dict]) -> None:
    """Print "your run vs reference run" for the accuracy metrics both have."""
    keyed = ((r, _key({k: r[k] for k in r.get("cell_keys", [])})) for r in rows)
    pairs = [(r, reference[k]) for r, k in keyed if k in reference]
    if not pairs:
        return
    metrics = sorted(k for k, v in rows[0].items() if "acc" in k and isinstance(v, (int, float)))
    for metric in metrics:
        both = [(r[metric], ref[metric]) for r, ref in pairs if ref.get(metric) is not None]
        both = [(a, b) for a, b in both if a is not None]
        if not both:
            continue
        mine, theirs = np.array(both, dtype=float).T
        print(
            f"{path.stem}: your run vs the {describe_reference(path)} — {metric} over "
            f"{len(both)} rows: {mine.mean() * 100:.1f} vs {theirs.mean() * 100:.1f} % "
            f"(largest row difference {np.abs(mine - theirs).max() * 100:.1f} points)"
        )


def _key(cell: dict) -> str:
    return json.dumps(cell, sort_keys=True, default=str)


def settings_hash(settings: dict) -> str:
    """A short hash of everything besides the cell that changes a result (sizes, epochs, LRs…)."""
    return hashlib.blake2b(_key(settings).encode(), digest_size=6).hexdigest()


def read_results(
    path: str | Path, settings: dict | None = None, code: str | None = None
) -> list[dict]:
    """Rows of a results file; a torn last line is ignored (with a warning).

    With ``settings`` and/or ``code`` (a :func:`code_fingerprint`), rows written under other
    settings or by other code are left out: they are stale.
    """
    path = Path(path)
    if not path.exists():
        return []
    wanted = settings_hash(settings) if settings is not None else None
    rows = []
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
            continue
        if code is not None and row.get("code") != code:
            continue
        rows.append(row)
    return rows


def code_fingerprint(run: Callable) -> str | None:
    """A hash of what produces a row: the code ``run`` reaches and the inputs it reads.

    Covered (see :mod:`helpers.codekey`): ``run``'s source and, transitively, every function and
    class of the notebook or of ``helpers`` it names, and a stable identity of every other
    object it reads (the configuration knobs, datasets, networks, dicts of them). Comments,
    docstrings and formatting do not count; helpers the run does not reach do not count either.
    ``None`` (with a one-line warning) when something it reads cannot be described: its rows
    are then computed every time, never cached.
    """
    try:
        return codekey.fingerprint(run)
    except codekey.Unkeyable as err:
        name = getattr(run, "__qualname__", repr(run))
        warnings.warn(f"rows of {name} are not cached: {err}", stacklevel=2)
        return None


def grid(**axes: Iterable) -> list[dict]:
    """Every combination of the axes' values, the last axis varying fastest.

    ``grid(scenario=SCENARIOS, seed=SEEDS)`` → ``[{"scenario": …, "seed": …}, …]``; a dict
    axis contributes its keys.
    """
    names = list(axes)
    return [dict(zip(names, combo)) for combo in itertools.product(*(list(axes[n]) for n in names))]


def grid_path(name: str | Path) -> Path:
    """A grid's results file: ``results_path(name)`` for a name, or the path itself."""
    if isinstance(name, Path) or str(name).endswith(".jsonl"):
        return Path(name)
    return results_path(str(name))


def recompute_requested(recompute: bool | None = None) -> bool:
    """``recompute`` if given, else ``$TL_RECOMPUTE`` (``1``: every grid starts afresh)."""
    if recompute is not None:
        return bool(recompute)
    return os.environ.get("TL_RECOMPUTE", "").strip().lower() in ("1", "true", "yes")


RESERVED = {"cells", "settings", "recompute", "progress"}


def grid_cells(cells: Iterable[dict] | None, axes: dict) -> list[dict]:
    """The cells of a grid: ``cells`` as given, or every combination of ``axes``."""
    if cells is not None and axes:
        raise ValueError("run_grid takes either cells= or axes (seed=SEEDS, …), not both")
    cells = list(cells) if cells is not None else grid(**axes)
    if not cells:
        raise ValueError("run_grid: the grid is empty (an axis without values?)")
    if len({_key(c) for c in cells}) != len(cells):
        raise ValueError(
            "run_grid: two cells are identical; add a field (e.g. seed) that tells them apart"
        )
    return cells


def _current_rows(file: Path, tag: str, code: str | None) -> tuple[dict[str, dict], set[str]]:
    """One read of a results file: its current rows by cell, and every cell it has."""
    every, rows = set(), {}
    for row in read_results(file):
        cell_key = _key({k: row[k] for k in row.get("cell_keys", [])})
        every.add(cell_key)
        if code is not None and row.get("settings") == tag and row.get("code") == code:
            rows[cell_key] = row
    return rows, every


def _compute_rows(path: Path, todo: list[dict], run, tag, code, progress: bool) -> dict:
    """Run every cell of ``todo``, appending each finished row to ``path`` at once."""
    done = {}
    path.parent.mkdir(parents=True, exist_ok=True)
    bar = tqdm(todo, desc=path.stem, disable=not progress)
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
            row.update(settings=tag, code=code, cell_keys=list(cell))
            out.write(json.dumps(row, default=float) + "\n")
            out.flush()
            os.fsync(out.fileno())
            done[_key(cell)] = row
    return done


def _report(message: str, progress: bool) -> None:
    if progress:
        print(message)


def run_grid(
    name: str | Path,
    run: Callable[[dict], dict],
    *,
    cells: Iterable[dict] | None = None,
    settings: dict | None = None,
    recompute: bool | None = None,
    progress: bool = True,
    **axes: Iterable,
) -> list[dict]:
    """Run ``run(cell)`` for every cell not yet in the grid's results file; all rows, in order.

    ``run_grid("06_learning_rates-lab", lab_run, seed=SEEDS, head_lr=HEAD_LRS)``: every
    combination of the axes (:func:`grid`), or ``cells=[…]``; rows live in
    ``results_path(name)``, each ``{**cell, **run(cell), "seconds", "settings", "code"}`` and
    appended at once (an interrupted grid resumes, a finished one is only read). A row is reused
    while its settings and code hashes (:func:`code_fingerprint`) match; ``recompute`` (default
    ``$TL_RECOMPUTE``) starts afresh. With ``TL_RESULTS=reference`` current rows of the
    reference run (:func:`reference_dir`) are used, marked ``"reference"``; otherwise computed
    rows are compared with them. Stale reference rows are reported, never used.
    """
    if clash := RESERVED & set(axes):
        raise ValueError(f"run_grid: {sorted(clash)} cannot be an axis name")
    path, cells = grid_path(name), grid_cells(cells, axes)
    keys = [_key(c) for c in cells]
    tag, code = settings_hash(settings or {}), code_fingerprint(run)
    if recompute := recompute_requested(recompute):
        path.unlink(missing_ok=True)
    done, every = _current_rows(path, tag, code)
    reference = _use_reference(path, keys, done, (tag, code), recompute, progress)
    todo = [c for c, k in zip(cells, keys) if k not in done]
    if stale := sum(k in every for k in keys if k not in done):
        _report(
            f"{path.name}: {stale} of {len(cells)} rows are recomputed: their settings or the "
            "code that produced them changed",
            progress,
        )
    if todo:
        done.update(_compute_rows(path, todo, run, tag, code, progress))
    rows = [done[k] for k in keys]
    if reference and progress and results_source() == "compute":
        _compare_with_reference(path, rows, reference)
    return rows


def _use_reference(path: Path, keys: list[str], done: dict, hashes, recompute: bool, progress):
    """The reference file's current rows; with ``TL_RESULTS=reference`` they join ``done``
    (marked with ``"reference"``). Stale reference rows are reported, never used."""
    ref_file = reference_path(path)
    if not ref_file.exists():
        if results_source() == "reference" and not recompute:
            _missing_reference(path, progress)
        return {}
    reference, ref_every = _current_rows(ref_file, *hashes)
    if results_source() == "reference" and not recompute:
        mine = {k: {**reference[k], "reference": ref_file.name} for k in keys if k in reference}
        done.update(mine)
        found = describe_reference(ref_file) if mine else "reference run: none found"
        _report(f"{path.stem}: {len(mine)} of {len(keys)} rows from the {found}", progress)
    if outdated := sum(k in ref_every and k not in reference for k in keys):
        if results_source() == "reference" and os.environ.get("TL_STALE_REFERENCE") == "fail":
            raise StaleReference(
                f"{ref_file.name}: {outdated} reference rows are stale (the code or settings "
                f"changed since the reference run): `{REGENERATE} REFERENCE_PROFILE="
                f"{ref_file.stem.rsplit('-', 1)[-1]}` regenerates them"
            )
        use = "they are computed here" if results_source() == "reference" else "not compared"
        _report(
            f"{ref_file.name}: {outdated} reference rows are STALE (the code or settings changed "
            f"since the reference run): {use}; `{REGENERATE}` regenerates the reference files",
            progress,
        )
    return reference


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
