"""A ledger of what a notebook established: every verdict, its claim, its family, its error rate.

A notebook keeps one :class:`Ledger`; each verdict it prints is added with the claim it tests (in
the words of the claim's source: the CS231n note, a paper), the section, the world (lab, Lite0)
and the comparison. Within a family of related claims (06's seven "smaller backbone LR" tests,
say) the p values are adjusted by Holm's method, so that a family of twenty tests at 5 % does not
"find" one effect by chance. ``print(ledger)`` is the "What this run measured" table;
``tools/make_claims.py`` (``make claims``) collects the ledgers of 04–06 run on the committed
reference rows into ``data/reference/CLAIMS.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .stats import Verdict, holm

COLUMNS = ("claim", "section", "world", "comparison", "Δ ± 95 % CI", "n", "p", "Holm p", "verdict",
           "holds")  # fmt: skip
EXPECT = ("better", "worse", "equivalent", None)


@dataclass
class Claim:
    family: str
    claim: str
    section: str
    world: str
    comparison: str
    verdict: Verdict
    expect: str | None = "better"

    def difference(self) -> str:
        """The verdict's difference and interval, as its text gives them."""
        text = str(self.verdict)
        return text[text.index("(") + 1 : text.index(", n=")] if "(" in text else ""


@dataclass
class Ledger:
    """The verdicts of one notebook, with Holm-adjusted p values per family.

    ``show=True``: each verdict is printed as it is added, ``[world] comparison: verdict``.
    """

    notebook: str
    claims: list[Claim] = field(default_factory=list)
    show: bool = False

    def add(self, family: str, claim: str, comparison: str, verdict: Verdict, *, section: str,
            world: str = "", expect: str | None = "better") -> Verdict:  # fmt: skip
        """Record one verdict (the same claim and comparison again replaces it); returns it.

        ``expect``: the verdict word of the comparison that supports the claim ("better",
        "worse", or "equivalent" for a claim of no difference; None: the comparison is
        descriptive), declared with the claim — the ledger's "holds" column follows from it.
        """
        if expect not in EXPECT:
            raise ValueError(f"expect must be one of {EXPECT}, got {expect!r}")
        self.claims = [
            c for c in self.claims if (c.claim, c.comparison, c.world) != (claim, comparison, world)
        ]
        self.claims.append(Claim(family, claim, section, world, comparison, verdict, expect))
        if self.show:
            print(f"[{world}] " * bool(world) + f"{comparison}: {verdict}")
        return verdict

    def claim(self, family: str, claim: str, *, section: str, world: str = "",
              expect: str | None = "better"):  # fmt: skip
        """Declare a claim once; returns ``record(comparison, verdict, **changes)`` that adds
        one of its comparisons (:meth:`add`; ``changes``: another ``world`` or ``section``).

        ``damage = ledger.claim("06 damage", "too high a LR destroys…", section="3",
        expect="worse")`` then ``damage("highest LRs vs best", verdict)``.
        """
        if expect not in EXPECT:
            raise ValueError(f"expect must be one of {EXPECT}, got {expect!r}")
        declared = dict(section=section, world=world, expect=expect)

        def record(comparison: str, verdict: Verdict, **changes) -> Verdict:
            return self.add(family, claim, comparison, verdict, **{**declared, **changes})

        return record

    def adjusted(self) -> list[float]:
        """Holm's adjusted p of every claim, within its family (claims' order)."""
        out = [math.nan] * len(self.claims)
        for family in dict.fromkeys(c.family for c in self.claims):
            idx = [i for i, c in enumerate(self.claims) if c.family == family]
            for i, p in zip(idx, holm([self.claims[i].verdict.p for i in idx])):
                out[i] = p
        return out

    def rows(self) -> list[dict]:
        """One dict per claim, with the table's columns and the raw verdict."""
        rows = []
        for c, p_holm in zip(self.claims, self.adjusted()):
            v = c.verdict
            rows.append({
                "notebook": self.notebook, "family": c.family, "claim": c.claim,
                "section": c.section, "world": c.world, "comparison": c.comparison,
                "Δ ± 95 % CI": c.difference(), "n": v.n, "p": _p(v.p), "Holm p": _p(p_holm),
                "verdict": _word(v, p_holm), "holds": holds(c.expect, v, p_holm),
                "detectable": v.detectable, "needed": v.needed,
            })  # fmt: skip
        return rows

    def __str__(self) -> str:
        lines = [f"{len(self.claims)} verdicts (p values Holm-adjusted within each family):"]
        for r in self.rows():
            where = f"[{r['world']}] " if r["world"] else ""
            numbers = f"{r['Δ ± 95 % CI']}, n={r['n']}, p={r['p']}, Holm {r['Holm p']}"
            lines.append(f"- {where}{r['claim']} — {r['comparison']}: {r['verdict']} ({numbers})"
                         f" → holds: {r['holds']}")  # fmt: skip
        return "\n".join(lines)


def _p(p: float) -> str:
    if p is None or math.isnan(p):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _word(v: Verdict, p_holm: float) -> str:
    """The verdict word; a better/worse that does not survive Holm's adjustment says so."""
    if v.word in ("better", "worse") and not math.isnan(p_holm) and p_holm > 0.05:
        return f"{v.word} (not after Holm)"
    if v.word == "undecided" and v.needed:
        return f"undecided (≈ {v.needed} seeds would decide)"
    return v.word


def holds(expect: str | None, v: Verdict, p_holm: float) -> str:
    """Whether the claim holds: "yes" (the expected word, surviving Holm's adjustment), "no"
    (the opposite word, or a tie where a difference was claimed, or a difference where a tie
    was), "undecided", or "–" for a descriptive comparison."""
    if expect is None:
        return "–"
    if v.word not in ("better", "worse", "equivalent"):
        return "undecided"
    if v.word != expect:
        return "no"
    if expect != "equivalent" and not math.isnan(p_holm) and p_holm > 0.05:
        return "undecided after Holm"
    return "yes"


def markdown(rows: list[dict], title: str = "") -> str:
    """A Markdown table of ledger rows (several notebooks' together)."""
    head = ["notebook", *COLUMNS]
    out = [f"# {title}", ""] if title else []
    out += ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in rows:
        cells = [r["notebook"][:2]] + [str(r[c]).replace("|", "/") for c in COLUMNS]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"
