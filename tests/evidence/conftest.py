"""Fixtures shared with the pipeline tests (a stage config factory)."""

from tests.pipeline.conftest import make_config  # noqa: F401 - a fixture
