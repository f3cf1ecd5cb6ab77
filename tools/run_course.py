"""Run the course: every notebook executed in turn, where it is shown as it goes, and a table of
times at the end.

    python -m tools.run_course [--out build] [--results compute] [notebooks ...]   (make course)

The grid notebooks read their rows from the committed reference runs (``TL_RESULTS=reference``:
a row whose code or settings changed since is computed here, never used stale), in the
reference's profile unless ``TL_PROFILE`` says otherwise; ``--results compute``
(``make course RESULTS=compute``) computes every row on this machine, as a kernel started by
hand does. Each notebook runs in a fresh kernel (``tools.execute``: a line per finished cell,
with the cells done of all and the time elapsed) and is exported to HTML, every figure with a
short description. A failing cell stops the run and is named (notebook, cell number, id, first
line). The final table gives each notebook's time, and says so when other work shared the cores
while it ran (its time is then longer than this machine's own).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from helpers import experiments
from tools import execute
from tools.reference import TEST_PROFILE
from tools.timing import ROOT, LoadMeter, empty_caches, record, record_course

RECORDED = "cpu-reference"  # the key of a recorded run: cpu profile, grids from the reference


def evidence_profile() -> str:
    """The profile of the reference runs behind the claims (not the tests' quick one)."""
    found = [p for p in experiments.reference_profiles() if p != TEST_PROFILE]
    return found[0] if found else "cpu"


def run_one(nb: Path, out: Path, results: str) -> tuple[bool, LoadMeter]:
    env = {"TL_RESULTS": results}
    if results == "reference" and not os.environ.get("TL_PROFILE"):
        # the reference runs' profile, on a GPU machine too: they are the course's evidence
        env["TL_PROFILE"] = evidence_profile()
    with LoadMeter() as meter:
        done = execute.in_kernel(nb, timeout=86400, progress=True, env=env)
    execute.write(done.nb, out / "notebooks" / nb.name)
    if done.failed:
        print(f"{nb.name}: {done.failed} failed\n{done.error}", file=sys.stderr)
        return False, meter
    execute.export_html(done.nb, out / "html" / f"{nb.stem}.html")
    return True, meter


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build")
    parser.add_argument(
        "--results",
        choices=("reference", "compute"),
        default=os.environ.get("TL_RESULTS") or "reference",
        help="where grids take their rows from (default: the committed reference runs)",
    )
    parser.add_argument(
        "--record",
        action="store_true",
        help="a measured run: start cold (the feature, results and lab caches emptied), then "
        "write each notebook's time and the course's end-to-end time to "
        "benchmarks/course_times.json (cpu, grids from the reference; nothing else running)",
    )
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    if args.record and (
        args.results != "reference" or os.environ.get("TL_PROFILE", "cpu") != "cpu"
    ):
        print("--record measures the course as make course runs it: cpu, grids from the reference")
        return 2
    chosen = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if missing := [str(p) for p in chosen if not p.is_file()]:
        print(f"no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    if args.record:
        empty_caches()
    rows, start = [], time.perf_counter()
    for nb in chosen:
        print(f"== {nb.name} (grid rows: {args.results})", flush=True)
        ok, meter = run_one(nb, args.out, args.results)
        shared = f"shared: other work used {meter.load['other_cpu_share']:.0%} of the cores"
        rows.append(
            (nb.name, meter.seconds, "ok" if ok else "failed", shared * meter.load["shared"])
        )
        if not ok:
            break
    print("\n| notebook | time | status |\n| --- | --- | --- |")
    for name, seconds, status, note in rows:
        print(f"| {name} | {seconds / 60:.1f} min | {status}{'; ' + note if note else ''} |")
    wall = time.perf_counter() - start
    print(f"| total | {sum(r[1] for r in rows) / 60:.1f} min | end to end {wall / 60:.1f} min |")
    complete = all(r[2] == "ok" for r in rows) and len(rows) == len(chosen)
    if args.record and complete:
        if any(r[3] for r in rows):
            print(
                "not recorded: other work shared the cores (the times are longer than this "
                "machine's own)"
            )
        else:
            for name, seconds, _, _ in rows:
                record(RECORDED, name, seconds, None, cold=True, how="make course RECORD=1")
            whole = len(chosen) == len(list((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")))
            if whole:
                record_course(RECORDED, wall, len(chosen))
            print("recorded in benchmarks/course_times.json")
    print(f"executed notebooks in {args.out / 'notebooks'}, HTML in {args.out / 'html'}")
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
