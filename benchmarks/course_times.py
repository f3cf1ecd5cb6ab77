"""Wall time and peak memory of every notebook, per profile, as a Markdown table.

    python benchmarks/course_times.py --profiles quick cpu [--cold]

Each notebook is executed with ``jupyter nbconvert --execute`` in a fresh kernel; peak memory is
the largest summed RSS of the nbconvert process tree (kernel included), sampled every 0.2 s.
``--cold`` empties the feature cache, the grid results files and the cached lab networks before each
run, so nothing computed earlier flatters the times (the committed lab checkpoints stay).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def run(notebook: Path, profile: str, keep: Path | None = None) -> tuple[float, float, int]:
    """(seconds, peak GiB, exit code) of one execution; ``keep``: where the executed copy goes."""
    env = {**os.environ, "TL_PROFILE": profile, "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        out = str(keep / profile) if keep else tmp
        cmd = [
            sys.executable,
            "-m",
            "jupyter",
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--ExecutePreprocessor.timeout=3600",
            "--output-dir",
            out,
            str(notebook),
        ]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        parent, peak = psutil.Process(proc.pid), 0
        while proc.poll() is None:
            try:
                tree = [parent, *parent.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.2)
        return time.perf_counter() - start, peak / 2**30, proc.returncode


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
                for kind in ("features", "results", "lab"):
                    shutil.rmtree(ROOT / "data" / "cache" / kind, ignore_errors=True)
            seconds, gib, code = run(nb, profile, args.keep)
            totals[profile] += seconds
            status = "" if code == 0 else " (FAILED)"
            cells.append(f"{seconds / 60:.1f} min{status} | {gib:.1f} GiB")
        print(f"| {nb.name} | " + " | ".join(cells) + " |", flush=True)
    print(
        "| **total** | " + " | ".join(f"{totals[p] / 60:.1f} min | " for p in args.profiles) + " |"
    )


if __name__ == "__main__":
    main()
