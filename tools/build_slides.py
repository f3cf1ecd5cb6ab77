"""Lecture slides: reveal.js slides of each executed notebook, for showing offline.

    python -m tools.build_slides [--from build/book/notebooks] [--out build/slides]
                                 [--profile quick] [notebooks ...]          (make slides)

The slides come from the executed notebooks of the course book (``make book``) where they exist;
a notebook not executed there is executed here first, in ``--profile`` (grids from the reference
runs, as the book does). Which cells make the lecture path is the cells' own ``slideshow``
metadata (slide, sub-slide, fragment, skip, notes: Jupyter's slideshow convention), set in the
notebooks: the goal, the key code lines, the figures and the verdicts; cells tagged
``instructor`` are speaker notes (``s`` in the browser). nbconvert's slides exporter writes one
HTML file per notebook; reveal.js, require.js and jQuery are shipped beside them (npm packages
reveal.js, MIT; requirejs, MIT; jquery, MIT — fetched once with ``npm pack`` into
``build/slide-assets/``), so the slides need no network; MathJax is replaced by a stand-in (the
course has no TeX) and the theme's web fonts fall back to the browser's.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import nbformat
from nbconvert import SlidesExporter
from traitlets.config import Config

from tools.pages import BADGE_SVG, BADGE_URL, errors_in, execute

ROOT = Path(__file__).resolve().parent.parent

PACKAGES = ("reveal.js@4", "requirejs@2", "jquery@3")
ASSETS = ROOT / "build" / "slide-assets"


# The slides template calls MathJax on every slide change. The course's notebooks contain no
# TeX, so instead of shipping MathJax the decks get this stand-in: the calls do nothing and TeX,
# if a notebook ever had some, would show as its source (as in the course book offline).
MATHJAX_STANDIN = """// stand-in for MathJax 2 (the course has no TeX): its calls do nothing
window.MathJax = {Hub: {Config() {}, Queue() {}, Rerender() {}, getAllJax() { return []; }}};
"""


def slide_assets(out: Path) -> bool:
    """Copy reveal.js (dist, notes plugin), require.js and jQuery into ``<out>/assets/``."""
    if not (ASSETS / "reveal.js" / "dist" / "reveal.js").exists() and shutil.which("npm"):
        with tempfile.TemporaryDirectory() as tmp:
            done = subprocess.run(
                ["npm", "pack", "--silent", *PACKAGES], cwd=tmp, capture_output=True
            )
            if done.returncode == 0:
                for tgz in Path(tmp).glob("*.tgz"):
                    with tarfile.open(tgz) as tar:
                        tar.extractall(Path(tmp) / tgz.stem, filter="data")
                staging = Path(tmp) / "assets"

                def unpacked(prefix):  # the folder of an unpacked tarball, not the .tgz
                    return next(p for p in Path(tmp).glob(f"{prefix}-*") if p.is_dir()) / "package"

                reveal = unpacked("reveal.js")
                shutil.copytree(reveal / "dist", staging / "reveal.js" / "dist")
                shutil.copytree(reveal / "plugin", staging / "reveal.js" / "plugin")
                req = unpacked("requirejs") / "require.js"
                shutil.copy(req, staging / "require.js")
                jq = unpacked("jquery") / "dist" / "jquery.min.js"
                shutil.copy(jq, staging / "jquery.min.js")
                ASSETS.parent.mkdir(parents=True, exist_ok=True)
                shutil.rmtree(ASSETS, ignore_errors=True)
                shutil.move(staging, ASSETS)
    if not (ASSETS / "reveal.js" / "dist" / "reveal.js").exists():
        print("slides: npm unavailable; the slides load reveal.js from its CDN (online only)")
        return False
    shutil.copytree(ASSETS, out / "assets", dirs_exist_ok=True)
    (out / "assets" / "mathjax-standin.js").write_text(MATHJAX_STANDIN)
    return True


def current(source: Path, executed: Path) -> bool:
    """Whether ``executed`` is an execution of ``source`` as it is now (same cells)."""
    if not executed.exists():
        return False
    cells = [
        (c.cell_type, c.source, c.metadata.get("slideshow"), c.metadata.get("tags"))
        for c in nbformat.read(source, as_version=4).cells
    ]
    done = [
        (c.cell_type, c.source, c.metadata.get("slideshow"), c.metadata.get("tags"))
        for c in nbformat.read(executed, as_version=4).cells
    ]
    return cells == done


def slide_count(nb: nbformat.NotebookNode) -> int:
    """Slides and sub-slides of the lecture path (what the presenter steps through)."""
    return sum(
        c.metadata.get("slideshow", {}).get("slide_type") in ("slide", "subslide") for c in nb.cells
    )


def for_slides(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Instructor cells become speaker notes; everything else keeps its slideshow metadata."""
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        if "instructor" in cell.metadata.get("tags", []):
            cell.metadata["slideshow"] = {"slide_type": "notes"}
    return nb


# Readable at lecture distance and never cut at the slide's edge: the prompts go (they take
# width, and a lecture needs no execution counts); a code line of the course's 100 columns fits
# the slide at this size; output wraps at word boundaries, never inside a word.
SLIDE_CSS = """<style type="text/css">
.reveal .jp-InputPrompt, .reveal .jp-OutputPrompt { display: none; }
.reveal .jp-InputArea pre, .reveal .jp-CodeMirrorEditor pre, .reveal .highlight pre {
  font-size: 12.5px !important; line-height: 1.3 !important; white-space: pre; }
.reveal .jp-OutputArea-output pre {
  font-size: 12.5px !important; line-height: 1.3 !important; white-space: pre-wrap !important;
  word-break: normal !important;
  overflow-wrap: normal !important; }
</style>
"""
OUTPUT_ONLY = "output_only"  # cells whose code is bookkeeping: the slides show what they print


def to_slides(nb: nbformat.NotebookNode, title: str, local: bool) -> str:
    urls = (
        dict(
            reveal_url_prefix="assets/reveal.js",
            require_js_url="assets/require.js",
            jquery_url="assets/jquery.min.js",
            mathjax_url="assets/mathjax-standin.js",
        )
        if local
        else {}
    )
    config = Config(
        {"TagRemovePreprocessor": {"enabled": True, "remove_input_tags": {OUTPUT_ONLY}}}
    )
    exporter = SlidesExporter(config=config, reveal_scroll=True, reveal_number="c/t", **urls)
    body, _ = exporter.from_notebook_node(for_slides(nb), resources={"metadata": {"name": title}})
    return body.replace(BADGE_URL, "colab-badge.svg").replace("</head>", SLIDE_CSS + "</head>", 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--from", dest="source", type=Path, default=ROOT / "build" / "book" / "notebooks"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "slides")
    parser.add_argument("--profile", default="quick", help="for notebooks not executed yet")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    chosen = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    missing = [str(p) for p in chosen if not p.is_file()]
    if missing:
        print(f"no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "colab-badge.svg").write_text(BADGE_SVG)
    local = slide_assets(args.out)
    failed = []
    for path in chosen:
        executed = args.source / path.name
        if current(path, executed):
            nb, how = nbformat.read(executed, as_version=4), f"executed in {executed.parent}"
        else:  # never slides of an older version of the notebook
            nb, _ = execute(path.resolve(), args.profile, args.timeout)
            how = f"executed now ({args.profile})"
        failed += [f"{path.name}: {e}" for e in errors_in(nb)]
        page = args.out / f"{path.stem}.slides.html"
        tmp = page.with_suffix(".tmp")
        tmp.write_text(to_slides(nb, path.stem, local))
        tmp.replace(page)
        print(f"{page}: {slide_count(nb)} slides ({how})")
    if failed:
        print("errors in the executed notebooks:\n" + "\n".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
