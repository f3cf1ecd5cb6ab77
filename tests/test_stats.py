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


def test_identical_differences_on_every_seed_decide_by_their_sign():
    v = stats.compare([0.9, 0.8, 0.7], [0.8, 0.7, 0.6])  # the same +10 points on every seed
    assert v.word == "better" and v.equal and "all equal: decided by their sign" in str(v)
    assert stats.compare([0.6, 0.7], [0.7, 0.8]).word == "worse"
    assert stats.compare([0.7, 0.8], [0.7, 0.8]).word == "undecided"
    assert stats.compare([0.7, 0.8], [0.7, 0.8], margin=0.01).word == "equivalent"
    assert stats.answer(v, "better") == "holds" and stats.answer(v, "worse") == "does not hold"


def test_one_pair_gives_no_verdict():
    v = stats.compare([0.9], [0.1])
    assert v.word == stats.NO_VERDICT and str(v) == "one run: no verdict (+80.0 points, n=1)"


def test_the_log_scale_compares_factors():
    base = [1.0, 1.2, 0.8, 1.1]
    v = stats.compare([4 * x * (1 + 0.01 * i) for i, x in enumerate(base)], base, scale="log")
    assert v.word == "better" and str(v).startswith("better (×4.")
    assert "(×3." in str(v) or "(×4." in str(v)
    tie = stats.compare([1.0, 1.02, 0.99], [1.01, 1.0, 1.0], scale="log", margin=1.25)
    assert tie.word == "equivalent" and "inside ×1.25" in str(tie)
    with pytest.raises(ValueError, match="positive"):
        stats.compare([1.0, -1.0], [1.0, 1.0], scale="log")


def test_the_two_level_interval_equals_the_hand_computation():
    """Three seeds, six fixed test images: (MS_seed + MS_image − MS_error) / nm, the seed × image
    interaction counted once, Satterthwaite's degrees of freedom."""
    ca = np.array([[1, 1, 0, 1, 1, 1], [1, 1, 0, 1, 1, 1], [1, 1, 0, 0, 1, 1]])
    cb = np.array([[0, 1, 1, 0, 1, 1], [0, 0, 0, 0, 1, 0], [1, 1, 0, 0, 1, 0]])
    a, b = ca.mean(1), cb.mean(1)
    v = stats.compare(a, b, correct=(ca, cb))
    D = ca - cb
    n, m = D.shape
    ms_seed = m * np.var(D.mean(1), ddof=1)
    ms_image = n * np.var(D.mean(0), ddof=1)
    resid = D - D.mean(1, keepdims=True) - D.mean(0, keepdims=True) + D.mean()
    ms_error = (resid**2).sum() / ((n - 1) * (m - 1))
    var = (ms_seed + ms_image - ms_error) / (n * m)
    terms, dfs = (ms_seed, ms_image, -ms_error), (n - 1, m - 1, (n - 1) * (m - 1))
    df = sum(terms) ** 2 / sum(t**2 / d for t, d in zip(terms, dfs))
    assert math.isclose(v.diff, D.mean()) and var > max(ms_seed, ms_image) / (n * m)
    assert math.isclose(v.half, scipy_stats.t.ppf(0.975, df) * math.sqrt(var), rel_tol=1e-12)
    plain = stats.compare(a, b)
    assert v.half != plain.half, "the fixed test set's own noise is in the interval"


def test_the_two_level_variance_is_unbiased_where_adding_one_way_parts_is_not():
    """Simulated: seeds and test images both drawn; the mean of the estimates matches the
    variance of the mean difference across replications, and the sum of the two one-way
    variances (the interaction counted twice) overshoots it."""
    rng = np.random.default_rng(1)
    n, m, reps = 3, 60, 3000
    means, ours, twice = [], [], []
    for _ in range(reps):
        image = rng.normal(0, 0.5, size=m)  # which images are hard: a sample of the population
        seed = rng.normal(0, 0.3, size=(n, 1))
        D = 0.4 + seed + image[None, :] + rng.normal(0, 2.0, size=(n, m))  # + interaction
        means.append(D.mean())
        ours.append(stats.two_level(D)[0])
        twice.append(np.var(D.mean(1), ddof=1) / n + np.var(D.mean(0), ddof=1) / m)
    truth = np.var(means)
    assert abs(np.mean(ours) / truth - 1) < 0.08
    assert np.mean(twice) / truth > 1.25


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


def test_a_recommendation_behind_by_less_than_the_margin_holds():
    rule = [0.812, 0.820, 0.815, 0.818]
    best = [0.830, 0.838, 0.833, 0.836]  # 1.8 points ahead on every seed, small spread
    v = stats.compare([r + 0.001 * i for i, r in enumerate(rule)], best, margin=0.03)
    assert v.word == "worse", "a difference, and a significant one"
    assert stats.answer(v, "not worse") == "holds", "but not worse by more than the margin"
    far = stats.compare([x - 0.05 for x in rule], best, margin=0.03)
    assert stats.answer(far, "not worse") == "does not hold"
    with pytest.raises(ValueError, match="needs a margin"):
        stats.compare(rule, best).tests("not worse")


def test_each_question_is_tested_as_it_is_asked():
    tie = stats.compare([0.700, 0.705, 0.701, 0.703], [0.701, 0.703, 0.702, 0.702], margin=0.02)
    assert stats.answer(tie, "equivalent") == "holds"
    assert stats.answer(tie, "better") == "does not hold", "a tie refutes a claimed difference"
    apart = stats.compare([0.80, 0.82, 0.81, 0.83], [0.70, 0.71, 0.72, 0.72], margin=0.02)
    assert stats.answer(apart, "equivalent") == "does not hold"
    assert (
        stats.answer(apart, "worse") == "does not hold" and stats.answer(apart, "better") == "holds"
    )
    # the p values agree with the interval: support p < 0.05 exactly when it excludes zero
    p_for, p_against = apart.tests("better")
    assert p_for == pytest.approx(apart.p) and p_against > 0.5
    assert stats.answer(apart, None) == "–"


def test_a_small_difference_near_a_ceiling_is_a_difference_on_the_error_scale_not_a_tie():
    """+0.4 points at a 95.5 % baseline, on 3,000 fixed test images: 9 % fewer errors."""
    rng = np.random.default_rng(0)
    m, n = 3000, 4
    base = rng.random(m) > 0.045  # which images the baseline gets right
    fixed = np.flatnonzero(~base)[:12]  # the improvement: 12 of its mistakes, on every seed
    cb = np.stack([base ^ (rng.random(m) < 0.002) for _ in range(n)])
    ca = cb.copy()
    ca[:, fixed] = True
    a, b = ca.mean(1), cb.mean(1)
    points = stats.compare(a, b, margin=0.01, correct=(ca, cb))
    assert points.word == "better", "significant: not called a tie because it is small"
    errors = stats.compare(a, b, scale="error", margin=1.05, correct=(ca, cb))
    assert errors.word == "better" and stats.answer(errors, "better") == "holds"
    assert str(errors).startswith("better (errors ×0.9")
    assert math.exp(-errors.diff) == pytest.approx((1 - a.mean()) / (1 - b.mean()), rel=0.02)


def test_seeds_that_would_decide_take_the_quicker_route():
    small = stats.compare([0.81, 0.78, 0.82], [0.800, 0.800, 0.800], margin=0.03)
    assert small.word == "undecided" and small.route == "bound it inside the margin"
    assert small.needed is not None and small.needed < 10
    assert "would bound it inside the margin" in str(small)


def test_fragile_answers_are_within_one_standard_error_of_changing():
    clear = stats.compare([0.80, 0.82, 0.81, 0.83], [0.70, 0.71, 0.72, 0.72])
    assert not clear.fragile("better")
    e = np.array([-1.5, -1.0, -0.6, -0.3, 0.0, 0.1, 0.4, 0.6, 1.0, 1.3])
    e = (e - e.mean()) / e.std(ddof=1)  # spread 1 exactly
    d = 0.03 * (e + 2.4 / math.sqrt(10))  # t = 2.4 against a threshold of 2.26
    edge = stats.compare(list(0.7 + d), [0.7] * 10)
    assert edge.word == "better" and edge.fragile("better")
