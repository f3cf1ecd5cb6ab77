"""Where a grid row's time goes: the slowest reference row of a notebook, profiled.

    python -m benchmarks.profile_rows 05_layer_transferability [--rows 1] [--tree DIR]

The notebook is executed in this process on its reference rows (``TL_RESULTS=reference``: its
grids read ``data/reference/`` and train nothing; ``--rows-from results``: this machine's cached
results, up to the first grid without any), which defines its run functions; then the
slowest rows of each reference file are recomputed under ``cProfile``, and their time is split
into the steps a grid row spends it on: training (``training.fit``), evaluation, linear probes,
feature extraction, data sampling and splitting, deep copies, network construction and loading
(cumulative times: a step may contain another — fit's per-epoch validation is evaluation too).
``--tree DIR`` profiles another checkout of the course (the tree before a change) the same way:
run it with that tree's ``helpers`` first on ``PYTHONPATH``. Compare two trees on one machine,
one run after the other, nothing else running.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# step: functions (file name fragment, function name) whose cumulative time it is
STEPS = {
    "training (fit)": [("training.py", "fit")],  # lab.fit_recipe calls it: counted once
    "evaluation": [("training.py", "evaluate")],
    "linear probes": [("probes.py", "probe_splits"), ("probes.py", "fit_probe_cv")],
    "feature extraction": [("features.py", "extract_features")],
    "data sampling and splits": [
        ("lab.py", "sample_task"),
        ("data.py", "make_splits"),
        ("data.py", "load_dataset"),
    ],
    "deep copies": [("copy.py", "deepcopy")],
    "network construction": [("models.py", "load_backbone"), ("lab.py", "pretrained")],
}


def step_times(stats: pstats.Stats) -> dict[str, float]:
    """Cumulative seconds per step (the outermost call of each listed function)."""
    out = {}
    for step, functions in STEPS.items():
        total = 0.0
        for (file, _line, name), (_, _, _, cumulative, _) in stats.stats.items():
            if any(file.endswith(f) and name == fn for f, fn in functions):
                total = max(total, cumulative) if step == "deep copies" else total + cumulative
        out[step] = total
    return out


class _NoRows(Exception):
    """A grid without rows to read: stop executing the notebook there."""


def profile(notebook: str, rows: int, tree: Path, rows_from: str = "reference") -> list[dict]:
    from helpers import experiments
    from tools.execute import here

    mode = "reference" if rows_from == "reference" else "compute"
    os.environ.update(TL_PROFILE="cpu", TL_RESULTS=mode, MPLBACKEND="Agg")
    where = tree / "data" / ("reference" if rows_from == "reference" else "cache/results")
    recorded, real = {}, experiments.run_grid

    def recording(grid, run, *args, **kw):
        name = experiments.results_path(grid).name
        if not (where / name).is_file():  # nothing to read: the notebook would train here
            raise _NoRows(name)
        recorded[name] = run
        return real(grid, run, *args, **kw)

    experiments.run_grid = recording
    namespace: dict = {"__name__": "__main__"}
    try:
        here(tree / "notebooks" / f"{notebook}.ipynb", namespace, skip_solutions_without_grids=True)
    except _NoRows as stop:
        print(f"(stopped at {stop}: no rows to read there)", flush=True)
    found = []
    for name, run in sorted(recorded.items()):
        path = where / name
        if not path.is_file():
            continue
        slowest = sorted(experiments.read_results(path), key=lambda r: -r["seconds"])[:rows]
        for row in slowest:
            cell = {k: row[k] for k in row["cell_keys"]}
            profiler = cProfile.Profile()
            start = time.perf_counter()
            profiler.runcall(run, dict(cell))
            seconds = time.perf_counter() - start
            steps = step_times(pstats.Stats(profiler))
            found.append({"file": name, "cell": cell, "seconds": seconds, "steps": steps})
            print(json.dumps(found[-1]), flush=True)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook")
    parser.add_argument("--rows", type=int, default=1, help="slowest rows per reference file")
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout to profile")
    parser.add_argument(
        "--rows-from",
        choices=["reference", "results"],
        default="reference",
        help="the committed reference rows, or this machine's cached results",
    )
    args = parser.parse_args()
    rows = profile(args.notebook, args.rows, args.tree.resolve(), args.rows_from)
    print(f"\n| row | seconds | {' | '.join(STEPS)} |")
    print("|" + " --- |" * (len(STEPS) + 2))
    for r in rows:
        cell = ", ".join(f"{k}={v}" for k, v in r["cell"].items())
        steps = " | ".join(f"{r['steps'][s]:.1f}" for s in STEPS)
        print(f"| {r['file']}: {cell} | {r['seconds']:.1f} | {steps} |")


if __name__ == "__main__":
    main()
