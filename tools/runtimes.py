"""One table of runtimes: the README's course map and each notebook's **Runtime** line are
generated from ``benchmarks/course_times.json``, which ``python -m benchmarks.course_times
--record`` and ``tools.make_reference`` write.

    python -m tools.runtimes --write     # rewrite README.md and the notebooks' Runtime lines
    python -m tools.runtimes --check     # exit 1 when they disagree with the file (a test runs it)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
TIMES = ROOT / "benchmarks" / "course_times.json"
PROFILES = ("quick", "cpu", "gpu")
REFERENCE = "cpu-reference"  # cpu profile, grids read from the committed reference runs


def where(entry: dict) -> str:
    """A short name of the machine: the GPU's model, or the number of CPU cores."""
    parts = [p.strip() for p in entry["machine"].split(",")]
    gpu = [p for p in parts if any(k in p for k in ("NVIDIA", "Tesla", "Apple", "AMD Instinct"))]
    if gpu:
        return re.sub(r"^NVIDIA\s+", "", gpu[0]).split()[0]
    cores = [p for p in parts if p.endswith("cores")]
    return f"{cores[0].split()[0]}-core CPU" if cores else parts[0]


def _grid_free(name: str) -> bool:
    """Whether the notebook reads no reference rows (it has no results grid): then a recorded
    ``make course`` run of it is a cold ``cpu`` run like any other."""
    from tools.reference import PROVENANCE

    return all(entry["notebook"] != name for entry in PROVENANCE.values())


def _cpu(name: str, runs: dict) -> tuple[dict | None, dict | None]:
    """The notebook's ``cpu`` time and its time with the grids read from the reference; for a
    notebook without grids the two are one measurement, the newer of them."""
    cpu, ref = runs.get("cpu", {}).get(name), runs.get(REFERENCE, {}).get(name)
    if ref is not None and _grid_free(name):
        if cpu is None or ref["date"] >= cpu["date"]:
            cpu = {**ref, "peak_gib": (cpu or {}).get("peak_gib")}
        return cpu, None
    return cpu, ref


def minutes(entry: dict | None) -> str:
    return "–" if entry is None else f"{entry['seconds'] / 60:.1f} min"


def header(name: str, runs: dict) -> str:
    """The notebook's **Runtime** line."""
    parts = []
    cpu, ref = _cpu(name, runs)
    for profile in PROFILES:
        e = cpu if profile == "cpu" else runs.get(profile, {}).get(name)
        parts.append(
            f"`{profile}` not yet measured"
            if e is None
            else f"`{profile}` {minutes(e)} ({where(e)})"
        )
    if ref is not None:
        parts[1] += f", {minutes(ref)} with `TL_RESULTS=reference`"
    return (
        "**Runtime** (one cold run each, caches emptied; `benchmarks/course_times.json`): "
        + " · ".join(parts)
    )


def readme_cells(name: str, runs: dict) -> tuple[str, str]:
    """The course map's runtime and peak-memory cells."""
    cpu, ref = _cpu(name, runs)
    found = [cpu if p == "cpu" else runs.get(p, {}).get(name) for p in PROFILES]
    text = " / ".join("–" if e is None else f"{e['seconds'] / 60:.1f}" for e in found) + " min"
    if ref is not None:
        text += f" (`cpu` from reference: {ref['seconds'] / 60:.1f})"
    memory = [runs.get("quick", {}).get(name), cpu]
    mem = " / ".join(
        "–" if e is None or e.get("peak_gib") is None else f"{e['peak_gib']:.1f}" for e in memory
    )
    return text, mem + " GiB"


TOTAL_PREFIX = "A cold `make course`"


def _total(entries: list[dict | None]) -> str:
    """``N min (machines)`` over complete entries, else how many are missing."""
    if not all(entries):
        return f"not known yet ({sum(e is None for e in entries)} not measured)"
    machines = sorted({e["machine"] for e in entries})
    return f"{sum(e['seconds'] for e in entries) / 60:.0f} min ({'; '.join(machines)})"


def course_total(runs: dict, course: dict | None = None) -> str:
    """The README's line on a cold ``make course``: in ``cpu`` as ``make course`` runs it (grids
    from the committed reference) measured end to end where ``course`` holds such a run
    (``make course RECORD=1``), else summed from the map; ``quick`` and ``RESULTS=compute``
    summed from the map."""
    names = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    quick = [runs.get("quick", {}).get(n) for n in names]
    cpu = [_cpu(n, runs)[0] for n in names]
    ref = [runs.get(REFERENCE, {}).get(n) or c for n, c in zip(names, cpu)]
    whole = (course or {}).get(REFERENCE)
    if whole and whole["notebooks"] == len(names):
        made = (
            f"`cpu` {whole['seconds'] / 60:.1f} min measured end to end ({whole['machine']}, "
            f"{whole['date']}), the grid notebooks reading the reference rows"
        )
    else:
        made = f"`cpu` {_total(ref)} summed from the map, the grid notebooks reading the reference"
    return (
        f"{TOTAL_PREFIX}: {made} · summed from the map, `quick` {_total(quick)} and `cpu` with "
        f"`RESULTS=compute` {_total(cpu)}."
    )


def sync(write: bool) -> list[str]:
    """Compare (or rewrite) README.md and the notebooks with the times file; the differences."""
    times = json.loads(TIMES.read_text())
    runs = times["runs"]
    problems = []
    readme_path = ROOT / "README.md"
    lines = readme_path.read_text().split("\n")
    for i, line in enumerate(lines):
        m = re.match(r"\| \d\d \| \[[^\]]+\]\(notebooks/([^)]+\.ipynb)\)", line)
        if not m:
            continue
        cols = line.split(" | ")
        runtime, memory = readme_cells(m.group(1), runs)
        new = " | ".join(cols[:-2] + [runtime, memory + " |"])
        if new != line:
            problems.append(f"README.md course map, {m.group(1)}: {cols[-2]} → {runtime}")
            lines[i] = new
    for i, line in enumerate(lines):
        if line.startswith(TOTAL_PREFIX):
            total = course_total(runs, times.get("course"))
            if line != total:
                problems.append(f"README.md: {line} → {total}")
                lines[i] = total
    if write:
        readme_path.write_text("\n".join(lines))
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        cell = nb.cells[0]
        old = [x for x in cell.source.split("\n") if x.startswith("**Runtime**")]
        if len(old) != 1:
            problems.append(f"{path.name}: no single **Runtime** line in its first cell")
            continue
        new = header(path.name, runs)
        if old[0] != new:
            problems.append(f"{path.name}: {old[0]} → {new}")
            if write:
                cell.source = cell.source.replace(old[0], new)
                nbformat.write(nb, path)
    return problems


def main() -> None:
    parser = argparse.ArgumentParser()
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", action="store_true")
    group.add_argument("--check", action="store_true")
    args = parser.parse_args()
    problems = sync(write=args.write)
    for p in problems:
        print(p)
    if args.check and problems:
        sys.exit(
            "runtimes disagree with benchmarks/course_times.json: python -m tools.runtimes --write"
        )


if __name__ == "__main__":
    main()
