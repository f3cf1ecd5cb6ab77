"""Verdicts that tell a tie from ignorance: paired differences, their intervals, their power.

:func:`compare` pairs two lists of results by seed and says **better** or **worse** when the 95 %
interval of the mean paired difference excludes zero, **equivalent** when a margin was declared
before the run and the whole interval lies inside it (two one-sided tests at 2.5 % each), and
**undecided** otherwise — with the smallest effect this design could have detected, and the
seeds an effect of the observed size would need. One pair gives no verdict.

The interval includes every source of noise the design has:

- seeds (training draws): the spread of the paired differences;
- a **fixed test set** shared by every seed (``correct=``, per-image correctness): the test
  images are a sample too, and their part of the variance does not shrink with more seeds — a
  two-level variance, seeds plus images, with Welch–Satterthwaite degrees of freedom;
- a **re-split pool** (``resplit=`` test/train ratio): every seed re-splits the same images, so
  the seeds' training sets overlap and their results are correlated; the corrected resampled t
  of Nadeau & Bengio (2003) widens the variance by ``1/n + n_test/n_train`` instead of ``1/n``.

``scale="log"`` compares multiplicative quantities (gradient norms, learning rates) as log
ratios; the verdict then reads as a factor. :func:`holm` adjusts the p values of one family of
claims for multiplicity (Holm 1979).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

NO_VERDICT = "one run: no verdict"
VERDICTS = ("better", "worse", "equivalent", "undecided", NO_VERDICT)
CONFIDENCE, POWER = 0.95, 0.80


@dataclass(frozen=True, eq=False)
class Verdict:
    """A paired comparison's word, mean difference, 95 % half-width and what decided it.

    ``diff`` and ``half`` are in the values' units (accuracy as a fraction; on the log scale, the
    log of the ratio); ``p`` is the two-sided p value of "no difference"; ``detectable`` the
    smallest true difference this design detects with 80 % power; ``needed`` the seeds an
    effect of the observed size would need (``None``: more seeds alone cannot get there).
    ``se`` and ``df``: the standard error of the mean difference and its degrees of freedom.
    ``times``, ``unit`` and ``digits`` only shape the text. Test a verdict by ``v.word``.
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

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            raise TypeError(f"compare a verdict by its word: v.word == {other!r}")
        if isinstance(other, Verdict):
            return (self.word, self.diff, self.half, self.n) == (
                other.word, other.diff, other.half, other.n
            )  # fmt: skip
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.word)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def _amount(self, value: float, signed: bool = True) -> str:
        if self.scale == "log":
            return f"×{math.exp(value):.{max(self.digits, 2)}f}"
        return f"{value * self.times:{'+' if signed else ''}.{self.digits}f}"

    def __str__(self) -> str:
        if self.n < 2:
            return f"{self.word} ({self._amount(self.diff)} {self.unit}, n={self.n})".replace(
                " )", ")"
            )
        if self.scale == "log":
            lo, hi = self._amount(self.diff - self.half), self._amount(self.diff + self.half)
            core = f"{self._amount(self.diff)}, 95 % interval {lo}–{hi}, n={self.n}"
        else:
            core = f"{self._amount(self.diff)} ± {self._amount(self.half, False)} {self.unit}"
            core += f", n={self.n}"
        if self.word == "equivalent":
            core += f", inside ±{self._bound(self.margin)}"
        if self.word == "undecided":
            core += self._undecided()
        if self.note:
            core += f"; {self.note}"
        return f"{self.word} ({core})"

    def _bound(self, value: float | None) -> str:
        if value is None:
            return "?"
        if self.scale == "log":
            return f"×{math.exp(value):.2f}"
        return f"{value * self.times:.{self.digits}f} {self.unit}"

    def _undecided(self) -> str:
        if not math.isfinite(self.detectable):
            return ""
        text = f"; this design detects ≥ {self._bound(self.detectable)}"
        if self.needed is None:
            text += "; more seeds alone cannot resolve it: the test set's noise does not shrink"
        elif self.needed > self.n:
            text += f"; the observed difference would need ≈ {self.needed} seeds"
        return text


def _t(df: float, q: float) -> float:
    return float(stats.t.ppf(q, df)) if df > 0 else float("inf")


def _variance(d: np.ndarray, correct, resplit: float | None) -> tuple[float, float, float]:
    """(variance of the mean difference, its degrees of freedom, the part that shrinks with
    seeds: a per-seed variance)."""
    n = len(d)
    s2 = float(d.var(ddof=1))
    if resplit is not None:  # Nadeau & Bengio's corrected resampled t
        return (1 / n + resplit) * s2, n - 1, s2
    if correct is None:
        return s2 / n, n - 1, s2
    ca, cb = (np.asarray(c, dtype=float) for c in correct)
    if ca.shape != cb.shape or ca.shape[0] != n:
        raise ValueError("correct= needs per seed the same test images for both sides")
    per_image = (ca - cb).mean(axis=0)  # each test image's mean difference over the seeds
    m = len(per_image)
    seeds, images = s2 / n, float(per_image.var(ddof=1)) / m if m > 1 else 0.0
    total = seeds + images
    parts = ((seeds**2) / (n - 1)) + ((images**2) / (m - 1) if m > 1 else 0.0)
    df = total**2 / parts if parts > 0 else n - 1
    return total, df, s2


def _seeds_needed(effect: float, per_seed: float, fixed: float, n: int) -> int | None:
    """The fewest seeds whose design would detect ``effect`` with 80 % power (``fixed``: the
    variance that seeds do not shrink); None when no number of seeds is enough."""
    if effect == 0 or per_seed == 0:
        return None
    for k in range(2, 1001):
        if (_t(k - 1, 0.975) + _t(k - 1, POWER)) * math.sqrt(per_seed / k + fixed) <= abs(effect):
            return k
    return None


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

    ``margin``: the difference that does not matter, declared before the run (same units as the
    values; on the log scale a factor such as 1.25) — without one, a tie cannot be called
    equivalent. ``correct``: per seed, the 0/1 correctness of each side on the same fixed test
    images (``(n, m)`` each), so the interval includes test sampling. ``resplit``: the test/train
    ratio of a pool every seed re-splits (Nadeau & Bengio's correction). See the module text.
    """
    if scale not in ("linear", "log"):
        raise ValueError(f"scale must be 'linear' or 'log', got {scale!r}")
    if len(a) != len(b):
        raise ValueError(f"compare pairs runs by position: got {len(a)} values against {len(b)}")
    if len(a) == 0:
        raise ValueError("compare needs at least one pair of values")
    x, y = (np.asarray(v, dtype=float) for v in (a, b))
    if scale == "log":
        if (x <= 0).any() or (y <= 0).any():
            raise ValueError("scale='log' compares positive quantities (norms, rates)")
        x, y, margin = np.log(x), np.log(y), None if margin is None else math.log(margin)
    d, shape = x - y, dict(margin=margin, scale=scale, times=times, unit=unit, digits=digits)
    if len(d) < 2:
        return Verdict(NO_VERDICT, float(d.mean()), float("nan"), len(d), **shape)
    return _decide(d, correct, resplit, shape)


def _decide(d: np.ndarray, correct, resplit, shape: dict) -> Verdict:
    n, mean = len(d), float(d.mean())
    var, df, per_seed = _variance(d, correct, resplit)
    margin = shape["margin"]
    if var <= (1e-9 * max(1.0, abs(mean))) ** 2:  # all differences equal up to float rounding
        word = "equivalent" if margin is not None and abs(mean) < margin else "undecided"
        note = (
            ""
            if word == "equivalent"
            else "the n differences are all equal: no spread to build an interval from"
        )
        return Verdict(word, mean, 0.0, n, p=float("nan"), note=note, **shape)
    sd = math.sqrt(var)
    half = _t(df, 0.5 + CONFIDENCE / 2) * sd
    p = float(2 * stats.t.sf(abs(mean) / sd, df))
    fixed = var - per_seed / n if resplit is None else resplit * per_seed
    detectable = (_t(df, 0.5 + CONFIDENCE / 2) + _t(df, POWER)) * sd
    if margin is not None and abs(mean) + half < margin:
        word = "equivalent"
    elif mean - half > 0 or mean + half < 0:
        word = "better" if mean > 0 else "worse"
    else:
        word = "undecided"
    needed = _seeds_needed(mean, per_seed, max(fixed, 0.0), n) if word == "undecided" else None
    return Verdict(word, mean, half, n, p=p, detectable=detectable, needed=needed, se=sd, df=df,
                   **shape)  # fmt: skip


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
