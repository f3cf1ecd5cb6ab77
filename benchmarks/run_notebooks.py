"""Execute notebooks in an IPython shell (no Jupyter server or kernel) and time each one.

    python -m benchmarks.run_notebooks --profiles quick,gpu notebooks/01_*.ipynb ...

For machines that have PyTorch but not the Jupyter stack (a lent GPU machine with no package
index): each notebook runs in its own subprocess, cell by cell, through IPython's
``InteractiveShell`` — the same shell a Jupyter or Colab kernel wraps, so magics, ``!`` lines and
``display`` behave as there. Prints a Markdown table (profile, notebook, seconds, device, status)
and the first error of a failing notebook; exit code 1 when any failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import json, sys, nbformat, matplotlib
matplotlib.use("Agg")
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
nb = nbformat.read(sys.argv[1], as_version=4)
for number, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
    result = shell.run_cell(cell.source, store_history=True)
    error = result.error_before_exec or result.error_in_exec
    if error is not None:
        print(json.dumps({"cell": number, "error": f"{type(error).__name__}: {error}"[:800]}))
        sys.exit(1)
import torch
print(json.dumps({"device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiles", default="quick", help="comma-separated, e.g. quick,gpu")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per notebook")
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args()
    print("| profile | notebook | seconds | device | status |")
    print("| --- | --- | --- | --- | --- |", flush=True)
    failed = 0
    for profile in args.profiles.split(","):
        for nb in args.notebooks:
            env = {**os.environ, "TL_PROFILE": profile, "HF_HUB_OFFLINE": "1"}
            start = time.perf_counter()
            try:
                proc = subprocess.run(
                    [sys.executable, "-c", CHILD, str(nb.resolve())],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=args.timeout,
                    cwd=nb.parent,
                )
                status, out = ("ok" if proc.returncode == 0 else "FAILED"), proc.stdout
            except subprocess.TimeoutExpired as err:
                status, out = f"TIMEOUT ({args.timeout} s)", (err.stdout or b"").decode()
                proc = None
            seconds = time.perf_counter() - start
            info = {}
            for line in out.splitlines():
                if line.startswith("{"):
                    try:
                        info.update(json.loads(line))
                    except json.JSONDecodeError:
                        pass
            print(
                f"| {profile} | {nb.name} | {seconds:.0f} | {info.get('device', '?')} | {status} |",
                flush=True,
            )
            if status != "ok":
                failed += 1
                print(f"    cell {info.get('cell')}: {info.get('error')}", file=sys.stderr)
                if proc is not None:
                    print(proc.stderr[-1500:], file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
