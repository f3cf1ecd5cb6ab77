"""The code key of a results row: exactly the functions a run reaches, and what it reads."""

import shutil
import subprocess
import sys
import textwrap

import pytest
import torch

from helpers import codekey, config, data, experiments, models, training


def _tiny(name="tiny", n=8):
    images = torch.arange(n * 4, dtype=torch.uint8).view(n, 1, 2, 2)
    return data.ImageSet(images, torch.arange(n) % 2, ["a", "b"], name)


DATASETS = {"tiny": _tiny()}
CASES = {"double": lambda x: 2 * x}


def trains(cell):  # reaches training.fit and training.evaluate
    return {"x": training.fit is not None and training.evaluate is not None}


def probes_only(cell):  # reaches models.freeze_stages, not training
    return {"x": models.freeze_stages is not None}


def reads_datasets(cell):
    return {"n": len(DATASETS["tiny"])}


def reads_lambdas(cell):
    return {"y": CASES["double"](cell["seed"])}


def test_what_a_run_reaches_is_followed_through_helpers():
    found = codekey.reached(trains)
    assert "helpers.training.fit" in found and "helpers.training.evaluate" in found
    assert "helpers.models.apply_bn_policy" in found, "fit calls it: followed transitively"
    assert "helpers.training._Session" in found, "a class a reached function names"
    assert not any(k.startswith("helpers.plotting") for k in found), "plotting is not reached"
    assert all("0x" not in text for text in found.values()), "no memory addresses in the key"


def test_an_unrelated_new_helper_leaves_rows_current(monkeypatch):
    before = experiments.code_fingerprint(trains)

    def newly_added(x):
        return x + 1

    newly_added.__module__ = "helpers.training"
    monkeypatch.setattr(training, "newly_added", newly_added, raising=False)
    assert experiments.code_fingerprint(trains) == before


def test_an_edit_to_a_reached_helper_stales_exactly_the_rows_that_reach_it(monkeypatch):
    before = {f.__name__: experiments.code_fingerprint(f) for f in (trains, probes_only)}

    def evaluate(model, dataset, prep, *, batch_size=256, device=None):  # an edited evaluate
        return {"loss": 0.0, "accuracy": 1.0}

    evaluate.__module__ = "helpers.training"
    monkeypatch.setattr(training, "evaluate", evaluate)
    after = {f.__name__: experiments.code_fingerprint(f) for f in (trains, probes_only)}
    assert after["trains"] != before["trains"], "the run that reaches evaluate is stale"
    assert after["probes_only"] == before["probes_only"], "the other run's rows stay current"


def test_a_changed_dataset_dict_or_lambda_stales_the_rows_that_read_it(monkeypatch):
    key_data, key_lambda = (
        experiments.code_fingerprint(f) for f in (reads_datasets, reads_lambdas)
    )
    monkeypatch.setitem(DATASETS, "tiny", _tiny(n=6))  # another subset, same name
    assert experiments.code_fingerprint(reads_datasets) != key_data
    assert experiments.code_fingerprint(reads_lambdas) == key_lambda
    monkeypatch.setitem(CASES, "double", lambda x: 3 * x)
    assert experiments.code_fingerprint(reads_lambdas) != key_lambda


NET = models.load_backbone("labcnn", weights=None)


def uses_a_global_network(cell):  # calls methods of an object it did not build
    return {"size": NET.preprocessing().image_size}


def test_methods_of_a_global_object_are_code_the_run_reaches():
    found = codekey.reached(uses_a_global_network)
    assert "helpers.models.Backbone" in found and "helpers.models.LabCNN" in found
    assert "helpers.preprocessing.Preprocessing" in found, "Backbone.preprocessing builds one"


def test_a_dataset_counts_by_identity_not_by_object():
    a, b = _tiny(), _tiny()
    assert a is not b and codekey.identity(a) == codekey.identity(b)
    assert codekey.identity(a) != codekey.identity(_tiny(name="other"))
    net = models.load_backbone("labcnn", weights=None)
    before = codekey.identity(net)
    with torch.no_grad():
        net.model.fc.bias.add_(1.0)
    assert codekey.identity(net) != before, "a network counts by its weights"


def test_a_function_without_source_makes_rows_uncacheable(tmp_path):
    namespace = {"__name__": __name__}  # course code (this module), but no source to read
    exec(compile("def run(cell):\n    return {'x': 1}\n", "<nowhere>", "exec"), namespace)
    run = namespace["run"]
    with pytest.warns(UserWarning, match="not cached: the source of run cannot be read"):
        assert experiments.code_fingerprint(run) is None
    path = tmp_path / "grid.jsonl"
    with pytest.warns(UserWarning):
        experiments.run_grid(path, lambda cell: run(cell), seed=[0, 1], progress=False)
    with pytest.warns(UserWarning):
        rows = experiments.run_grid(path, lambda cell: run(cell), seed=[0, 1], progress=False)
    assert [r["x"] for r in rows] == [1, 1]
    assert len(experiments.read_results(path)) == 4, "uncacheable rows are computed each time"


def test_an_object_without_identity_makes_rows_uncacheable():
    import io

    buffer = io.StringIO()

    def writes(cell):
        buffer.write("x")
        return {}

    with pytest.warns(UserWarning, match="StringIO, which has no stable identity"):
        assert experiments.code_fingerprint(writes) is None


@pytest.mark.slow
def test_the_key_is_the_same_in_another_process(tmp_path):
    module = tmp_path / "keyed_run.py"
    module.write_text(
        textwrap.dedent(
            """
            from helpers import training

            SIZES = {"small": (5, 5), "large": (100, 20)}

            def run(cell):
                return {"n": SIZES[cell["size"]][0], "fit": training.fit.__name__}
            """
        )
    )
    script = "import keyed_run; from helpers import experiments; "
    script += "print(experiments.code_fingerprint(keyed_run.run))"
    keys = [
        subprocess.run(
            [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    ]
    assert keys[0] == keys[1] and len(keys[0]) == 16


@pytest.mark.slow
def test_the_key_does_not_depend_on_where_the_checkout_lies(tmp_path):
    """A fresh clone elsewhere must find the committed reference rows current."""
    run = textwrap.dedent(
        """
        from pathlib import Path

        import torch

        from helpers import config


        class Net:  # a network loaded from a file inside the checkout, as lab.pretrained does
            def __init__(self):
                torch.manual_seed(0)
                self.name, self.model = "tiny", torch.nn.Linear(2, 2)
                self.stages, self.head_name = [], "x"
                self.weights = str(Path(__file__).resolve().parent / "data" / "lab" / "tiny.pt")


        class Set:  # a dataset read from a folder inside the checkout
            def __init__(self):
                self.images = torch.zeros(4, 1, 2, 2, dtype=torch.uint8)
                self.labels, self.classes, self.name = torch.zeros(4), ["a"], "tiny"
                self.source = str(Path(__file__).resolve().parent / "data" / "tiny")


        NET, SETS = Net(), {"tiny": Set()}


        def run(cell):
            root, sets = str(config.repo_root()), SETS
            return {"root": root, "net": NET.weights, "n": len(sets["tiny"].images)}
        """
    )
    script = "import rootrun; from helpers import codekey, config, experiments; "
    script += "found = codekey.reached(rootrun.run); assert 'helpers.config.repo_root' in found; "
    script += "assert 'data/lab/tiny.pt' in found['rootrun.run:NET']; "
    script += "assert '\"data/tiny\"' in found['rootrun.run:SETS']; "
    script += "print(config.repo_root(), experiments.code_fingerprint(rootrun.run))"
    found = []
    for place in ("one", "another/place"):
        copy = tmp_path / place / "checkout"
        shutil.copytree(config.repo_root() / "helpers", copy / "helpers")
        (copy / "rootrun.py").write_text(run)
        out = subprocess.run(
            [sys.executable, "-c", script], cwd=copy, capture_output=True, text=True, check=True
        )
        root, key = out.stdout.split()
        assert root == str(copy.resolve())
        found.append(key)
    assert found[0] == found[1]


# ------------------------------------------------------------------ the same key on every Python

ROOT = config.repo_root()
KEYED_FILES = sorted(
    [*(ROOT / "helpers").glob("*.py"), *(ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")]
)
COMPARED: dict[str, str] = {}  # the interpreters the cross-interpreter test compared (conftest)


def interpreters() -> dict[str, str]:
    """One interpreter per Python 3.10+ version found here: this one, pyenv's, ``python3.X``
    on the PATH; ``{"3.12": path}``."""
    import glob
    import os

    pyenv = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = [sys.executable, *sorted(glob.glob(f"{pyenv}/versions/3.*/bin/python3"))]
    found += [shutil.which(f"python3.{minor}") for minor in range(10, 20)]
    out = {}
    for path in filter(None, found):
        ask = "import sys; print('%d.%d' % sys.version_info[:2])"
        try:
            version = subprocess.run(
                [path, "-c", ask], capture_output=True, text=True, timeout=30
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            continue
        major, _, minor = version.partition(".")
        if major == "3" and minor.isdigit() and int(minor) >= 10:
            out.setdefault(version, path)
    return out


def test_code_keys_are_the_same_on_every_python_here(require_interpreters):
    """Every function and class of helpers/ and the notebooks — so every run function a
    reference row is keyed by, and all they reach — gives the same key text on each Python."""
    found = interpreters()
    require_interpreters(len(found) >= 2, f"Pythons 3.10+ found here: {found or 'one'}")
    keys = {}
    for version, path in sorted(found.items()):
        args = [path, "-m", "helpers.syntax", *map(str, KEYED_FILES)]
        out = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=True).stdout
        keys[version] = __import__("json").loads(out)
    COMPARED.update(found)
    first, *others = sorted(keys)
    assert len(keys[first]) > 400, "every function of helpers and the notebooks is compared"
    for version in others:
        differ = sorted(k for k in keys[first] if keys[first][k] != keys[version].get(k))
        where = f"{len(differ)} definitions, the first {differ[:5]}"
        assert not differ, f"Python {version} keys code apart from Python {first}: {where}"


def test_the_key_text_leaves_out_what_pythons_write_differently():
    import ast

    from helpers import syntax

    source = 'def f(x, w):\n    "doc"\n    return f"{x:<{w}}" + u"a"\n'
    tree = ast.parse(source)
    plain = syntax.canonical(syntax.strip_docstrings(ast.parse(source)))
    fn = tree.body[0]
    fn.type_params = []  # 3.12+ adds the field; 3.13 leaves it out of ast.dump when empty
    fn.type_comment = None
    spec = fn.body[1].value.left.values[0].format_spec
    spec.values.append(ast.Constant(""))  # 3.12.0–1 close a nested format spec so
    fn.body[1].value.right.kind = "u"
    assert syntax.canonical(syntax.strip_docstrings(tree)) == plain
    edited = syntax.canonical(ast.parse(source.replace("+", "-")))
    assert edited != syntax.canonical(ast.parse(source)), "a changed operator changes the key"
    assert "doc" not in plain and "lineno" not in plain
