"""Maintainer tools of the course, each run as a module from the checkout's root:
``python -m tools.<name>`` (the Makefile's targets do). Shared code lives in library modules —
``execute`` (the one notebook executor), ``timing`` (runtimes and their file), ``reference`` (the
committed reference runs and their tolerances), ``pages`` (what the book and the slides share) —
which the scripts, the tests and the benchmarks import; no script imports another script."""
