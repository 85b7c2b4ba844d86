"""Benchmarks: modelyard against its peers, on the same work, in one run."""
