"""The course's one home for verdicts: paired differences, their intervals, the question each
claim asks, and whether the rows answer it.

:func:`compare` pairs two lists of results by seed. Its :class:`Verdict` carries the numbers as
fields — the mean difference, the 95 % interval's half-width, the standard error and degrees of
freedom, the p value, the smallest effect the design detects, the seeds that would decide, the
margin declared before the run — and a word: **better** or **worse** when the interval excludes
zero, else **equivalent** when it lies inside the declared margin, else **undecided**.

**The question a claim asks** is declared with it, as the word that would support it
(:data:`QUESTIONS`):

- ``"better"`` / ``"worse"`` — a *difference* (superiority): the interval must exclude zero in
  that direction; the opposite direction, or a tie inside the margin, refutes it;
- ``"not worse"`` — a *recommendation* (non-inferiority): it holds when its choice is not worse
  than the alternative by more than the margin (the interval's lower end above −margin), and is
  refuted when it is worse by more (the upper end below −margin);
- ``"equivalent"`` — a *match* (equivalence): the whole interval inside ±margin; refuted when
  it lies beyond the margin on one side.

:meth:`Verdict.tests` gives the p values of the test that supports the claim and of the one that
refutes it; a family of claims adjusts both with Holm's method (:func:`holm`), so that
refutation, like support, needs a result that survives multiplicity (:func:`answer`).

**Scales.** Accuracies compare in points (``scale="linear"``); multiplicative quantities
(gradient norms, learning rates) as log ratios (``"log"``, margins as factors); near a ceiling,
where a point is a large share of the errors, as a ratio of error rates (``"error"``: 95.9 %
against 95.5 % is 9 % fewer errors, and a margin such as ×1.25 is on that scale).

**Noise.** The interval includes every source of noise the design has: seeds (the spread of the
paired differences); a **fixed test set** shared by every seed (``correct=``: per seed, which
test images each side got right), whose images are a sample too — a two-way analysis of
variance over seeds and images, whose interaction is counted once; and a **re-split pool**
(``resplit=``, Nadeau & Bengio 2003).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

NO_VERDICT = "one run: no verdict"
VERDICTS = ("better", "worse", "equivalent", "undecided", NO_VERDICT)
# the question a claim asks, by the word that supports it
QUESTIONS = {
    "better": "difference",
    "worse": "difference",
    "not worse": "recommendation",
    "equivalent": "match",
    None: "descriptive",
}
ANSWERS = ("holds", "does not hold", "undecided", "–")
CONFIDENCE, POWER, ALPHA = 0.95, 0.80, 0.05
SCALES = ("linear", "log", "error")


def _t(df: float, q: float) -> float:
    return float(stats.t.ppf(q, df)) if df > 0 else float("inf")


@dataclass(frozen=True, eq=False)
class Verdict:
    """A paired comparison: the word, and the numbers behind it as fields.

    ``diff``, ``half``, ``se`` and ``margin`` are on the comparison's scale (accuracy as a
    fraction; log of the ratio on the ``log`` and ``error`` scales, oriented so that a positive
    ``diff`` favours the first side). ``p``: two-sided p of "no difference"; ``detectable``: the
    smallest true difference the design detects with 80 % power; ``needed``: the seeds that would
    decide, by ``route`` ("show the difference" or "bound it inside the margin"; ``None``: more
    seeds alone cannot); ``floor``: the half-width no number of seeds gets under (a fixed test
    set's images); ``equal``: every paired difference was the same. Test a verdict by ``.word``.
    """

    word: str
    diff: float
    half: float
    n: int
    p: float = float("nan")
    detectable: float = float("nan")
    needed: int | None = None
    margin: float | None = None
    se: float = float("nan")
    df: float = float("nan")
    scale: str = "linear"
    times: float = 100.0
    unit: str = "points"
    digits: int = 1
    note: str = ""
    floor: float = 0.0
    route: str = ""
    equal: bool = False
    per_seed: float = float("nan")  # the variance of one seed's difference
    fixed: float = 0.0  # the variance no number of seeds shrinks (test images, a re-split pool)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            raise TypeError(f"compare a verdict by its word: v.word == {other!r}")
        if isinstance(other, Verdict):
            mine, theirs = (
                (self.word, self.diff, self.half, self.n),
                (other.word, other.diff, other.half, other.n),
            )
            return mine == theirs
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.word)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    # ---------------------------------------------------------------- numbers as text
    def amount(self, value: float, signed: bool = True) -> str:
        """A value on this verdict's scale as text: ``+3.1`` (points), ``×0.90``."""
        if self.scale != "linear":
            factor = math.exp(-value if self.scale == "error" else value)
            return f"×{factor:.{max(self.digits, 2)}f}"
        return f"{value * self.times:{'+' if signed else ''}.{self.digits}f}"

    def bound(self, value: float | None) -> str:
        """A margin or a half-width as text: ``±3.0 points``, ``×1.25``."""
        if value is None:
            return "none"
        if self.scale != "linear":
            return f"×{math.exp(value):.2f}"
        return f"±{value * self.times:.{self.digits}f} {self.unit}"

    def interval_text(self) -> str:
        """The difference and its 95 % interval: ``+3.1 ± 1.2 points``; on a ratio scale
        ``×0.90 (×0.84–×0.97)``, preceded by "errors" on the error scale."""
        if self.n < 2 or not math.isfinite(self.half):
            return f"{self.amount(self.diff)}" + (f" {self.unit}" if self.scale == "linear" else "")
        if self.scale == "linear":
            return f"{self.amount(self.diff)} ± {self.amount(self.half, False)} {self.unit}"
        ends = sorted(
            (self.amount(self.diff - self.half), self.amount(self.diff + self.half)),
            key=lambda s: float(s[1:]),
        )
        errors = "errors " if self.scale == "error" else ""
        return f"{errors}{self.amount(self.diff)} ({ends[0]}–{ends[1]})"

    def __str__(self) -> str:
        if self.n < 2:
            return f"{self.word} ({self.interval_text()}, n={self.n})"
        core = f"{self.interval_text()}, n={self.n}"
        if self.word == "equivalent":
            core += f", inside {self.bound(self.margin)}"
        if self.word == "undecided":
            core += self._undecided()
        if self.note:
            core += f"; {self.note}"
        return f"{self.word} ({core})"

    def _undecided(self) -> str:
        if not math.isfinite(self.detectable):
            return ""
        text = f"; this design detects ≥ {self.bound(self.detectable).lstrip('±')}"
        if self.needed is None:
            text += "; more seeds alone cannot resolve it: the test set's noise does not shrink"
        elif self.needed > self.n:
            text += f"; ≈ {self.needed} seeds would {self.route}"
        return text

    # ---------------------------------------------------------------- the question a claim asks
    def _z(self, boundary: float) -> float:
        """How many standard errors the estimate lies above ``boundary``."""
        gap = self.diff - boundary
        if self.se > 0:
            return gap / self.se
        return math.copysign(math.inf, gap) if gap else 0.0

    def _p_above(self, boundary: float) -> float:
        """Two-sided-equivalent p of "the difference exceeds ``boundary``" (one-sided × 2)."""
        z = self._z(boundary)
        if math.isinf(z):
            return 0.0 if z > 0 else 1.0
        return min(1.0, 2 * float(stats.t.sf(z, self.df)))

    def _p_below(self, boundary: float) -> float:
        z = self._z(boundary)
        if math.isinf(z):
            return 0.0 if z < 0 else 1.0
        return min(1.0, 2 * float(stats.t.cdf(z, self.df)))

    def tests(self, expect: str | None) -> tuple[float, float]:
        """``(p that supports, p that refutes)`` the claim whose supporting word is ``expect``;
        each is a two-sided-equivalent p (compare with 0.05), NaN where no test applies."""
        if expect is None or self.n < 2:
            return math.nan, math.nan
        m = self.margin
        if expect in ("not worse", "equivalent") and m is None:
            raise ValueError(
                f"a claim that expects {expect!r} needs a margin declared before the run"
            )
        if expect == "better":
            tie = self._p_equivalent() if m is not None else 1.0
            return self._p_above(0.0), min(self._p_below(0.0), tie)
        if expect == "worse":
            tie = self._p_equivalent() if m is not None else 1.0
            return self._p_below(0.0), min(self._p_above(0.0), tie)
        if expect == "not worse":
            return self._p_above(-m), self._p_below(-m)
        if expect == "equivalent":
            return self._p_equivalent(), min(self._p_above(m), self._p_below(-m))
        raise ValueError(f"unknown question {expect!r}; expect one of {list(QUESTIONS)}")

    def _p_equivalent(self) -> float:
        """Two one-sided tests against ±margin, as one two-sided-equivalent p."""
        return max(self._p_above(-self.margin), self._p_below(self.margin))

    def effect_for(self, expect: str | None) -> float:
        """How far the observed difference lies on the claim's side of its boundary: from zero
        for a difference, from −margin for a recommendation, inside the margin for a match
        (negative: on the other side; NaN for a descriptive comparison)."""
        m = self.margin or 0.0
        return {
            "better": self.diff,
            "worse": -self.diff,
            "not worse": self.diff + m,
            "equivalent": m - abs(self.diff),
        }.get(expect, math.nan)

    def seeds_for(self, expect: str | None) -> int | None:
        """The seeds this design would need to answer the claim whose supporting word is
        ``expect`` with 80 % power, were the true difference the observed one
        (:meth:`effect_for`). ``None`` when the observed difference lies on the other side, or
        when no number of seeds is enough (the test set's noise does not shrink)."""
        effect = self.effect_for(expect)
        if not effect > 0 or not math.isfinite(self.per_seed):
            return None
        return _seeds_needed(effect, self.per_seed, self.fixed, self.n)

    def reachable(self, expect: str | None) -> bool:
        """Whether this design could support ``expect`` at all: an equivalence needs an interval
        narrower than the margin."""
        if expect != "equivalent" or self.margin is None:
            return True
        return math.isfinite(self.half) and self.half < self.margin

    def fragile(self, expect: str | None) -> bool:
        """Whether the claim's answer lies within one standard error of changing: the bound of
        the interval that decides (or nearly decides) it is closer than ``se`` to its
        boundary."""
        if expect is None or self.n < 2 or not self.se > 0:
            return False
        crit = _t(self.df, 0.5 + CONFIDENCE / 2)
        edges = [0.0] if expect in ("better", "worse") else []
        if self.margin is not None:
            edges += [-self.margin] if expect == "not worse" else [-self.margin, self.margin]
        return any(abs(abs(self._z(b)) - crit) < 1 for b in edges if b is not None)


def answer(
    v: Verdict, expect: str | None, p_support: float | None = None, p_refute: float | None = None
) -> str:
    """Whether the claim holds: "holds" (the supporting test significant), "does not hold"
    (the refuting one), else "undecided" — with the p values given (Holm-adjusted within the
    claim's family), else the verdict's own; "–" for a descriptive comparison."""
    if expect is None:
        return "–"
    if v.n < 2:
        return "undecided"
    support, refute = v.tests(expect)
    support = support if p_support is None else p_support
    refute = refute if p_refute is None else p_refute
    if support < ALPHA:
        return "holds"
    if refute < ALPHA:
        return "does not hold"
    return "undecided"


# ------------------------------------------------------------------------------- the interval


@dataclass(frozen=True)
class _Spread:
    var: float  # variance of the mean difference
    df: float
    per_seed: float  # the part that shrinks with seeds: the variance of one seed's difference
    fixed: float  # the part no number of seeds shrinks (test images, a re-split pool)


def two_level(D: np.ndarray) -> tuple[float, float, float, float]:
    """The variance of the mean of ``D`` (seeds × images) when both the seeds and the images are
    samples: ``(variance, degrees of freedom, per-seed variance, images' part)``.

    A two-way analysis of variance: E[MS_seed] = mσ²_s + σ²_e, E[MS_image] = nσ²_t + σ²_e,
    E[MS_error] = σ²_e, so (MS_seed + MS_image − MS_error) / nm estimates
    σ²_s/n + σ²_t/m + σ²_e/nm with the seed × image interaction counted once (adding the two
    one-way variances counts it twice); Satterthwaite's degrees of freedom. Never below either
    one-way part, each of which it contains.
    """
    n, m = D.shape
    seed_means, image_means, grand = D.mean(1), D.mean(0), D.mean()
    ms_seed = m * float(seed_means.var(ddof=1))
    ms_image = n * float(image_means.var(ddof=1)) if m > 1 else 0.0
    residual = D - seed_means[:, None] - image_means[None, :] + grand
    dfs = (n - 1, m - 1, (n - 1) * (m - 1))
    ms_error = float((residual**2).sum()) / dfs[2] if dfs[2] > 0 else 0.0
    terms = (ms_seed, ms_image, -ms_error)
    var = sum(terms) / (n * m)
    floor = max(ms_seed, ms_image) / (n * m)
    if var <= floor:
        var, df = floor, dfs[0] if ms_seed >= ms_image else dfs[1]
    else:
        parts = sum(t**2 / d for t, d in zip(terms, dfs) if d > 0)
        df = (sum(terms) ** 2) / parts if parts > 0 else n - 1
    fixed = max(0.0, (ms_image - ms_error) / (n * m))
    return var, float(df), ms_seed / m, fixed


def _spread(d: np.ndarray, D: np.ndarray | None, resplit: float | None) -> _Spread:
    n = len(d)
    s2 = float(d.var(ddof=1))
    if resplit is not None:  # Nadeau & Bengio's corrected resampled t
        return _Spread((1 / n + resplit) * s2, n - 1, s2, resplit * s2)
    if D is None:
        return _Spread(s2 / n, n - 1, s2, 0.0)
    return _Spread(*two_level(D))


def _seeds_needed(effect: float, per_seed: float, fixed: float, n: int) -> int | None:
    """The fewest seeds whose design would detect ``effect`` with 80 % power (``fixed``: the
    variance that seeds do not shrink); None when no number of seeds is enough."""
    if effect <= 0 or per_seed == 0:
        return None
    for k in range(2, 1001):
        if (_t(k - 1, 0.975) + _t(k - 1, POWER)) * math.sqrt(per_seed / k + fixed) <= effect:
            return k
    return None


def _needed(mean: float, spread: _Spread, margin: float | None, n: int) -> tuple[int | None, str]:
    """The seeds that would decide, by the quicker route: showing the observed difference, or
    bounding it inside the margin (when it is smaller than the margin)."""
    routes = [(_seeds_needed(abs(mean), spread.per_seed, spread.fixed, n), "show the difference")]
    if margin is not None and abs(mean) < margin:
        gap = margin - abs(mean)
        routes.append(
            (_seeds_needed(gap, spread.per_seed, spread.fixed, n), "bound it inside the margin")
        )
    found = [(k, route) for k, route in routes if k is not None]
    return min(found) if found else (None, "")


# ------------------------------------------------------------------------------- compare


def _error_scale(x, y, correct):
    """Per seed, the log ratio of the second side's error rate to the first's; with per-image
    correctness, the pooled ratio and the linearised per-image differences (delta method)."""
    if correct is None:
        floor = 1e-3
        ex, ey = np.maximum(1 - x, floor), np.maximum(1 - y, floor)
        return float(np.mean(np.log(ey) - np.log(ex))), np.log(ey) - np.log(ex), None
    ca, cb = (np.asarray(c, dtype=float) for c in correct)
    wrong_a, wrong_b = 1 - ca, 1 - cb
    ea, eb = ((w.sum() + 0.5) / (w.size + 1) for w in (wrong_a, wrong_b))  # never zero
    D = wrong_b / eb - wrong_a / ea
    return float(np.log(eb) - np.log(ea)), D.mean(axis=1), D


def compare(
    a: Sequence[float],
    b: Sequence[float],
    *,
    margin: float | None = None,
    scale: str = "linear",
    correct: tuple[Sequence, Sequence] | None = None,
    resplit: float | None = None,
    times: float = 100.0,
    unit: str = "points",
    digits: int = 1,
) -> Verdict:
    """Paired verdict on ``a`` against ``b`` (values paired by position: same seeds, splits).

    ``margin``: the difference that does not matter, declared before the run (in the values'
    units; on the ``log`` and ``error`` scales a factor such as 1.25). ``scale``: ``"linear"``,
    ``"log"`` (positive quantities, as a ratio) or ``"error"`` (accuracies, as a ratio of error
    rates). ``correct``: per seed, the 0/1 correctness of each side on the same fixed test images
    (``(n, m)`` each), so the interval includes the test images' noise. ``resplit``: the
    test/train ratio of a pool every seed re-splits. See the module text.
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    if len(a) != len(b):
        raise ValueError(f"compare pairs runs by position: got {len(a)} values against {len(b)}")
    if len(a) == 0:
        raise ValueError("compare needs at least one pair of values")
    x, y = (np.asarray(v, dtype=float) for v in (a, b))
    D = None
    if correct is not None:
        ca, cb = (np.asarray(c, dtype=float) for c in correct)
        if ca.shape != cb.shape or ca.ndim != 2 or ca.shape[0] != len(x):
            raise ValueError("correct= needs per seed the same test images for both sides")
    if scale == "log":
        if (x <= 0).any() or (y <= 0).any():
            raise ValueError("scale='log' compares positive quantities (norms, rates)")
        d = np.log(x) - np.log(y)
        mean = float(d.mean())
    elif scale == "error":
        mean, d, D = _error_scale(x, y, correct)
    else:
        d = x - y
        mean = float(d.mean())
        if correct is not None:
            D = ca - cb
    if scale != "linear" and margin is not None:
        margin = math.log(margin)
    shape = dict(margin=margin, scale=scale, times=times, unit=unit, digits=digits)
    if len(d) < 2:
        return Verdict(NO_VERDICT, mean, float("nan"), len(d), **shape)
    return _decide(mean, d, D, resplit, shape)


def _decide(mean: float, d: np.ndarray, D, resplit, shape: dict) -> Verdict:
    n, margin = len(d), shape["margin"]
    spread = _spread(d, D, resplit)
    if spread.var <= (1e-9 * max(1.0, abs(mean))) ** 2:  # all differences equal, to rounding
        mean = 0.0 if abs(mean) < 1e-12 else mean  # no difference, to float rounding
        word = "better" if mean > 0 else "worse" if mean < 0 else "undecided"
        if mean == 0 and margin is not None:
            word = "equivalent"
        note = f"the {n} differences are all equal: decided by their sign"
        return Verdict(
            word,
            mean,
            0.0,
            n,
            p=0.0 if mean else 1.0,
            se=0.0,
            df=n - 1.0,
            note=note,
            equal=True,
            **shape,
        )
    se = math.sqrt(spread.var)
    crit = _t(spread.df, 0.5 + CONFIDENCE / 2)
    half = crit * se
    p = float(2 * stats.t.sf(abs(mean) / se, spread.df))
    detectable = (crit + _t(spread.df, POWER)) * se
    if mean - half > 0 or mean + half < 0:
        word = "better" if mean > 0 else "worse"
    elif margin is not None and abs(mean) + half < margin:
        word = "equivalent"
    else:
        word = "undecided"
    needed, route = _needed(mean, spread, margin, n) if word == "undecided" else (None, "")
    floor = 1.96 * math.sqrt(spread.fixed)
    return Verdict(
        word,
        mean,
        half,
        n,
        p=p,
        detectable=detectable,
        needed=needed,
        se=se,
        df=spread.df,
        floor=floor,
        route=route,
        per_seed=spread.per_seed,
        fixed=spread.fixed,
        **shape,
    )


def bits(correct) -> str:
    """Per-image correctness (a bool sequence) packed as hex, for a results row's
    ``test_correct``; :func:`unbits` reads it back."""
    flags = np.asarray(correct, dtype=bool)
    return f"{len(flags)}:" + np.packbits(flags).tobytes().hex()


def unbits(text: str) -> np.ndarray:
    """The bool array :func:`bits` packed."""
    n, hexed = text.split(":", 1)
    return np.unpackbits(np.frombuffer(bytes.fromhex(hexed), dtype=np.uint8))[: int(n)].astype(bool)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of one family's p values (same order as given): the
    smallest p times k, the next times k − 1, …, kept monotone and capped at 1. NaN stays NaN
    (a comparison without a p value takes no part)."""
    p = np.asarray(pvalues, dtype=float)
    valid = np.flatnonzero(~np.isnan(p))
    out = np.full(len(p), np.nan)
    order = valid[np.argsort(p[valid], kind="stable")]
    k, running = len(order), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (k - rank) * p[i]))
        out[i] = running
    return out.tolist()
