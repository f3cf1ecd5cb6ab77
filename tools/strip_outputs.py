"""Strip outputs from notebooks exactly as the hygiene test demands (``make strip``).

Code cells lose their outputs and execution counts; cell ids, tags and slideshow metadata
stay; per-run metadata that Jupyter adds (``execution`` timings, ``collapsed``/``scrolled``,
widget state) is removed. Files that are already clean are not rewritten.

    python -m tools.strip_outputs notebooks/*.ipynb
    python -m tools.strip_outputs --check notebooks/*.ipynb   # exit 1 if any would change
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

RUN_METADATA = ("execution", "collapsed", "scrolled", "ExecuteTime")


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove outputs, execution counts and per-run metadata in place; return ``nb``."""
    for cell in nb.cells:
        for key in RUN_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="report, do not rewrite")
    args = parser.parse_args(argv)
    dirty = []
    for path in args.paths:
        before = path.read_text(encoding="utf-8")
        nb = strip(nbformat.reads(before, as_version=4))
        after = nbformat.writes(nb) + "\n"
        if after != before:
            dirty.append(path)
            if not args.check:
                path.write_text(after, encoding="utf-8")
    for path in dirty:
        print(f"{'would strip' if args.check else 'stripped'} {path}")
    return 1 if dirty and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
