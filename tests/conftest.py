"""Shared test settings: tests marked ``mirror`` are skipped when the data mirror is not set."""

from __future__ import annotations

import pytest

from pyimagesearch import config as course_config


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a ``@pytest.mark.mirror`` test unless SIAMESE_DATA_DIR names a folder."""
    mirror = course_config.data_dir()
    if item.get_closest_marker("mirror") and (mirror is None or not mirror.is_dir()):
        pytest.skip(f"needs the offline data mirror: set {course_config.DATA_ENV}")
