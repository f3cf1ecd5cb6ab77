"""Re-key the committed reference runs after a change to how rows are keyed, not to results.

    python -m tools.rekey_reference [--sample 2] [notebooks ...]

When the code key changes (``helpers.codekey``) or code is restructured without changing what
it computes, every committed row keeps valid numbers but carries hashes today's code no longer
produces. For each reference notebook (default: all of ``provenance.json``) this tool

1. executes the notebook in this process (``tools.execute.here``, as the reference test does),
   every grid reading the reference rows matched by their cell alone, hashes ignored, recording each
   grid's run function and today's settings and code hashes;
2. recomputes a sample of each file's rows with today's code (the ``--sample`` cheapest ones)
   and compares them with the committed rows within the reference test's tolerances;
3. only if every file's sample agrees, rewrites the files with today's hashes and adds a
   ``rekeyed`` entry to each file's provenance (date, commit, the rows recomputed and their
   largest differences).

Nothing is rewritten when a sample disagrees: then the results changed, and ``make reference``
must regenerate the files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

from helpers import experiments
from tools import execute
from tools.reference import PROVENANCE, REFERENCE, ROOT, differences, same_path


def record_grids(notebook: Path, files: set[str]) -> dict[str, dict]:
    """Execute ``notebook`` against the reference rows matched by cell; per reference file its
    run function, cells and today's hashes."""
    recorded, real, real_rows = {}, experiments.run_grid, experiments._current_rows

    def by_cell(file: Path, tag, code):  # every reference row counts as current
        rows, every = real_rows(file, tag, code)
        if file.parent.resolve() == REFERENCE.resolve():
            for row in experiments.read_results(file):
                key = experiments._key({k: row[k] for k in row.get("cell_keys", [])})
                rows[key] = row
        return rows, every

    def recording(grid, run, **kw):
        axes = {k: v for k, v in kw.items() if k not in experiments.RESERVED}
        name = experiments.grid_path(grid).name
        if name in files:
            recorded[name] = {
                "run": run,
                "cells": experiments.grid_cells(kw.get("cells"), axes),
                "settings": experiments.settings_hash(kw.get("settings") or {}),
                "code": experiments.code_fingerprint(run),
            }
        return real(grid, run, **kw)

    experiments.run_grid, experiments._current_rows = recording, by_cell
    try:
        execute.here(notebook, {"__name__": "__main__"}, skip_solutions_without_grids=True)
    finally:
        experiments.run_grid, experiments._current_rows = real, real_rows
    return recorded


def check_sample(name: str, grid: dict, sample: int) -> list[dict]:
    """Recompute the ``sample`` cheapest rows of a reference file; what each one moved (with
    the tolerance of another float path where the file was computed on another CPU model, as
    ``tests/test_reference.py`` allows)."""
    rows = experiments.read_results(REFERENCE / name)
    other_path = not same_path(PROVENANCE[name])
    checked = []
    for row in sorted(rows, key=lambda r: r["seconds"])[:sample]:
        cell = {k: row[k] for k in row["cell_keys"]}
        found = differences(row, grid["run"](dict(cell)), other_path=other_path)
        checked.append({"cell": cell, "beyond_tolerance": found})
        print(f"  {name} {cell}: " + ("; ".join(found) or "within tolerance"), flush=True)
    return checked


def rewrite(name: str, grid: dict) -> int:
    """Today's hashes into every row of the file whose cell the grid still has."""
    path = REFERENCE / name
    cells = {experiments._key(c) for c in grid["cells"]}
    out, kept = [], 0
    for row in experiments.read_results(path):
        if experiments._key({k: row[k] for k in row["cell_keys"]}) in cells:
            row.update(settings=grid["settings"], code=grid["code"])
            kept += 1
        out.append(json.dumps(row, default=float))
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(out) + "\n")
    tmp.replace(path)
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=2, help="rows recomputed per file")
    parser.add_argument("notebooks", nargs="*")
    args = parser.parse_args(argv)
    chosen = args.notebooks or sorted({p["notebook"] for p in PROVENANCE.values()})
    os.environ.update(TL_RESULTS="reference", MPLBACKEND="Agg")
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    plan, problems = {}, []
    for notebook in chosen:
        nb = Path(notebook).name if notebook.endswith(".ipynb") else f"{notebook}.ipynb"
        files = {n for n, p in PROVENANCE.items() if p["notebook"] == nb}
        os.environ["TL_PROFILE"] = {PROVENANCE[n]["profile"] for n in files}.pop()
        print(f"== {nb}: {len(files)} reference files", flush=True)
        grids = record_grids(ROOT / "notebooks" / nb, files)
        problems += [f"{n}: the notebook no longer runs this grid" for n in files - set(grids)]
        for name, grid in sorted(grids.items()):
            if grid["code"] is None:
                problems.append(f"{name}: its rows cannot be keyed (see the warning)")
                continue
            checked = check_sample(name, grid, args.sample)
            problems += [f"{name}: {c['cell']} moved" for c in checked if c["beyond_tolerance"]]
            plan[name] = (grid, checked)
    if problems:
        print("nothing rewritten; the results changed, regenerate with `make reference`:")
        print("\n".join(problems))
        return 1
    book = REFERENCE / "provenance.json"
    prov = json.loads(book.read_text())
    for name, (grid, checked) in sorted(plan.items()):
        kept = rewrite(name, grid)
        entry = {
            "date": dt.date.today().isoformat(),
            "commit": commit,
            "rows": kept,
            "recomputed": [c["cell"] for c in checked],
        }
        prov["files"][name].setdefault("rekeyed", []).append(entry)
        print(f"{name}: {kept} rows re-keyed")
    tmp = book.with_suffix(".tmp")
    tmp.write_text(json.dumps(prov, indent=1, sort_keys=True) + "\n")
    tmp.replace(book)
    return 0


if __name__ == "__main__":
    sys.exit(main())
