"""Benchmarks: ``python -m bench.run [scenario ...]`` (``make bench``). See bench/README.md."""
