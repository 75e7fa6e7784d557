"""Integration tests reuse the unit fixtures (settings, tokens) with real backends."""
from tests.unit.storage.conftest import settings, tokens  # noqa: F401
