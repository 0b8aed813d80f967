"""客户群 (customer groups): list them and read one (groupchat/list, groupchat/get)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from wecom.client import WeComClient

PAGE = 1000


def chat_ids(client: WeComClient) -> Iterator[str]:
    """Every customer group the app can see, page after page."""
    cursor = ""
    while True:
        page = client.post("externalcontact/groupchat/list",
                           json={"status_filter": 0, "cursor": cursor, "limit": PAGE})  # fmt: skip
        yield from (chat["chat_id"] for chat in page.get("group_chat_list", []))
        cursor = page.get("next_cursor", "")
        if not cursor:
            return


def get(client: WeComClient, chat_id: str) -> dict[str, Any]:
    """The group as it is now: name, owner, create_time, member_list (with names)."""
    answer = client.post("externalcontact/groupchat/get", json={"chat_id": chat_id, "need_name": 1})
    return answer.get("group_chat", {})
