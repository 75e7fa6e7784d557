"""Integration tests reuse the unit fixtures (settings, tokens) with real backends."""
from tests.unit.storage.storage_testlib import settings, tokens  # noqa: F401
