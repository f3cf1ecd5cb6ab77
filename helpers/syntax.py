"""Code as a syntax tree, written the same way by every Python: the text behind a code key.

``ast.dump`` prints a tree differently from one Python to the next (3.12 adds ``type_params``,
3.13 leaves out empty and ``None`` fields), so a key built on it changes with the interpreter.
:func:`canonical` writes a tree from what carries meaning only — each node's type and its
fields, by name, leaving out fields that are empty or ``None``, type comments and string
prefixes (``u""``), an f-string's literal pieces joined — so that one source gives one text on
Python 3.10 to 3.13, and on later versions for as long as the node types of the code stay the
same. Comments and formatting are
not in a tree; :func:`strip_docstrings` takes docstrings out of it.

This module uses the standard library only, so any interpreter can run it without the course's
packages: ``python -m helpers.syntax FILE…`` prints a digest of every function and class in the
files (notebooks too), which the tests compare across the Pythons on the machine.
"""

from __future__ import annotations

import ast
import hashlib
import json
import sys
import textwrap
from pathlib import Path

__all__ = ["canonical", "definitions", "strip_docstrings"]

# fields that do not change what the code does: comments for type checkers, a string's ``u``
IGNORED_FIELDS = {"type_comment", "kind", "type_ignores"}


def canonical(node) -> str:
    """A text of ``node`` that every Python 3.10+ writes alike (see the module text)."""
    if isinstance(node, ast.AST):
        fields = []
        for name in sorted(node._fields):
            if name in IGNORED_FIELDS:
                continue
            value = getattr(node, name, None)
            if isinstance(node, ast.JoinedStr) and name == "values":
                value = _string_parts(value)
            if value is None or (isinstance(value, list) and not value):
                continue
            fields.append(f"{name}={canonical(value)}")
        return f"{type(node).__name__}({', '.join(fields)})"
    if isinstance(node, list):
        return "[" + ", ".join(canonical(item) for item in node) + "]"
    return repr(node)


def _string_parts(values: list) -> list:
    """An f-string's parts with adjacent literal pieces joined and empty ones dropped (3.12.0–1
    put an empty piece at the end of a nested format spec: ``f"{x:<{w}}"``)."""
    out = []
    for part in values:
        literal = isinstance(part, ast.Constant) and isinstance(part.value, str)
        if literal and not part.value:
            continue
        if literal and out and isinstance(out[-1], ast.Constant) and isinstance(out[-1].value, str):
            out[-1] = ast.Constant(out[-1].value + part.value)
        else:
            out.append(part)
    return out


def strip_docstrings(tree: ast.AST) -> ast.AST:
    """``tree`` without the docstring of any module, class or function in it."""
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            if isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def _code_of(path: Path) -> list[str]:
    """The Python sources in a file: the file itself, or a notebook's code cells (IPython's
    ``%`` and ``!`` lines left out)."""
    if path.suffix != ".ipynb":
        return [path.read_text()]
    cells = json.loads(path.read_text())["cells"]
    sources = []
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        lines = "".join(cell["source"]).splitlines()
        sources.append("\n".join("pass" if _is_magic(line) else line for line in lines))
    return sources


def _is_magic(line: str) -> bool:
    stripped = line.lstrip()
    return stripped.startswith(("%", "!"))


def definitions(path: str | Path) -> dict[str, str]:
    """``{"<file>:<qualified name>": digest}`` of every function and class defined in a Python
    file or a notebook's code cells (nested ones too), each digested from :func:`canonical` of
    its tree without docstrings — as the code key sees it."""
    path, out = Path(path), {}
    for i, source in enumerate(_code_of(path)):
        try:
            tree = ast.parse(textwrap.dedent(source))
        except SyntaxError:
            continue  # a cell of IPython syntax beyond magics: the key never reads it
        stack = [(node, "") for node in tree.body]
        while stack:
            node, prefix = stack.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{node.name}"
                text = canonical(strip_docstrings(ast.Module(body=[node], type_ignores=[])))
                digest = hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
                out[f"{path.name}:{i}:{name}"] = digest
                stack += [(child, f"{name}.") for child in node.body]
            else:
                stack += [(child, prefix) for child in ast.iter_child_nodes(node)]
    return out


def main(argv: list[str]) -> int:
    found = {}
    for arg in argv:
        found.update(definitions(arg))
    json.dump(found, sys.stdout, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
