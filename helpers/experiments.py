"""Grids of runs cached in a results file; several seeds, one summary (mean ± 95 % interval);
verdicts from numbers."""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import math
import os
import textwrap
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
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


NO_VERDICT = "one run: no verdict"
VERDICTS = ("better", "worse", "no clear difference", NO_VERDICT)


@dataclass(frozen=True, eq=False)
class Verdict:
    """A paired comparison: the verdict word, the mean paired difference and its 95 % interval.

    ``str(v)`` reads ``better (+3.1 ± 1.2 points, n=3)``; ``v == "better"`` compares the word,
    so ``if compare(a, b) == "better"`` reads as it says. ``diff`` and ``half`` are in the
    metric's units (accuracy as a fraction); ``scale`` and ``unit`` only shape the text.
    """

    word: str
    diff: float
    half: float
    n: int
    scale: float = 100.0
    unit: str = "points"
    digits: int = 1

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return self.word == other
        if isinstance(other, Verdict):
            return (self.word, self.diff, self.half, self.n) == (
                other.word,
                other.diff,
                other.half,
                other.n,
            )
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.word)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __str__(self) -> str:
        d = self.digits
        diff = f"{self.diff * self.scale:+.{d}f}"
        if self.n < 2:
            return f"{self.word} ({diff} {self.unit}, n={self.n})"
        half = f"{self.half * self.scale:.{d}f}"
        return f"{self.word} ({diff} ± {half} {self.unit}, n={self.n})"


def compare(
    a: Sequence[float],
    b: Sequence[float],
    *,
    scale: float = 100.0,
    unit: str = "points",
    digits: int = 1,
) -> Verdict:
    """Paired verdict on ``a`` against ``b``: is ``mean(a - b)`` outside its 95 % interval?

    Values are paired by position (same seeds, same splits). Returns a :class:`Verdict`:
    ``"better"`` or ``"worse"`` when the Student-t interval of the paired difference excludes
    zero, ``"no clear difference"`` when it does not — which, with n = 3, is often a matter of
    too few runs, not a sign of no difference — and ``"one run: no verdict"`` for fewer than
    two pairs: one run cannot tell an effect from noise. Lists of unequal length cannot be
    paired (``ValueError``).
    """
    if len(a) != len(b):
        raise ValueError(f"compare pairs runs by position: got {len(a)} values against {len(b)}")
    if len(a) == 0:
        raise ValueError("compare needs at least one pair of values")
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    mean, half = mean_ci(diff)
    if len(diff) < 2:
        word = NO_VERDICT
    elif mean - half > 0:
        word = "better"
    elif mean + half < 0:
        word = "worse"
    else:
        word = "no clear difference"
    return Verdict(word, mean, half, len(diff), scale, unit, digits)


# ------------------------------------------------------------------------ grids with a results file


def results_path(name: str, profile: str | None = None) -> Path:
    """``data/cache/results/<name>-<profile>.jsonl``: where a notebook's grid keeps its rows."""
    from . import config

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
    from . import config

    env = os.environ.get("TL_REFERENCE_DIR")
    return Path(env).expanduser() if env else config.repo_root() / "data" / "reference"


def reference_path(path: str | Path) -> Path:
    """The committed reference file of a results file (same name, in :func:`reference_dir`)."""
    return reference_dir() / Path(path).name


PROVENANCE = "provenance.json"
REGENERATE = "make reference"


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


# the modules whose code can change a result: not plotting and widgets (they only draw),
# experiments (it stores and compares rows, never computes one), fetch (its files are
# checked against SHA-256 manifests, so a change of its code cannot change the data)
RESULT_MODULES = (
    "config", "preprocessing", "data", "models", "features", "probes", "training", "lab",
    "fcconv",
)  # fmt: skip


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            if isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def _code_text(source: str) -> str:
    """The code of ``source`` without comments, docstrings or formatting (an AST dump)."""
    return ast.dump(_strip_docstrings(ast.parse(textwrap.dedent(source))))


@lru_cache(maxsize=1)
def helpers_fingerprint() -> str:
    """A hash of the code of every ``helpers`` module that can change a result."""
    root = Path(__file__).resolve().parent
    h = hashlib.blake2b(digest_size=8)
    for name in RESULT_MODULES:
        h.update(_code_text((root / f"{name}.py").read_text()).encode())
    return h.hexdigest()


def _names(code) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names |= _names(const)
    return names


def _function_text(fn: Callable) -> str:
    try:
        return _code_text(inspect.getsource(fn))
    except (OSError, TypeError, SyntaxError):  # no source: fall back on the compiled code
        return repr((fn.__code__.co_code, fn.__code__.co_consts))


def code_fingerprint(run: Callable) -> str:
    """A hash of the code that produces a row: ``run``, what it reads, and the helpers.

    Covered: the source of ``run`` and, transitively, of every function of its own module
    (the notebook) that it calls; the value of every plain global it reads (numbers,
    strings, lists and dicts of them: the configuration cell's knobs); and the code of the
    ``helpers`` modules. Comments, docstrings and formatting do not count.
    """
    h = hashlib.blake2b(digest_size=8)
    h.update(helpers_fingerprint().encode())
    seen, todo = set(), [run]
    while todo:
        fn = todo.pop()
        if fn in seen:
            continue
        seen.add(fn)
        h.update(_function_text(fn).encode())
        scope = getattr(fn, "__globals__", {})
        for name in sorted(_names(fn.__code__)):
            value = scope.get(name)
            if inspect.isfunction(value) and value.__module__ == run.__module__:
                todo.append(value)
            elif not callable(value) and not inspect.ismodule(value):
                try:
                    h.update(f"{name}={json.dumps(value, sort_keys=True)}".encode())
                except (TypeError, ValueError):
                    pass  # objects (datasets, networks): their settings are keyed elsewhere
    return h.hexdigest()


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

    ``cells``: dicts of JSON-able values (e.g. ``{"scenario": "small-similar", "seed": 0}``).
    ``run`` returns a dict of metrics; each row is ``{**cell, **metrics, "seconds",
    "settings", "code"}``. Every finished row is appended and flushed at once, so an
    interrupted grid resumes where it stopped and re-running a finished grid only reads the
    file. A row is reused only when its ``settings`` hash and its ``code`` hash (see
    :func:`code_fingerprint`: ``run``, the notebook functions it calls, the knobs it reads, and
    the helpers) match; stale rows are recomputed, and their number is printed.
    ``recompute=True`` starts the file afresh.

    Reference runs (``data/reference/<file name>``, see :func:`results_source`): with
    ``TL_RESULTS=reference`` their current rows are used (each marked with ``"reference"``, for
    :func:`origin`) and only the rest is computed; otherwise this run's rows are compared with
    them ("your run vs reference run"). Stale reference rows are reported, never used.
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
    tag, code = settings_hash(settings), code_fingerprint(run)
    if recompute and path.exists():
        path.unlink()

    def current(file: Path) -> tuple[dict[str, dict], set[str]]:
        """One read of a results file: its current rows by cell, and every cell it has."""
        every, rows = set(), {}
        for row in read_results(file):
            cell_key = _key({k: row[k] for k in row.get("cell_keys", [])})
            every.add(cell_key)
            if row.get("settings") == tag and row.get("code") == code:
                rows[cell_key] = row
        return rows, every

    done, every = current(path)
    ref_file = reference_path(path)
    reference, ref_every = current(ref_file) if ref_file.exists() else ({}, set())
    from_reference = results_source() == "reference" and not recompute
    if from_reference:
        mine = {k: {**reference[k], "reference": ref_file.name} for k in keys if k in reference}
        done.update(mine)
        if progress:
            found = describe_reference(ref_file) if mine else "reference run: none found"
            print(f"{path.stem}: {len(mine)} of {len(cells)} rows from the {found}")
    outdated = sum(k in ref_every and k not in reference for k in keys)
    if outdated and progress:
        print(
            f"{ref_file.name}: {outdated} reference rows are STALE (the code or settings changed "
            "since the reference run): "
            + ("they are computed here" if from_reference else "not compared")
            + f"; `{REGENERATE}` regenerates the reference files"
        )
    todo = [c for c, k in zip(cells, keys) if k not in done]
    stale = sum(k in every for k in keys if k not in done)
    if stale and progress:
        print(
            f"{path.name}: {stale} of {len(cells)} rows are recomputed: their settings or the "
            "code that produced them changed"
        )
    if todo:
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
                    raise ValueError(
                        f"run() returned keys that are also cell keys: {sorted(clash)}"
                    )
                row = {**cell, **metrics, "seconds": round(time.perf_counter() - start, 3)}
                row.update(settings=tag, code=code, cell_keys=list(cell))
                out.write(json.dumps(row, default=float) + "\n")
                out.flush()
                os.fsync(out.fileno())
                done[_key(cell)] = row
    rows = [done[k] for k in keys]
    if reference and progress and results_source() == "compute":
        _compare_with_reference(path, rows, reference)
    return rows


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


RULE_STATES = {
    "better": "CONFIRMED",
    "no clear difference": "NOT CONTRADICTED",
    "worse": "NOT CONFIRMED",
    NO_VERDICT: "NO VERDICT (one run)",
}


def rule_verdict(
    val: dict[str, Sequence[float]], test: dict[str, Sequence[float]], rule: Sequence[str]
) -> dict:
    """Test a rule of thumb ("use strategy X here") against every other strategy, fairly.

    ``val`` and ``test``: per strategy, one accuracy per seed (seed order). Each strategy's
    validation number must be measured the same way — on data none of its own choices (layer,
    ``C``, epochs) were made on — so that no strategy wins by having had more tries. The rule's
    best strategy and the best strategy outside the rule are each picked by mean validation
    accuracy, then compared paired on test: ``CONFIRMED`` when the rule's is better, ``NOT
    CONTRADICTED`` when the interval includes no difference, ``NOT CONFIRMED`` when it is worse.
    Returns ``{"rule_best", "other_best", "verdict", "state"}``.
    """
    rule = [s for s in rule if s in val]
    others = [s for s in val if s not in rule]
    if not rule or not others:
        raise ValueError(f"need strategies inside and outside the rule; got {list(val)}")

    def best(names):
        return max(names, key=lambda s: float(np.mean(val[s])))

    rule_best, other_best = best(rule), best(others)
    verdict = compare(test[rule_best], test[other_best])
    return {
        "rule_best": rule_best,
        "other_best": other_best,
        "verdict": verdict,
        "state": RULE_STATES[verdict.word],
    }
