"""Mainland China mobile numbers as people see them: 138****1234."""

from __future__ import annotations


def mask(phone: str) -> str:
    """138****1234; an empty phone stays empty."""
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 8 else "*" * len(phone)
