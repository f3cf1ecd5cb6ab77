"""Execute one notebook in a fresh kernel, as the course's builders do (``tools.execute``).

    python -m tools.run_notebook NOTEBOOK --output-dir DIR [--timeout 3600] [--progress]

Used by ``make recompute`` and by ``tools.timing.measure`` (the runtimes and the reference
runs), whose memory measurement needs the execution in a process of its own. Writes the executed
notebook into DIR (atomically) whether or not a cell failed; exit code 1 when one did, 2 when the
notebook does not exist.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tools import execute


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
    done = execute.in_kernel(args.notebook, timeout=args.timeout, progress=args.progress)
    execute.write(done.nb, args.output_dir / args.notebook.name)
    if done.failed:
        print(f"{args.notebook.name}: {done.failed} failed", file=sys.stderr)
        print(done.error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
