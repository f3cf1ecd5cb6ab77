"""How many seeds would decide each claim? A power analysis of the claims ledger.

    python -m tools.power [04 09 ...]

For every claim the notebooks record (``data/reference/claims.json``, written by ``make claims``
from the committed reference rows: 04–06 and 09), the question it asks sets the distance that
matters — from zero for a difference, from −margin for a recommendation, inside the margin for a
match — and the reference run's spread sets what a design detects: its seeds' part (which more
seeds shrink) and its fixed test set's part (which they do not). The table lists, per claim, the
observed difference, the smallest effect the reference design detects (80 % power, 5 %), and the
seeds that would answer its question were the true difference the observed one — or why no
number of seeds would (the difference points the other way; the test set's floor). The
notebooks' configuration cells set their seeds from this table, before their runs.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from helpers import stats

CLAIMS = Path(__file__).resolve().parent.parent / "data" / "reference" / "claims.json"


def verdict_of(row: dict) -> stats.Verdict:
    """A claim's verdict rebuilt from its ledger row's numbers."""
    margin = row.get("margin_value")
    return stats.Verdict(
        row["verdict"],
        row["diff"],
        row["half"],
        row["n"],
        se=row["se"],
        margin=margin,
        scale=row["scale"],
        per_seed=row["per_seed"],
        fixed=row["fixed"],
        detectable=row["detectable"],
        floor=row["floor"],
    )


def plan(row: dict) -> str:
    """What would answer the claim: its seeds, or why none would."""
    if row.get("expect") is None:
        return "descriptive"
    v = verdict_of(row)
    needed = v.seeds_for(row["expect"])
    if needed is not None:
        return str(needed)
    if not v.effect_for(row["expect"]) > 0:
        return "none: the difference points the other way"
    floor = v.bound(v.floor).lstrip("±")
    return f"none: its test set alone ±{floor}" if v.fixed > 0 else "> 1000"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="notebook numbers (default: all)")
    args = parser.parse_args(argv)
    rows = json.loads(CLAIMS.read_text())
    rows = [r for r in rows if not args.notebooks or r["notebook"][:2] in args.notebooks]
    print("| nb | claim | comparison | question | Δ ± 95 % CI | n | detects ≥ | seeds to answer |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        detects = stats.Verdict("", 0, 0, 2, scale=r["scale"]).bound(r["detectable"])
        detects = detects.lstrip("±") if math.isfinite(r["detectable"] or math.nan) else "–"
        cells = [
            r["notebook"][:2],
            r["claim"],
            r["comparison"],
            r["question"],
            r["Δ ± 95 % CI"],
            str(r["n"]),
            detects,
            plan(r),
        ]
        print("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
