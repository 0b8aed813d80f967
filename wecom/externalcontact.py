"""客户联系 (customer contact): profiles, corp tags, contact ways, welcomes, mass sends and
transfers. Each function is one WeCom API call through the contact secret's client."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from wecom.client import WeComClient

NOT_A_CUSTOMER = 84061  # get: no customer relation between the corp and this external_userid
PAGE_USERS, PAGE_SIZE = 100, 100  # batch/get_by_user: userid_list and limit at most 100
SINGLE, MULTI_PERSON, QR_CODE = 1, 2, 2  # add_contact_way: type (one advisor, several), scene
ALREADY_WELCOMED = 41051  # send_welcome_msg: the code was used (or the chat started)
INVALID_TAG = 40068  # mark_tag: a tag (or its group) was deleted in the console


def get(client: WeComClient, external_userid: str) -> dict[str, Any]:
    """Her profile (`external_contact`) and the advisors who follow her (`follow_user`)."""
    return client.get("externalcontact/get", external_userid=external_userid)


def follow_users(client: WeComClient) -> list[str]:
    """Members with customer contact enabled, in the app's visible range."""
    return list(client.get("externalcontact/get_follow_user_list").get("follow_user", []))


def customers_page(
    client: WeComClient, userids: list[str], cursor: str = ""
) -> tuple[list[dict[str, Any]], str]:
    """One page of these members' customers (batch/get_by_user): entries of
    {external_contact, follow_info}, one per (customer, member), and the next cursor ("" after
    the last page)."""
    answer = client.post("externalcontact/batch/get_by_user", json={
        "userid_list": userids, "cursor": cursor, "limit": PAGE_SIZE})  # fmt: skip
    return list(answer.get("external_contact_list", [])), str(answer.get("next_cursor") or "")


def corp_tag_groups(client: WeComClient) -> list[dict[str, Any]]:
    return client.post("externalcontact/get_corp_tag_list", json={}).get("tag_group", [])


def add_corp_tags(
    client: WeComClient, names: list[str], *, group_id: str = "", group_name: str = ""
) -> dict[str, Any]:
    """Create tags in an existing group (group_id) or a new one (group_name); the group."""
    body: dict[str, Any] = {"tag": [{"name": name} for name in names]}
    body.update({"group_id": group_id} if group_id else {"group_name": group_name})
    return client.post("externalcontact/add_corp_tag", json=body)["tag_group"]


def mark_tag(
    client: WeComClient,
    userid: str,
    external_userid: str,
    add: list[str] = (),  # type: ignore[assignment]
    remove: list[str] = (),  # type: ignore[assignment]
) -> None:
    """Give her tags and take others away, as seen by this advisor."""
    body: dict[str, Any] = {"userid": userid, "external_userid": external_userid}
    if add:
        body["add_tag"] = list(add)
    if remove:
        body["remove_tag"] = list(remove)
    client.post("externalcontact/mark_tag", json=body)


def add_contact_way(
    client: WeComClient, way: dict[str, Any], kind: int = MULTI_PERSON
) -> tuple[str, str]:
    """A QR code contact way (multi-person unless `kind` is SINGLE); (config_id, qr_code)."""
    answer = client.post(
        "externalcontact/add_contact_way", json={"type": kind, "scene": QR_CODE, **way}
    )
    return answer["config_id"], answer.get("qr_code", "")


def del_contact_way(client: WeComClient, config_id: str) -> None:
    client.post("externalcontact/del_contact_way", json={"config_id": config_id})


def update_contact_way(client: WeComClient, config_id: str, way: dict[str, Any]) -> None:
    client.post("externalcontact/update_contact_way", json={"config_id": config_id, **way})


def send_welcome_msg(
    client: WeComClient, welcome_code: str, text: str, attachments: list[dict[str, Any]]
) -> None:
    body: dict[str, Any] = {"welcome_code": welcome_code, "text": {"content": text}}
    if attachments:
        body["attachments"] = attachments
    client.post("externalcontact/send_welcome_msg", json=body)


@dataclass(frozen=True)
class MassSend:
    msgid: str  # "" when every target's quota was used up
    failed: list[str]  # targets whose monthly quota is used up


def add_msg_template(
    client: WeComClient,
    sender: str,
    text: str,
    *,
    external_userids: list[str] = (),  # type: ignore[assignment]
    chat_ids: list[str] = (),  # type: ignore[assignment]
    attachments: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> MassSend:
    """A mass send the sender confirms in WeCom: to customers (1:1) or to customer groups
    (chat_ids)."""
    body: dict[str, Any] = {"sender": sender, "text": {"content": text}}
    if chat_ids:
        body |= {"chat_type": "group", "chat_id_list": list(chat_ids)}
    else:
        body |= {"chat_type": "single", "external_userid": list(external_userids)}
    if attachments:
        body["attachments"] = list(attachments)
    answer = client.post("externalcontact/add_msg_template", json=body)
    return MassSend(str(answer.get("msgid", "")), list(answer.get("fail_list", [])))


# what get_groupmsg_send_result says of one target: 0 not sent yet, 1 sent, 2 not a friend
# (any more), 3 she got another mass send today
MASS_RESULTS = {0: "unsent", 1: "sent", 2: "not_friend", 3: "limit"}


def mass_send_results(client: WeComClient, msgid: str) -> dict[str, str]:
    """Where a mass send got to: target (external_userid or chat_id) → MASS_RESULTS' word, for
    each sender WeCom lists (get_groupmsg_task), page by page (get_groupmsg_send_result)."""
    senders: list[str] = []
    for page in _pages(client, "externalcontact/get_groupmsg_task", {"msgid": msgid}):
        senders += [str(task.get("userid", "")) for task in page.get("task_list", [])]
    results: dict[str, str] = {}
    for userid in senders:
        body = {"msgid": msgid, "userid": userid}
        for page in _pages(client, "externalcontact/get_groupmsg_send_result", body):
            for sent in page.get("send_list", []):
                target = sent.get("external_userid") or sent.get("chat_id") or ""
                results[str(target)] = MASS_RESULTS.get(int(sent.get("status", 0)), "unsent")
    return results


def _pages(client: WeComClient, path: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    cursor = ""
    while True:
        answer = client.post(path, json={**body, "limit": 1000, "cursor": cursor})
        yield answer
        cursor = answer.get("next_cursor", "")
        if not cursor:
            return


def transfer_resigned(
    client: WeComClient, handover: str, takeover: str, external_userids: list[str]
) -> dict[str, int]:
    """离职继承 of up to 100 customers of an advisor who left; errcode per customer (0: under
    way)."""
    answer = client.post("externalcontact/resigned/transfer_customer", json={
        "handover_userid": handover, "takeover_userid": takeover,
        "external_userid": external_userids,
    })  # fmt: skip
    return {str(c.get("external_userid")): int(c.get("errcode", 0))
            for c in answer.get("customer", [])}  # fmt: skip


def transfer_customer(
    client: WeComClient, handover: str, takeover: str, external_userid: str, message: str
) -> int:
    """在职继承 of one customer; the per-customer errcode (0: the transfer is under way)."""
    answer = client.post("externalcontact/transfer_customer", json={
        "handover_userid": handover, "takeover_userid": takeover,
        "external_userid": [external_userid], "transfer_success_msg": message,
    })  # fmt: skip
    return next((int(c.get("errcode", 0)) for c in answer.get("customer", [])), 0)
