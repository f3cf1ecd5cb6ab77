"""Side-by-side measurements (ours against a plain tutorial-style baseline, in one run), run as
modules from the checkout's root: ``python -m benchmarks.<name>``; results in RESULTS.md."""
