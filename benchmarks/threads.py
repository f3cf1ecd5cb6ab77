"""Thread settings, alone and with the cores shared: which settings keep a notebook fast.

    python -m benchmarks.threads [--repeats 3] [--settings default passive spin1 ...]

Two workloads of the course, each a fresh Python process: ``train`` fine-tunes the lab CNN end to
end (2,500 images, 8 epochs; torch's intra-op pool) and ``probe`` fits 02's scikit-learn logistic
probes on cached-size codes (scikit-learn and the BLAS pools). Each setting (environment
variables, below) is timed with the workload alone, then with two copies of it at once on the
same cores; the table gives the solo time against the default's, and each copy's time in the
pair against its solo time. Run it on an otherwise idle machine: it measures sharing on purpose.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WORKLOADS = {
    "train": """
import time, torch
from helpers import lab, models
split = lab.sample_task("a", 500, 10, seed=0)
torch.manual_seed(0)
net = models.load_backbone("labcnn", weights=None)
start = time.perf_counter()
lab.fit_recipe(net, split["train"], epochs=8, progress=False, device="cpu")
print(time.perf_counter() - start)
""",
    "probe": """
import time, numpy as np
from sklearn.linear_model import LogisticRegression
rng = np.random.default_rng(0)
X, y = rng.standard_normal((2000, 1280)).astype(np.float32), rng.integers(0, 10, 2000)
start = time.perf_counter()
for C in (0.01, 0.1, 1.0):
    LogisticRegression(C=C, max_iter=300).fit(X, y)
print(time.perf_counter() - start)
""",
}

CORES = str(os.cpu_count() or 1)
SETTINGS = {
    "default": {},
    "passive": {"OMP_WAIT_POLICY": "PASSIVE"},
    "spin-short": {"GOMP_SPINCOUNT": "10000"},
    "spin-30k": {"GOMP_SPINCOUNT": "30000"},
    "spin-100k": {"GOMP_SPINCOUNT": "100000"},
    "blas one thread": {"OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
    "one thread": {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
    "cores, short spin": {"OMP_NUM_THREADS": CORES, "GOMP_SPINCOUNT": "10000"},
}


def launch(workload: str, env: dict) -> subprocess.Popen:
    full = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", WORKLOADS[workload]], env=full, stdout=subprocess.PIPE, text=True
    )


def timed(workload: str, env: dict, copies: int) -> list[float]:
    """The workload's own time (seconds) in each of ``copies`` processes started together."""
    procs = [launch(workload, env) for _ in range(copies)]
    return [float(p.communicate()[0].strip().splitlines()[-1]) for p in procs]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--settings", nargs="*", default=list(SETTINGS))
    parser.add_argument("--workloads", nargs="*", default=list(WORKLOADS))
    args = parser.parse_args(argv)
    print(f"## Thread settings — {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}\n")
    print("| workload | setting | alone (s) | alone vs default | each of two at once vs alone |")
    print("| --- | --- | --- | --- | --- |")
    for workload in args.workloads:
        base = None
        for name in args.settings:
            env = SETTINGS[name]
            solo = statistics.median(timed(workload, env, 1)[0] for _ in range(args.repeats))
            pair = statistics.median(
                t for _ in range(args.repeats) for t in timed(workload, env, 2)
            )
            base = base or solo
            print(
                f"| {workload} | {name} | {solo:.2f} | {solo / base:.2f}× | {pair / solo:.2f}× |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
