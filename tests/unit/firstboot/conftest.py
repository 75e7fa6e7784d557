"""Fixtures: a wizard on fakes, locked or unlocked."""
import pytest

from fb_unit_helpers import Box


@pytest.fixture
def box(tmp_path):
    return Box(tmp_path)


@pytest.fixture
def unlocked(tmp_path):
    return Box(tmp_path).unlock()
