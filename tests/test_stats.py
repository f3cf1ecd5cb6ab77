"""Verdict words that tell a tie from ignorance, two-level intervals, Holm's adjustment."""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from helpers import stats


def test_a_clear_difference_is_better_or_worse():
    v = stats.compare([0.90, 0.91, 0.92], [0.50, 0.52, 0.49])
    assert v.word == "better" and v.n == 3 and v.p < 0.01
    assert stats.compare([0.50, 0.52, 0.49], [0.90, 0.91, 0.92]).word == "worse"
    assert str(v).startswith("better (+40.7 ± ") and str(v).endswith("points, n=3)")
    with pytest.raises(TypeError, match="by its word"):
        assert v == "better"


def test_a_tie_inside_the_declared_margin_is_equivalent():
    a = [0.800, 0.812, 0.790, 0.805, 0.798, 0.801]
    b = [0.801, 0.810, 0.792, 0.803, 0.799, 0.800]
    assert stats.compare(a, b).word == "undecided", "no margin declared: a tie is not a verdict"
    v = stats.compare(a, b, margin=0.02)
    assert v.word == "equivalent" and "inside ±2.0 points" in str(v)
    assert stats.compare(a, b, margin=0.001).word == "undecided", "the interval sticks out"


def test_an_underpowered_difference_is_undecided_and_says_what_would_decide_it():
    v = stats.compare([0.85, 0.80, 0.90], [0.80, 0.82, 0.82])
    assert v.word == "undecided"
    assert v.detectable > abs(v.diff) and v.needed is not None and v.needed > 3
    text = str(v)
    assert "this design detects ≥" in text and f"≈ {v.needed} seeds" in text


def test_no_spread_gives_no_interval_and_no_false_verdict():
    v = stats.compare([0.9, 0.8, 0.7], [0.8, 0.7, 0.6])  # the same +10 points on every seed
    assert v.word == "undecided" and "no spread" in str(v)
    same = stats.compare([0.7, 0.8], [0.7, 0.8])
    assert same.word == "undecided"
    assert stats.compare([0.7, 0.8], [0.7, 0.8], margin=0.01).word == "equivalent"


def test_one_pair_gives_no_verdict():
    v = stats.compare([0.9], [0.1])
    assert v.word == stats.NO_VERDICT and str(v) == "one run: no verdict (+80.0 points, n=1)"


def test_the_log_scale_compares_factors():
    base = [1.0, 1.2, 0.8, 1.1]
    v = stats.compare([4 * x * (1 + 0.01 * i) for i, x in enumerate(base)], base, scale="log")
    assert v.word == "better" and str(v).startswith("better (×4.")
    assert "95 % interval ×" in str(v)
    tie = stats.compare([1.0, 1.02, 0.99], [1.01, 1.0, 1.0], scale="log", margin=1.25)
    assert tie.word == "equivalent" and "inside ±×1.25" in str(tie)
    with pytest.raises(ValueError, match="positive"):
        stats.compare([1.0, -1.0], [1.0, 1.0], scale="log")


def test_the_two_level_interval_equals_the_hand_computation():
    """Two seeds, four fixed test images: seeds' variance / n plus images' variance / m."""
    ca = np.array([[1, 1, 0, 1], [1, 0, 1, 1]])
    cb = np.array([[1, 0, 0, 0], [0, 0, 1, 1]])
    a, b = ca.mean(1), cb.mean(1)  # 0.75, 0.75 vs 0.25, 0.5
    v = stats.compare(a, b, correct=(ca, cb))
    d = a - b  # 0.5, 0.25
    seeds = np.var(d, ddof=1) / 2  # 0.03125 / 2
    e = (ca - cb).mean(0)  # 0, 0.5, 0, 0.5
    images = np.var(e, ddof=1) / 4  # (1/12) / 4
    var = seeds + images
    df = var**2 / (seeds**2 / 1 + images**2 / 3)
    assert math.isclose(v.diff, 0.375)
    assert math.isclose(v.half, scipy_stats.t.ppf(0.975, df) * math.sqrt(var), rel_tol=1e-12)
    plain = stats.compare(a, b)
    assert v.half != plain.half, "the fixed test set's own noise is in the interval"


def test_a_resplit_pool_widens_the_interval_as_nadeau_and_bengio_correct_it():
    a, b = [0.8, 0.85, 0.83, 0.9, 0.82], [0.78, 0.8, 0.8, 0.86, 0.8]
    plain, corrected = stats.compare(a, b), stats.compare(a, b, resplit=0.3 / 0.5)
    assert math.isclose(corrected.half / plain.half, math.sqrt((1 / 5 + 0.6) / (1 / 5)))
    assert corrected.p > plain.p


def test_holm_against_a_textbook_example():
    """Four p values: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1, kept monotone."""
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    adjusted = stats.holm([0.5, float("nan"), 0.01])
    assert adjusted[0] == pytest.approx(0.5) and math.isnan(adjusted[1])
    assert adjusted[2] == pytest.approx(0.02)
    assert stats.holm([0.9, 0.8]) == [1.0, 1.0], "2 × 0.8 caps at 1, and 0.9 may not undercut it"


def test_the_seeds_it_asks_for_do_detect_the_effect_four_times_in_five():
    """Simulated: with the spread of the undecided comparison and the seeds it asked for, a true
    difference of the observed size is detected in about 80 % of runs."""
    a, b = [0.85, 0.80, 0.90], [0.80, 0.82, 0.82]
    v = stats.compare(a, b)
    sd = float(np.std(np.subtract(a, b), ddof=1))
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(400):
        d = rng.normal(v.diff, sd, size=v.needed)
        hits += stats.compare(list(d), [0.0] * v.needed).word == "better"
    assert 0.70 <= hits / 400 <= 0.95
