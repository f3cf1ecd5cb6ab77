"""Wall time and peak memory of every notebook, per profile, as a Markdown table.

    python -m benchmarks.course_times --profiles quick cpu [--cold] [--record]

Each notebook is executed by ``tools.execute`` (nbclient) in a fresh kernel; peak memory is
the largest summed RSS of the executing process tree (kernel included), sampled every 0.2 s.
``--cold`` empties the feature cache, the grid results files and the cached lab networks before each
run, so nothing computed earlier flatters the times (the committed lab checkpoints stay).
``--record`` merges the measurements into ``benchmarks/course_times.json`` (one entry per profile
and notebook, with machine, date, torch version and the load figures of the run): the one file
the README's course map and each notebook's **Runtime** line are generated from
(``python -m tools.runtimes --write``). A run during which other work used more than a tenth of
the cores is not recorded (``--allow-shared`` records it, marked ``shared``): that is how the
map's ``cpu`` times once came out three to four times too long.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tools.timing import ROOT, empty_caches, measure, record


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiles", nargs="+", default=["quick", "cpu"])
    parser.add_argument(
        "--cold",
        action="store_true",
        help="empty data/cache/{features,results,lab} before each notebook",
    )
    parser.add_argument(
        "--keep", type=Path, help="write the executed notebooks to KEEP/<profile>/ (to read them)"
    )
    parser.add_argument(
        "--results",
        choices=("compute", "reference"),
        default="compute",
        help="reference: grids read data/reference/ (recorded as <profile>-reference)",
    )
    parser.add_argument(
        "--record", action="store_true", help="merge the times into benchmarks/course_times.json"
    )
    parser.add_argument(
        "--allow-shared",
        action="store_true",
        help="record a run that shared the cores with other work (marked shared)",
    )
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args()
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    print("| notebook | " + " | ".join(f"{p} time | {p} peak memory" for p in args.profiles) + " |")
    print("| --- |" + " --- | --- |" * len(args.profiles))
    totals = {p: 0.0 for p in args.profiles}
    for nb in notebooks:
        cells = []
        for profile in args.profiles:
            if args.cold:
                empty_caches()
            seconds, gib, code, load = measure(nb, profile, args.keep, args.results)
            totals[profile] += seconds
            status = "" if code == 0 else " (FAILED)"
            status += f" (shared: other work used {load['other_cpu_share']:.0%})" * load["shared"]
            if args.record and code == 0 and (args.allow_shared or not load["shared"]):
                key = profile if args.results == "compute" else f"{profile}-reference"
                how = "tools.execute (nbclient)"
                record(key, nb.name, seconds, gib, cold=args.cold, how=how, **load)
            elif args.record and load["shared"]:
                status += " — not recorded: the cores were shared (--allow-shared marks it)"
            cells.append(f"{seconds / 60:.1f} min{status} | {gib:.1f} GiB")
        print(f"| {nb.name} | " + " | ".join(cells) + " |", flush=True)
    print(
        "| **total** | " + " | ".join(f"{totals[p] / 60:.1f} min | " for p in args.profiles) + " |"
    )


if __name__ == "__main__":
    main()
