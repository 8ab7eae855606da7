"""Benchmarks: run as modules (``python -m tests.bench.<name>``), never collected as tests."""
