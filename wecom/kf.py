"""微信客服 (the welcome bot's account): pull messages and answer them."""

from __future__ import annotations

from typing import Any

from wecom.client import WeComClient, WeComError

STALE_TOKEN = 95007  # sync_msg: the callback's token is older than its 10 minutes


def sync_msg(
    client: WeComClient, open_kfid: str, cursor: str, token: str, limit: int
) -> dict[str, Any]:
    """One page: msg_list, next_cursor, has_more."""
    body: dict[str, Any] = {"open_kfid": open_kfid, "limit": limit}
    body.update({"token": token} if token else {})
    body.update({"cursor": cursor} if cursor else {})
    return client.post("kf/sync_msg", json=body)


def send_text(client: WeComClient, open_kfid: str, external_userid: str, text: str) -> str:
    """The message's msgid ("" if WeCom gave none)."""
    body = {"touser": external_userid, "open_kfid": open_kfid, "msgtype": "text",
            "text": {"content": text}}  # fmt: skip
    answer = client.post("kf/send_msg", json=body)
    return str(answer.get("msgid") or "")


def send_text_on_event(client: WeComClient, code: str, text: str) -> str:
    """Answer an event (enter_session) with its single-use welcome_code; the msgid or ""."""
    body = {"code": code, "msgtype": "text", "text": {"content": text}}
    answer = client.post("kf/send_msg_on_event", json=body)
    return str(answer.get("msgid") or "")


def contact_way_url(client: WeComClient, open_kfid: str, scene: str) -> str:
    """The account's link (kf/add_contact_way); raises WeComError when WeCom gives none."""
    answer = client.post("kf/add_contact_way", json={"open_kfid": open_kfid, "scene": scene})
    url = answer.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise WeComError(None, "answer has no url", "kf/add_contact_way")
    return url
