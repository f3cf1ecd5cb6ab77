"""The course book's builder and its browser check (tools.build_book, tools.check_book).

A one-notebook book (00, quick profile; not 07, whose `interact` cell can deadlock nbclient
now and then: jupyter/nbclient#312) is built and opened in headless Chromium: no problem may be
found; then a broken image, a failing script and an error output are planted, and each
must be reported. Skipped without Chromium or Playwright, except where ``TL_REQUIRE_BROWSER=1``
(CI) makes that a failure.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _browser_or_skip():
    from conftest import require_browser

    require_browser("the book check")


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    _browser_or_skip()
    out = tmp_path_factory.mktemp("book")
    env = {**os.environ, "TL_PROFILE": "quick"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.build_book",
            "--profile",
            "quick",
            "--timeout",
            "300",
            "--out",
            str(out),
            str(ROOT / "notebooks" / "00_setup_check.ipynb"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return out


@pytest.mark.browser
def test_book_pages_open_cleanly(book):
    from tools import check_book

    assert (book / "00_setup_check.html").exists() and (book / "index.html").exists()
    index = (book / "index.html").read_text()
    assert 'href="00_setup_check.html"' in index and "not in this build" in index
    assert 'href="claims.html"' in index, "the claims ledger (data/reference/CLAIMS.md) is linked"
    assert "Claims ledger" in (book / "claims.html").read_text()
    assert check_book.check(book) == []


@pytest.mark.browser
def test_book_check_finds_what_is_broken(book, tmp_path):
    from tools import check_book

    broken = tmp_path / "broken"
    shutil.copytree(book, broken)
    page = broken / "00_setup_check.html"
    planted = (
        '<img src="no-such-figure.png"><a href="08_missing.html">next</a>'
        '<script>throw new Error("planted failure")</script>'
        '<div class="jp-RenderedText" data-mime-type="application/vnd.jupyter.stderr">'
        "<pre>Traceback (most recent call last): ValueError: planted</pre></div>"
    )
    page.write_text(page.read_text().replace("</body>", planted + "</body>"))
    found = "\n".join(check_book.check(broken))
    for what in ("broken image", "broken link", "page error: planted failure", "error output"):
        assert what in found, f"{what!r} was not reported:\n{found}"
