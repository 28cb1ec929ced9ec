"""Reproducible benchmarks: ``python -m benchmarks`` runs them all, rewrites docs/benchmarks.md."""
