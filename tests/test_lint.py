"""ruff over the code and the notebooks, and the shape of the helpers package."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CODE = ["helpers", "tests", "notebooks", "benchmarks", "tools"]


def _ruff() -> str:
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed")
    return ruff


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=" ".join)
def test_ruff(command):
    """Line length 100, notebooks included; `make format` fixes what this rejects."""
    result = subprocess.run([_ruff(), *command, *CODE], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr + "\nfix it with: make format"


def helpers_imports() -> dict[str, set[str]]:
    """For each module of ``helpers``: the sibling modules it imports (at any depth of the file)."""
    graph = {}
    for path in (ROOT / "helpers").glob("*.py"):
        name = path.stem
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    deps.add(node.module.split(".")[0])
                else:
                    deps.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("helpers."):
                deps.add(node.module.split(".")[1])
        graph[name] = deps - {name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(node, path):
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return path[path.index(dep) :] + [dep] if dep in path else path + [dep]
            if dep not in state and (found := visit(dep, path + [dep])):
                return found
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node, [node])):
            return found
    return None


def test_no_import_cycle_inside_helpers():
    graph = helpers_imports()
    assert "preprocessing" in graph and "models" in graph
    assert _cycle(graph) is None, " → ".join(_cycle(graph))
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [
        "a",
        "b",
        "c",
        "a",
    ]  # the check can fail


def test_preprocessing_sits_below_models_features_and_training():
    graph = helpers_imports()
    assert graph["preprocessing"] == set()
    for module in ("models", "features", "training"):
        assert "preprocessing" in graph[module], module
    assert "features" not in graph["training"] and "features" not in graph["models"]


def test_the_module_map_lists_every_module_bottom_up():
    """helpers/__init__.py names every module, and no module imports one listed after it."""
    import re

    text = (ROOT / "helpers" / "__init__.py").read_text()
    listed = re.findall(r"``(\w+)``", text.split('"""')[1])
    order = [m for m in listed if (ROOT / "helpers" / f"{m}.py").exists()]
    modules = {p.stem for p in (ROOT / "helpers").glob("*.py")} - {"__init__"}
    assert set(order) == modules, f"not in the module map: {sorted(modules - set(order))}"
    graph = helpers_imports()
    for i, module in enumerate(order):
        above = set(order[i + 1 :]) & graph[module]
        assert not above, f"{module} imports {sorted(above)}, listed above it"


def test_the_layout_is_listed_once_and_matches_the_checkout():
    """docs/developers.md holds the one layout list (every top-level folder of the checkout);
    the helpers' modules are listed in helpers/__init__.py alone, not in the README or docs."""
    import re

    text = (ROOT / "docs" / "developers.md").read_text()
    block = text.split("```")[1]
    listed = {line.split()[0].rstrip("/") for line in block.splitlines() if re.match(r"^\S", line)}
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    folders = {p.split("/")[0] for p in tracked.stdout.splitlines() if "/" in p}
    expected = (folders - {".ci"}) | {".ci/run"}  # the CI script stands for its folder
    assert listed == expected, f"layout {sorted(listed)} vs checkout {sorted(expected)}"
    modules = {p.stem for p in (ROOT / "helpers").glob("*.py")} - {"__init__"}
    for page in (ROOT / "README.md", ROOT / "docs" / "developers.md"):
        named = {m for m in modules if f"`{m}`" in page.read_text() and m not in ("data", "config")}
        where = f"{page.name} lists the modules {sorted(named)}: they belong in helpers/__init__.py"
        assert len(named) < 4, where


def test_scripts_do_not_reach_into_one_another():
    """Tools, tests and benchmarks import shared code from modules; no sys.path.insert."""
    for folder in ("tools", "tests", "benchmarks"):
        for path in (ROOT / folder).glob("*.py"):
            if path.resolve() != Path(__file__).resolve():
                assert "sys.path." + "insert" not in path.read_text(), f"{folder}/{path.name}"
