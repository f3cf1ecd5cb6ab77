"""Execute a notebook the way the course's builders do: nbclient, with one fix.

    python tools/run_notebook.py NOTEBOOK --output-dir DIR [--timeout 3600]

Used by ``make course``, ``make recompute``, ``benchmarks/course_times.py`` (and so
``make reference``), ``tools/build_book.py`` and the student-edition test. The fix:
:class:`PollingClient`. nbclient waits for a cell's execute reply with one long read of the shell
channel; with an ipywidgets ``interact`` in the cell that read sometimes does not return when
the reply arrives, only when its timeout runs out (jupyter/nbclient#312, open; seen here as a
4-minute stall in 03 with a 300 s cell timeout, and as a stall with no end under
``nbconvert --execute`` in 04). Here the wait is cut into one-second reads, so a reply that has
arrived is picked up within a second; the cell timeout and the dead-kernel check behave as
before. Exit code 1 when a cell fails (the executed notebook is still written).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from queue import Empty
from time import monotonic

import nbformat
from nbclient import NotebookClient
from nbclient.client import timestamp
from nbclient.exceptions import CellExecutionError, CellTimeoutError
from nbclient.util import ensure_async


class PollingClient(NotebookClient):
    """nbclient waits for a cell's execute reply with one long read of the shell channel; with an
    ipywidgets ``interact`` in the cell that read sometimes never returns although the kernel has
    replied and gone idle (jupyter/nbclient#312, open). Here the wait is cut into one-second
    reads, so a reply that has arrived is picked up at the next read; the cell timeout and the
    dead-kernel check behave as before."""

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
                    await self._async_handle_timeout(timeout, cell)  # raises CellTimeoutError
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


def progress_printer(name: str, cells: list, stream=sys.stdout):
    """nbclient's ``on_cell_executed`` hook: one line per finished code cell, with the cells
    done of all and the time since the notebook started."""
    code = [c for c in cells if c.cell_type == "code"]
    start = monotonic()

    def executed(cell, cell_index, execute_reply, **_):
        done = code.index(cell) + 1 if cell in code else 0
        minutes, seconds = divmod(int(monotonic() - start), 60)
        print(f"  {name}: cell {done}/{len(code)} done, {minutes}:{seconds:02d} elapsed",
              file=stream, flush=True)  # fmt: skip

    return executed


def failed_cell(nb, err) -> str:
    """Which cell failed: its number among the code cells, its id and first line."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [c for c in code if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    where = errors[-1] if errors else None
    if where is None:
        return "a cell failed"
    first = where.source.splitlines()[0] if where.source else ""
    return f"code cell {code.index(where) + 1} of {len(code)} (id {where.get('id')}): {first[:60]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    parser.add_argument("--progress", action="store_true", help="a line per finished cell")
    args = parser.parse_args(argv)
    if not args.notebook.is_file():
        print(f"no such notebook: {args.notebook}", file=sys.stderr)
        return 2
    nb = nbformat.read(args.notebook, as_version=4)
    where = {"metadata": {"path": str(args.notebook.resolve().parent)}}
    hooks = (
        {"on_cell_executed": progress_printer(args.notebook.name, nb.cells)}
        if args.progress
        else {}
    )
    # widget state stored, as nbconvert --execute does (nbclient's Output widgets rely on it)
    client = PollingClient(nb, timeout=args.timeout, kernel_name="python3", resources=where,
                           store_widget_state=True, **hooks)  # fmt: skip
    code = 0
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError) as err:
        print(f"{args.notebook.name}: {failed_cell(nb, err)} failed", file=sys.stderr)
        print(str(err)[-2000:], file=sys.stderr)
        code = 1
    args.output_dir.mkdir(parents=True, exist_ok=True)
    target = args.output_dir / args.notebook.name
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    nbformat.write(nb, partial)
    partial.replace(target)
    return code


if __name__ == "__main__":
    sys.exit(main())
