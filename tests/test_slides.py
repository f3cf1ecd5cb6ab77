"""Lecture slides: every notebook chooses a lecture path in its cells' slideshow metadata, and
``make slides`` turns executed notebooks into reveal.js decks that open offline in Chromium."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
from tools import build_slides  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TYPES = {"slide", "subslide", "fragment", "-", "skip", "notes"}


def slide_type(cell) -> str | None:
    return cell.metadata.get("slideshow", {}).get("slide_type")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_chooses_a_lecture_path(path):
    nb = nbformat.read(path, as_version=4)
    assert all(slide_type(c) in TYPES for c in nb.cells), "every cell says where it goes"
    count = build_slides.slide_count(nb)
    low = 5 if path.name.startswith("00_") else 10  # the setup check is a short deck
    assert low <= count <= 20, f"{path.name}: {count} slides"
    assert slide_type(nb.cells[0]) == "slide", "the deck opens with the notebook's title"
    for cell in nb.cells:
        tags = set(cell.metadata.get("tags", []))
        if tags & {"exercise", "solution", "check"}:
            assert slide_type(cell) == "skip", "exercises are not lecture slides"
        if "instructor" in tags:
            assert slide_type(build_slides.for_slides(nb).cells[nb.cells.index(cell)]) == "notes"
    verdicts = [c for c in nb.cells if c.source.startswith("# What this run measured")]
    assert all(slide_type(c) == "slide" for c in verdicts), "the verdict is a slide"


def test_stale_executions_are_not_used(tmp_path):
    source = NOTEBOOKS[-1]
    executed = tmp_path / source.name
    assert not build_slides.current(source, executed)
    nb = nbformat.read(source, as_version=4)
    nbformat.write(nb, executed)
    assert build_slides.current(source, executed)
    nb.cells[3].source += "\n# changed"
    nbformat.write(nb, executed)
    assert not build_slides.current(source, executed)


@pytest.mark.browser
def test_slides_of_07_open_offline_in_chromium(tmp_path):
    """Builds 07's deck and steps through it in headless Chromium. The builder takes 07 as
    already executed (a copy without outputs: the same cells, so it counts as current), which
    keeps the test to seconds; `make slides` / `make test-slides` check the executed decks."""
    from conftest import browser_missing, require_browser

    require_browser("the slides check")
    out, executed = tmp_path / "slides", tmp_path / "executed"
    executed.mkdir()
    shutil.copy(NOTEBOOKS[-1], executed)
    code = build_slides.main(["--from", str(executed), "--out", str(out), str(NOTEBOOKS[-1])])
    assert code == 0
    deck = out / f"{NOTEBOOKS[-1].stem}.slides.html"
    html = deck.read_text()
    assert "assets/reveal.js/dist/reveal.js" in html or not (out / "assets").exists()
    if not (out / "assets").exists():
        browser_missing("npm could not fetch reveal.js: the deck needs its CDN")
    from tools import check_slides

    problems, counts = check_slides.check([deck])
    assert not problems, "\n".join(problems)
    assert counts[deck.name] >= 10


def test_bookkeeping_cells_show_their_output_only():
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.source.startswith("# What this run measured"):
                assert build_slides.OUTPUT_ONLY in cell.metadata.get("tags", []), path.name


def test_the_overflow_check_finds_a_line_past_the_slide_edge(tmp_path):
    """A code line of 100 columns fits a slide; one of 180 runs past it and is reported, and an
    output line wraps at its spaces instead."""
    from conftest import browser_missing, require_browser

    require_browser("the slides check")
    nb = nbformat.v4.new_notebook()
    fits, wide = "x = " + "1 + " * 24 + "1", "y = " + "2 + " * 44 + "2"
    words = nbformat.v4.new_output("stream", name="stdout", text="word " * 80 + "\n")
    cells = [
        nbformat.v4.new_markdown_cell("# a deck"),
        nbformat.v4.new_code_cell(fits),
        nbformat.v4.new_code_cell(wide, outputs=[words]),
    ]
    for cell, kind in zip(cells, ("slide", "slide", "slide")):
        cell.metadata["slideshow"] = {"slide_type": kind}
    nb.cells = cells
    executed = tmp_path / "executed"
    executed.mkdir()
    source = tmp_path / "99_deck.ipynb"
    nbformat.write(nb, source)
    nbformat.write(nb, executed / source.name)
    out = tmp_path / "slides"
    assert build_slides.main(["--from", str(executed), "--out", str(out), str(source)]) == 0
    if not (out / "assets").exists():
        browser_missing("npm could not fetch reveal.js: the deck needs its CDN")
    from tools import check_slides

    problems, _ = check_slides.check([out / "99_deck.slides.html"])
    assert len(problems) == 1 and "slide 3" in problems[0] and "y = 2" in problems[0], problems
