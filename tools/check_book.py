"""Open every page of the built course book in headless Chromium and report what is broken.

    python -m tools.check_book [build/book]        (make test-book)

Uses Playwright from PyPI with Debian's ``chromium`` (``executable_path``; no browser download).
Offline by design: requests to other hosts are refused and not counted (the book must not need
them: figures are embedded, the Colab badge and the widget renderer are shipped; MathJax is
not, so formulas show as TeX source offline); on each page it looks for error outputs of
executed cells, images that did not load, links to pages that do not exist, embedded widgets
that did not render, console errors and uncaught page errors. Exit code 1 and one line per
problem when anything is found.
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlparse

from tools.pages import broken_images, browser_path, offline_context, watched_page


def check(book: Path) -> list[str]:
    from playwright.sync_api import sync_playwright

    pages = sorted(book.glob("*.html"))
    if not (book / "index.html").exists():
        return [f"{book}: no index.html (run `make book` first)"]
    problems = []
    shipped = (book / "widgets" / "embed-amd.js").exists()
    if not shipped:
        print("note: the book ships no widget renderer (built without npm): widgets not checked")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path(), args=["--no-sandbox"])
        context, external = offline_context(browser)
        for path in pages:
            page, found = watched_page(context)
            page.goto(path.as_uri(), wait_until="load")
            views = page.eval_on_selector_all(
                "script[type='application/vnd.jupyter.widget-view+json']", "e => e.length"
            )
            if views and shipped:  # embedded widget state: the shipped renderer must draw it
                try:
                    page.wait_for_selector(".jupyter-widgets", timeout=5000)
                except Exception:
                    found.append(f"{views} embedded widgets, none rendered")
            page.wait_for_timeout(300)
            found += broken_images(page)
            errors = page.eval_on_selector_all(
                ".jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr'] pre, "
                ".output_error, .jp-OutputArea-output pre.ansi-red-fg",
                "els => els.map(e => e.innerText.slice(0, 200))",
            )
            found += [f"error output: {t}" for t in errors if "Traceback" in t or "Error" in t]
            links = page.eval_on_selector_all("a[href]", "els => els.map(a => a.href)")
            for href in links:
                url = urlparse(href)
                if url.scheme == "file" and url.path.endswith((".html", ".ipynb")):
                    if url.path.endswith(".ipynb") or not Path(url.path).exists():
                        found.append(f"broken link: {href}")
            problems += [f"{path.name}: {p}" for p in found]
            page.close()
        browser.close()
    print(f"{len(pages)} pages checked; {len(external)} requests to other hosts refused")
    return problems


def main() -> None:
    book = Path(sys.argv[1] if len(sys.argv) > 1 else "build/book").resolve()
    problems = check(book)
    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
