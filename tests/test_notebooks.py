"""Notebook hygiene over every file in notebooks/ (nbval re-runs them; this checks their shape)."""

import json
import re
from pathlib import Path

import pytest

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
        if path.name.startswith(".") or path.name == "README.md":
            continue
        assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name), f"{path.name}: expected NN_snake_case.ipynb"
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
