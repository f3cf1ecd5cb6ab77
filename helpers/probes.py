"""Linear classifiers on (cached) features: logistic regression and a linear SVM.

The regularisation strength is chosen on the validation split; the test split is only
scored at the end. Features are standardised with statistics of the training split.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler
from sklearn.svm import LinearSVC

from . import features

PROBES = ("logistic", "svm")
NEIGHBOURS = ("knn", "ncm")  # probes that fit nothing: k nearest neighbours, nearest class mean
KS = (10, 20)  # the k-NN probe's k, chosen on validation (DINO's values); its temperature:
TEMPERATURE = 0.07
# "logistic" and "svm" are the solvers below (L-BFGS in torch, a finite Newton method), the
# same objectives as scikit-learn's and faster on the course's features (benchmarks/RESULTS.md);
# "logistic_sklearn" and "svm_sklearn" keep scikit-learn's, "logistic_torch" names the torch one
KINDS = ("logistic", "svm", "logistic_torch", "logistic_sklearn", "svm_sklearn", *NEIGHBOURS)


class TorchLogistic(ClassifierMixin, BaseEstimator):
    """Multinomial logistic regression fitted full-batch with L-BFGS in torch (a fast stand-in for
    scikit-learn's).

    Minimises the same objective as ``LogisticRegression(C=C)``: ``C · Σ cross-entropy + ½‖W‖²``
    (intercept not penalised). Scikit-learn-style ``fit``/``predict``/``score``; ``warm_start``
    reuses the previous solution, which makes a sweep over ``C`` much cheaper. With more features
    than training images (HOG, raw pixels or codes of a few dozen images) it solves in the span
    of the training rows, where the optimum lies: exactly the same solution, far fewer
    dimensions.
    """

    def __init__(
        self, C: float = 1.0, max_iter: int = 500, tol: float = 1e-4, warm_start: bool = False
    ):
        self.C, self.max_iter, self.tol, self.warm_start = C, max_iter, tol, warm_start

    def fit(self, X, y) -> TorchLogistic:
        X = torch.as_tensor(np.asarray(X), dtype=torch.float64)
        y = torch.as_tensor(np.asarray(y), dtype=torch.long)
        classes = torch.unique(y)
        target = torch.searchsorted(classes, y)
        self.classes_ = classes.numpy()
        k = len(classes)
        basis = _row_space(X)  # (d, r): the optimum's weights lie in the training rows' span
        Xr = X @ basis if basis is not None else X
        w0 = torch.zeros(k, Xr.shape[1], dtype=X.dtype)
        b0 = torch.zeros(k, dtype=X.dtype)
        previous = getattr(self, "coef_", None)
        if self.warm_start and previous is not None and previous.shape == (k, X.shape[1]):
            w0 = torch.as_tensor(previous, dtype=X.dtype)
            w0 = w0 @ basis if basis is not None else w0
            b0 = torch.as_tensor(self.intercept_, dtype=X.dtype)
        w, b = _lbfgs(
            Xr,
            target,
            w0,
            b0,
            penalty=1.0 / (2 * self.C * len(X)),
            max_iter=self.max_iter,
            tol=self.tol,
        )
        w = w @ basis.T if basis is not None else w
        self.coef_, self.intercept_ = w.numpy(), b.numpy()
        return self

    def decision_function(self, X) -> np.ndarray:
        return np.asarray(X, dtype=np.float64) @ self.coef_.T + self.intercept_

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.decision_function(X).argmax(1)]


def _row_space(X: torch.Tensor) -> torch.Tensor | None:
    """An orthonormal basis ``(d, r)`` of the span of ``X``'s rows when it has at most half as
    many of them as features (``None`` otherwise: the SVD would cost more than it saves). The
    L2-penalised optimum's weights are a combination of the training rows (its gradient is), so
    solving in this basis is exact: the same optimum, the same penalty (the basis is
    orthonormal), in ``r ≤ n`` dimensions instead of ``d``."""
    n, d = X.shape
    if d < 2 * n:
        return None
    _, s, vh = torch.linalg.svd(X, full_matrices=False)
    keep = s > s[0] * 1e-10 if len(s) and s[0] > 0 else s > 0
    return vh[keep].T


def _lbfgs(X, target, w0, b0, *, penalty: float, max_iter: int, tol: float):
    """Minimise mean cross-entropy + ``penalty`` · ‖w‖² from ``(w0, b0)`` with L-BFGS."""
    w, b = w0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
    opt = torch.optim.LBFGS(
        [w, b],
        lr=1,
        max_iter=max_iter,
        tolerance_grad=tol,
        tolerance_change=1e-12,
        history_size=20,
        line_search_fn="strong_wolfe",
    )

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(X @ w.T + b, target) + penalty * w.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), b.detach()


class NewtonSVM(ClassifierMixin, BaseEstimator):
    """A one-vs-rest linear SVM with the squared hinge loss, solved exactly by the finite Newton
    method of Keerthi & DeCoste (2005, *A modified finite Newton method for fast solution of
    large scale linear SVMs*, JMLR 6) — a fast stand-in for scikit-learn's ``LinearSVC``.

    Minimises, for every class ``c`` with targets ``t = ±1``, liblinear's objective
    ``½‖(w_c, b_c)‖² + C · Σ max(0, 1 − t·(w_c·x + b_c))²`` (the intercept penalised like a
    weight, as liblinear does with ``intercept_scaling=1``). Each step solves the ridge
    regression of the images inside the margin and moves towards it by an exact line search; the
    method stops when the set of those images no longer changes — the exact optimum, in a handful
    of steps. Unless the images outnumber the features twice, the steps are solved through the
    images' Gram matrix (computed once for all classes, and small where few images sit inside
    the margin); otherwise through the features'."""

    def __init__(self, C: float = 1.0, max_iter: int = 100, warm_start: bool = False):
        self.C, self.max_iter, self.warm_start = C, max_iter, warm_start

    def fit(self, X, y) -> NewtonSVM:
        X = torch.as_tensor(np.asarray(X), dtype=torch.float64)
        y = torch.as_tensor(np.asarray(y), dtype=torch.long)
        classes = torch.unique(y)
        self.classes_ = classes.numpy()
        labels = torch.searchsorted(classes, y)
        positives = range(1, 2) if len(classes) == 2 else range(len(classes))  # liblinear's
        Z = torch.cat([X, torch.ones(len(X), 1, dtype=X.dtype)], 1)  # b as a weight
        dual = len(Z) <= 2 * Z.shape[1]  # the images' Gram matrix, unless they far outnumber
        gram = Z @ Z.T if dual else None
        starts = getattr(self, "start_", None) if self.warm_start else None
        weights, coefs = [], []
        for i, c in enumerate(positives):
            t = (labels == c).to(X.dtype) * 2 - 1
            start = starts[i] if starts is not None and len(starts) == len(positives) else None
            w, coef = self._one(Z, t, gram, start)
            weights.append(w)
            coefs.append(coef)
        w = torch.stack(weights)
        self.coef_, self.intercept_ = w[:, :-1].numpy(), w[:, -1].numpy()
        self.start_ = coefs  # where a fit at the next C starts (warm_start)
        return self

    def _one(self, Z, t, gram, start=None):
        """One class's separator ``(d + 1,)`` and its coefficients (β or w): Newton steps on the
        images inside the margin, from ``start`` (the previous ``C``'s coefficients) or zero."""
        C, n = float(self.C), len(Z)
        coef = torch.zeros(n if gram is not None else Z.shape[1], dtype=Z.dtype)
        if start is not None and start.shape == coef.shape:
            coef = start.clone()
        out = gram @ coef if gram is not None else Z @ coef
        for _ in range(self.max_iter):
            active = t * out < 1
            a = active.nonzero().squeeze(1)
            if gram is not None:  # β: w = Zᵀβ, outputs Kβ; on A: (K_AA + I/2C) β_A = t_A
                target = torch.zeros_like(coef)
                system = gram[a[:, None], a] + torch.eye(len(a), dtype=Z.dtype) / (2 * C)
                target[a] = _solve(system, t[a])
                target_out = gram[:, a] @ target[a]
                step = target - coef
                slope0, curve = step @ out, step @ (target_out - out)
            else:  # w: (I + 2C Z_AᵀZ_A) w = 2C Z_Aᵀ t_A
                za = Z[a]
                system = torch.eye(Z.shape[1], dtype=Z.dtype) + 2 * C * za.T @ za
                target = _solve(system, 2 * C * za.T @ t[a])
                target_out = Z @ target
                step = target - coef
                slope0, curve = step @ coef, step @ step
            if step.norm() <= 1e-10 * (1 + coef.norm()):
                break  # the step's target is where we are: the optimum
            delta = _line_search(out, target_out, t, C, slope0, curve)
            coef, out = coef + delta * step, out + delta * (target_out - out)
            if abs(delta - 1) < 1e-6 and torch.equal(t * out < 1, active):
                break  # a full step that left the margin's images as they were: the optimum
        return (Z.T @ coef if gram is not None else coef), coef

    def decision_function(self, X) -> np.ndarray:
        scores = np.asarray(X, dtype=np.float64) @ self.coef_.T + self.intercept_
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict(self, X) -> np.ndarray:
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[scores.argmax(1)]


def _solve(system: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """``system⁻¹ rhs`` for a symmetric positive definite ``system`` (Cholesky)."""
    factor = torch.linalg.cholesky(system)
    return torch.cholesky_solve(rhs[:, None], factor)[:, 0]


def _line_search(out, target_out, t, C: float, slope0, curve) -> float:
    """The exact minimiser ``δ ≥ 0`` of ``φ(δ) = regulariser + C Σ max(0, 1 − t·o(δ))²`` along
    ``o(δ) = out + δ (target_out − out)``, the regulariser's slope being ``slope0 + δ·curve``:
    φ' is piecewise linear and increasing, so bisection finds its zero to float precision."""
    change = target_out - out

    def slope(s: float) -> float:
        margin = (1 - t * (out + s * change)).clamp(min=0)
        return float(slope0 + s * curve - 2 * C * (margin * t * change).sum())

    low, high = 0.0, 1.0
    while slope(high) < 0 and high < 1e6:
        low, high = high, 2 * high
    for _ in range(60):
        middle = 0.5 * (low + high)
        low, high = (middle, high) if slope(middle) < 0 else (low, middle)
    return 0.5 * (low + high)


class KNNProbe(ClassifierMixin, BaseEstimator):
    """The k-nearest-neighbour probe of DINO (Caron et al. 2021; ``dinov2/eval/knn.py``): codes
    L2-normalised, the ``k`` training codes most similar by cosine vote for their class, each
    with weight ``exp(similarity / T)``. Nothing is fitted beyond storing the training codes."""

    def __init__(self, k: int = 20, T: float = 0.07):
        self.k, self.T = k, T

    def fit(self, X, y) -> KNNProbe:
        self.train_ = F.normalize(torch.as_tensor(np.asarray(X), dtype=torch.float32), dim=1)
        y = torch.as_tensor(np.asarray(y), dtype=torch.long)
        classes = torch.unique(y)
        self.classes_, self.target_ = classes.numpy(), torch.searchsorted(classes, y)
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Per image, the classes' share of the weighted votes ``(N, classes)``."""
        x = F.normalize(torch.as_tensor(np.asarray(X), dtype=torch.float32), dim=1)
        sims, idx = (x @ self.train_.T).topk(min(self.k, len(self.train_)), dim=1)
        votes = torch.zeros(len(x), len(self.classes_))
        votes.scatter_add_(1, self.target_[idx], torch.exp(sims / self.T))
        return (votes / votes.sum(1, keepdim=True)).numpy()

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(1)]


class NearestClassMean(ClassifierMixin, BaseEstimator):
    """The nearest-class-mean probe: each class is the mean of its L2-normalised training codes;
    an image goes to the class whose mean is most similar by cosine."""

    def fit(self, X, y) -> NearestClassMean:
        x = F.normalize(torch.as_tensor(np.asarray(X), dtype=torch.float32), dim=1)
        y = torch.as_tensor(np.asarray(y), dtype=torch.long)
        classes = torch.unique(y)
        self.classes_ = classes.numpy()
        self.means_ = F.normalize(torch.stack([x[y == c].mean(0) for c in classes]), dim=1)
        return self

    def predict(self, X) -> np.ndarray:
        x = F.normalize(torch.as_tensor(np.asarray(X), dtype=torch.float32), dim=1)
        return self.classes_[(x @ self.means_.T).argmax(1).numpy()]


@dataclass
class ProbeResult:
    """A fitted probe: the scikit-learn pipeline, the chosen ``C`` and accuracies per ``C`` on
    val."""

    kind: str
    pipeline: Pipeline
    C: float
    val_accuracy: float
    val_curve: dict[float, float]
    train_accuracy: float | None = None
    test_accuracy: float | None = None
    scores: dict[str, float] = field(default_factory=dict)
    test_correct: np.ndarray | None = field(default=None, repr=False)

    def accuracy(
        self, features: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray
    ) -> float:
        """Accuracy in [0, 1] on ``features`` ``(N, D)`` with integer ``labels`` ``(N,)``."""
        return float(self.pipeline.score(_np(features), _np(labels)))

    def predict(self, features: torch.Tensor | np.ndarray) -> np.ndarray:
        return self.pipeline.predict(_np(features))


def _np(x: torch.Tensor | np.ndarray) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


SCALERS = ("standard", "l2", None)


def make_probe(
    kind: str, C: float, seed: int = 0, max_iter: int = 2000, scaler: str | None = "standard"
) -> Pipeline:
    """An unfitted ``[scaler →] LogisticRegression | LinearSVC | TorchLogistic`` pipeline, or the
    k-NN (``C`` is then ``k``) or nearest-class-mean probe, which normalise the codes themselves.

    ``scaler``: ``"standard"`` (per-feature z-score, statistics of the training split), ``"l2"``
    (each sample to unit length) or ``None``. With very few training images, standardising
    amplifies noise (its statistics come from a handful of samples); ``None`` is then safer.
    """
    if kind in NEIGHBOURS:  # cosine on L2-normalised codes: no other scaling
        return make_pipeline(
            KNNProbe(k=int(C), T=TEMPERATURE) if kind == "knn" else NearestClassMean()
        )
    if kind in ("logistic", "logistic_torch"):
        clf = TorchLogistic(C=C, max_iter=max_iter)
    elif kind == "logistic_sklearn":
        clf = LogisticRegression(C=C, max_iter=max_iter, random_state=seed)
    elif kind == "svm":
        clf = NewtonSVM(C=C)
    elif kind == "svm_sklearn":
        # liblinear's dual solver: the same objective; on a few thousand standardised pixels or
        # codes it converges in seconds where the primal one runs to max_iter for a minute
        clf = LinearSVC(C=C, dual=True, max_iter=max_iter, random_state=seed)
    else:
        raise KeyError(f"unknown probe {kind!r}; choose one of {KINDS}")
    if scaler not in SCALERS:
        raise KeyError(f"unknown scaler {scaler!r}; choose one of {SCALERS}")
    steps = {"standard": [StandardScaler()], "l2": [Normalizer()], None: []}[scaler]
    return make_pipeline(*steps, clf)


def fit_probe(
    train_features,
    train_labels,
    val_features,
    val_labels,
    *,
    kind: str = "logistic",
    Cs: Sequence[float] = (0.001, 0.01, 0.1, 1.0, 10.0),
    seed: int = 0,
    scaler: str | None = "standard",
) -> ProbeResult:
    """Fit a linear probe for each ``C`` in ``Cs``; keep the one with the best validation accuracy.

    Ties go to the smaller ``C`` (stronger regularisation). Features float ``(N, D)``, labels int
    ``(N,)``.
    The torch logistic regression and the SVM sweep ``C`` upwards, each fit starting from the
    previous one's solution (the same optimum, reached in fewer steps).
    """
    Xtr, ytr, Xva, yva = map(_np, (train_features, train_labels, val_features, val_labels))
    if len(np.unique(ytr)) < 2:
        raise ValueError("a probe needs at least two classes in the training split")
    best, curve, previous = None, {}, None
    Cs = _grid(kind, Cs)
    for C in sorted(Cs):
        pipe = make_probe(kind, C, seed, scaler=scaler)
        if isinstance(pipe[-1], TorchLogistic) and previous is not None:
            # warm start from the last, more regularised fit
            clf = pipe[-1]
            clf.coef_, clf.intercept_, clf.warm_start = previous.coef_, previous.intercept_, True
        elif isinstance(pipe[-1], NewtonSVM) and previous is not None:
            pipe[-1].start_, pipe[-1].warm_start = previous.start_, True
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            pipe.fit(Xtr, ytr)
        curve[C] = float(pipe.score(Xva, yva))
        previous = pipe[-1]
        if best is None or curve[C] > best[2]:
            best = (C, pipe, curve[C])
    return ProbeResult(kind, best[1], best[0], best[2], curve)


def _grid(kind: str, Cs: Sequence[float]) -> Sequence[float]:
    """The values a probe chooses among on validation: ``Cs``; the k-NN probe's ``KS``; none for
    the nearest class mean (one fit)."""
    return {"knn": KS, "ncm": (0,)}.get(kind, Cs)


def fit_probe_cv(
    train_features,
    train_labels,
    *,
    kind: str = "logistic",
    Cs: Sequence[float] = (0.001, 0.01, 0.1, 1.0, 10.0),
    folds: int = 5,
    seed: int = 0,
    scaler: str | None = "standard",
) -> ProbeResult:
    """Choose ``C`` by stratified ``folds``-fold cross-validation on the training images alone,
    then refit on all of them: no validation images are spent on the choice. ``val_accuracy``
    is the chosen ``C``'s cross-validated accuracy (ties: the smaller ``C``)."""
    from sklearn.model_selection import StratifiedKFold

    X, y = _np(train_features), _np(train_labels)
    Cs = _grid(kind, Cs)
    k = max(2, min(folds, int(np.bincount(y).min())))
    splits = list(StratifiedKFold(k, shuffle=True, random_state=seed).split(X, y))
    curve = {}
    for C in sorted(Cs):
        accs = []
        for fit_idx, held in splits:
            pipe = make_probe(kind, C, seed, scaler=scaler)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                pipe.fit(X[fit_idx], y[fit_idx])
            accs.append(pipe.score(X[held], y[held]))
        curve[C] = float(np.mean(accs))
    best = max(sorted(Cs), key=lambda C: curve[C])
    pipe = make_probe(kind, best, seed, scaler=scaler)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X, y)
    return ProbeResult(kind, pipe, best, curve[best], curve)


def _labels(part) -> torch.Tensor | np.ndarray:
    return part.labels if hasattr(part, "labels") else part


def probe_splits(
    features: Mapping[str, torch.Tensor | np.ndarray],
    split: Mapping[str, object],
    *,
    kind: str = "logistic",
    Cs: Sequence[float] = (0.001, 0.01, 0.1, 1.0, 10.0),
    seed: int = 0,
    scaler: str | None = "standard",
    select: str = "val",
) -> ProbeResult:
    """The whole protocol: fit on ``train``, choose ``C`` on ``val``, score once on ``test``.

    ``select="cv"`` chooses ``C`` by cross-validation on ``train`` instead (``val_accuracy`` is
    then that score, and the model's accuracy on ``val`` is in ``scores["val"]``).

    ``features`` and ``split`` have the keys ``"train"``, ``"val"``, ``"test"``: features
    float ``(N, D)`` per split, and per split an :class:`~helpers.data.ImageSet` (its labels
    are used) or the integer labels ``(N,)``. The result carries ``train_accuracy`` (to see
    overfitting), ``val_accuracy`` and ``test_accuracy``.
    """
    missing = {"train", "val", "test"} - set(features) | {"train", "val", "test"} - set(split)
    if missing:
        raise KeyError(f"probe_splits needs train, val and test; missing {sorted(missing)}")
    y = {k: _labels(split[k]) for k in ("train", "val", "test")}
    if select == "cv":
        result = fit_probe_cv(
            features["train"], y["train"], kind=kind, Cs=Cs, seed=seed, scaler=scaler
        )
        result.scores["val"] = result.accuracy(features["val"], y["val"])
    else:
        result = fit_probe(
            features["train"],
            y["train"],
            features["val"],
            y["val"],
            kind=kind,
            Cs=Cs,
            seed=seed,
            scaler=scaler,
        )
    result.train_accuracy = result.accuracy(features["train"], y["train"])
    result.test_correct = result.predict(features["test"]) == _np(y["test"])
    result.test_accuracy = float(result.test_correct.mean()) if len(result.test_correct) else 0.0
    return result


def probe_backbone(
    backbone,
    split: Mapping[str, object],
    *,
    layer: str = "penultimate",
    image_size: int | None = None,
    grid: int = 1,
    kind: str = "logistic",
    Cs: Sequence[float] = (0.001, 0.01, 0.1, 1.0, 10.0),
    seed: int = 0,
    scaler: str | None = "standard",
    device=None,
    cache: bool = True,
    select: str = "val",
) -> ProbeResult:
    """A linear probe on a frozen backbone: features of every part of ``split``, then
    :func:`probe_splits`.

    ``split``: :class:`~helpers.data.ImageSet` per part, with ``"train"``, ``"val"`` and
    ``"test"``; any other part (a second validation half, say) is scored too, into
    ``result.scores[part]``. ``layer``, ``image_size`` and ``grid`` as in
    :func:`helpers.features.extract_features` (features cached unless ``cache=False``).
    """
    codes = {
        part: features.extract_features(
            backbone, ds, layer=layer, image_size=image_size, grid=grid, device=device, cache=cache
        )
        for part, ds in split.items()
    }
    result = probe_splits(codes, split, kind=kind, Cs=Cs, seed=seed, scaler=scaler, select=select)
    for part in set(split) - {"train", "val", "test"}:
        result.scores[part] = result.accuracy(codes[part], _labels(split[part]))
    return result
