"""The claims ledger: the question each claim asks, Holm both ways within families, its table."""

import pytest

from helpers import claims, stats

CLEAR = [0.80, 0.82, 0.81, 0.83]  # against BASE: +10 points, small spread
BASE = [0.70, 0.71, 0.72, 0.72]


def test_holm_adjusts_support_within_a_family_only():
    ledger = claims.Ledger("xx_demo")
    a = ledger.add("f", "claim a", "A vs B", stats.compare(CLEAR, BASE), section="1")
    ledger.add("f", "claim b", "B vs A", stats.compare(BASE, CLEAR), section="1", expect="worse")
    ledger.add("g", "claim c", "A vs B", stats.compare(CLEAR, BASE), section="2", world="w")
    (f1, _), _, (g1, _) = ledger.adjusted()
    assert f1 == pytest.approx(min(1.0, 2 * a.p)), "two claims in family f: p × 2"
    assert g1 == pytest.approx(a.p), "alone in family g: unadjusted"
    rows = ledger.rows()
    assert [r["answer"] for r in rows] == ["holds", "holds", "holds"]
    assert rows[0]["verdict"] == "better" and rows[0]["Δ ± 95 % CI"].startswith("+")
    assert rows[0]["question"] == "difference"


def test_an_opposite_difference_that_fails_holm_is_undecided_not_refuted():
    ledger = claims.Ledger("xx_demo")
    weak = stats.compare([0.70, 0.66, 0.69, 0.65], [0.72, 0.70, 0.71, 0.70])  # worse, p ≈ 0.03
    assert weak.word == "worse" and 0.01 < weak.p < 0.05
    ledger.add("f", "x helps", "X vs Y", weak, section="1")
    for i in range(3):
        ledger.add("f", f"other {i}", f"O{i} vs P", stats.compare(CLEAR, BASE), section="1")
    row = ledger.rows()[0]
    assert row["answer"] == "undecided" and "does not hold before Holm, not after" in row["holds"]
    alone = claims.Ledger("xx_demo")
    alone.add("f", "x helps", "X vs Y", weak, section="1")
    assert alone.rows()[0]["answer"] == "does not hold", "alone in its family it is refuted"


def test_each_claim_is_answered_by_its_own_question():
    ledger = claims.Ledger("xx_demo")
    tie = stats.compare([0.700, 0.705, 0.701, 0.703], [0.701, 0.703, 0.702, 0.702], margin=0.02)
    behind = stats.compare([0.812, 0.821, 0.817, 0.821], [0.83, 0.838, 0.833, 0.836], margin=0.03)
    ledger.add("m", "they match", "A vs B", tie, section="1", expect="equivalent")
    ledger.add("r", "use A", "A vs best other", behind, section="1", expect="not worse")
    ledger.add("d", "A differs", "A vs C", tie, section="1")
    rows = ledger.rows()
    assert [r["answer"] for r in rows] == ["holds", "holds", "does not hold"]
    assert [r["question"] for r in rows] == ["match", "recommendation", "difference"]
    assert rows[1]["verdict"] == "worse", "a recommendation 1.8 points behind, inside ±3"
    assert rows[0]["margin"] == "±2.0 points"
    with pytest.raises(ValueError, match="needs a margin"):
        ledger.add("m", "c", "a vs b", stats.compare(CLEAR, BASE), section="1", expect="equivalent")
    with pytest.raises(ValueError, match="expect"):
        ledger.add("f", "c", "a vs b", tie, section="1", expect="higher")


def test_a_margin_the_design_cannot_reach_leaves_the_claim_undecided_by_design():
    wide = stats.compare([0.7, 0.9, 0.6, 0.8], [0.75, 0.7, 0.8, 0.72], margin=0.03)
    ledger = claims.Ledger("xx_demo")
    ledger.add("m", "they match", "A vs B", wide, section="1", expect="equivalent")
    row = ledger.rows()[0]
    assert row["answer"] == "undecided" and "by design" in row["holds"]


def test_one_comparison_counts_once():
    ledger = claims.Ledger("xx_demo")
    v = stats.compare(CLEAR, BASE)
    ledger.add("f", "rule", "fine-tune all vs scratch", v, section="5", world="lab")
    with pytest.raises(ValueError, match="already recorded"):
        ledger.add("g", "pretrained helps", "fine-tune all vs scratch", v, section="5", world="lab")
    ledger.add("f", "rule", "fine-tune all vs scratch", v, section="5", world="Lite0")


def test_the_same_claim_and_comparison_replaces_the_earlier_verdict():
    ledger = claims.Ledger("xx_demo")
    ledger.add("f", "claim", "A vs B", stats.compare(BASE, CLEAR), section="1")
    ledger.add("f", "claim", "A vs B", stats.compare(CLEAR, BASE), section="1")
    ledger.add("f", "claim", "A vs B", stats.compare(CLEAR, BASE), section="1", world="other")
    assert len(ledger.claims) == 2 and ledger.claims[0].verdict.word == "better"


def test_the_table_and_the_text_carry_every_claim_and_flag_fragile_ones():
    ledger = claims.Ledger("05_demo")
    ledger.add("f", "a | b", "A vs B", stats.compare(CLEAR, BASE), section="3", world="lab")
    edge = stats.compare([0.75, 0.70, 0.80, 0.78], [0.70, 0.70, 0.70, 0.70])
    ledger.add("f", "c", "C vs D", edge, section="3", world="lab")
    text = str(ledger)
    assert "2 verdicts" in text and "[lab] a | b (difference) — A vs B:" in text
    assert "→ holds" in text
    table = claims.markdown(ledger.rows(), title="Claims")
    lines = table.splitlines()
    assert lines[0] == "# Claims" and lines[2].count("|") == len(claims.COLUMNS) + 2
    assert "| 05 | a / b | difference | 3 | lab | A vs B |" in table, "a '|' cannot break it"
    assert ledger.answer("A vs B", world="lab") == "holds"


def test_a_claim_declared_once_records_its_comparisons_as_add_does():
    by_add, by_claim = claims.Ledger("xx_demo"), claims.Ledger("xx_demo")
    by_add.add("f", "claim", "A vs B", stats.compare(CLEAR, BASE), section="1", expect="worse")
    by_add.add(
        "f", "claim", "B vs A", stats.compare(BASE, CLEAR), section="1", world="w", expect="worse"
    )
    record = by_claim.claim("f", "claim", section="1", expect="worse")
    assert record("A vs B", stats.compare(CLEAR, BASE)).word == "better"
    record("B vs A", stats.compare(BASE, CLEAR), world="w")
    assert by_claim.rows() == by_add.rows()
    with pytest.raises(ValueError, match="expect must be one of"):
        by_claim.claim("f", "c", section="1", expect="higher")


def test_a_ledger_that_shows_prints_each_verdict_as_it_is_added(capsys):
    quiet, shown = claims.Ledger("xx_demo"), claims.Ledger("xx_demo", show=True)
    quiet.add("f", "claim", "A vs B", stats.compare(CLEAR, BASE), section="1")
    assert capsys.readouterr().out == ""
    v = shown.add("f", "claim", "A vs B", stats.compare(CLEAR, BASE), section="1", world="lab")
    assert capsys.readouterr().out == f"[lab] A vs B: {v}\n"
    shown.add("f", "claim", "B vs A", stats.compare(BASE, CLEAR), section="1")
    assert capsys.readouterr().out.startswith("B vs A: worse")


def test_a_claim_the_design_cannot_test_is_descriptive_at_this_size_and_outside_holm():
    ledger = claims.Ledger("xx_demo")
    wide = stats.compare([0.60, 0.75, 0.52, 0.70], [0.55, 0.62, 0.60, 0.58])  # detects ≥ 20 points
    ledger.add("f", "X beats Y by a paper's 3 points", "X vs Y", wide, section="1", effect=0.03)
    ledger.add("f", "A beats B", "A vs B", stats.compare(CLEAR, BASE), section="1")
    rows = ledger.rows()
    assert rows[0]["answer"] == "–" and rows[0]["question"] == "difference, descriptive"
    assert "descriptive at this size" in rows[0]["holds"]
    assert "the effect is 3.0 points" in rows[0]["holds"]
    assert ledger.adjusted()[1][0] == pytest.approx(stats.compare(CLEAR, BASE).p), "not in Holm"
    powered = claims.Ledger("xx_demo")
    powered.add(
        "f", "A beats B by 3", "A vs B", stats.compare(CLEAR, BASE), section="1", effect=0.5
    )
    assert powered.rows()[0]["answer"] == "holds"
