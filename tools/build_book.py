"""Build the course book: every notebook executed, as static HTML, with an index page.

    python -m tools.build_book [--profile cpu] [--out build/book] [notebooks ...]   (make book)

Notebooks run in a fresh kernel with ``TL_PROFILE=<profile>`` and ``TL_RESULTS=reference``:
grids read the committed reference runs of that profile where they are current (so 04–06 build
in minutes), everything else is computed. Each executed notebook is written to
``<out>/notebooks/`` and exported with nbconvert's HTML exporter (figures embedded as PNG, the
state of ipywidgets embedded where the notebook stored it); links between notebooks point to
their pages; the Colab badge is a copy shipped with the book. ``index.html`` is generated from
the README's course map and names the profile, the reference runs used and the build time.
nbconvert is used rather than Jupyter Book: it is already a dependency (nbval, `make course`),
needs no Sphinx theme or network at build time, and its output is one page per notebook.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import nbformat

from tools import execute as executor
from tools.pages import BADGE_SVG, BADGE_URL, course_map, errors_in, execute
from tools.timing import ROOT, LoadMeter, empty_caches, record

WIDGET_PACKAGES = ("@jupyter-widgets/html-manager@1", "requirejs@2")


def widget_assets(book: Path) -> bool:
    """Copy the JavaScript that renders embedded widget state into ``<book>/widgets/``.

    nbconvert's pages load it from a CDN; the book ships it (the npm packages
    @jupyter-widgets/html-manager, BSD-3-Clause, and requirejs, MIT), fetched once with
    ``npm pack`` into ``build/widget-assets/``. Without npm the pages still carry the widget
    state, but show no widgets offline. Returns whether the assets are there.
    """
    cache = ROOT / "build" / "widget-assets"
    if not (cache / "embed-amd.js").exists() and shutil.which("npm"):
        with tempfile.TemporaryDirectory() as tmp:
            done = subprocess.run(
                ["npm", "pack", "--silent", *WIDGET_PACKAGES], cwd=tmp, capture_output=True
            )
            if done.returncode == 0:
                for tgz in Path(tmp).glob("*.tgz"):
                    with tarfile.open(tgz) as tar:
                        tar.extractall(Path(tmp) / tgz.stem, filter="data")
                staging = Path(tmp) / "assets"
                html_manager = next(Path(tmp).glob("jupyter-widgets-html-manager-*"))
                shutil.copytree(html_manager / "package" / "dist", staging)
                requirejs = next(Path(tmp).glob("requirejs-*"))
                shutil.copy(requirejs / "package" / "require.js", staging / "require.js")
                cache.parent.mkdir(parents=True, exist_ok=True)
                shutil.rmtree(cache, ignore_errors=True)
                shutil.move(staging, cache)
    if not (cache / "embed-amd.js").exists():
        print("widgets: npm unavailable; pages keep the widget state but render no widgets")
        return False
    shutil.copytree(cache, book / "widgets", dirs_exist_ok=True)
    return True


def to_html(nb: nbformat.NotebookNode, title: str, widgets: bool) -> str:
    local = dict(widget_renderer_url="widgets/embed-amd.js", require_js_url="widgets/require.js")
    executor.describe_figures(nb)  # every figure with a short description for screen readers
    exporter = executor.html_exporter(**(local if widgets else {}))
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    # notebook links → pages of the book; the Colab badge → the book's own copy
    body = re.sub(
        r'href="(?:\.\./notebooks/|notebooks/)?(\d\d_[a-z0-9_]+)\.ipynb', r'href="\1.html', body
    )
    return body.replace(BADGE_URL, "colab-badge.svg")


def index_page(rows: list[dict], built: dict, profile: str, references: dict, out: Path) -> str:
    """The index: every notebook of the course map, linked where its page exists in ``out``."""
    items = []
    for r in rows:
        page = Path(r["file"]).stem + ".html"
        title = html.escape(r["title"])
        if (out / page).exists():
            seconds = built.get(r["file"])
            took = f"{seconds / 60:.1f} min" if seconds is not None else "an earlier build"
            title = f'<a href="{page}">{title}</a>'
        else:
            took = "not in this build"
        items.append(
            f"<tr><td>{r['number']}</td><td>{title}</td><td>{html.escape(r['idea'])}</td>"
            f"<td>{took}</td></tr>"
        )
    refs = "".join(
        f"<li><code>{html.escape(name)}</code>: {html.escape(p['date'])}, "
        f"{html.escape(p['machine'])}, torch {html.escape(p['torch'])}, commit "
        f"<code>{html.escape(p['commit'][:10])}</code></li>"
        for name, p in sorted(references.items())
        if p["profile"] == profile
    )
    total = sum(built.values()) / 60
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Transfer Learning Lab — the course book</title>
<style>body{{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em;line-height:1.4}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3em .6em;vertical-align:top}}
th{{background:#f3f3f3}}</style></head>
<body><h1>Transfer Learning Lab — the course book</h1>
<p>Every notebook of the course, executed in the <code>{profile}</code> profile on
{dt.date.today().isoformat()} ({total:.1f} min of execution in this build). Grids read the committed
reference runs of this profile where they are current; each notebook's summary says where its
numbers come from.</p>
<table><tr><th>#</th><th>notebook</th><th>idea</th><th>built</th></tr>
{"".join(items)}
</table>
<h2>Reference runs used</h2><ul>{refs or "<li>none for this profile</li>"}</ul>
{claims_link(out)}
</body></html>
"""


def claims_page(out: Path) -> bool:
    """``claims.html``: the claims ledger (data/reference/CLAIMS.md) as a page of the book."""
    source = ROOT / "data" / "reference" / "CLAIMS.md"
    if not source.is_file():
        return False
    import mistune

    body = mistune.create_markdown(plugins=["table"])(source.read_text())
    (out / "claims.html").write_text(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Claims ledger</title>'
        "<style>body{font-family:sans-serif;margin:2em;line-height:1.4;font-size:14px}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .4em;"
        'vertical-align:top}th{background:#f3f3f3}</style></head><body><p><a href="index.html">'
        f"← the course book</a></p>{body}</body></html>\n"
    )
    return True


def claims_link(out: Path) -> str:
    if not (out / "claims.html").exists():
        return ""
    return (
        '<h2>Claims ledger</h2><p><a href="claims.html">Every verdict of 04–06</a> on the '
        "reference runs: claim, comparison, paired difference with its 95 % interval, Holm's "
        "adjusted p, verdict.</p>"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "book")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument(
        "--cold", action="store_true", help="empty data/cache/{features,results,lab} first"
    )
    parser.add_argument(
        "--record",
        action="store_true",
        help="merge the times into benchmarks/course_times.json (<profile>-reference where the "
        "notebook read reference rows)",
    )
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args()
    rows = course_map((ROOT / "README.md").read_text())
    chosen = args.notebooks or [ROOT / "notebooks" / r["file"] for r in rows]
    (args.out / "notebooks").mkdir(parents=True, exist_ok=True)
    (args.out / "colab-badge.svg").write_text(BADGE_SVG)
    widgets = widget_assets(args.out)
    prov = ROOT / "data" / "reference" / "provenance.json"
    references = json.loads(prov.read_text())["files"] if prov.exists() else {}
    built, failed = {}, []
    for path in chosen:
        path = path if path.is_absolute() else Path.cwd() / path
        print(f"== {path.name} ({args.profile})", flush=True)
        if args.cold:
            empty_caches()
        with LoadMeter() as meter:
            try:
                nb, seconds = execute(path, args.profile, args.timeout)
            except Exception as err:  # the page is still written, with the error in it
                nb, seconds = nbformat.read(path, as_version=4), 0.0
                failed.append(f"{path.name}: {type(err).__name__}: {str(err)[-500:]}")
        failed += [f"{path.name}: {e}" for e in errors_in(nb)]
        nbformat.write(nb, args.out / "notebooks" / path.name)
        page = args.out / f"{path.stem}.html"
        tmp = page.with_suffix(".tmp")
        tmp.write_text(to_html(nb, path.stem, widgets))
        tmp.replace(page)
        built[path.name] = seconds
        if args.record and meter.load["shared"]:
            print(
                f"   not recorded: other work used {meter.load['other_cpu_share']:.0%} of the cores"
            )
        elif args.record and seconds and not errors_in(nb):
            used = any(
                path.stem in name and p["profile"] == args.profile for name, p in references.items()
            )
            key = f"{args.profile}-reference" if used else args.profile
            how = "make book (nbclient)"
            record(key, path.name, seconds, None, cold=args.cold, how=how, **meter.load)
        print(f"   {seconds / 60:.1f} min → {page.relative_to(args.out)}", flush=True)
    claims_page(args.out)
    (args.out / "index.html").write_text(
        index_page(rows, built, args.profile, references, args.out)
    )
    (args.out / "build.json").write_text(
        json.dumps({"profile": args.profile, "seconds": built, "failed": failed}, indent=1) + "\n"
    )
    print(f"book: {args.out / 'index.html'} ({sum(built.values()) / 60:.1f} min)")
    if failed:
        sys.exit("errors while executing:\n" + "\n".join(failed))


if __name__ == "__main__":
    main()
