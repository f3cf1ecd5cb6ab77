"""The two editions: exercises with solutions and checks in notebooks/, the student edition built
from them by ``make student`` (tools.make_editions)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
from tools import make_editions  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WITH_EXERCISES = [p for p in NOTEBOOKS if not p.name.startswith("00_")]


def tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def produced(solution: str) -> set[str]:
    """The names a solution's leading comment says it produces (in backticks)."""
    head = []
    for line in solution.splitlines():
        if not line.startswith("#"):
            break
        head.append(line)
    return set(re.findall(r"`([A-Za-z_]\w*)`", "\n".join(head)))


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=lambda p: p.name)
def test_every_exercise_has_a_solution_and_checks_test_what_it_produces(path):
    cells = nbformat.read(path, as_version=4).cells
    exercises = [i for i, c in enumerate(cells) if "exercise" in tags(c)]
    solutions = [i for i, c in enumerate(cells) if "solution" in tags(c)]
    assert len(solutions) >= 2, f"{path.name}: {len(solutions)} solution cells"
    for i in exercises:
        assert cells[i].cell_type == "markdown" and cells[i].source.startswith("**Exercise")
        assert "solution" in tags(cells[i + 1]), f"{path.name}: exercise cell {i} has no solution"
    for i in solutions:
        source = cells[i].source
        assert cells[i].cell_type == "code" and source.startswith("# Solution – "), source[:60]
        names = produced(source)
        assert names, f"{path.name}: solution {i} names nothing it produces"
        follows = cells[i + 1] if i + 1 < len(cells) else None
        if follows is not None and "check" in tags(follows):
            used = set(re.findall(r"[A-Za-z_]\w*", follows.source))
            # a stub defines none of these names: the check fails until the exercise is done
            assert names & used, f"{path.name}: the check after solution {i} tests none of {names}"
        else:  # no check: the exercise says why
            assert "No check cell" in cells[i - 1].source, f"{path.name}: solution {i}"


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    make_editions.write_student(NOTEBOOKS, out)
    return out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_student_edition_has_stubs_and_nothing_else_changed(path, student):
    source = nbformat.read(path, as_version=4).cells
    edition = nbformat.read(student / path.name, as_version=4).cells
    kept = [c for c in source if "instructor" not in tags(c)]
    assert len(edition) == len(kept)
    for mine, theirs in zip(kept, edition):
        assert not {"solution", "instructor"} & set(tags(theirs))
        assert theirs.get("outputs", []) == []
        if "solution" in tags(mine):
            assert theirs.source.startswith(make_editions.STUB_MARK)
            assert produced(mine.source) <= produced(theirs.source.replace("Produce", "Solution"))
        else:
            assert (theirs.cell_type, theirs.source) == (mine.cell_type, mine.source)
            assert theirs.get("id") == mine.get("id")


def test_a_solution_without_its_heading_is_refused():
    with pytest.raises(ValueError, match="# Solution"):
        make_editions.stub("x = 1")
    assert (
        make_editions.stub("# Solution – `x`\n# more\nx = 1")
        == "# your code here\n# Produce – `x`\n# more"
    )


@pytest.mark.parametrize("name", ["07_fc_as_conv.ipynb"])
@pytest.mark.notebook
def test_student_notebook_runs_up_to_its_first_stub_and_the_check_fails_there(
    name, student, monkeypatch
):
    """07 runs here (the shortest notebook with exercises; half a minute); ``make test-student``
    runs every notebook. The cells before the first stub are the source's cells (test above),
    which nbval runs."""
    pytest.importorskip("nbclient")
    monkeypatch.setenv("TL_PROFILE", "quick")
    ran, error = make_editions.run_until_stub(student / name)
    cells = nbformat.read(student / name, as_version=4).cells
    if any("stub" in tags(c) for c in cells):
        assert error is not None and "NameError" in str(error), "the check passed on a stub"
    else:
        assert ran == len(cells)


def test_make_student_writes_the_build_folder(tmp_path):
    out = tmp_path / "student"
    done = subprocess.run(
        [sys.executable, "-m", "tools.make_editions", "--out", str(out), str(NOTEBOOKS[-1])],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert [p.name for p in out.iterdir()] == [NOTEBOOKS[-1].name]
    missing = subprocess.run(
        [sys.executable, "-m", "tools.make_editions", "--out", str(out), "nope.ipynb"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert missing.returncode == 2 and "no such notebook: nope.ipynb" in missing.stderr
