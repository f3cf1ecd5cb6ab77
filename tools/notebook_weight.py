"""How heavy are the notebooks and the helpers? The measures of the course's weight, in one table.

    python -m tools.notebook_weight [NOTEBOOK ...] [--json]

Notebook code is counted in non-empty lines of code cells. Each line is given one role:

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


def notebook_measures(path: Path) -> dict:
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    sizes, roles, fmt_skip, marked, long_cells = [], {}, 0, 0, []
    for i, cell in enumerate(cells):
        n = sum(1 for ln in cell.source.splitlines() if ln.strip())
        sizes.append(n)
        # the Colab bootstrap and the environment cell after it (thread pools, versions)
        is_setup = "COURSE_URL" in cell.source and i < 2 or cell.source.startswith("# The environ")
        for role, count in cell_roles(cell, is_setup).items():
            roles[role] = roles.get(role, 0) + count
        fmt_skip += cell.source.count("# fmt: skip")
        marked += cell.source.startswith("# extra code –")
        configuration = cell.source.startswith("# Configuration")
        if n > 40 and not configuration:
            long_cells.append(f"{path.stem[:2]} cell {i} ({n} lines)")
    return {
        "cells": len(cells), "lines": sum(sizes), "sizes": sizes, "roles": roles,
        "fmt_skip": fmt_skip, "extra_code": marked, "long_cells": long_cells,
    }  # fmt: skip


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
    roles: dict[str, int] = {}
    for m in per.values():
        for role, count in m["roles"].items():
            roles[role] = roles.get(role, 0) + count
    lines = sum(roles.values())
    long_helpers = [(name, n) for name, n in helper_functions() if n > 40]
    return {
        "notebooks": [p.stem for p in notebooks],
        "code lines": sum(m["lines"] for m in per.values()),
        "lesson share": roles.get("lesson", 0) / max(lines, 1),
        "roles": dict(sorted(roles.items(), key=lambda kv: -kv[1])),
        "code cells": len(sizes),
        "median code cell": statistics.median(sizes) if sizes else 0,
        "cells over 40 lines (outside the configuration cell)": [
            c for m in per.values() for c in m["long_cells"]
        ],
        "fmt: skip": sum(m["fmt_skip"] for m in per.values()),
        "cells marked extra code": sum(m["extra_code"] for m in per.values()),
        "helper functions over 40 lines": long_helpers,
        "per notebook lines": {k: m["lines"] for k, m in per.items()},
    }


def _print(result: dict) -> None:
    print("| measure | value |")
    print("| --- | --- |")
    print(f"| notebook code lines (non-empty) | {result['code lines']:,} |")
    shares = ", ".join(f"{k} {v}" for k, v in result["roles"].items())
    print(
        f"| share of notebook code that is the lesson | {result['lesson share']:.0%} ({shares}) |"
    )
    print(f"| median code cell | {result['median code cell']:g} lines "
          f"({result['code cells']} cells) |")  # fmt: skip
    long = result["cells over 40 lines (outside the configuration cell)"]
    print(f"| code cells over 40 non-empty lines outside the configuration cell | {len(long)} "
          f"{'(' + '; '.join(long) + ')' if long else ''} |")  # fmt: skip
    print(f"| `# fmt: skip` in notebooks | {result['fmt: skip']} |")
    print(f"| cells marked `# extra code –` | {result['cells marked extra code']} of "
          f"{result['code cells']} |")  # fmt: skip
    helpers = result["helper functions over 40 lines"]
    names = ", ".join(f"`{n}` {k}" for n, k in helpers)
    print(f"| helper functions over 40 lines | {len(helpers)} ({names}) |")
    per = ", ".join(f"{k[:2]} {v}" for k, v in result["per notebook lines"].items())
    print(f"\nlines per notebook: {per}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--json", action="store_true", help="print the measures as JSON")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("0[0-8]_*.ipynb"))
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
