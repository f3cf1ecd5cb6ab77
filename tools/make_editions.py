"""The student edition of the course: ``make student`` → ``build/student/NN_*.ipynb``.

One source, two editions (as nbgrader and Neuromatch do it): the notebooks in ``notebooks/`` are
the instructor edition. The student edition is written by nbconvert from them, with two tag-based
preprocessors and nothing else changed:

- cells tagged ``instructor`` are removed (nbconvert's ``TagRemovePreprocessor``);
- cells tagged ``solution`` become a stub (:class:`StubSolutions`): ``# your code here`` and the
  solution's first comment, which names what the cell must produce — the ``check`` cell after
  it tests exactly that.

Usage: ``python -m tools.make_editions [--out build/student] [--run] [NOTEBOOK ...]``;
``--run`` then executes each student notebook in ``quick`` up to its first stub and checks that
the check cell after the stub fails there (``make test-student``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbconvert.exporters import NotebookExporter
from nbconvert.preprocessors import ClearOutputPreprocessor, Preprocessor, TagRemovePreprocessor
from traitlets import Unicode
from traitlets.config import Config

from tools import execute

ROOT = Path(__file__).resolve().parent.parent
SOLUTION, INSTRUCTOR, CHECK = "solution", "instructor", "check"
STUB_MARK = "# your code here"


class StubSolutions(Preprocessor):
    """Replace the source of every ``solution`` cell by a stub naming what it must produce."""

    tag = Unicode(SOLUTION, help="the tag of the cells to replace").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type == "code" and self.tag in tags:
            cell.source = stub(cell.source)
            cell.metadata["tags"] = [t for t in tags if t != self.tag] + ["stub"]
        return cell, resources


def stub(solution: str) -> str:
    """``# your code here`` and what to produce, from the solution's leading comment lines."""
    lines = []
    for line in solution.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    if not lines or not lines[0].startswith("# Solution"):
        raise ValueError(
            "a solution cell must start with '# Solution – <what it produces>' (the stub keeps "
            f"it); this one starts with {solution.splitlines()[:1]}"
        )
    what = [lines[0].replace("# Solution", "# Produce", 1), *lines[1:]]
    return "\n".join([STUB_MARK, *what])


def exporter() -> NotebookExporter:
    config = Config()
    config.TagRemovePreprocessor.remove_cell_tags = {INSTRUCTOR}
    config.TagRemovePreprocessor.enabled = True
    exp = NotebookExporter(config=config)
    exp.register_preprocessor(ClearOutputPreprocessor(config=config), enabled=True)
    exp.register_preprocessor(TagRemovePreprocessor(config=config), enabled=True)
    exp.register_preprocessor(StubSolutions(config=config), enabled=True)
    return exp


def student_edition(notebook: Path) -> nbformat.NotebookNode:
    """The student edition of one notebook, as a notebook node."""
    body, _ = exporter().from_filename(str(notebook))
    return nbformat.reads(body, as_version=4)


def write_student(notebooks: list[Path], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        nb = student_edition(path)
        target = out / path.name
        partial = target.with_name(f".{target.name}.partial")
        nbformat.write(nb, partial)
        partial.replace(target)  # never a half-written notebook under the final name
        written.append(target)
        stubs = sum("stub" in c.metadata.get("tags", []) for c in nb.cells)
        print(f"{target}: {len(nb.cells)} cells, {stubs} exercise stubs")
    return written


def run_until_stub(path: Path, profile: str = "quick", timeout: int = 1800):
    """Execute a student notebook up to and including its first stub, then the check after it.

    Returns (index of the first stub or the number of cells, the check's error or None). The
    kernel runs with ``TL_PROFILE=profile`` in ``notebooks/`` (the data and caches are found as
    from the source notebooks)."""
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    first = next(
        (i for i, c in enumerate(nb.cells) if "stub" in c.metadata.get("tags", [])), len(nb.cells)
    )
    os.environ.update(TL_PROFILE=profile, MPLBACKEND="Agg")
    client = execute.client(nb, cwd=ROOT / "notebooks", timeout=timeout)
    error = None
    with client.setup_kernel():
        for index in range(min(first + 1, len(nb.cells))):
            client.execute_cell(nb.cells[index], index)
        after = first + 1
        if after < len(nb.cells) and CHECK in nb.cells[after].metadata.get("tags", []):
            try:
                client.execute_cell(nb.cells[after], after)
            except CellExecutionError as err:
                error = err
    return first, error


def run_all(written: list[Path]) -> list[str]:
    """``--run``: every student notebook up to its first stub; the problems found."""
    problems = []
    for path in written:
        start = time.perf_counter()
        try:
            first, error = run_until_stub(path)
        except Exception as err:  # a cell before the first stub failed
            problems.append(f"{path.name}: fails before its first stub: {str(err)[-300:]}")
            continue
        cells = nbformat.read(path, as_version=4).cells
        has_stub = first < len(cells)
        if has_stub and (error is None or "NameError" not in str(error)):
            problems.append(f"{path.name}: the check after the first stub does not fail on it")
        where = f"up to its first stub (cell {first})" if has_stub else "to the end"
        print(f"{path.name}: ran {where} in {time.perf_counter() - start:.0f} s")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "student")
    parser.add_argument("--run", action="store_true", help="then run each up to its first stub")
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    missing = [str(p) for p in notebooks if not p.is_file()]
    if missing:
        print(f"no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    written = write_student(notebooks, args.out)
    if args.run:
        problems = run_all(written)
        print("\n".join(problems) or "every student notebook runs up to its first stub")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
