"""Pin the course for Colab: one commit (or tag) in every notebook's setup cell and Colab badge.

    python -m tools.release [--ref COMMIT_OR_TAG] [--url REPOSITORY]     (make release)

On Colab a notebook clones the course and checks out ``COURSE_REF``; a branch would hand a
notebook saved to Drive newer helpers next month. This step writes one ref — by default the
commit checked out here, refused while ``helpers/``, ``requirements.txt`` or ``pyproject.toml``
have uncommitted changes (that commit would not hold them) — into every notebook's setup cell,
and into the Colab badges of the notebooks and the README, so that a badge opens the notebook
of that commit and its setup cell installs the helpers of that commit. Commit the result.

An instructor pins a semester in a fork: ``make release URL=https://github.com/<you>/<fork>``
(``COURSE_URL`` and the badges then name the fork), commit, push, and hand out the badges.
``--check`` only verifies that every notebook and the README name one ref, not a branch.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
URL_LINE = re.compile(r'^(COURSE_URL = )"([^"]+)"', re.M)
REF_LINE = re.compile(r'^(COURSE_REF = )"([^"]+)"', re.M)
BADGE = re.compile(r"https://colab\.research\.google\.com/github/([^/\s]+/[^/\s]+)/blob/([^/\s]+)/")
BRANCHES = {"main", "master", "HEAD", "develop"}


def notebooks(root: Path = ROOT) -> list[Path]:
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def refs_in_use(root: Path = ROOT) -> dict[str, set[str]]:
    """``{file: {ref, …}}``: the refs each notebook's setup cell and badges, and the README's
    badges, name."""
    found = {}
    for path in [*notebooks(root), root / "README.md"]:
        text = path.read_text()
        if path.suffix == ".ipynb":
            text = "\n".join("".join(c["source"]) for c in json.loads(text)["cells"])
        refs = {m.group(2) for m in REF_LINE.finditer(text)}
        found[path.name] = refs | {m.group(2) for m in BADGE.finditer(text)}
    return found


def problems(root: Path = ROOT) -> list[str]:
    """What keeps the course from being pinned to one ref (empty when it is)."""
    found = refs_in_use(root)
    every = set().union(*found.values())
    out = [f"{name}: no setup ref or badge found" for name, refs in found.items() if not refs]
    if len(every) > 1:
        out.append(f"several refs in use: {sorted(every)} ({found})")
    out += [f"{ref!r} is a branch: it moves; pin a commit or a tag" for ref in every & BRANCHES]
    return out


def _pinned(text: str, ref: str, url: str | None) -> str:
    slug = url.removeprefix("https://github.com/").strip("/") if url else None
    text = REF_LINE.sub(lambda m: f'{m.group(1)}"{ref}"', text)
    text = URL_LINE.sub(lambda m: f'{m.group(1)}"{url or m.group(2)}"', text)
    colab = "https://colab.research.google.com/github"
    return BADGE.sub(lambda m: f"{colab}/{slug or m.group(1)}/blob/{ref}/", text)


def pin(ref: str, url: str | None = None, root: Path = ROOT) -> None:
    """Write ``ref`` (and ``url``, when given) into every setup cell and Colab badge."""
    for path in notebooks(root):
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            cell["source"] = _pinned("".join(cell["source"]), ref, url).splitlines(True)
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    readme = root / "README.md"
    readme.write_text(_pinned(readme.read_text(), ref, url))


def current_commit(root: Path = ROOT) -> str:
    """HEAD's commit, refusing while the code a notebook installs has uncommitted changes."""
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "helpers", "requirements.txt", "pyproject.toml"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if dirty:
        raise SystemExit(f"commit these first — the pinned commit would not hold them:\n{dirty}")
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", help="a commit or tag (default: the commit checked out here)")
    parser.add_argument("--url", help="the repository the notebooks clone (a fork)")
    parser.add_argument("--check", action="store_true", help="only check that one ref is used")
    args = parser.parse_args(argv)
    if not args.check:
        ref = args.ref or current_commit()
        if ref in BRANCHES:
            raise SystemExit(f"{ref!r} is a branch: it moves; pin a commit or a tag")
        pin(ref, args.url)
        print(f"pinned {len(notebooks())} notebooks and the README to {ref}; commit them")
    found = problems()
    print("\n".join(found) or "one ref in every notebook and the README")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
