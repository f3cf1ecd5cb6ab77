"""What the course book and the lecture slides share: executing a notebook for them, the
Colab badge they ship, the course map they index, the errors they report, and the offline
browser that checks them.

Used by ``tools.build_book``, ``tools.check_book``, ``tools.build_slides`` and
``tools.check_slides``.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from urllib.parse import urlparse

import nbformat

from helpers import experiments
from tools import execute as executor

BADGE_URL = "https://colab.research.google.com/assets/colab-badge.svg"
# a stand-in for Colab's badge, drawn here so that the book shows it offline
BADGE_SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="117" height="20" role="img"
 aria-label="Open in Colab"><rect width="117" height="20" rx="3" fill="#555"/>
<rect x="0" width="22" height="20" rx="3" fill="#f9ab00"/>
<text x="11" y="14" font-family="Verdana,sans-serif" font-size="11" fill="#fff"
 text-anchor="middle">co</text>
<text x="69" y="14" font-family="Verdana,sans-serif" font-size="11" fill="#fff"
 text-anchor="middle">Open in Colab</text></svg>
"""


def course_map(readme: str) -> list[dict]:
    """The README's course map rows: number, title, notebook file, idea, runtimes."""
    rows = []
    for line in readme.splitlines():
        m = re.match(
            r"\| (\d\d) \| \[([^\]]+)\]\(notebooks/([^)]+\.ipynb)\)[^|]*\| ([^|]+)\|(.*)", line
        )
        if m:
            cells = [c.strip() for c in m.group(5).split("|")]
            rows.append(
                {
                    "number": m.group(1),
                    "title": m.group(2),
                    "file": m.group(3),
                    "idea": m.group(4).strip(),
                    "runtime": cells[0] if cells else "",
                }
            )
    return rows


def execute(path: Path, profile: str, timeout: int) -> tuple[nbformat.NotebookNode, float]:
    """A notebook executed for the book or the slides: in ``profile``, its grids reading the
    reference runs where that profile has them (else computed); ``(notebook, seconds)``. A cell
    that fails leaves its error in the notebook (the pages show it and the checks find it)."""
    results = "reference" if profile in experiments.reference_profiles() else "compute"
    env = dict(TL_PROFILE=profile, TL_RESULTS=results, HF_HUB_OFFLINE="1")
    done = executor.in_kernel(path, timeout=timeout, env=env)
    if done.failed and "timed out" in done.error:  # nbclient can hang at `interact` (nbclient#312)
        print("   a cell timed out; executing the notebook once more", flush=True)
        done = executor.in_kernel(path, timeout=timeout, env=env)
    return done.nb, done.seconds


def errors_in(nb: nbformat.NotebookNode) -> list[str]:
    return [
        f"{o.get('ename')}: {o.get('evalue')}"
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]


CHROMIUM = ("chromium", "chromium-browser", "google-chrome")


def browser_path() -> str:
    for name in CHROMIUM:
        if found := shutil.which(name):
            return found
    sys.exit("no Chromium here: `apt-get install chromium` (Debian)")


def offline_context(browser):
    """A browser context that loads only local files; refused URLs are listed in ``external``."""
    context, external = browser.new_context(), []

    def route(r):
        if urlparse(r.request.url).scheme in ("file", "data", "blob", "about"):
            return r.continue_()
        external.append(r.request.url)
        return r.abort()

    context.route("**/*", route)
    return context, external


def watched_page(context):
    """A new page and the list its console errors and uncaught page errors are appended to."""
    page, found = context.new_page(), []
    page.on(
        "console",
        lambda m: (
            m.type == "error"
            and not urlparse(m.location.get("url", "")).scheme.startswith("http")
            and found.append(f"console error: {m.text[:200]}")
        ),
    )
    page.on("pageerror", lambda e: found.append(f"page error: {str(e)[:200]}"))
    return page, found


def broken_images(page) -> list[str]:
    srcs = page.eval_on_selector_all(
        "img", "els => els.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
    )
    return [f"broken image: {src[:120]}" for src in srcs]
