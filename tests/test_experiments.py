import json
import math

import numpy as np
import pytest

from helpers import experiments, stats, strategies


def test_mean_ci_matches_t_interval():
    mean, half = experiments.mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0 and math.isclose(half, 4.302652729911275 * 1 / math.sqrt(3), rel_tol=1e-9)
    assert math.isnan(experiments.mean_ci([0.5])[1])
    with pytest.raises(ValueError):
        experiments.mean_ci([])


def test_summarise_and_print(capsys):
    rows = [{"m": "a", "s": s, "acc": v} for s, v in enumerate([0.8, 0.9])] + [
        {"m": "b", "s": 0, "acc": 0.5}
    ]
    summary = experiments.summarise(rows, ["m"], "acc")
    assert [(r["m"], r["n"]) for r in summary] == [("a", 2), ("b", 1)]
    assert math.isclose(summary[0]["mean"], 0.85)
    experiments.print_table(summary, ["m"], title="T")
    out = capsys.readouterr().out
    assert "85.0 ±" in out and "50.0 (1)" in out


def test_table_prints_the_summary_it_returns(capsys):
    rows = [{"m": m, "seed": s, "acc": 0.5 + s / 10} for m in ("a", "b") for s in range(3)]
    summary = experiments.table(rows, ["m"], "acc", title="T")
    shown = capsys.readouterr().out
    experiments.print_table(experiments.summarise(rows, ["m"], "acc"), ["m"], title="T")
    assert shown == capsys.readouterr().out and shown.startswith("T\n")
    assert [r["m"] for r in summary] == ["a", "b"] and all(r["n"] == 3 for r in summary)


def test_compare_paired():
    assert experiments.compare([0.9, 0.91, 0.92], [0.5, 0.52, 0.49]).word == "better"
    assert experiments.compare([0.5, 0.52, 0.49], [0.9, 0.91, 0.92]).word == "worse"
    assert experiments.compare([0.5, 0.9, 0.1], [0.5, 0.1, 0.9]).word == "undecided"
    with pytest.raises(TypeError, match="by its word"):
        assert experiments.compare([0.9, 0.91], [0.5, 0.52]) == "better"


def test_compare_carries_the_paired_difference_and_its_interval():
    v = experiments.compare([0.83, 0.90, 0.85], [0.80, 0.86, 0.80])
    assert v.word == "better" and v.n == 3 and math.isclose(v.diff, 0.04, rel_tol=1e-9)
    mean, half = experiments.mean_ci([0.03, 0.04, 0.05])
    assert math.isclose(v.half, half) and str(v) == "better (+4.0 ± 2.5 points, n=3)"
    assert f"{v}" == str(v)


def test_compare_never_decides_from_one_run():
    for a, b in (([0.9], [0.1]), ([0.1], [0.9]), ([0.5], [0.5])):
        v = experiments.compare(a, b)
        assert v.word == "one run: no verdict" and v.n == 1
    assert str(experiments.compare([0.9], [0.1])) == "one run: no verdict (+80.0 points, n=1)"


def test_compare_refuses_unpaired_lists():
    with pytest.raises(ValueError, match="3 values against 2"):
        experiments.compare([0.1, 0.2, 0.3], [0.1, 0.2])
    with pytest.raises(ValueError):
        experiments.compare([], [])


class Calls(list):
    """A log the runs write into: not an input, so not part of their code key."""

    def __codekey__(self):
        return "a log of calls"


def _grid_run(calls):
    def run(cell):
        calls.append(cell)
        return {"accuracy": 0.5 + 0.1 * cell["seed"]}

    return run


def test_run_grid_caches_rows_and_resumes(tmp_path):
    path = tmp_path / "grid.jsonl"
    cells = [{"strategy": s, "seed": seed} for s in ("a", "b") for seed in range(2)]
    calls = Calls()
    rows = experiments.run_grid(
        path, _grid_run(calls), cells=cells, settings={"epochs": 3}, progress=False
    )
    assert len(calls) == 4 and [r["strategy"] for r in rows] == ["a", "a", "b", "b"]
    assert rows[1]["accuracy"] == 0.6 and rows[0]["seconds"] >= 0
    again = experiments.run_grid(
        path,
        _grid_run(calls),
        strategy=("a", "b"),
        seed=range(2),
        settings={"epochs": 3},
        progress=False,
    )
    assert len(calls) == 4, "a finished grid only reads its results file"
    assert [r["accuracy"] for r in again] == [r["accuracy"] for r in rows]
    more = cells + [{"strategy": "c", "seed": 0}]
    experiments.run_grid(path, _grid_run(calls), cells=more, settings={"epochs": 3}, progress=False)
    assert len(calls) == 5 and calls[-1] == {"strategy": "c", "seed": 0}
    experiments.run_grid(
        path, _grid_run(calls), cells=cells, settings={"epochs": 4}, progress=False
    )
    assert len(calls) == 9, "changed settings recompute"
    experiments.run_grid(
        path, _grid_run(calls), cells=cells, settings={"epochs": 4}, recompute=True, progress=False
    )
    assert len(calls) == 13


def test_run_grid_keeps_finished_rows_when_a_run_fails(tmp_path):
    path = tmp_path / "grid.jsonl"

    def flaky(cell):
        if cell["seed"] == 2:
            raise RuntimeError("boom")
        return {"accuracy": 1.0}

    cells = [{"seed": s} for s in range(4)]
    with pytest.raises(RuntimeError, match="boom"):
        experiments.run_grid(path, flaky, cells=cells, progress=False)
    assert len(experiments.read_results(path)) == 2
    with path.open("a") as f:
        f.write('{"seed": 9, "accur')  # a torn last line
    with pytest.warns(UserWarning, match="not a complete row"):
        assert len(experiments.read_results(path)) == 2
    with pytest.raises(ValueError, match="identical"):
        experiments.run_grid(
            tmp_path / "x.jsonl", flaky, cells=[{"seed": 0}, {"seed": 0}], progress=False
        )


def test_pivot():
    summary = experiments.summarise(
        [{"r": r, "c": c, "v": v} for r, c, v in [("x", 1, 0.1), ("x", 2, 0.2), ("y", 1, 0.3)]],
        ["r", "c"],
        "v",
    )
    rows, cols, table = experiments.pivot(summary, "r", "c")
    assert rows == ["x", "y"] and cols == [1, 2]
    assert table[0, 1] == 0.2 and math.isnan(table[1, 1])


def test_run_grid_appends_cleanly_after_a_torn_line(tmp_path):
    path = tmp_path / "grid.jsonl"
    path.write_text('{"seed": 0, "accuracy": 1.0, "settings": "x", "cell_keys": ["se')
    with pytest.warns(UserWarning, match="not a complete row"):
        rows = experiments.run_grid(path, lambda c: {"accuracy": 0.25}, seed=[1], progress=False)
    assert rows[0]["accuracy"] == 0.25
    with pytest.warns(UserWarning):
        assert [r["seed"] for r in experiments.read_results(path)] == [1]


def test_select_and_values_pair_by_seed():
    rows = [{"arm": a, "seed": s, "acc": 0.1 * s + (a == "x")} for s in (2, 0, 1) for a in "xy"]
    chosen = experiments.select(rows, arm="x")
    assert [r["seed"] for r in chosen] == [0, 1, 2]
    assert experiments.values(rows, "acc", arm="y") == [0.0, 0.1, 0.2]
    assert experiments.select(rows, arm="z") == [] and experiments.select(rows, missing=1) == []
    assert len(experiments.select(rows)) == 6


KNOB = 0.5


def _knob_run(cell):
    return {"accuracy": KNOB + _offset(cell)}


def _offset(cell):
    return 0.1 * cell["seed"]


def test_run_grid_recomputes_rows_of_changed_code(tmp_path, capsys):
    """An exercise that edits a run function, a function it calls, or a knob it reads."""
    path = tmp_path / "grid.jsonl"
    cells = [{"seed": s} for s in range(3)]
    first = experiments.run_grid(path, _knob_run, cells=cells)
    assert [r["accuracy"] for r in first] == [0.5, 0.6, 0.7]
    assert experiments.run_grid(path, _knob_run, cells=cells) == first  # same code: rows reused

    def edited(cell):  # the same name and cells, a changed body
        return {"accuracy": 0.0}

    edited.__name__ = _knob_run.__name__
    rows = experiments.run_grid(path, edited, cells=cells)
    assert [r["accuracy"] for r in rows] == [0.0] * 3, "rows of the old body were served"
    assert "3 of 3 rows are recomputed" in capsys.readouterr().out

    global KNOB
    experiments.run_grid(path, _knob_run, cells=cells)
    KNOB = 0.25  # a configuration knob the run reads
    try:
        assert experiments.run_grid(path, _knob_run, cells=cells)[0]["accuracy"] == 0.25
    finally:
        KNOB = 0.5
    assert experiments.code_fingerprint(_knob_run) != experiments.code_fingerprint(edited)


def test_code_fingerprint_ignores_comments_and_covers_callees(monkeypatch):
    base = experiments.code_fingerprint(_knob_run)
    assert base == experiments.code_fingerprint(_knob_run)
    monkeypatch.setitem(_knob_run.__globals__, "_offset", lambda cell: 0.0)
    assert experiments.code_fingerprint(_knob_run) != base  # a callee changed


def test_compare_rows_uses_the_design_the_rows_record():
    """Fixed test images: their correctness widens the interval; a re-split pool: Nadeau and
    Bengio's correction; independent draws: the plain paired interval."""
    rng = np.random.default_rng(0)
    correct = rng.random((2, 3, 200)) < np.array([0.8, 0.7])[:, None, None]
    rows = [
        [
            {
                "seed": s,
                "test_acc": float(c.mean()),
                "test_correct": experiments.bits(c),
                "design": "fixed",
            }
            for s, c in enumerate(side)
        ]
        for side in correct
    ]
    plain = experiments.compare([r["test_acc"] for r in rows[0]], [r["test_acc"] for r in rows[1]])
    fixed = experiments.compare_rows(*rows)
    assert fixed.se > plain.se and fixed.df > plain.df and fixed.n == 3, "images add variance"
    for side in rows:
        for r in side:
            r.update(design="resplit", resplit=0.5)
    resplit = experiments.compare_rows(*rows)
    assert math.isclose(resplit.half / plain.half, math.sqrt((1 / 3 + 0.5) / (1 / 3)))
    assert np.array_equal(experiments.unbits(rows[0][0]["test_correct"]), correct[0][0])


def _rows(**per_strategy):
    """Rows of strategies: name=(validation accuracies, test accuracies), one per seed."""
    return {
        name: [{"seed": i, "val_acc": v, "test_acc": t} for i, (v, t) in enumerate(zip(*vt))]
        for name, vt in per_strategy.items()
    }


def test_a_rule_is_a_recommendation_tested_against_the_best_other_strategy():
    rows = _rows(
        top=([0.7, 0.72, 0.71], [0.70, 0.71, 0.72]),
        earlier=([0.8, 0.82, 0.79], [0.80, 0.83, 0.81]),
        scratch=([0.75, 0.7, 0.8], [0.6, 0.9, 0.7]),
    )
    out = strategies.rule_verdict(rows, ["top"], margin=0.03)
    assert (out["rule_best"], out["other_best"]) == ("top", "earlier")
    assert stats.answer(out["verdict"], "not worse") == "does not hold"
    out = strategies.rule_verdict(rows, ["earlier"], margin=0.03)
    assert out["other_best"] == "scratch"
    assert stats.answer(out["verdict"], "not worse") == "undecided"
    # chosen on validation, judged on test: a strategy that wins on validation but is clearly
    # worse on test does not hold; one 1.8 points behind, inside a ±3 margin, does
    behind = _rows(rule=([0.9] * 3, [0.700, 0.712, 0.705]), other=([0.8] * 3, [0.80, 0.81, 0.80]))
    assert (
        stats.answer(strategies.rule_verdict(behind, ["rule"], margin=0.03)["verdict"], "not worse")
        == "does not hold"
    )
    close = _rows(rule=([0.9] * 3, [0.782, 0.792, 0.783]), other=([0.8] * 3, [0.80, 0.81, 0.80]))
    v = strategies.rule_verdict(close, ["rule"], margin=0.03)["verdict"]
    assert v.word == "worse" and stats.answer(v, "not worse") == "holds"
    # a validation tie goes to the first name in sorted order, never to a set's order
    tie = _rows(b=([0.8] * 2, [0.7, 0.7]), a=([0.8] * 2, [0.6, 0.6]), c=([0.5] * 2, [0.5, 0.5]))
    assert strategies.rule_verdict(tie, ["a", "b"], margin=0.03)["rule_best"] == "a"


def test_choose_picks_on_validation_and_breaks_ties_by_sorted_order():
    means = {1e-2: [0.5, 0.7], 1e-3: [0.6, 0.6], 1e-4: [0.3, 0.4]}
    rows = [
        {"lr": lr, "seed": s, "val_acc": acc}
        for lr, accs in means.items()
        for s, acc in enumerate(accs)
    ]
    assert experiments.choose(rows, "lr") == 1e-3, "a tie of means goes to the smaller value"
    assert [r["seed"] for r in experiments.chosen(rows, "lr")] == [0, 1]
    with pytest.raises(ValueError, match="no rows match"):
        experiments.choose(rows, "lr", seed=9)


def test_compare_rows_refuses_rows_of_different_seeds():
    a = [{"seed": 0, "test_acc": 0.8}, {"seed": 1, "test_acc": 0.9}]
    b = [{"seed": 0, "test_acc": 0.7}, {"seed": 2, "test_acc": 0.8}]
    with pytest.raises(ValueError, match="pairs rows by seed"):
        experiments.compare_rows(a, b)


CALLS = Calls()


def _counted_run(cell):
    CALLS.append(cell)
    return {"accuracy": 0.5 + 0.1 * cell["seed"]}


def _reference_setup(tmp_path, monkeypatch, cells):
    """A reference file and its provenance, written the way tools.make_reference writes them."""
    ref = tmp_path / "reference"
    produced = experiments.run_grid(
        ref / "grid-cpu.jsonl", _counted_run, cells=cells, progress=False
    )
    entry = {"date": "2026-01-02", "machine": "Test CPU, 2 cores", "torch": "9.9", "commit": "abc"}
    (ref / "provenance.json").write_text(json.dumps({"files": {"grid-cpu.jsonl": entry}}))
    monkeypatch.setenv("TL_REFERENCE_DIR", str(ref))
    CALLS.clear()
    return produced


def test_reference_rows_are_used_only_when_asked_and_current(tmp_path, monkeypatch, capsys):
    cells = [{"seed": s} for s in range(3)]
    produced = _reference_setup(tmp_path, monkeypatch, cells)
    path = tmp_path / "cache" / "grid-cpu.jsonl"
    monkeypatch.setenv("TL_RESULTS", "reference")
    rows = experiments.run_grid(path, _counted_run, cells=cells)
    out = capsys.readouterr().out
    assert CALLS == [], "reference rows were recomputed"
    assert [r["accuracy"] for r in rows] == [r["accuracy"] for r in produced]
    assert "3 of 3 rows from the reference run of 2026-01-02 on Test CPU" in out
    assert experiments.origin(rows).startswith("reference run of 2026-01-02 on Test CPU, 2 cores")
    assert not path.exists(), "reference rows must not be copied into the cache"
    more = experiments.run_grid(path, _counted_run, cells=cells + [{"seed": 5}])
    assert CALLS == [{"seed": 5}], "only the cell the reference lacks is computed"
    assert experiments.origin(more).endswith("; 1 computed here")

    # without TL_RESULTS=reference everything is computed, then compared with the reference
    monkeypatch.setenv("TL_RESULTS", "compute")
    CALLS.clear()
    rows = experiments.run_grid(tmp_path / "other" / "grid-cpu.jsonl", _counted_run, cells=cells)
    assert len(CALLS) == 3 and experiments.origin(rows) == "computed on this machine"
    assert "your run vs the reference run of 2026-01-02" in capsys.readouterr().out
    monkeypatch.setenv("TL_RESULTS", "nonsense")
    with pytest.raises(ValueError, match="TL_RESULTS='nonsense'"):
        experiments.run_grid(path, _counted_run, cells=cells)


def test_stale_reference_rows_are_reported_and_never_used(tmp_path, monkeypatch, capsys):
    cells = [{"seed": s} for s in range(3)]
    _reference_setup(tmp_path, monkeypatch, cells)
    monkeypatch.setenv("TL_RESULTS", "reference")

    def edited(cell):  # the code changed since the reference run
        return {"accuracy": 0.0}

    edited.__name__ = _counted_run.__name__
    rows = experiments.run_grid(
        tmp_path / "c" / "grid-cpu.jsonl", edited, cells=cells + [{"seed": 9}]
    )
    out = capsys.readouterr().out
    assert [r["accuracy"] for r in rows] == [0.0] * 4, "a stale reference row was used"
    assert "3 reference rows are STALE" in out and "make reference" in out
    assert "0 of 4 rows from the reference run: none found" in out
    assert experiments.origin(rows) == "computed on this machine"
    # make test: a stale reference is a failure that names the command, not a silent recompute
    monkeypatch.setenv("TL_STALE_REFERENCE", "fail")
    with pytest.raises(experiments.StaleReference, match="REFERENCE_PROFILE=cpu"):
        experiments.run_grid(tmp_path / "d" / "grid-cpu.jsonl", edited, cells=cells)


def test_a_reference_asked_for_where_its_profile_has_none_stops_with_one_line(
    tmp_path, monkeypatch, capsys
):
    cells = [{"seed": s} for s in range(2)]
    _reference_setup(tmp_path, monkeypatch, cells)  # a cpu reference only
    monkeypatch.setenv("TL_RESULTS", "reference")
    with pytest.raises(experiments.NoReference) as caught:
        experiments.run_grid(tmp_path / "cache" / "grid-gpu.jsonl", _counted_run, cells=cells)
    message = str(caught.value)
    assert CALLS == [], "a grid trained although the reference was asked for"
    assert "\n" not in message and "of the cpu profile, not gpu" in message
    assert "TL_PROFILE=cpu" in message and "unset TL_RESULTS" in message
    # a grid of a profile that has a reference, but not this grid (a new exercise): one line
    rows = experiments.run_grid(tmp_path / "cache" / "new-cpu.jsonl", _counted_run, cells=cells)
    assert len(rows) == 2 and "new-cpu: the reference has no rows" in capsys.readouterr().out
    assert experiments.reference_profiles() == ["cpu"]
