"""通讯录 (the address book): staff members."""

from __future__ import annotations

from wecom.client import WeComClient


def name(client: WeComClient, userid: str) -> str:
    """A member's display name ("" when WeCom has none)."""
    return str(client.get("user/get", userid=userid).get("name") or "")
