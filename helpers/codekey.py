"""What a results row was computed with: the code a run reaches and the inputs it reads.

:func:`fingerprint` follows a run function the way Python would execute it: its source, every
function and class of the notebook or of ``helpers`` that it names (through module attributes
such as ``training.fit`` as well as plain names and closures), transitively, and every other
object it reads by name — configuration knobs, datasets, networks, dicts of them, lambdas inside
them. Code counts without comments, docstrings or formatting, as :func:`helpers.syntax.canonical`
writes its syntax tree (the same text on every Python 3.10+); an input counts by a stable
identity (:func:`identity`): a number by its value, a dataset by its name, classes, size, labels
and a sample of its pixels, a network by its name and a hash of its weights. Libraries outside
``helpers`` (torch, numpy…) are not followed: their version is not part of the key.

Attribute calls on objects (``backbone.preprocessing()``) are covered through the object's
class, which the code that builds the object names. A function whose source cannot be read, or
an input with no stable identity, makes the key ``None``: the row is not cached (the caller
warns), never silently stale or silently current.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import functools
import hashlib
import inspect
import json
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import torch

from . import config, syntax

__all__ = ["Unkeyable", "fingerprint", "identity", "reached"]


class Unkeyable(Exception):
    """The run reads something the key cannot describe (a function without source, an object
    without a stable identity)."""


def _digest(*parts: bytes | str) -> str:
    h = hashlib.blake2b(digest_size=8)
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
    return h.hexdigest()


def _tensor_digest(t: torch.Tensor, limit: int = 1 << 22) -> str:
    """Shape, dtype and content of a tensor; above ``limit`` elements a strided sample."""
    flat = t.detach().cpu().contiguous().reshape(-1)
    if flat.numel() > limit:
        flat = flat[:: flat.numel() // limit + 1].contiguous()
    raw = flat.view(torch.uint8) if flat.dtype != torch.bool else flat.to(torch.uint8)
    return _digest(str(tuple(t.shape)), str(t.dtype), raw.numpy().tobytes())


def _state_digest(module: torch.nn.Module) -> str:
    h = hashlib.blake2b(digest_size=8)
    for name, tensor in module.state_dict().items():
        h.update(name.encode())
        h.update(_tensor_digest(tensor).encode())
    return h.hexdigest()


def _dataset_identity(ds) -> dict:
    """A dataset by what it is, not by every pixel: name, classes, size, labels, a pixel sample."""
    images = ds.images
    sample = images[:: max(1, len(images) // 64)]
    return {
        "dataset": ds.name,
        "source": _location(getattr(ds, "source", "")),
        "classes": list(ds.classes),
        "shape": list(images.shape),
        "labels": _tensor_digest(ds.labels),
        "pixels": _tensor_digest(sample),
    }


def _is_dataset(value) -> bool:
    return all(hasattr(value, a) for a in ("images", "labels", "classes", "name"))


def _is_backbone(value) -> bool:
    return all(hasattr(value, a) for a in ("model", "stages", "head_name", "weights"))


def _path_identity(path: Path) -> str:
    """Inside the course's folder a path counts relative to it, so keys agree across machines."""
    try:
        return str(Path(path).resolve().relative_to(config.repo_root()))
    except ValueError:
        return str(path)


def _location(where) -> str:
    """A file or folder a network or dataset came from, relative to the checkout when inside it
    (an absolute path names where the checkout lies, not what was read); other text as it is."""
    if isinstance(where, (str, Path)) and str(where) and Path(where).is_absolute():
        return _path_identity(Path(where))
    return str(where)


_NOT_PLAIN = object()


def _plain(v):
    """The identity of a value that is its own description (a number, a string, a path…), or
    ``_NOT_PLAIN``."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if type(v) is object:  # a sentinel (``_MISSING = object()``): its identity is its name
        return "<sentinel>"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (np.integer, np.floating, np.bool_)):
        return _plain(v.item())
    if isinstance(v, enum.Enum):
        return f"{type(v).__name__}.{v.name}"
    if isinstance(v, Path):
        return _path_identity(v)
    if isinstance(v, (torch.device, torch.dtype)):
        return str(v)
    return _NOT_PLAIN


def _object_identity(v):
    """The identity of a tensor, an array, a dataset or a network, or ``_NOT_PLAIN``."""
    if isinstance(v, torch.Tensor):
        return {"tensor": _tensor_digest(v)}
    if isinstance(v, np.ndarray):
        return {"array": _tensor_digest(torch.from_numpy(np.ascontiguousarray(v)))}
    if _is_dataset(v):
        return _dataset_identity(v)
    if _is_backbone(v):
        weights = _location(v.weights)  # "imagenet", or the file it was loaded from
        return {"backbone": v.name, "weights": weights, "state": _state_digest(v.model)}
    if isinstance(v, torch.nn.Module):
        return {"module": type(v).__name__, "state": _state_digest(v)}
    return _NOT_PLAIN


def identity(value, follow=None, label: str = "value"):
    """A JSON-able description of ``value`` that changes when what it stands for changes.

    ``follow(fn)`` is called for every function found inside a container (a dict of lambdas)
    and for the class of every course object met (its methods are code the run reaches); its
    result stands in the description. An object may describe itself with a ``__codekey__()``
    method (a log the run writes into, say, which is not an input). Raises :class:`Unkeyable`
    for objects with no stable identity (an open file, a plot, a generator).
    """
    v, where = value, label
    if follow is not None and _is_course_class(type(v)):
        follow(type(v))
        if _is_backbone(v) and _is_course_class(type(v.model)):
            follow(type(v.model))
    if hasattr(type(v), "__codekey__"):
        return identity(v.__codekey__(), follow, where)
    for describe in (_plain, _object_identity):
        if (found := describe(v)) is not _NOT_PLAIN:
            return found
    if isinstance(v, (list, tuple)):
        return [identity(x, follow, f"{where}[{i}]") for i, x in enumerate(v)]
    if isinstance(v, (set, frozenset)):
        return sorted((identity(x, follow, where) for x in v), key=repr)
    if isinstance(v, dict):
        return {repr(k): identity(x, follow, f"{where}[{k!r}]") for k, x in v.items()}
    if callable(v) and follow is not None and _is_code(v):
        return follow(v)
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        fields = {f.name: getattr(v, f.name) for f in dataclasses.fields(v)}
        return {type(v).__name__: identity(fields, follow, where)}
    raise Unkeyable(f"{where} is a {type(v).__name__}, which has no stable identity")


def _is_course_class(cls) -> bool:
    module = getattr(cls, "__module__", "") or ""
    return module == "helpers" or module.startswith("helpers.")


def _is_code(value) -> bool:
    return (
        inspect.isfunction(value)
        or inspect.isclass(value)
        or isinstance(value, (functools.partial, types.MethodType))
    )


def _own(obj, home: set[str]) -> bool:
    """Code of the course (``helpers``) or of the notebook the run lives in."""
    module = getattr(obj, "__module__", None) or ""
    return module in home or module == "helpers" or module.startswith("helpers.")


class _Names(ast.NodeVisitor):
    """The names a function reads from outside (globals, closures), and ``module.attr`` pairs.

    Annotations are skipped (they are not executed); names bound anywhere in the function —
    parameters, assignments, imports, loop targets — are local, unless declared ``global``.
    """

    def __init__(self):
        self.loads, self.stores, self.globals, self.attrs = set(), set(), set(), set()

    def visit_Name(self, node):
        (self.loads if isinstance(node.ctx, ast.Load) else self.stores).add(node.id)

    def visit_Attribute(self, node):
        if isinstance(node.value, ast.Name):
            self.attrs.add((node.value.id, node.attr))
        self.generic_visit(node)

    def visit_Global(self, node):
        self.globals.update(node.names)

    visit_Nonlocal = visit_Global

    def _bind_args(self, args: ast.arguments):
        for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if a is not None:
                self.stores.add(a.arg)
        for default in [*args.defaults, *args.kw_defaults]:
            if default is not None:
                self.visit(default)

    def visit_FunctionDef(self, node):
        self.stores.add(node.name)
        self._bind_args(node.args)
        for decorator in node.decorator_list:
            self.visit(decorator)
        for stmt in node.body:
            self.visit(stmt)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node):
        self._bind_args(node.args)
        self.visit(node.body)

    def visit_ClassDef(self, node):
        self.stores.add(node.name)
        for expr in [*node.bases, *node.keywords, *node.decorator_list]:
            self.visit(expr)
        for stmt in node.body:
            self.visit(stmt)

    def visit_AnnAssign(self, node):
        self.visit(node.target)
        if node.value is not None:
            self.visit(node.value)

    def visit_arg(self, node):  # annotations of arguments are not executed
        self.stores.add(node.arg)

    def visit_Import(self, node):
        for alias in node.names:
            self.stores.add((alias.asname or alias.name).split(".")[0])

    visit_ImportFrom = visit_Import

    def visit_ExceptHandler(self, node):
        if node.name:
            self.stores.add(node.name)
        self.generic_visit(node)

    def outside(self) -> set[str]:
        return (self.loads - self.stores) | self.globals


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(textwrap.dedent(source))
    except SyntaxError:  # a lambda inside a longer line: no statement of its own
        return None


def _source(obj) -> str:
    try:
        return inspect.getsource(inspect.unwrap(obj) if callable(obj) else obj)
    except (OSError, TypeError) as err:
        name = getattr(obj, "__qualname__", repr(obj))
        raise Unkeyable(f"the source of {name} cannot be read ({err})") from err


def _own_lambda(tree: ast.AST) -> ast.AST | None:
    """The lambdas of the first line of a statement that holds one (``getsource`` of a lambda
    returns the whole statement around it)."""
    found = [n for n in ast.walk(tree) if isinstance(n, ast.Lambda) and n.lineno == 1]
    return ast.Module(body=[ast.Expr(n) for n in found], type_ignores=[]) if found else None


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


class _Walk:
    """One traversal from a run function; ``entries`` maps what was reached to its text."""

    def __init__(self, run):
        while isinstance(run, (functools.partial, types.MethodType)):  # the code they wrap
            run = getattr(run, "func", None) or run.__func__
        self.home = {getattr(run, "__module__", None) or "__main__", "__main__"}
        self.entries: dict[str, str] = {}
        self.seen: set[int] = set()

    def function(self, fn) -> str:
        if isinstance(fn, functools.partial):
            args = identity([fn.args, fn.keywords], self.value_follow, "partial arguments")
            return f"partial({self.function(fn.func)}, {json.dumps(args, sort_keys=True)})"
        if isinstance(fn, types.MethodType):
            owner = identity(fn.__self__, self.value_follow, "bound method's object")
            return f"method({self.function(fn.__func__)}, {json.dumps(owner, sort_keys=True)})"
        if inspect.isclass(fn):
            return self.klass(fn)
        fn = inspect.unwrap(fn)
        key = f"{fn.__module__}.{fn.__qualname__}"
        if id(fn) in self.seen:
            return key
        self.seen.add(id(fn))
        source = _source(fn)
        tree = _parse(source)
        if tree is not None and fn.__name__ == "<lambda>":  # the lambda, not the line around it
            tree = _own_lambda(tree) or tree
        if tree is None:  # a lambda in a line: its text, and the names its code reads
            text, outside, attrs = source.strip(), _code_names(fn.__code__), set()
        else:
            names = _Names()
            names.visit(tree)
            text = syntax.canonical(syntax.strip_docstrings(tree))
            outside, attrs = names.outside(), names.attrs
        self.entries[key] = text
        scope = dict(fn.__globals__)
        for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or ()):
            try:
                scope[name] = cell.cell_contents
            except ValueError:  # an empty cell: the closure's variable is not bound yet
                continue
        self.names(key, outside, attrs, scope)
        return key

    def klass(self, cls) -> str:
        key = f"{cls.__module__}.{cls.__qualname__}"
        if id(cls) in self.seen:
            return key
        self.seen.add(id(cls))
        tree = _parse(_source(cls))
        if tree is None:
            raise Unkeyable(f"the source of class {cls.__qualname__} cannot be parsed")
        names = _Names()
        names.visit(tree)
        self.entries[key] = syntax.canonical(syntax.strip_docstrings(tree))
        module = sys.modules.get(cls.__module__)
        self.names(key, names.outside(), names.attrs, vars(module) if module else {})
        return key

    def names(self, key: str, outside: set[str], attrs: set, scope: dict) -> None:
        for name in sorted(outside):
            if name not in scope:
                continue  # a builtin, or a name bound later
            if name.startswith("__") and name.endswith("__"):
                continue  # a module's own dunders (__file__ is where the checkout lies, not code)
            value = scope[name]
            if inspect.ismodule(value):
                if value.__name__ == "helpers" or value.__name__.startswith("helpers."):
                    for base, attr in sorted(attrs):
                        if base == name and hasattr(value, attr):
                            self.value(f"{value.__name__}.{attr}", getattr(value, attr))
                continue
            self.value(f"{key}:{name}", value)

    def value(self, label: str, value) -> None:
        if callable(value) and hasattr(value, "__wrapped__"):  # lru_cache, functools.wraps
            value = inspect.unwrap(value)
        if _is_code(value):
            target = getattr(value, "func", getattr(value, "__func__", value))
            if _own(target, self.home) or isinstance(value, (functools.partial, types.MethodType)):
                self.function(value)
            return
        if callable(value) and not _is_dataset(value) and not isinstance(value, torch.nn.Module):
            return  # a library's callable (a builtin, a numpy ufunc): not course code
        if inspect.ismodule(value):
            return
        described = identity(value, self.value_follow, label)
        self.entries[label] = json.dumps(described, sort_keys=True)

    def value_follow(self, fn) -> str:
        if _own(fn, self.home) or isinstance(fn, (functools.partial, types.MethodType)):
            return self.function(fn)
        return f"<{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', '?')}>"


def reached(run) -> dict[str, str]:
    """Everything the key of ``run`` covers: ``{what: its text}`` (functions, classes, inputs).

    Raises :class:`Unkeyable` where something cannot be described.
    """
    walk = _Walk(run)
    walk.function(run)
    return dict(sorted(walk.entries.items()))


def fingerprint(run) -> str:
    """A short hash of :func:`reached`: deterministic, the same in every process and machine."""
    entries = reached(run)
    return _digest("\n".join(f"{k}\t{v}" for k, v in entries.items()))
