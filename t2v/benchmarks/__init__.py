"""Benchmarks that measure the library against the papers' claims."""
