"""Benchmarks: each prints its figures; none of them is a pass/fail test."""

from errors import require_environment

require_environment()
