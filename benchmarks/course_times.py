"""Wall time and peak memory of every notebook, per profile, as a Markdown table.

    python benchmarks/course_times.py --profiles quick cpu [--cold] [--record]

Each notebook is executed by ``tools/run_notebook.py`` (nbclient) in a fresh kernel; peak memory is
the largest summed RSS of the executing process tree (kernel included), sampled every 0.2 s.
``--cold`` empties the feature cache, the grid results files and the cached lab networks before each
run, so nothing computed earlier flatters the times (the committed lab checkpoints stay).
``--record`` merges the measurements into ``benchmarks/course_times.json`` (one entry per profile
and notebook, with machine, date, torch version and the load figures of the run): the one file
the README's course map and each notebook's **Runtime** line are generated from
(``python tools/runtimes.py --write``). A run during which other work used more than a tenth of
the cores is not recorded (``--allow-shared`` records it, marked ``shared``): that is how the
map's ``cpu`` times once came out three to four times too long.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
TIMES = ROOT / "benchmarks" / "course_times.json"


def machine() -> str:
    """``<CPU model>, <n> cores`` (and the GPU, if any): where a time was measured."""
    from helpers import config

    return config.machine()


def record(
    profile: str, notebook: str, seconds: float, gib: float | None, *, where: str = "", **extra
) -> None:
    """Merge one measurement into ``benchmarks/course_times.json`` (written atomically).

    ``where``: the machine, when it is not this one (a time measured on a lent GPU machine).
    """
    import torch

    times = json.loads(TIMES.read_text()) if TIMES.exists() else {"runs": {}}
    times["runs"].setdefault(profile, {})[notebook] = {
        "seconds": round(seconds, 1),
        "peak_gib": None if gib is None else round(gib, 2),
        "machine": where or machine(),
        "date": dt.date.today().isoformat(),
        "torch": torch.__version__,
        **extra,
    }
    times["runs"] = {p: dict(sorted(v.items())) for p, v in sorted(times["runs"].items())}
    tmp = TIMES.with_suffix(".tmp")
    tmp.write_text(json.dumps(times, indent=1) + "\n")
    tmp.replace(TIMES)


SHARED_LIMIT = 0.10  # other work above this share of the cores marks a measurement shared


def _busy_seconds() -> float:
    """CPU seconds spent by the whole machine so far (every core, every process)."""
    t = psutil.cpu_times()
    return sum(getattr(t, k, 0.0) for k in ("user", "nice", "system", "irq", "softirq", "steal"))


def _own_seconds() -> float:
    """CPU seconds of this process and of its children that have ended (a kernel, say)."""
    import resource

    me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class LoadMeter:
    """``with LoadMeter() as m: …`` → ``m.load``: the load average before and after, the share of
    the cores this process and its children used, the share other work used meanwhile
    (``other_cpu_share``), and ``shared`` when that is above ``SHARED_LIMIT``."""

    def __enter__(self) -> LoadMeter:
        self.start = (os.getloadavg()[0], _busy_seconds(), _own_seconds(), time.perf_counter())
        return self

    def __exit__(self, *exc) -> None:
        load, busy, own, start = self.start
        self.seconds = time.perf_counter() - start
        capacity = max(self.seconds, 1e-9) * (os.cpu_count() or 1)
        used, total = _own_seconds() - own, _busy_seconds() - busy
        other = max(0.0, total - used) / capacity
        self.load = {"load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2),
                     "cpu_share": round(used / capacity, 3), "other_cpu_share": round(other, 3),
                     "shared": other > SHARED_LIMIT}  # fmt: skip


def run(
    notebook: Path, profile: str, keep: Path | None = None, results: str | None = None
) -> tuple[float, float, int, dict]:
    """(seconds, peak GiB, exit code, load) of one execution; ``keep``: where the executed copy
    goes; ``results``: ``TL_RESULTS`` for the run (``reference``: grids read the reference runs).

    ``load``: the load average before and after, the share of the cores the run itself used, and
    the share other work used meanwhile (``other_cpu_share``); ``shared`` when that is above
    ``SHARED_LIMIT`` — two torch processes on the same cores slow each other several times over.
    """
    env = {**os.environ, "TL_PROFILE": profile, "HF_HUB_OFFLINE": "1"}
    if results:
        env["TL_RESULTS"] = results
    with tempfile.TemporaryDirectory() as tmp:
        out = str(keep / profile) if keep else tmp
        cmd = [sys.executable, str(ROOT / "tools" / "run_notebook.py"), "--timeout=3600",
               "--output-dir", out, str(notebook)]  # fmt: skip
        with LoadMeter() as meter:
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)  # fmt: skip
            parent, peak = psutil.Process(proc.pid), 0
            while proc.poll() is None:
                try:
                    tree = [parent, *parent.children(recursive=True)]
                    peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
                except psutil.Error:
                    pass
                time.sleep(0.2)
        return meter.seconds, peak / 2**30, proc.returncode, meter.load


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
    args = parser.parse_args()  # fmt: skip
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
            seconds, gib, code, load = run(nb, profile, args.keep, args.results)
            totals[profile] += seconds
            status = "" if code == 0 else " (FAILED)"
            status += f" (shared: other work used {load['other_cpu_share']:.0%})" * load["shared"]
            if args.record and code == 0 and (args.allow_shared or not load["shared"]):
                key = profile if args.results == "compute" else f"{profile}-reference"
                how = "tools/run_notebook.py (nbclient)"
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
