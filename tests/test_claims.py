"""The claims ledger: Holm within families, whether a claim holds, its table."""

import math

import pytest

from helpers import claims, stats

CLEAR = [0.80, 0.82, 0.81, 0.83]  # against BASE: +10 points, small spread
BASE = [0.70, 0.71, 0.72, 0.72]


def test_holm_adjusts_within_a_family_only():
    ledger = claims.Ledger("xx_demo")
    a = ledger.add("f", "claim a", "A vs B", stats.compare(CLEAR, BASE), section="1")
    ledger.add("f", "claim b", "B vs A", stats.compare(BASE, CLEAR), section="1", expect="worse")
    ledger.add("g", "claim c", "A vs B", stats.compare(CLEAR, BASE), section="2")
    adjusted = ledger.adjusted()
    assert adjusted[0] == pytest.approx(min(1.0, 2 * a.p)), "two claims in family f: p × 2"
    assert adjusted[2] == pytest.approx(a.p), "alone in family g: unadjusted"
    rows = ledger.rows()
    assert [r["holds"] for r in rows] == ["yes", "yes", "yes"]
    assert rows[0]["verdict"] == "better" and rows[0]["Δ ± 95 % CI"].startswith("+")


def test_the_same_claim_and_comparison_replaces_the_earlier_verdict():
    ledger = claims.Ledger("xx_demo")
    ledger.add("f", "claim", "A vs B", stats.compare(BASE, CLEAR), section="1")
    ledger.add("f", "claim", "A vs B", stats.compare(CLEAR, BASE), section="1")
    ledger.add("f", "claim", "A vs B", stats.compare(CLEAR, BASE), section="1", world="other")
    assert len(ledger.claims) == 2 and ledger.claims[0].verdict.word == "better"


def test_holds_reads_the_verdict_against_the_declared_expectation():
    better = stats.compare(CLEAR, BASE)
    tie = stats.compare([0.700, 0.705, 0.701, 0.703], [0.701, 0.703, 0.702, 0.702], margin=0.02)
    unsure = stats.compare([0.7, 0.9, 0.6, 0.8], [0.75, 0.7, 0.8, 0.72])
    assert tie.word == "equivalent" and unsure.word == "undecided"
    assert claims.holds("better", better, better.p) == "yes"
    assert claims.holds("worse", better, better.p) == "no"
    assert claims.holds("equivalent", better, better.p) == "no", (
        "a difference where a tie was claimed"
    )
    assert claims.holds("better", tie, tie.p) == "no", "a tie where a difference was claimed"
    assert claims.holds("equivalent", tie, tie.p) == "yes"
    assert claims.holds("better", unsure, unsure.p) == "undecided"
    assert claims.holds("better", better, 0.2) == "undecided after Holm"
    assert claims.holds(None, better, better.p) == "–"
    one = stats.compare([0.8], [0.7])
    assert claims.holds("better", one, math.nan) == "undecided"
    with pytest.raises(ValueError, match="expect"):
        claims.Ledger("x").add("f", "c", "a vs b", better, section="1", expect="higher")


def test_the_table_and_the_text_carry_every_claim():
    ledger = claims.Ledger("05_demo")
    ledger.add("f", "a | b", "A vs B", stats.compare(CLEAR, BASE), section="3", world="lab")
    text = str(ledger)
    assert "1 verdicts" in text and "[lab] a | b — A vs B: better" in text and "holds: yes" in text
    table = claims.markdown(ledger.rows(), title="Claims")
    lines = table.splitlines()
    assert lines[0] == "# Claims" and lines[2].count("|") == len(claims.COLUMNS) + 2
    assert "| 05 | a / b | 3 | lab | A vs B |" in table, "a '|' in a claim cannot break the table"


def test_a_claim_declared_once_records_its_comparisons_as_add_does():
    by_add, by_claim = claims.Ledger("xx_demo"), claims.Ledger("xx_demo")
    by_add.add("f", "claim", "A vs B", stats.compare(CLEAR, BASE), section="1", expect="worse")
    by_add.add("f", "claim", "B vs A", stats.compare(BASE, CLEAR), section="1", world="w",
               expect="worse")  # fmt: skip
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
