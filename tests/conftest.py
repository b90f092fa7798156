"""Shared test settings: tests marked ``mirror`` are skipped when the data mirror is not usable."""

from __future__ import annotations

import pytest

from pyimagesearch import config as course_config


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a ``@pytest.mark.mirror`` test unless SIAMESE_DATA_DIR names a folder (a relative
    value is resolved against the repository root, as everywhere)."""
    if not item.get_closest_marker("mirror"):
        return
    if course_config.data_dir() is None:
        pytest.skip(f"needs the offline data mirror: set {course_config.DATA_ENV}")
    problem = course_config.data_dir_problem()
    if problem:
        pytest.skip(f"needs the offline data mirror: {problem}")
