"""Linear classifiers on (cached) features: logistic regression and a linear SVM.

The regularisation strength is chosen on the validation split; the test split is only
scored at the end. Features are standardised with statistics of the training split.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

PROBES = ("logistic", "svm")


@dataclass
class ProbeResult:
    """A fitted probe: the scikit-learn pipeline, the chosen ``C`` and accuracies per ``C`` on val."""

    kind: str
    pipeline: Pipeline
    C: float
    val_accuracy: float
    val_curve: dict[float, float]

    def accuracy(self, features: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray) -> float:
        """Accuracy in [0, 1] on ``features`` ``(N, D)`` with integer ``labels`` ``(N,)``."""
        return float(self.pipeline.score(_np(features), _np(labels)))

    def predict(self, features: torch.Tensor | np.ndarray) -> np.ndarray:
        return self.pipeline.predict(_np(features))


def _np(x: torch.Tensor | np.ndarray) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def make_probe(kind: str, C: float, seed: int = 0, max_iter: int = 2000) -> Pipeline:
    """An unfitted ``StandardScaler → LogisticRegression | LinearSVC`` pipeline."""
    if kind == "logistic":
        clf = LogisticRegression(C=C, max_iter=max_iter, random_state=seed)
    elif kind == "svm":
        clf = LinearSVC(C=C, max_iter=max_iter, random_state=seed)
    else:
        raise KeyError(f"unknown probe {kind!r}; choose one of {PROBES}")
    return make_pipeline(StandardScaler(), clf)


def fit_probe(
    train_features, train_labels, val_features, val_labels, *, kind: str = "logistic",
    Cs: Sequence[float] = (0.001, 0.01, 0.1, 1.0, 10.0), seed: int = 0,
) -> ProbeResult:
    """Fit a linear probe for each ``C`` in ``Cs``; keep the one with the best validation accuracy.

    Ties go to the smaller ``C`` (stronger regularisation). Features float ``(N, D)``, labels int ``(N,)``.
    """
    Xtr, ytr, Xva, yva = map(_np, (train_features, train_labels, val_features, val_labels))
    if len(np.unique(ytr)) < 2:
        raise ValueError("a probe needs at least two classes in the training split")
    best, curve = None, {}
    for C in sorted(Cs):
        pipe = make_probe(kind, C, seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            pipe.fit(Xtr, ytr)
        curve[C] = float(pipe.score(Xva, yva))
        if best is None or curve[C] > best[2]:
            best = (C, pipe, curve[C])
    return ProbeResult(kind, best[1], best[0], best[2], curve)
