"""The agent fixtures live in tests/conftest.py; these names stay importable from here."""

from tests.conftest import NOW, Say

__all__ = ["NOW", "Say"]
