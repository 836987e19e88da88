"""Load benchmarks (`python bench/run.py`); not part of the package or the test suite."""
