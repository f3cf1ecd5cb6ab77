"""The committed reference runs (data/reference/) stay true to the code.

For every notebook with reference files, its code cells are executed in this process with
``TL_PROFILE=<the reference's profile>`` and ``TL_RESULTS=reference`` (so its grids read the
reference rows instead of training), while every ``run_grid`` call is recorded. Then, for each
reference file: no row may be stale (its code or settings hash differs from what the notebook
computes now: regenerate with ``make reference``), and its cheapest row is recomputed with
today's code and compared with the committed one, within the tolerances below.
"""

from __future__ import annotations

import itertools
import json

import pytest

from helpers import data, experiments
from tools import execute
from tools.reference import (
    CLAIMS_JSON,
    PROVENANCE,
    REFERENCE,
    ROOT,
    TEST_PROFILE,
    differences,
    evidence,
    key,
    ledger_rows,
    one_image,
    same_path,
    stale,
)

NOTEBOOKS = sorted({p["notebook"] for p in PROVENANCE.values() if p["profile"] != TEST_PROFILE})


@pytest.mark.parametrize("notebook", NOTEBOOKS)
@pytest.mark.notebook
def test_reference_rows_reproduce(notebook, monkeypatch):
    files = evidence(notebook)
    monkeypatch.setenv("TL_PROFILE", next(iter(files.values()))["profile"])
    monkeypatch.setenv("TL_RESULTS", "reference")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    recorded, real = {}, experiments.run_grid

    def recording(grid, run, **kw):
        axes = {k: v for k, v in kw.items() if k not in experiments.RESERVED}
        cells = experiments.grid_cells(kw.get("cells"), axes)
        name = experiments.grid_path(grid).name
        recorded[name] = (cells, run, kw.get("settings"))
        if name in files:  # fail at once, before the notebook computes the stale rows
            assert not (found := stale(name, run, kw.get("settings"))), found
        return real(grid, run, **kw)

    monkeypatch.setattr(experiments, "run_grid", recording)
    namespace = {"__name__": "__main__"}
    try:
        execute.here(ROOT / "notebooks" / notebook, namespace, skip_solutions_without_grids=True)
    except data.DatasetNotFoundError as err:
        from conftest import data_missing

        data_missing(f"{notebook} needs a dataset that is not installed: {err}")

    # the claims ledger (data/reference/CLAIMS.md) says what this notebook's verdicts are now
    stem = notebook.removesuffix(".ipynb")
    committed = [key(r) for r in json.loads(CLAIMS_JSON.read_text()) if r["notebook"] == stem]
    now = [key(r) for r in ledger_rows(namespace)]
    changed = [(n, c) for n, c in itertools.zip_longest(now, committed) if n != c]
    assert not changed, (
        f"data/reference/CLAIMS.md is stale for {stem} (its claims or verdicts changed): "
        f"regenerate with `make claims`; {len(changed)} differ, the first: now {changed[0][0]}, "
        f"committed {changed[0][1]}"
    )

    problems = []
    for name in sorted(files):
        assert name in recorded, f"{notebook} no longer runs the grid of {name}"
        cells, run, settings = recorded[name]
        rows = experiments.read_results(REFERENCE / name)
        cheapest = min(rows, key=lambda r: r["seconds"])
        cell = {k: cheapest[k] for k in cheapest["cell_keys"]}
        fresh = run(dict(cell))
        if found := differences(cheapest, fresh, other_path=not same_path(files[name])):
            problems.append(f"{name}, row {cell}: " + "; ".join(found))
    assert not problems, "reference rows no longer reproduce:\n" + "\n".join(problems)


def test_every_reference_file_has_provenance():
    files = {p.name for p in REFERENCE.glob("*.jsonl")}
    assert files == set(PROVENANCE), "reference files and provenance.json disagree"
    needed = {"profile", "date", "machine", "torch", "commit", "notebook_seconds", "rows"}
    for name, entry in PROVENANCE.items():
        assert needed <= set(entry), f"{name}: provenance lacks {needed - set(entry)}"
        rows = experiments.read_results(REFERENCE / name)
        assert len(rows) == entry["rows"], f"{name}: {len(rows)} rows, provenance says {entry}"
        assert name.endswith(f"-{entry['profile']}.jsonl")


def test_differences_flag_what_moved_beyond_tolerance():
    committed = {"test_acc": 0.80, "change": {"conv1": 1.0}, "suggested_lr": 1e-2, "history": [1]}
    close = {"test_acc": 0.83, "change": {"conv1": 1.2}, "suggested_lr": 2e-2, "history": [9]}
    assert differences(committed, close) == []
    far = {"test_acc": 0.90, "change": {"conv1": 2.0}, "suggested_lr": 1e-1}
    found = "\n".join(differences(committed, far))
    assert "test_acc" in found and "change.conv1" in found and "suggested_lr" in found


def test_one_image_of_a_small_set_and_timings_are_within_tolerance():
    # 10 validation images: one flip (0.2 → 0.3) is allowed, two (0.2 → 0.4) are not
    assert differences({"val_acc": 0.2}, {"val_acc": 0.3}) == []
    assert "val_acc" in "".join(differences({"val_acc": 0.2}, {"val_acc": 0.4}))
    # more than one image of the smallest possible set is flagged; so is any test accuracy
    assert "val_acc" in "".join(differences({"val_acc": 0.5}, {"val_acc": 0.0}))
    assert "test_acc" in "".join(differences({"test_acc": 0.2}, {"test_acc": 0.3}))
    assert (
        differences(
            {"alpha": {"0.75": {"val": {"acc": 0.4}}}}, {"alpha": {"0.75": {"val": {"acc": 0.5}}}}
        )
        == []
    )
    # 53 test images: one flip is under 5 points, the usual tolerance applies
    assert one_image(30 / 53, 31 / 53) == pytest.approx(1 / 53)
    assert "test_acc" in "".join(differences({"test_acc": 30 / 53}, {"test_acc": 34 / 53}))
    assert differences({"epoch_seconds": 0.34}, {"epoch_seconds": 0.47}) == []


def test_another_float_path_allows_a_few_images_of_a_small_set():
    # 3 of 36 validation images, 4 of 53 test images: flagged on the reference's own path only
    moved = ({"val_acc": 26 / 36, "test_acc": 32 / 53}, {"val_acc": 29 / 36, "test_acc": 28 / 53})
    assert len(differences(*moved)) == 2
    assert differences(*moved, other_path=True) == []
    # more than five images, or more than 15 points on a tiny set, is flagged on any path
    assert "test_acc" in "".join(differences({"test_acc": 40 / 53}, {"test_acc": 34 / 53}, True))
    assert "val_acc" in "".join(differences({"val_acc": 0.2}, {"val_acc": 0.4}, other_path=True))
    # large sets keep the 5-point tolerance: five images of 3,000 are nothing
    large = ({"test_acc": 2401 / 3000}, {"test_acc": 2581 / 3000})
    assert "test_acc" in "".join(differences(*large, other_path=True))
    entry = {"machine": "Some CPU, 2 cores"}
    assert not same_path(entry)
