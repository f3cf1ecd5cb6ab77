"""Produce the committed reference runs: execute grid notebooks cold, keep their results files.

    python -m tools.make_reference [--profile cpu] [--missing] [notebooks ...]  (make reference)

For each notebook (default: 03, 04, 05, 06, 08, 09): the feature cache, the grid results files
and the cached lab networks are emptied, the notebook is executed in a fresh kernel with
``TL_PROFILE=<profile>`` and ``TL_RESULTS=compute``, and every results file it wrote
(``data/cache/results/<notebook>-*-<profile>.jsonl``) is copied to ``data/reference/``, with an
entry in ``data/reference/provenance.json``: profile, date, machine (CPU model and cores, GPU),
torch version, the commit of the code, the notebook's wall time and each file's compute time.
The code must be committed first (helpers/ and notebooks/ clean), so that the commit names it.

``--missing`` completes the reference instead of redoing it: the notebook runs with
``TL_RESULTS=reference`` (its committed grids are read, not recomputed) and only the results
files the reference lacks — a grid added since, such as an exercise's — are computed and copied,
each with its own provenance entry (``"completed": true``; ``notebook_seconds`` is then the time
of that run). No runtime is recorded for such a run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from tools.timing import ROOT, empty_caches, machine, measure, record

DEFAULT = [
    "03_fine_tuning",
    "04_four_scenarios",
    "05_layer_transferability",
    "06_learning_rates",
    "08_your_images",
    "09_which_parameters",
]


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", default="cpu")
    parser.add_argument(
        "--allow-dirty", action="store_true", help="run with uncommitted changes (commit +dirty)"
    )
    parser.add_argument(
        "--missing", action="store_true", help="only compute and add the files the reference lacks"
    )
    parser.add_argument("notebooks", nargs="*", default=DEFAULT)
    args = parser.parse_args()
    dirty = git("status", "--porcelain", "--", "helpers", "notebooks")
    if dirty and not args.allow_dirty:
        sys.exit(f"commit helpers/ and notebooks/ first (the reference names the commit):\n{dirty}")
    commit = git("rev-parse", "HEAD") + ("+dirty" if dirty else "")
    import torch

    cache, reference = ROOT / "data" / "cache", ROOT / "data" / "reference"
    reference.mkdir(parents=True, exist_ok=True)
    book = reference / "provenance.json"
    prov = json.loads(book.read_text()) if book.exists() else {"files": {}}
    for name in args.notebooks:
        nb = ROOT / "notebooks" / f"{Path(name).stem}.ipynb"
        if not nb.is_file():
            sys.exit(f"no notebook {nb.relative_to(ROOT)}")
        empty_caches()
        os.environ["TL_RESULTS"] = "reference" if args.missing else "compute"
        print(f"== {nb.name} ({args.profile}, cold)", flush=True)
        seconds, gib, code, load = measure(nb, args.profile, ROOT / "build" / "reference")
        if code:
            sys.exit(f"{nb.name} failed (exit {code}); see build/reference/{args.profile}/")
        files = [
            f
            for f in sorted((cache / "results").glob(f"{nb.stem}-*-{args.profile}.jsonl"))
            if not (args.missing and (reference / f.name).exists())
        ]
        if not files and not args.missing:
            sys.exit(f"{nb.name} wrote no results file")
        if not files:
            print("   nothing missing from the reference", flush=True)
        if not args.missing:  # a grid the notebook no longer runs leaves the reference with it
            written = {f.name for f in files}
            for name in [n for n, p in prov["files"].items() if p["notebook"] == nb.name]:
                if name.endswith(f"-{args.profile}.jsonl") and name not in written:
                    (reference / name).unlink(missing_ok=True)
                    del prov["files"][name]
                    print(f"   {name}: removed (the notebook no longer writes it)", flush=True)
        for file in files:
            rows = [json.loads(line) for line in file.read_text().splitlines() if line.strip()]
            tmp = reference / f".{file.name}.tmp"
            shutil.copyfile(file, tmp)
            tmp.replace(reference / file.name)  # never a half-written reference file
            prov["files"][file.name] = {
                "notebook": nb.name,
                "profile": args.profile,
                "date": dt.date.today().isoformat(),
                "machine": machine(),
                "torch": torch.__version__,
                "python": platform.python_version(),
                "commit": commit,
                "rows": len(rows),
                "notebook_seconds": round(seconds, 1),
                "compute_seconds": round(sum(r["seconds"] for r in rows), 1),
                "peak_memory_gib": round(gib, 2),
                "load": load,
                **({"completed": True} if args.missing else {}),
            }
            print(f"   {file.name}: {len(rows)} rows", flush=True)
        print(f"   {seconds / 60:.1f} min, peak {gib:.1f} GiB", flush=True)
        if not args.missing:
            if load["shared"]:
                print(
                    f"{nb.name}: not recorded as a runtime: other work used "
                    f"{load['other_cpu_share']:.0%} of the cores"
                )
            else:
                record(args.profile, nb.name, seconds, gib, cold=True, how="make reference", **load)
        tmp = book.with_suffix(".tmp")
        tmp.write_text(json.dumps(prov, indent=1, sort_keys=True) + "\n")
        tmp.replace(book)


if __name__ == "__main__":
    main()
