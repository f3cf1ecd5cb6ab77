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
from pathlib import Path

from helpers import experiments
from tools import execute
from tools.timing import ROOT, LoadMeter


def run_one(nb: Path, out: Path, results: str) -> tuple[bool, LoadMeter]:
    env = {"TL_RESULTS": results}
    if results == "reference" and not os.environ.get("TL_PROFILE"):
        # the reference runs' profile, on a GPU machine too: they are the course's evidence
        env["TL_PROFILE"] = experiments.reference_profiles()[0]
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
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    chosen = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if missing := [str(p) for p in chosen if not p.is_file()]:
        print(f"no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    rows = []
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
    print(f"| total | {sum(r[1] for r in rows) / 60:.1f} min | |")
    print(f"executed notebooks in {args.out / 'notebooks'}, HTML in {args.out / 'html'}")
    return 0 if all(r[2] == "ok" for r in rows) and len(rows) == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main())
