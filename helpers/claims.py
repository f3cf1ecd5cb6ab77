"""A ledger of what a notebook established: every verdict, the question its claim asks, its
family, and whether the claim holds after Holm's adjustment.

A notebook keeps one :class:`Ledger`; each verdict is added with the claim it tests (in the words
of the claim's source: the CS231n note, a paper), the section, the world (lab, Lite0), the
comparison, and the question the claim asks — declared with it as the word that would support
it (``expect``: ``"better"``/``"worse"`` for a difference, ``"not worse"`` for a recommendation,
``"equivalent"`` for a match; see :mod:`helpers.stats`). Within a family of related claims both
the supporting and the refuting p values are adjusted by Holm's method, so that neither "holds"
nor "does not hold" comes from one test in twenty at 5 %. ``print(ledger)`` is the "What this
run measured" list; ``tools/make_claims.py`` (``make claims``) collects the ledgers of 04–06 and
09, run on the committed reference rows, into ``data/reference/CLAIMS.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from . import stats
from .stats import Verdict, holm

COLUMNS = (
    "claim",
    "question",
    "section",
    "world",
    "comparison",
    "Δ ± 95 % CI",
    "margin",
    "n",
    "p",
    "Holm p for / against",
    "verdict",
    "holds",
    "fragile",
)
EXPECT = tuple(stats.QUESTIONS)


@dataclass
class Claim:
    family: str
    claim: str
    section: str
    world: str
    comparison: str
    verdict: Verdict
    expect: str | None = "better"
    effect: float | None = None  # the effect the claim is about (a paper's), in the values' units

    @property
    def question(self) -> str:
        return stats.QUESTIONS[self.expect]

    @property
    def powered(self) -> bool:
        """Whether the design detects the claim's effect (80 % power); without a declared
        effect, a claim is judged on its interval alone."""
        v = self.verdict
        if self.effect is None or self.expect is None or v.n < 2:
            return True
        effect = self.effect if v.scale == "linear" else math.log(self.effect)
        return not v.detectable > effect

    def tests(self) -> tuple[float, float]:
        """The verdict's supporting and refuting p values; none for a claim the design is too
        small to test (it is descriptive at this size)."""
        return self.verdict.tests(self.expect) if self.powered else (math.nan, math.nan)


@dataclass
class Ledger:
    """The verdicts of one notebook, with Holm-adjusted p values per family.

    ``show=True``: each verdict is printed as it is added, ``[world] comparison: verdict``.
    """

    notebook: str
    claims: list[Claim] = field(default_factory=list)
    show: bool = False

    def add(
        self,
        family: str,
        claim: str,
        comparison: str,
        verdict: Verdict,
        *,
        section: str,
        world: str = "",
        expect: str | None = "better",
        effect: float | None = None,
    ) -> Verdict:
        """Record one verdict (the same claim and comparison again replaces it); returns it.

        ``expect``: the word that supports the claim, which says the question it asks
        (:data:`helpers.stats.QUESTIONS`); ``None``: the comparison is descriptive. ``effect``:
        the size of effect the claim is about (a paper's, in the values' units; a factor on a
        ratio scale), declared with it: when the design cannot detect it, the claim is
        *descriptive at this size* — printed with its numbers, not scored, outside Holm's
        families. The same comparison may not be recorded under two claims (one result, counted
        once).
        """
        if expect not in EXPECT:
            raise ValueError(f"expect must be one of {EXPECT}, got {expect!r}")
        verdict.tests(expect)  # a question that needs a margin raises here, at the claim
        self.claims = [
            c for c in self.claims if (c.claim, c.comparison, c.world) != (claim, comparison, world)
        ]
        for other in self.claims:
            same = (other.world, other.comparison) == (world, comparison)
            if same and other.verdict == verdict:
                raise ValueError(
                    f"[{world}] {comparison} is already recorded for {other.claim!r}: one "
                    "comparison counts once in the ledger"
                )
        self.claims.append(
            Claim(family, claim, section, world, comparison, verdict, expect, effect)
        )
        if self.show:
            print(f"[{world}] " * bool(world) + f"{comparison}: {verdict}")
        return verdict

    def claim(
        self,
        family: str,
        claim: str,
        *,
        section: str,
        world: str = "",
        expect: str | None = "better",
        effect: float | None = None,
    ):
        """Declare a claim once; returns ``record(comparison, verdict, **changes)`` that adds
        one of its comparisons (:meth:`add`; ``changes``: another ``world`` or ``section``).

        ``damage = ledger.claim("06 damage", "too high a LR destroys…", section="3",
        expect="worse")`` then ``damage("highest LRs vs best", verdict)``.
        """
        if expect not in EXPECT:
            raise ValueError(f"expect must be one of {EXPECT}, got {expect!r}")
        declared = dict(section=section, world=world, expect=expect, effect=effect)

        def record(comparison: str, verdict: Verdict, **changes) -> Verdict:
            return self.add(family, claim, comparison, verdict, **{**declared, **changes})

        return record

    def adjusted(self) -> list[tuple[float, float]]:
        """Per claim (claims' order): Holm's adjusted p of the test that supports it and of the
        one that refutes it, each adjusted within the claim's family."""
        tests = [c.tests() for c in self.claims]
        out = [(math.nan, math.nan)] * len(self.claims)
        for family in dict.fromkeys(c.family for c in self.claims):
            idx = [i for i, c in enumerate(self.claims) if c.family == family]
            support = holm([tests[i][0] for i in idx])
            refute = holm([tests[i][1] for i in idx])
            for i, s, r in zip(idx, support, refute):
                out[i] = (s, r)
        return out

    def answers(self) -> list[str]:
        """Per claim: "holds", "does not hold", "undecided" or "–", after Holm."""
        return [self._answer(c, *p)[0] for c, p in zip(self.claims, self.adjusted())]

    def answer(self, comparison: str, world: str = "", claim: str | None = None) -> str:
        """The answer (after Holm) of the claim recorded with ``comparison``, ``world`` and, when
        given, ``claim``."""
        for c, a in zip(self.claims, self.answers()):
            if (c.comparison, c.world) == (comparison, world) and claim in (None, c.claim):
                return a
        raise KeyError(f"no claim recorded with [{world}] {comparison}")

    @staticmethod
    def _answer(c: Claim, p_for: float, p_against: float) -> tuple[str, str]:
        """(answer, why) after Holm: why an undecided claim is undecided."""
        v, expect = c.verdict, c.expect
        if not c.powered:
            floor = f"; its test set alone ±{v.bound(v.floor).lstrip('±')}" if v.floor else ""
            size = v.bound(c.effect if v.scale == "linear" else math.log(c.effect)).lstrip("±")
            detects = v.bound(v.detectable).lstrip("±")
            return (
                "–",
                f"descriptive at this size: it detects ≥ {detects}{floor}; the effect is {size}",
            )
        found = stats.answer(v, expect, p_for, p_against)
        if found != "undecided" or expect is None:
            return found, ""
        before = stats.answer(v, expect)
        if before != "undecided":
            return found, f"{before} before Holm, not after"
        if not v.reachable(expect):
            return found, f"by design: its interval {v.bound(v.half)} cannot fit the margin"
        needed = v.seeds_for(expect)
        if needed and needed > v.n:
            return found, f"≈ {needed} seeds would decide it"
        if needed is None and v.effect_for(expect) > 0 and v.fixed > 0:
            floor = v.bound(v.floor).lstrip("±")
            return found, f"more seeds alone cannot decide it: its test set alone ±{floor}"
        return found, ""

    def rows(self) -> list[dict]:
        """One dict per claim, with the table's columns, the verdict's numbers and the raw
        answer."""
        rows = []
        for c, (p_for, p_against) in zip(self.claims, self.adjusted()):
            v = c.verdict
            found, why = self._answer(c, p_for, p_against)
            rows.append(
                {
                    "notebook": self.notebook,
                    "family": c.family,
                    "claim": c.claim,
                    "question": c.question + ("" if c.powered else ", descriptive"),
                    "section": c.section,
                    "world": c.world,
                    "comparison": c.comparison,
                    "Δ ± 95 % CI": v.interval_text(),
                    "margin": v.bound(v.margin) if v.margin is not None else "–",
                    "n": v.n,
                    "p": _p(c.tests()[0]),
                    "Holm p for / against": f"{_p(p_for)} / {_p(p_against)}",
                    "verdict": v.word,
                    "holds": found + (f" ({why})" if why else ""),
                    "answer": found,
                    "fragile": "⚠" if c.powered and v.fragile(c.expect) else "",
                    "diff": v.diff,
                    "half": v.half,
                    "se": v.se,
                    "floor": v.floor,
                    "detectable": v.detectable,
                    "needed": v.seeds_for(c.expect),
                    "scale": v.scale,
                    "per_seed": v.per_seed,
                    "fixed": v.fixed,
                    "expect": c.expect,
                    "margin_value": v.margin,
                }
            )
        return rows

    def __str__(self) -> str:
        rows = self.rows()
        fragile = sum(bool(r["fragile"]) for r in rows)
        lines = [
            f"{len(rows)} verdicts (Holm-adjusted within each family; {fragile} within one "
            "standard error of changing, marked ⚠):"
        ]
        for r in rows:
            where = f"[{r['world']}] " if r["world"] else ""
            numbers = f"{r['Δ ± 95 % CI']}, n={r['n']}, margin {r['margin']}"
            lines.append(
                f"- {where}{r['claim']} ({r['question']}) — {r['comparison']}: "
                f"{numbers} → {r['holds']}{' ⚠' * bool(r['fragile'])}"
            )
        return "\n".join(lines)


def _p(p: float) -> str:
    if p is None or math.isnan(p):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def markdown(rows: list[dict], title: str = "") -> str:
    """A Markdown table of ledger rows (several notebooks' together)."""
    head = ["notebook", *COLUMNS]
    out = [f"# {title}", ""] if title else []
    out += ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in rows:
        cells = [r["notebook"][:2]] + [str(r[c]).replace("|", "/") for c in COLUMNS]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"
