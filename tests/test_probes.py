import pytest
import torch

from helpers import probes


def _blobs(n=60, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = torch.randn(n, d, generator=g) + 4 * torch.nn.functional.one_hot(y, d).float()
    return x, y


@pytest.mark.parametrize("kind", probes.PROBES)
def test_probe_separates_blobs_and_picks_c_on_val(kind):
    xtr, ytr = _blobs(seed=0)
    xva, yva = _blobs(seed=1)
    xte, yte = _blobs(seed=2)
    result = probes.fit_probe(xtr, ytr, xva, yva, kind=kind, Cs=(0.01, 1.0))
    assert set(result.val_curve) == {0.01, 1.0}
    assert result.val_accuracy == max(result.val_curve.values())
    assert result.accuracy(xte, yte) > 0.9
    assert result.predict(xte).shape == (60,)


def test_probe_on_noise_is_near_chance():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(300, 20, generator=g), torch.randint(0, 3, (300,), generator=g)
    result = probes.fit_probe(x[:150], y[:150], x[150:225], y[150:225])
    assert result.accuracy(x[225:], y[225:]) < 0.6


def test_probe_errors():
    x, y = _blobs()
    with pytest.raises(KeyError, match="logistic"):
        probes.fit_probe(x, y, x, y, kind="tree")
    with pytest.raises(ValueError, match="two classes"):
        probes.fit_probe(x, torch.zeros(60), x, y)


def test_torch_logistic_matches_sklearn_objective():
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    x, y = _blobs(n=90, d=6, seed=3)
    x, y = x.double().numpy(), y.numpy()

    def objective(W, b, C):
        z = x @ W.T + b
        z = z - z.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        return -C * logp[np.arange(len(x)), y].sum() + 0.5 * (W**2).sum()

    for C in (0.05, 2.0):
        sk = LogisticRegression(C=C, max_iter=5000).fit(
            x, y
        )  # both at their default tolerance, 1e-4
        ours = probes.TorchLogistic(C=C).fit(x, y)
        assert objective(ours.coef_, ours.intercept_, C) <= objective(
            sk.coef_, sk.intercept_, C
        ) * (1 + 1e-3)
        assert (ours.predict(x) == sk.predict(x)).mean() > 0.97


def _svm_objective(model, x, y, C):
    """liblinear's one-vs-rest objective: ½‖(w, b)‖² + C Σ max(0, 1 − t·f(x))² over classes (one
    separator for two classes)."""
    import numpy as np

    classes = np.unique(y)
    positives = classes[1:] if len(classes) == 2 else classes
    total = 0.0
    for k, c in enumerate(positives):
        t = np.where(y == c, 1.0, -1.0)
        w, b = model.coef_[k], model.intercept_[k]
        margin = np.maximum(0, 1 - t * (x @ w + b))
        total += 0.5 * (w @ w + b * b) + C * (margin**2).sum()
    return total


@pytest.mark.parametrize(
    "n, d, classes",
    [(120, 6, 3), (50, 30, 3), (40, 300, 4), (60, 5, 2)],
    ids=["n>2d", "d<n<2d", "d>n", "two classes"],
)
def test_svm_probe_reaches_liblinears_optimum(n, d, classes):
    """The Newton SVM minimises liblinear's objective: the same minimum as LinearSVC's primal
    solver run to a tight tolerance, and the same predictions — solved through the features
    (many more images than features) and through the images' Gram matrix (the rest), with two
    classes too."""
    import numpy as np
    from sklearn.svm import LinearSVC

    g = torch.Generator().manual_seed(4)
    y = torch.arange(n) % classes
    x = torch.randn(n, d, generator=g) + 2 * torch.nn.functional.one_hot(y, d).float()
    x, y = x.double().numpy(), y.numpy()
    for C in (0.01, 1.0):
        ours = probes.make_probe("svm", C, scaler=None).fit(x, y)[-1]
        primal = LinearSVC(C=C, dual=False, tol=1e-10, max_iter=100_000).fit(x, y)
        assert isinstance(ours, probes.NewtonSVM)
        assert _svm_objective(ours, x, y, C) == pytest.approx(
            _svm_objective(primal, x, y, C), rel=1e-4
        )
        assert (ours.predict(x) == primal.predict(x)).mean() > 0.97
        assert ours.decision_function(x).shape == primal.decision_function(x).shape
    assert np.array_equal(np.unique(ours.predict(x)), np.unique(y))


def test_fit_probe_torch_kind():
    xtr, ytr = _blobs(seed=0)
    xva, yva = _blobs(seed=1)
    result = probes.fit_probe(xtr, ytr, xva, yva, kind="logistic_torch", Cs=(0.01, 0.1, 1.0))
    assert result.kind == "logistic_torch" and len(result.val_curve) == 3
    assert result.accuracy(*_blobs(seed=2)) > 0.9


def test_scaler_options():
    xtr, ytr = _blobs(seed=0)
    for scaler in probes.SCALERS:
        result = probes.fit_probe(
            xtr * 100, ytr, *_blobs(seed=1), kind="logistic_torch", Cs=(1.0,), scaler=scaler
        )
        assert len(result.pipeline) == (1 if scaler is None else 2)
    with pytest.raises(KeyError, match="scaler"):
        probes.make_probe("logistic", 1.0, scaler="minmax")


def test_more_features_than_images_solve_in_their_span_to_the_same_optimum():
    """d > n: the torch logistic regression solves in the span of the training rows; the same
    objective value and predictions as scikit-learn's solver in all d dimensions."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    g = torch.Generator().manual_seed(3)
    y = torch.arange(40) % 4
    x = torch.randn(40, 600, generator=g) + 2 * torch.nn.functional.one_hot(y, 600).float()
    x, y = x.double().numpy(), y.numpy()

    def objective(W, b, C):
        z = x @ W.T + b
        z = z - z.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        return -C * logp[np.arange(len(x)), y].sum() + 0.5 * (W**2).sum()

    for C in (0.01, 1.0):
        sk = LogisticRegression(C=C, max_iter=10000, tol=1e-8).fit(x, y)
        ours = probes.TorchLogistic(C=C, tol=1e-7).fit(x, y)
        assert ours.coef_.shape == (4, 600)
        mine, theirs = (
            objective(ours.coef_, ours.intercept_, C),
            objective(sk.coef_, sk.intercept_, C),
        )
        assert abs(mine - theirs) <= 1e-4 * max(1.0, abs(theirs))
        assert (ours.predict(x) == sk.predict(x)).all()


def _brute_knn(xtr, ytr, x, k, T, classes):
    """DINO's k-NN by hand: cosine similarities, the k largest, votes exp(sim / T)."""
    import numpy as np

    a = xtr / np.linalg.norm(xtr, axis=1, keepdims=True)
    b = x / np.linalg.norm(x, axis=1, keepdims=True)
    out = []
    for row in b @ a.T:
        nearest = np.argsort(-row)[:k]
        votes = {c: 0.0 for c in classes}
        for j in nearest:
            votes[ytr[j]] += np.exp(row[j] / T)
        out.append(max(classes, key=votes.get))
    return np.array(out)


def test_knn_probe_matches_a_brute_force_reference_and_scikit_learn_where_they_coincide():
    from sklearn.neighbors import KNeighborsClassifier

    xtr, ytr = (t.numpy() for t in _blobs(n=45, seed=0))
    x, _ = (t.numpy() for t in _blobs(n=30, seed=5))
    for k in (3, 10):
        ours = probes.KNNProbe(k=k, T=0.07).fit(xtr, ytr).predict(x)
        assert (ours == _brute_knn(xtr, ytr, x, k, 0.07, [0, 1, 2])).all()
        # with a temperature so high that every vote weighs the same: a plain majority vote
        uniform = probes.KNNProbe(k=k, T=1e6).fit(xtr, ytr).predict(x)
        theirs = KNeighborsClassifier(n_neighbors=k, metric="cosine").fit(xtr, ytr).predict(x)
        assert (uniform == theirs).mean() > 0.95  # ties in a vote may break differently


def test_nearest_class_mean_and_knn_are_probes_chosen_on_validation():
    import numpy as np

    xtr, ytr = _blobs(seed=0)
    xva, yva = _blobs(seed=1)
    xte, yte = _blobs(seed=2)
    knn = probes.fit_probe(xtr, ytr, xva, yva, kind="knn")
    assert set(knn.val_curve) == set(probes.KS) and knn.C in probes.KS
    assert knn.accuracy(xte, yte) > 0.9
    ncm = probes.fit_probe(xtr, ytr, xva, yva, kind="ncm")
    means = np.stack(
        [
            (xtr[ytr == c] / xtr[ytr == c].norm(dim=1, keepdim=True)).mean(0).numpy()
            for c in range(3)
        ]
    )
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    x = (xte / xte.norm(dim=1, keepdim=True)).numpy()
    assert (ncm.predict(xte) == (x @ means.T).argmax(1)).all()
    assert probes.fit_probe_cv(xtr, ytr, kind="knn").C in probes.KS


@pytest.mark.parametrize("kind", ["logistic", "svm"])
def test_a_warm_started_sweep_reaches_the_cold_fits_optimum(kind):
    """fit_probe sweeps C upwards from the previous fit's solution: the chosen C's weights are
    the ones a fit from zero finds, within the solvers' tolerance."""
    import numpy as np

    xtr, ytr = _blobs(n=90, d=12, seed=5)
    result = probes.fit_probe(xtr, ytr, *_blobs(seed=6, d=12), kind=kind, Cs=(0.01, 0.1, 1.0))
    cold = probes.make_probe(kind, result.C).fit(xtr.numpy(), ytr.numpy())
    warm = result.pipeline
    scale = np.abs(cold[-1].coef_).max()
    assert np.abs(warm[-1].coef_ - cold[-1].coef_).max() < 1e-3 * scale
    assert (warm.predict(xtr.numpy()) == cold.predict(xtr.numpy())).all()
