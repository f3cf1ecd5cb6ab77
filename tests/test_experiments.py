import math

import pytest
import torch

from helpers import experiments, models


def test_mean_ci_matches_t_interval():
    mean, half = experiments.mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0 and math.isclose(half, 4.302652729911275 * 1 / math.sqrt(3), rel_tol=1e-9)
    assert math.isnan(experiments.mean_ci([0.5])[1])
    with pytest.raises(ValueError):
        experiments.mean_ci([])


def test_summarise_and_print(capsys):
    rows = [{"m": "a", "s": s, "acc": v} for s, v in enumerate([0.8, 0.9])] + [{"m": "b", "s": 0, "acc": 0.5}]
    summary = experiments.summarise(rows, ["m"], "acc")
    assert [(r["m"], r["n"]) for r in summary] == [("a", 2), ("b", 1)]
    assert math.isclose(summary[0]["mean"], 0.85)
    experiments.print_table(summary, ["m"], title="T")
    out = capsys.readouterr().out
    assert "85.0 ±" in out and "50.0 (1)" in out


def test_compare_paired():
    assert experiments.compare([0.9, 0.91, 0.92], [0.5, 0.52, 0.49]) == "better"
    assert experiments.compare([0.5, 0.52, 0.49], [0.9, 0.91, 0.92]) == "worse"
    assert experiments.compare([0.5, 0.9, 0.1], [0.5, 0.1, 0.9]) == "no clear difference"


def test_stage_weight_change():
    backbone = models.load_backbone("labcnn", weights=None)
    reference = {n: p.detach().clone() for n, p in backbone.model.named_parameters()}
    assert set(models.stage_weight_change(backbone, reference).values()) == {0.0}
    with torch.no_grad():
        backbone.model.stages[3][0].weight.mul_(1.5)
    change = models.stage_weight_change(backbone, reference)
    assert change["conv1"] == 0.0 and 0.0 < change["conv4"] <= 0.5
