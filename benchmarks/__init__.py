"""The performance harness: a seeded catalog generator and ``python -m benchmarks.run``.

Benchmarks are not tests: nothing here asserts a timing. ``make bench`` runs the whole
harness and rewrites ``docs/benchmarks.md`` with the figures of the machine it ran on.
"""
