"""Open built slides in headless Chromium, step through every slide, report what is broken.

    python -m tools.check_slides [build/slides] [NAME.slides.html ...]      (make test-slides)

Playwright from PyPI drives Debian's ``chromium`` (as tools.check_book does). Offline by
design: requests to other hosts are refused and listed. Per file: reveal.js must start
(its ``.reveal.ready`` class), every slide is visited, and any console error, uncaught page error,
broken image, error output of an executed cell, or code, output or table that runs past the
slide's edge is a problem. Exit code 1 and one line per
problem when anything is found.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tools.pages import broken_images, browser_path, offline_context, watched_page

REVEAL = "assets/reveal.js/dist/reveal.js"
# what runs past the current slide: a code or output block whose content is wider than the block
# (cut or scrolled), or a block that reaches beyond the slide's right edge (4 px for borders)
OVERFLOW = """() => {
  const slide = _deck.getCurrentSlide(), edge = slide.getBoundingClientRect().right + 4;
  return [...slide.querySelectorAll('pre, table')]
    .filter(el => el.scrollWidth > el.clientWidth + 1 || el.getBoundingClientRect().right > edge)
    .map(el => el.innerText.split('\\n')[0].slice(0, 80));
}"""


def check(files: list[Path]) -> tuple[list[str], dict[str, int]]:
    from playwright.sync_api import sync_playwright

    problems, counts = [], {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path(), args=["--no-sandbox"])
        context, external = offline_context(browser)
        for path in files:
            page, found = watched_page(context)
            page.goto(path.as_uri(), wait_until="load")
            try:  # reveal.js is loaded as a require.js module, not as a global
                page.wait_for_selector(".reveal.ready", timeout=10000)
                page.evaluate(f"window._deck = window.Reveal || require({REVEAL!r})")
            except Exception as err:
                found.append(f"reveal.js did not start: {str(err)[:200]}")
            else:
                total = page.evaluate("_deck.getTotalSlides()")
                counts[path.name] = total
                for step in range(total):  # visit every slide (fragments step within one)
                    wide = page.evaluate(OVERFLOW)
                    found += [f"slide {step + 1}: runs past the slide's edge: {w!r}" for w in wide]
                    page.evaluate("_deck.next()")
                    page.wait_for_timeout(30)
                if not page.evaluate("_deck.isLastSlide()"):
                    found.append(f"could not step through the {total} slides")
            found += broken_images(page)
            errors = page.eval_on_selector_all(
                ".jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr'] pre",
                "els => els.map(e => e.innerText.slice(0, 200))",
            )
            found += [f"error output: {t}" for t in errors if "Traceback" in t or "Error" in t]
            problems += [f"{path.name}: {p}" for p in found]
            page.close()
        browser.close()
    print(f"{len(files)} slide decks checked {counts}; {len(external)} requests elsewhere refused")
    return problems, counts


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "build/slides").resolve()
    names = sys.argv[2:]
    files = [folder / n for n in names] if names else sorted(folder.glob("*.slides.html"))
    if not files or not all(f.exists() for f in files):
        sys.exit(f"no slides in {folder} (run `make slides` first)")
    problems, _ = check(files)
    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
