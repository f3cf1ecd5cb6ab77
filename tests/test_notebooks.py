"""Notebook hygiene over every file in notebooks/ (nbval re-runs them; this checks their shape)."""

import ast
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from tools import release

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
ABSOLUTE_PATH = re.compile(r"(/home/|/Users/|/root/|/tmp/|/work/|/usr/|/opt/|/mnt/|[A-Za-z]:\\\\)")


def _cells(path):
    return json.loads(path.read_text())["cells"]


def _source(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ is empty"


def test_every_file_in_notebooks_is_a_numbered_notebook():
    for path in NOTEBOOK_DIR.iterdir():
        if path.name.startswith(".") or path.name in ("README.md", "ruff.toml"):
            continue
        assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name), (
            f"{path.name}: expected NN_snake_case.ipynb"
        )
    numbers = [p.name[:2] for p in NOTEBOOKS]
    assert len(numbers) == len(set(numbers)), "notebook numbers must be unique"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_stripped(path):
    for cell in _cells(path):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name}: a code cell has outputs"
            assert cell.get("execution_count") is None, f"{path.name}: execution counts left in"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_header(path):
    first = _cells(path)[0]
    text = _source(first)
    assert first["cell_type"] == "markdown"
    assert text.startswith(f"# {path.name[:2]} · "), "title must start with '# NN · '"
    for needed in (
        "colab-badge.svg",
        path.name,
        "**Goal.**",
        "**You will learn**",
        "**Prerequisites.**",
        "**Runtime**",
    ):
        assert needed in text, f"{path.name}: header lacks {needed!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_one_configuration_cell(path):
    code = [_source(c) for c in _cells(path) if c["cell_type"] == "code"]
    config_cells = [c for c in code if c.startswith("# Configuration")]
    assert len(config_cells) == 1, f"{path.name}: expected exactly one '# Configuration' cell"
    for src in code:
        if src is not config_cells[0]:
            assert "by_profile(" not in src and "config.profile()" not in src, (
                "profile knobs belong in the configuration cell"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_paths_star_imports_or_legacy_api(path):
    for cell in _cells(path):
        src = _source(cell)
        assert not ABSOLUTE_PATH.search(src), f"{path.name}: absolute path in {src[:80]!r}"
        if cell["cell_type"] == "code":
            assert not re.search(r"^\s*from \S+ import \*", src, re.M), f"{path.name}: import *"
            assert "pretrained=" not in src, f"{path.name}: use weights=, not pretrained="
            for call in re.findall(r"torch\.load\([^)]*\)", src):
                assert "weights_only=True" in call


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_summary_and_exercises(path):
    text = "\n".join(_source(c) for c in _cells(path) if c["cell_type"] == "markdown")
    assert "## Summary" in text and "## Exercises" in text


# ----------------------------------------------------------------------------- the setup cell

PACKAGE_OF = {  # dataset → the Debian package that brings it
    "tuxpaint": "tuxpaint-stamps-default",
    "openclipart": "openclipart-png",
    "fashion_mnist": "dataset-fashion-mnist",
}
PACKAGES_LINE = re.compile(r"^DEBIAN_PACKAGES = (\[.*?\])$", re.M | re.S)


def _declared(path) -> list[str]:
    """The Debian packages the setup cell declares (the list may span lines)."""
    return ast.literal_eval(PACKAGES_LINE.search(_setup_cell(path)).group(1))


def _setup_cell(path):
    cells = [_source(c) for c in _cells(path) if c["cell_type"] == "code"]
    setup = [c for c in cells if c.startswith("# Setup — on Colab")]
    assert len(setup) == 1, f"{path.name}: expected one setup cell"
    return setup[0]


def _packages_needed(path) -> set[str]:
    """The Debian packages behind the datasets a notebook's code loads."""
    code = "\n".join(_source(c) for c in _cells(path) if c["cell_type"] == "code")
    names = set(re.findall(r"load_dataset\(\"([a-z0-9_]+)\"", code))
    if re.search(r"\blab\.(pretrained|sample_task|task_splits)\(", code):
        names.add("fashion_mnist")  # the lab world is cut from Fashion-MNIST
    if "available_datasets()" in code:
        names |= set(PACKAGE_OF)  # the setup check looks at every offline dataset
    return {PACKAGE_OF[n] for n in names if n in PACKAGE_OF}


def test_setup_cells_are_identical_but_for_the_packages_line():
    """One bootstrap: only the line naming this notebook's Debian packages may differ."""
    template = {PACKAGES_LINE.sub("DEBIAN_PACKAGES = …", _setup_cell(p)) for p in NOTEBOOKS}
    assert len(template) == 1, "setup cells differ (beyond DEBIAN_PACKAGES)"
    text = template.pop()
    assert "COURSE_REF = " in text and "apt-get" not in text.replace("apt-get update", "")
    assert "/dev/null" not in text and "jupyter" not in text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_cell_installs_what_the_notebook_reads(path):
    declared = _declared(path)
    assert set(declared) == _packages_needed(path), f"{path.name}: DEBIAN_PACKAGES = {declared}"
    assert len(declared) == len(set(declared))


SHIM = """#!/bin/sh
echo "$(basename "$0") $*" >> "{log}"
case "$(basename "$0") $1" in
  "git clone") mkdir -p tl-lab ;;
  "dpkg-query -W") exit 1 ;;
esac
exit 0
"""


def test_setup_cell_on_a_simulated_colab(tmp_path, monkeypatch):
    """Run 03's setup cell in a real kernel with google.colab stubbed and git/pip/apt recorded
    (03 declares several Debian packages)."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    bin_dir, log = tmp_path / "bin", tmp_path / "commands.log"
    bin_dir.mkdir()
    for tool in ("git", "pip", "apt-get", "dpkg-query"):
        shim = bin_dir / tool
        shim.write_text(SHIM.format(log=log))
        shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    path = NOTEBOOK_DIR / "03_fine_tuning.ipynb"
    stub = "import sys, types\nsys.modules['google.colab'] = types.ModuleType('google.colab')"
    # 08's MY_FOLDER = "upload": a zip chosen in Colab's browser dialog, unpacked and loaded
    upload = UPLOAD.format(out=str(tmp_path / "upload"))
    cells = [stub, _setup_cell(path), upload]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = nbclient.NotebookClient(
        nb, timeout=300, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    printed = "".join(o.get("text", "") for o in nb.cells[1].outputs)
    commands = log.read_text().splitlines()
    url = "https://github.com/transfer-learning-lab/transfer-learning-lab"
    assert commands[0] == f"git clone -q --filter=blob:none {url} tl-lab"
    assert commands[1] == f"git -C tl-lab checkout -q {pinned_ref()}"
    assert commands[2:4] == [
        "pip install -q -r tl-lab/requirements.txt",
        "pip install -q --no-deps -e tl-lab",
    ]
    apt = [c for c in commands if c.startswith("apt-get")]
    assert apt[0] == "apt-get update", "apt-get update must run before any install"
    installs = [c.split()[-1] for c in apt[1:]]
    assert all(c.startswith("apt-get install -y --no-install-recommends ") for c in apt[1:])
    declared = _declared(path)
    assert len(declared) >= 2 and installs == declared, "one install per declared package"
    for package in installs:
        assert f"apt: {package}: installed" in printed
    loaded = "".join(o.get("text", "") for o in nb.cells[2].outputs)
    assert "uploaded: ['cats', 'dogs'], 4 images" in loaded


UPLOAD = """
import io, zipfile
from PIL import Image
from helpers import data, uploads

def upload():  # what google.colab.files.upload returns: file name → bytes
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name in ("cats/a.png", "cats/b.png", "dogs/a.png", "dogs/b.png"):
            image = io.BytesIO()
            Image.new("RGB", (8, 8), (9, 9, 9)).save(image, "PNG")
            z.writestr(f"my_classes/{{name}}", image.getvalue())
    return {{"my_classes.zip": buffer.getvalue()}}

sys.modules["google.colab"].files = types.SimpleNamespace(upload=upload)
folder = uploads.open_folder("upload", unpack_to={out!r})
mine = data.load_image_folder(folder, image_size=16)
print(f"uploaded: {{mine.classes}}, {{len(mine)}} images")
"""


def pinned_ref() -> str:
    (ref,) = set().union(*release.refs_in_use().values())
    return ref


def test_every_notebook_and_the_readme_pin_one_ref_that_is_not_a_branch():
    """One commit or tag in every setup cell and Colab badge (`make release` writes it)."""
    assert not release.problems(), "\n".join(release.problems())
    assert re.fullmatch(r"[0-9a-f]{40}|v[\w.\-]+", pinned_ref()), "a full commit or a v-tag"


def test_release_writes_one_ref_everywhere(tmp_path):
    for name in ("notebooks", "README.md"):
        source = NOTEBOOK_DIR.parent / name
        copy = shutil.copytree if source.is_dir() else shutil.copy
        copy(source, tmp_path / name)
    release.pin("v2027.1", url="https://github.com/someone/fork", root=tmp_path)
    assert set().union(*release.refs_in_use(tmp_path).values()) == {"v2027.1"}
    text = (tmp_path / "notebooks" / "03_fine_tuning.ipynb").read_text()
    assert 'COURSE_URL = \\"https://github.com/someone/fork\\"' in text
    assert 'COURSE_REF = \\"v2027.1\\"' in text
    assert "colab.research.google.com/github/someone/fork/blob/v2027.1/notebooks/" in text
    release.pin("main", root=tmp_path)
    assert "'main' is a branch" in "".join(release.problems(tmp_path))


# ----------------------------------------------------------------------------- numbers in prose

PLUS_MINUS = re.compile(r"\d\s*±\s*\d")
PERCENT = re.compile(r"(?<![\d.])(?!95\s*%)\d+(?:[.,]\d+)?\s*%")
POINTS = re.compile(r"\d\s*points?\b|\bpoints\b")


def _tags(cell):
    return cell.get("metadata", {}).get("tags", [])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_run_numbers_typed_into_prose(path):
    """Run numbers come from code cells; papers' numbers live in markdown cells tagged 'paper'."""
    for cell in _cells(path):
        src = _source(cell)
        if "paper" in _tags(cell):
            continue
        assert not PLUS_MINUS.search(src), (
            f"{path.name}: '{PLUS_MINUS.search(src).group()}' typed into a "
            f"{cell['cell_type']} cell; print it from the run (or tag a paper's cell 'paper')"
        )
        if cell["cell_type"] == "markdown" and src.startswith("## Summary"):
            for pattern in (PERCENT, POINTS):
                found = pattern.search(src)
                assert not found, f"{path.name}: summary states {found.group()!r}; print it instead"


def test_the_prose_check_can_fail():
    assert PLUS_MINUS.search("88.7 ± 14.1 %") and not PLUS_MINUS.search("mean ± 95 % interval")
    assert PERCENT.search("beat it by 12 %") and not PERCENT.search("a 95 % interval")
    assert POINTS.search("by 26 points") and not POINTS.search("the key pointers")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_summary_is_followed_by_what_this_run_measured(path):
    if path.name[:2] in ("00", "07"):
        return  # a setup check and an exact identity: their summaries state no run results
    cells = _cells(path)
    index = next(i for i, c in enumerate(cells) if _source(c).startswith("## Summary"))
    after = cells[index + 1]
    assert after["cell_type"] == "code" and _source(after).startswith("# What this run measured")
    assert "PROFILE" in _source(after), "the computed summary names the profile"


def test_runtimes_come_from_one_measured_file():
    """The README's course map and each notebook's Runtime line agree with
    benchmarks/course_times.json (regenerate both with `make runtimes`)."""
    from tools import runtimes

    problems = runtimes.sync(write=False)
    assert not problems, "out of date (run `make runtimes`):\n" + "\n".join(problems)


def test_the_in_process_executor_runs_the_lesson_and_the_solutions_it_is_asked_for(tmp_path):
    import nbformat

    from tools import execute

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell
    nb.cells = [
        cell("ran = ['lesson']"),
        cell("ran.append('solution without a grid')", metadata={"tags": ["solution"]}),
        cell("ran.append('its check')", metadata={"tags": ["check"]}),
        cell(
            "run_grid = None\nran.append('solution with a grid')  # run_grid(",
            metadata={"tags": ["solution"]},
        ),
        cell("ran.append('after')"),
    ]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    runs = {}
    for how in ({}, {"skip_solutions_without_grids": True}, {"lesson_only": True}):
        namespace: dict = {}
        execute.here(path, namespace, **how)
        runs[tuple(how)] = namespace["ran"]
    assert runs[()] == [
        "lesson",
        "solution without a grid",
        "its check",
        "solution with a grid",
        "after",
    ]
    assert runs[("skip_solutions_without_grids",)] == ["lesson", "solution with a grid", "after"]
    assert runs[("lesson_only",)] == ["lesson"]
