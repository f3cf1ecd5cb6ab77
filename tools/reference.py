"""The committed reference runs (``data/reference/``): where they are, what they were made
with, when a recomputed row still reproduces a committed one, and the claims ledger's rows.

Shared by ``tools.make_reference``, ``tools.rekey_reference``, ``tools.make_claims`` and
``tests/test_reference.py``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from helpers import config, experiments

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "data" / "reference"
CLAIMS_MD, CLAIMS_JSON = REFERENCE / "CLAIMS.md", REFERENCE / "claims.json"
KEY = ("notebook", "family", "claim", "world", "comparison", "verdict", "answer")  # kept current


def provenance() -> dict:
    """``{reference file: what it was made with}`` (``data/reference/provenance.json``)."""
    return json.loads((REFERENCE / "provenance.json").read_text())["files"]


PROVENANCE = provenance()
# the quick profile's reference serves the tests (nbval reads it); the ledger and the reference
# test stand on the other one, the course's evidence
TEST_PROFILE = "quick"


def evidence(notebook: str) -> dict:
    """The reference files of ``notebook`` (``"04_four_scenarios.ipynb"``) behind its claims:
    every profile but the tests' — one profile, or a clear error."""
    files = {
        n: p
        for n, p in PROVENANCE.items()
        if p["notebook"] == notebook and p["profile"] != TEST_PROFILE
    }
    profiles = {p["profile"] for p in files.values()}
    if len(profiles) != 1:
        raise ValueError(f"{notebook}: the evidence is of one profile, found {sorted(profiles)}")
    return files


# Tolerances (data/reference/README.md has the measurements behind them). Rows that only probe
# fixed features recompute identically on one machine; rows that train diverge with the order
# of float reductions (another CPU model, another thread count): the same trained row, recomputed
# with 1 thread instead of 2, moved by up to 2.9 points of test accuracy. Accuracies are
# fractions (0.05 = 5 points); learning rates picked by a sweep may move by a factor of 3; other
# numbers (weight changes, gradient norms) by 25 %. On a small evaluation set one image is more
# than 5 points: 09 chooses on 10 validation images (two per class), where one flip is 10 points,
# and its rows recomputed on another CPU model (AMD EPYC against the reference's Intel Xeon)
# flipped one. A validation accuracy may therefore also move by one image of the smallest set of
# 10 or more images on which both values are whole counts (test sets are large enough for 5
# points). Timings (``*seconds``) belong to the machine that measured them and are not compared.
ACC_TOL = 0.05
LR_FACTOR = 3.0
REL_TOL = 0.25
# Along another float path than the reference's (another CPU model, or another thread count) a
# row trained on a small set moves by a few images: recomputed with one thread against the two of
# the reference, 03's cheapest rows moved 3 of 36 validation and 3 of 53 test images (Lite0
# fine-tuned on 90 Tux Paint photos) and 09's 4 of 53 test and 2 of 25 training images. There an
# accuracy may move by up to OTHER_PATH_IMAGES images of the smallest set on which both values
# are whole counts, at most OTHER_PATH_CAP; on the reference's own path the tolerances above hold.
OTHER_PATH_IMAGES = 5
OTHER_PATH_CAP = 0.15


def _leaves(value, prefix=""):
    """(path, number) for every number in a row value; lists (histories, curves) are skipped."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{prefix}.{k}" if prefix else k)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield prefix, float(value)


def one_image(old: float, new: float) -> float:
    """One image's share of the smallest evaluation set (10 images or more) on which both
    accuracies are whole counts; 0 when there is none up to 1,000 images."""
    for n in range(10, 1001):
        if all(abs(v * n - round(v * n)) < 1e-6 for v in (old, new)):
            return 1 / n
    return 0.0


def same_path(entry: dict) -> bool:
    """Whether this process computes along the reference file's float path: the same CPU model
    and a thread per core of that machine (``"<CPU model>, <n> cores"``)."""
    cores = int(entry["machine"].rsplit(", ", 1)[-1].split()[0])
    return config.machine() == entry["machine"] and torch.get_num_threads() == cores


def differences(reference: dict, fresh: dict, other_path: bool = False) -> list[str]:
    """What differs beyond tolerance between a committed row and its recomputation
    (``other_path``: recomputed along another float path than the reference's)."""
    ref = dict(_leaves({k: reference[k] for k in fresh}))
    out = []
    for name, value in _leaves(fresh):
        old = ref.get(name)
        if old is None or (math.isnan(old) and math.isnan(value)) or "seconds" in name:
            continue
        accuracy = "acc" in name or name.endswith((".val", ".test"))
        if name.endswith("_lr") and old > 0 and value > 0:
            if max(value / old, old / value) > LR_FACTOR:
                out.append(f"{name}: committed {old:.3g}, now {value:.3g} (tolerance ×{LR_FACTOR})")
            continue
        diff = abs(value - old)
        small = one_image(old, value) if "val" in name or other_path else 0.0
        if other_path:
            small = min(OTHER_PATH_CAP, OTHER_PATH_IMAGES * small)
        limit = max(ACC_TOL, small) if accuracy else REL_TOL * max(abs(old), 1e-12)
        if diff > limit:
            out.append(f"{name}: committed {old:.4g}, now {value:.4g} (tolerance {limit:.3g})")
    return out


def stale(name: str, run, settings: dict | None) -> str:
    """Why the reference rows of ``name`` are stale for ``run`` and ``settings`` ("" if not)."""
    rows = experiments.read_results(REFERENCE / name)
    tag, code = experiments.settings_hash(settings or {}), experiments.code_fingerprint(run)
    stale = [r for r in rows if r["settings"] != tag or r["code"] != code]
    if not stale:
        return ""
    return (
        f"{name}: {len(stale)} of {len(rows)} reference rows are stale (the code or settings "
        f"changed since the reference run); regenerate with `{experiments.REGENERATE}`"
    )


def ledger_rows(namespace: dict) -> list[dict]:
    """The rows of the notebook's ledger, JSON-ready (empty when it keeps none)."""
    ledger = namespace.get("ledger")
    if ledger is None:
        return []
    rows = []
    for row in ledger.rows():
        rows.append(
            {
                k: (v if isinstance(v, (str, int, float, type(None))) else str(v))
                for k, v in row.items()
            }
        )
    return rows


def key(row: dict) -> tuple:
    """What of a claim must match the committed ledger (the numbers follow from the rows)."""
    return tuple(str(row[k]) for k in KEY)
