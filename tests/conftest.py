"""The fixtures live in tests/support.py."""

pytest_plugins = ("tests.support",)
