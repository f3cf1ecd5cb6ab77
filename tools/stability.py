"""How stable are a notebook's verdicts? Re-run some of its grids with other seeds and count the
verdict words that change.

    python -m tools.stability 04_four_scenarios --grids lab --offset 100

The notebook executes in this process as the claims ledger's run does (``tools.make_claims``:
the evidence profile, ``TL_RESULTS=reference``), except that the named grids (``lab`` for
``04_four_scenarios-lab``) run with every seed moved by ``--offset``: new seeds, new draws of the
training images, the same code, computed here (their rows cached under a name of their own, never
in the reference). Every claim of the notebook's ledger is then set against the committed ledger
(``data/reference/claims.json``): the verdict word (better / worse / equivalent / undecided) and
the answer (holds / does not hold / undecided). The ledger flags as fragile the answers within
one standard error of changing; the goal is that a re-run changes none that is not flagged.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from helpers import experiments
from tools import execute
from tools.reference import CLAIMS_JSON, ROOT, evidence, ledger_rows


def shifted_grids(stem: str, grids: set[str], offset: int):
    """A ``run_grid`` that runs the named grids of ``stem`` with every seed moved by ``offset``
    (under a results name of their own) and the others as they are."""
    real = experiments.run_grid

    def run_grid(name, run, **kw):
        short = str(name).removeprefix(f"{stem}-")
        if short not in grids:
            return real(name, run, **kw)
        axes = {k: v for k, v in kw.items() if k not in experiments.RESERVED}
        cells = experiments.grid_cells(kw.pop("cells", None), axes)
        for k in axes:
            kw.pop(k)
        if not any("seed" in c for c in cells):
            raise SystemExit(f"{name}: no seed axis to move")
        moved = [{**c, "seed": c["seed"] + offset} if "seed" in c else c for c in cells]
        return real(f"{name}-seeds+{offset}", run, cells=moved, **kw)

    return run_grid


def paired(committed: list[dict], now: list[dict]) -> list[tuple[dict | None, dict | None]]:
    """The committed claims and the re-run's, paired by family, claim and the order in which a
    claim's comparisons come (the comparison itself may change with the seeds: another
    strategy can be the best other one); a claim on one side only is paired with ``None``."""

    def keyed(rows):
        seen: dict = {}
        out = {}
        for r in rows:
            k = (r["family"], r["claim"])
            seen[k] = seen.get(k, -1) + 1
            out[(*k, seen[k])] = r
        return out

    a, b = keyed(committed), keyed(now)
    return [(a.get(k), b.get(k)) for k in [*a, *(k for k in b if k not in a)]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", help="a notebook stem, e.g. 04_four_scenarios")
    parser.add_argument("--grids", nargs="+", required=True, help="grid names, e.g. lab lite0")
    parser.add_argument("--offset", type=int, default=100, help="added to every seed")
    args = parser.parse_args(argv)
    stem = args.notebook.removesuffix(".ipynb")
    profile = next(iter(evidence(f"{stem}.ipynb").values()))["profile"]
    os.environ.update(TL_PROFILE=profile, TL_RESULTS="reference", MPLBACKEND="Agg")
    experiments.run_grid = shifted_grids(stem, set(args.grids), args.offset)
    namespace: dict = {"__name__": "__main__"}
    execute.here(ROOT / "notebooks" / f"{stem}.ipynb", namespace, lesson_only=True)
    now = ledger_rows(namespace)
    committed = [r for r in json.loads(CLAIMS_JSON.read_text()) if r["notebook"] == stem]
    changed = {"verdict": 0, "answer": 0, "answer, not flagged fragile": 0}
    print(f"| family | claim | comparison | verdict (seeds +0 → +{args.offset}) | answer |")
    print("| --- | --- | --- | --- | --- |")
    pairs = paired(committed, now)
    for old, new in pairs:
        if old is None or new is None:  # new seeds can make a rule's best the same comparison
            row = old or new  # as "pretrained weights help", which the ledger then records once
            where = "only in the re-run" if old is None else "only in the committed ledger"
            print(f"| {row['family']} | {row['claim']} | {row['comparison']} | {where} | |")
            continue
        verdict = f"{old['verdict']} → {new['verdict']}"
        answer = f"{old['answer']} → {new['answer']}"
        changed["verdict"] += old["verdict"] != new["verdict"]
        if old["answer"] != new["answer"]:
            changed["answer"] += 1
            changed["answer, not flagged fragile"] += not old.get("fragile")
        marks = " ⚠" if old.get("fragile") else ""
        comparison = old["comparison"]
        if new["comparison"] != comparison:
            comparison += f" (now {new['comparison']})"
        print(f"| {old['family']} | {old['claim']} | {comparison} | {verdict} | {answer}{marks} |")
    both = sum(old is not None and new is not None for old, new in pairs)
    print(
        f"\n{stem}, grids {', '.join(args.grids)} with seeds +{args.offset}: "
        f"{len(committed)} claims committed, {len(now)} now, {both} in both; "
        + "; ".join(f"{n} changed {what}" for what, n in changed.items())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
