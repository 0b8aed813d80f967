"""消息推送 (app messages): to staff members (message/send) and internal group chats
(appchat)."""

from __future__ import annotations

from wecom.client import WeComClient


def send_text(client: WeComClient, agent_id: int, userid: str, text: str) -> bool:
    """A text app message to one member; False when WeCom says the member is invalid."""
    body = {"touser": userid, "msgtype": "text", "agentid": agent_id, "text": {"content": text}}
    answer = client.post("message/send", json=body)
    return not answer.get("invaliduser")


def send_image(client: WeComClient, agent_id: int, userid: str, media_id: str) -> bool:
    """An image app message (an uploaded media_id) to one member; False as for send_text."""
    body = {"touser": userid, "msgtype": "image", "agentid": agent_id,
            "image": {"media_id": media_id}}  # fmt: skip
    answer = client.post("message/send", json=body)
    return not answer.get("invaliduser")


def create_appchat(client: WeComClient, name: str, owner: str, userids: list[str]) -> str:
    """An internal group chat of members; its chatid."""
    answer = client.post("appchat/create", json={"name": name, "owner": owner, "userlist": userids})
    return answer["chatid"]


def send_appchat_text(client: WeComClient, chat_id: str, text: str) -> None:
    client.post("appchat/send", json={"chatid": chat_id, "msgtype": "text",
                                      "text": {"content": text}})  # fmt: skip
