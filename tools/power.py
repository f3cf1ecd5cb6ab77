"""How many seeds would decide each claim? A power analysis of the committed reference rows.

    python tools/power.py [--margin 0.02]

For each comparison the notebooks make (04: each rule's strategies against the others, per
scenario and world; 05: each variant against the base network, per cut; 06: each backbone LR
against the equal one, per head LR), the paired differences of the reference run (same seeds)
give their spread; the table lists the observed difference, its spread, the smallest effect the
reference's seeds could detect (80 % power, 5 % two-sided) and the seeds that would detect the
observed difference — or the margin, where the difference is smaller than it. The notebooks'
configuration cells set their seeds from this table, once, before the run.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from helpers import experiments, stats  # noqa: E402

REFERENCE = ROOT / "data" / "reference"


def seeds_for(effect: float, sd: float) -> int | None:
    """The fewest seeds whose paired t-test detects ``effect`` with 80 % power."""
    return stats._seeds_needed(effect, sd**2, 0.0, 2)


def pairs(rows: list[dict], group: tuple[str, ...], arm: str, metric: str = "test_acc"):
    """Per group (a scenario, say) and pair of arms: the paired differences over seeds."""
    keys = sorted({tuple(r[g] for g in group) for r in rows}, key=str)
    for key in keys:
        mine = [r for r in rows if tuple(r[g] for g in group) == key]
        arms = sorted({r[arm] for r in mine}, key=str)
        for a, b in itertools.combinations(arms, 2):
            x = experiments.values(mine, metric, **{arm: a})
            y = experiments.values(mine, metric, **{arm: b})
            if len(x) == len(y) > 1:
                yield key, a, b, np.subtract(x, y)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--margin", type=float, default=0.02, help="the smallest effect of interest"
    )
    args = parser.parse_args(argv)
    plan = [("04_four_scenarios-lab-cpu.jsonl", ("scenario",), "strategy"),
            ("04_four_scenarios-lite0-cpu.jsonl", ("scenario",), "strategy"),
            ("05_layer_transferability-lab-cpu.jsonl", ("target", "cut"), "variant"),
            ("06_learning_rates-lab-cpu.jsonl", ("schedule", "head_lr"), "backbone_lr"),
            ("06_learning_rates-lite0-cpu.jsonl", ("dataset", "head_lr"), "backbone_lr"),
            ]  # fmt: skip
    print(
        "| file | group | a vs b | Δ (points) | sd | detectable at n | seeds to decide |",
        flush=True,
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, group, arm in plan:
        rows = experiments.read_results(REFERENCE / name)
        for key, a, b, d in pairs(rows, group, arm):
            n, sd = len(d), float(np.std(d, ddof=1))
            effect = max(abs(float(d.mean())), args.margin)
            detectable = (stats._t(n - 1, 0.975) + stats._t(n - 1, 0.8)) * sd / math.sqrt(n)
            need = seeds_for(effect, sd) if sd > 0 else 2
            print(f"| {name.split('-')[0][:2]} {name.split('-')[1]} | {'/'.join(map(str, key))} | "
                  f"{a} vs {b} | {d.mean() * 100:+.1f} | {sd * 100:.1f} | {detectable * 100:.1f} | "
                  f"{need if need else '> 1000'} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
