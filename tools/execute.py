"""The course's one way to execute a notebook outside nbval, in two modes.

- :func:`in_kernel` — in a fresh Jupyter kernel, as a student's notebook runs (``make course``,
  the book, the student edition, the runtimes, the reference runs): nbclient with one fix,
  :class:`PollingClient`; the executed notebook, its time and the failing cell, if any.
- :func:`here` — in this process, cell by cell, with IPython's input transformations (``%`` and
  ``!`` lines), so that a caller can read the notebook's objects afterwards and replace a helper
  before it runs (the claims ledger, the reference test, the row profiler, a GPU machine
  without the Jupyter stack). Figures are closed after each cell, as the inline backend does.

:func:`cell_seconds` reads how long each cell of an executed notebook took (nbclient records
it), and :func:`export_html` writes an executed notebook as HTML with a short description of
every figure for screen readers.
"""

from __future__ import annotations

import asyncio
import contextlib
import linecache
import os
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from queue import Empty
from time import monotonic, perf_counter

import nbformat


def _polling_client():
    from nbclient import NotebookClient
    from nbclient.client import timestamp
    from nbclient.exceptions import CellTimeoutError
    from nbclient.util import ensure_async

    class PollingClient(NotebookClient):
        """nbclient waits for a cell's execute reply with one long read of the shell channel;
        with an ipywidgets ``interact`` in the cell that read sometimes never returns although
        the kernel has replied and gone idle (jupyter/nbclient#312, open; seen here as a
        4-minute stall). Here the wait is cut into one-second reads, so a reply that has arrived
        is picked up at the next read; the cell timeout and the dead-kernel check are kept."""

        async def _async_poll_for_reply(
            self, msg_id, cell, timeout, task_poll_output_msg, task_poll_kernel_alive
        ):
            deadline = None if timeout is None else monotonic() + timeout
            while True:
                try:
                    msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=1.0))
                except Empty:
                    if deadline is not None and monotonic() > deadline:
                        task_poll_kernel_alive.cancel()
                        await self._async_check_alive()
                        await self._async_handle_timeout(timeout, cell)
                        raise CellTimeoutError(f"a cell ran longer than {timeout} s") from None
                    continue
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                if self.record_timing:
                    cell["metadata"]["execution"]["shell.execute_reply"] = timestamp(msg)
                try:
                    await asyncio.wait_for(task_poll_output_msg, self.iopub_timeout)
                except (asyncio.TimeoutError, Empty):
                    self.log.warning("Timeout waiting for IOPub output")
                task_poll_kernel_alive.cancel()
                return msg

    return PollingClient


def client(nb, *, cwd: Path, timeout: int = 3600, **hooks):
    """A :class:`PollingClient` for ``nb`` running in ``cwd`` (widget state stored, as
    ``nbconvert --execute`` does)."""
    return _polling_client()(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd)}},
        store_widget_state=True,
        **hooks,
    )


@contextlib.contextmanager
def environment(**values: str):
    """Set environment variables (the kernel inherits them) for the block, then restore."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class Executed:
    """What :func:`in_kernel` returns: the executed notebook, its wall time, and the failing
    cell (``None`` when every cell ran)."""

    nb: nbformat.NotebookNode
    seconds: float
    failed: str | None = None
    error: str = ""


def progress_printer(name: str, cells: list, stream=sys.stdout):
    """nbclient's ``on_cell_executed`` hook: one line per finished code cell, with the cells
    done of all and the time since the notebook started."""
    code = [c for c in cells if c.cell_type == "code"]
    start = monotonic()

    def executed(cell, cell_index, execute_reply, **_):
        done = code.index(cell) + 1 if cell in code else 0
        minutes, seconds = divmod(int(monotonic() - start), 60)
        print(
            f"  {name}: cell {done}/{len(code)} done, {minutes}:{seconds:02d} elapsed",
            file=stream,
            flush=True,
        )

    return executed


def failed_cell(nb) -> str:
    """Which cell failed: its number among the code cells, its id and first line."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [c for c in code if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    if not errors:
        return "a cell failed"
    where = errors[-1]
    first = where.source.splitlines()[0] if where.source else ""
    return f"code cell {code.index(where) + 1} of {len(code)} (id {where.get('id')}): {first[:60]}"


def in_kernel(
    path: Path,
    *,
    timeout: int = 3600,
    progress: bool = False,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> Executed:
    """Execute the notebook at ``path`` in a fresh kernel (with ``env`` added to the
    environment, in ``cwd``: default its folder); a failing cell stops it and is named."""
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    nb = nbformat.read(path, as_version=4)
    hooks = {"on_cell_executed": progress_printer(path.name, nb.cells)} if progress else {}
    runner = client(nb, cwd=cwd or path.resolve().parent, timeout=timeout, **hooks)
    start = perf_counter()
    failed, error = None, ""
    with environment(**(env or {})):
        try:
            runner.execute()
        except (CellExecutionError, CellTimeoutError) as err:
            failed, error = failed_cell(nb), str(err)[-2000:]
    return Executed(nb, perf_counter() - start, failed, error)


def write(nb, target: Path) -> Path:
    """Write a notebook atomically: a partial file renamed into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    nbformat.write(nb, partial)
    partial.replace(target)
    return target


def here(
    path: Path,
    namespace: dict,
    *,
    skip_solutions_without_grids: bool = False,
    lesson_only: bool = False,
) -> None:
    """Run a notebook's code cells in ``namespace``, as a kernel would (sources kept in
    ``linecache`` for ``inspect``, so that code keys see what a kernel sees); figures closed
    after each cell. ``skip_solutions_without_grids``: leave out the solutions of exercises that
    run no grid, with their checks (the claims ledger and the reference test run only what
    their rows come from). ``lesson_only``: stop at the first solution (the lesson's ledger is
    complete by then; ``tools.stability`` moves seeds an exercise would pair with the
    reference's)."""
    from IPython.core.inputtransformer2 import TransformerManager

    transform = TransformerManager().transform_cell
    nb = nbformat.read(path, as_version=4)
    skipped = False
    for number, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        tags = set(cell.metadata.get("tags", []))
        if lesson_only and "solution" in tags:
            break
        if skip_solutions_without_grids and "solution" in tags:
            skipped = "run_grid(" not in cell.source
        if skipped and tags & {"solution", "check"}:
            continue
        source = transform(cell.source)
        name = f"<{path.stem} cell {number}>"
        linecache.cache[name] = (len(source), None, source.splitlines(True), name)
        exec(compile(source, name, "exec"), namespace)
        if "matplotlib.pyplot" in sys.modules:  # as the inline backend does after each cell
            sys.modules["matplotlib.pyplot"].close("all")


def cell_seconds(nb) -> list[tuple[int, str, float]]:
    """``(code cell number, first line, seconds)`` of every code cell of an executed notebook,
    from the timing nbclient records."""
    out = []
    for number, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        times = cell.metadata.get("execution", {})
        start, end = times.get("iopub.status.busy"), times.get("shell.execute_reply")
        if start and end:
            seconds = (_when(end) - _when(start)).total_seconds()
            first = cell.source.splitlines()[0] if cell.source else ""
            out.append((number + 1, first[:70], seconds))
    return out


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def describe_figures(nb) -> int:
    """Give every figure an alternative text for screen readers: the first comment line of the
    cell that drew it (``# extra code – the table as a heat-map``), else the notebook's section;
    returns how many figures got one."""
    described, section = 0, ""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("#"):
            section = cell.source.splitlines()[0].lstrip("# ").strip()
            continue
        lines = [line for line in cell.source.splitlines() if line.startswith("#")]
        what = lines[0].lstrip("# ").replace("extra code – ", "").strip() if lines else ""
        images = [o for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
        for k, output in enumerate(images, 1):
            text = what or f"a figure of the section “{section}”"
            text += f" (figure {k} of {len(images)})" if len(images) > 1 else ""
            output.setdefault("metadata", {}).setdefault("image/png", {})["alt"] = text
            described += 1
    return described


TEMPLATE = Path(__file__).resolve().parent / "templates"


def html_exporter(**options):
    """nbconvert's HTML exporter with the course's template: the lab template, and a figure's
    ``alt`` text from its output metadata (:func:`describe_figures`)."""
    from nbconvert import HTMLExporter

    return HTMLExporter(extra_template_basedirs=[str(TEMPLATE)], template_name="course", **options)


def export_html(nb, target: Path, **options) -> Path:
    """Write an executed notebook as HTML, every figure described (:func:`describe_figures`)."""
    describe_figures(nb)
    body, _ = html_exporter(**options).from_notebook_node(nb)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(body)
    partial.replace(target)
    return target
