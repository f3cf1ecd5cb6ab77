"""How heavy are the notebooks and the helpers? The measures of the course's weight, in one table.

    python -m tools.notebook_weight [NOTEBOOK ...] [--json]

Every notebook is measured (``notebooks/NN_*.ipynb``, whatever comes next). Notebook code is
counted in statements (each simple statement and each compound statement's header, as the
syntax tree has them), in characters (of non-empty lines, indentation left out) and in
non-empty lines; the share of lines wider than ``WIDE`` columns and the ``# fmt: skip`` markers
of the whole tree (helpers, tools, tests, benchmarks, notebooks) are counted too, against the
targets in ``TARGETS``. Each line is also given one role:

- **bootstrap** — the setup cell (the one that installs the course on Colab) and the environment
  cell after it;
- **plots** — cells marked ``# extra code –``, and statements that only draw (``plt.``, ``ax.``,
  ``fig.``, ``plotting.``);
- **printing** — "What this run measured" cells and ``print(...)`` statements;
- **grid bookkeeping** — ``run_grid``/``grid``/``results_path``/``origin`` calls and
  hand-built lists of cells;
- **result bookkeeping** — picking rows and summarising them (``select``, ``values``,
  ``summarise``, ``print_table``, ``fmt_ci``);
- **checks** — the cells tagged ``check`` that test an exercise's answer;
- **lesson** — everything else: the configuration, the code that loads, trains, probes and
  compares, and the exercises' solutions.

A compound statement's own lines (``for …:``, ``def …:``) take the role most of its body has,
so a loop that only prints counts as printing.

Helpers are measured by the span of each function (``def`` to its last line, docstring
included). Nothing is run; the notebooks are read as text.
"""

from __future__ import annotations

import argparse
import ast
import json
import statistics
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
WIDE = 79  # columns a line may use before it is counted wide
SKIP = "# fmt" + ": skip"  # written so that this file does not count itself
TARGETS = {
    "median statements per cell": 10,
    "share of lines wider than 79": 0.10,
    SKIP + " in the tree": 10,
}
DRAWING = ("plt.", "ax.", "axes", "fig.", "plotting.", "row[", "ax[")
BOOKKEEPING = ("run_grid(", "experiments.grid(", "results_path(", "origin(")
RESULTS = ("select(", "values(", "summarise(", "print_table(", "fmt_ci(", "fmt(", "pivot(")


def _transform(source: str) -> str:
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except ImportError:  # pragma: no cover - IPython comes with the test requirements
        return source


def _simple_role(node: ast.stmt, text: str) -> str:
    """The role of one simple statement, from its text."""
    head = text.lstrip()
    call = node.value if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) else None
    if call is not None and ast.unparse(call.func) == "print":
        return "printing"
    if any(marker in text for marker in BOOKKEEPING):
        return "grid bookkeeping"
    if isinstance(node, ast.Assign) and head.split("=")[0].strip().endswith("cells"):
        return "grid bookkeeping"
    if any(marker in text for marker in RESULTS):
        return "result bookkeeping"
    if head.startswith(DRAWING) or head.startswith(("fig, ", "fig =")):
        return "plots"
    return "lesson"


def _roles(nodes: list[ast.stmt], lines: list[str]) -> dict[str, int]:
    """Non-empty lines by role; a compound statement's own lines (``for …:``, ``def …:``) take
    the role most of its body has."""
    roles: dict[str, int] = {}

    def add(role, n):
        roles[role] = roles.get(role, 0) + n

    for node in nodes:
        chunk = lines[node.lineno - 1 : node.end_lineno]
        bodies = [b for f in ("body", "orelse", "finalbody") for b in getattr(node, f, []) or []]
        bodies += [s for h in getattr(node, "handlers", []) for s in h.body]
        if not bodies or isinstance(node, (ast.Expr, ast.Assign, ast.AugAssign, ast.Return)):
            add(_simple_role(node, "\n".join(chunk)), sum(1 for ln in chunk if ln.strip()))
            continue
        inner = _roles(bodies, lines)
        own = sum(1 for ln in chunk if ln.strip()) - sum(inner.values())
        for role, n in inner.items():
            add(role, n)
        add(max(inner, key=inner.get) if inner else "lesson", max(own, 0))
    return roles


def cell_roles(cell, is_setup: bool) -> dict[str, int]:
    """Non-empty lines of one code cell, by role."""
    lines = [ln for ln in cell.source.splitlines() if ln.strip()]
    tags = set(cell.metadata.get("tags", []))
    whole = (
        "bootstrap" if is_setup
        else "checks" if "check" in tags
        else "plots" if cell.source.startswith("# extra code")
        else "printing" if cell.source.startswith("# What this run measured")
        else None
    )  # fmt: skip
    if whole:
        return {whole: len(lines)}
    source = _transform(cell.source)
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {"lesson": len(lines)}
    roles = _roles(tree.body, source.splitlines())
    counted = sum(roles.values())
    if counted < len(lines):  # comments and blank-free lines between statements
        roles["lesson"] = roles.get("lesson", 0) + len(lines) - counted
    return roles


def statements(source: str) -> int:
    """Statements in a cell's code: every node of the syntax tree that is a statement."""
    try:
        tree = ast.parse(_transform(source))
    except SyntaxError:
        return sum(
            1 for ln in source.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
        )
    return sum(isinstance(node, ast.stmt) for node in ast.walk(tree))


def notebook_measures(path: Path) -> dict:
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    sizes, roles, fmt_skip, marked, long_cells = [], {}, 0, 0, []
    counts, chars, wide = [], 0, 0
    for i, cell in enumerate(cells):
        text = [ln for ln in cell.source.splitlines() if ln.strip()]
        n = len(text)
        sizes.append(n)
        counts.append(statements(cell.source))
        chars += sum(len(ln.strip()) for ln in text)
        wide += sum(len(ln) > WIDE for ln in text)
        # the Colab bootstrap and the environment cell after it (thread pools, versions)
        is_setup = "COURSE_URL" in cell.source and i < 2 or cell.source.startswith("# The environ")
        for role, count in cell_roles(cell, is_setup).items():
            roles[role] = roles.get(role, 0) + count
        fmt_skip += cell.source.count(SKIP)
        marked += cell.source.startswith("# extra code –")
        configuration = cell.source.startswith("# Configuration")
        if n > 40 and not configuration:
            long_cells.append(f"{path.stem[:2]} cell {i} ({n} lines)")
    return {
        "cells": len(cells),
        "lines": sum(sizes),
        "sizes": sizes,
        "statements": counts,
        "characters": chars,
        "wide lines": wide,
        "roles": roles,
        "fmt_skip": fmt_skip,
        "extra_code": marked,
        "long_cells": long_cells,
    }


def tree_skips(root: Path = ROOT) -> int:
    """``# fmt: skip`` markers in the whole tree: the Python files and the notebooks."""
    found = 0
    for folder in ("helpers", "tools", "tests", "benchmarks"):
        found += sum(p.read_text().count(SKIP) for p in (root / folder).glob("*.py"))
    for path in (root / "notebooks").glob("[0-9][0-9]_*.ipynb"):
        found += notebook_measures(path)["fmt_skip"]
    return found


def helper_functions(root: Path = ROOT / "helpers") -> list[tuple[str, int]]:
    """(module.function, lines) for every function of the helpers package, longest first."""
    found = []
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append((f"{path.stem}.{node.name}", node.end_lineno - node.lineno + 1))
    return sorted(found, key=lambda x: -x[1])


def measure(notebooks: list[Path]) -> dict:
    per = {p.stem: notebook_measures(p) for p in notebooks}
    sizes = [n for m in per.values() for n in m["sizes"]]
    counts = [n for m in per.values() for n in m["statements"]]
    roles: dict[str, int] = {}
    for m in per.values():
        for role, count in m["roles"].items():
            roles[role] = roles.get(role, 0) + count
    lines = sum(roles.values())
    long_helpers = [(name, n) for name, n in helper_functions() if n > 40]
    code_lines = sum(m["lines"] for m in per.values())
    return {
        "notebooks": [p.stem for p in notebooks],
        "code lines": code_lines,
        "statements": sum(counts),
        "characters": sum(m["characters"] for m in per.values()),
        "median statements per cell": statistics.median(counts) if counts else 0,
        "share of lines wider than 79": sum(m["wide lines"] for m in per.values())
        / max(code_lines, 1),
        SKIP + " in the tree": tree_skips(),
        "lesson share": roles.get("lesson", 0) / max(lines, 1),
        "roles": dict(sorted(roles.items(), key=lambda kv: -kv[1])),
        "code cells": len(sizes),
        "median code cell": statistics.median(sizes) if sizes else 0,
        "cells over 40 lines (outside the configuration cell)": [
            c for m in per.values() for c in m["long_cells"]
        ],
        "cells marked extra code": sum(m["extra_code"] for m in per.values()),
        "helper functions over 40 lines": long_helpers,
        "per notebook lines": {k: m["lines"] for k, m in per.items()},
        "per notebook statements": {k: sum(m["statements"]) for k, m in per.items()},
    }


def missed(result: dict) -> list[str]:
    """The targets (``TARGETS``) the measures miss."""
    return [f"{k}: {result[k]:.3g} (target ≤ {v})" for k, v in TARGETS.items() if result[k] > v]


def _print(result: dict) -> None:
    print("| measure | value |")
    print("| --- | --- |")
    print(
        f"| notebook code: statements, lines, characters | {result['statements']:,}, "
        f"{result['code lines']:,}, {result['characters']:,} |"
    )
    print(
        f"| median statements per code cell | {result['median statements per cell']:g} "
        f"({result['code cells']} cells; median lines {result['median code cell']:g}) |"
    )
    print(f"| lines wider than {WIDE} columns | {result['share of lines wider than 79']:.1%} |")
    print(f"| `{SKIP}` in the tree | {result[SKIP + ' in the tree']} |")
    shares = ", ".join(f"{k} {v}" for k, v in result["roles"].items())
    print(
        f"| share of notebook lines that is the lesson | {result['lesson share']:.0%} ({shares}) |"
    )
    long = result["cells over 40 lines (outside the configuration cell)"]
    print(f"| code cells over 40 non-empty lines outside the configuration cell | {len(long)} |")
    print(
        f"| cells marked `# extra code –` | {result['cells marked extra code']} of "
        f"{result['code cells']} |"
    )
    helpers = result["helper functions over 40 lines"]
    names = ", ".join(f"`{n}` {k}" for n, k in helpers)
    print(f"| helper functions over 40 lines | {len(helpers)} ({names}) |")
    per = ", ".join(f"{k[:2]} {v}" for k, v in result["per notebook statements"].items())
    print(f"\nstatements per notebook: {per}")
    print("targets: " + ("; ".join(missed(result)) or "all met"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--json", action="store_true", help="print the measures as JSON")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    missing = [str(p) for p in notebooks if not p.exists()]
    if missing:
        print(f"no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    result = measure(notebooks)
    print(json.dumps(result, indent=1) if args.json else "", end="")
    if not args.json:
        _print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
