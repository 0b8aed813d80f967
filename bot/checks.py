"""`mombot config check --online`: does WeCom take the configured credentials?

An access token for each configured secret, then one read-only call per duty: the app
(agent/get with agent_id), customer contact with the contact secret (get_follow_user_list),
the 微信客服 account with the kf secret (kf/account/list holds kf_open_kfid). Every call goes
through the WeComClient mombot itself uses, to `[wecom] api_base`.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis as redis_lib

from crm.config import Settings
from wecom import externalcontact
from wecom.client import WeComClient, WeComError

OK, FAILED, SKIPPED = "ok", "FAILED", "-"

# What WeCom's error codes mean for the one who set mombot up.
PLAIN = {
    -1: "WeCom is busy; try again in a minute",
    40001: "the secret is wrong (or was reset in the admin console)",
    40013: "the corp_id is wrong",
    40014: "the access token is not valid",
    40056: "no app has this agent_id",
    42001: "the access token expired",
    45009: "the API's frequency limit was reached; try again later",
    48001: "the API is not authorised for this secret's app",
    48002: "the API is not allowed for this secret (give the app the permission in the console)",
    60011: "the app cannot see this (its visible range, 可见范围, leaves it out)",
    60020: "this server's IP is not among the app's trusted IPs (企业可信IP)",
    301002: "the agent_id belongs to another app than the secret",
}


def explain(exc: WeComError) -> str:
    """WeCom's errcode and errmsg, and what they mean in plain words."""
    if exc.errcode is None:
        return f"no usable answer from WeCom: {exc.errmsg}"
    plain = PLAIN.get(exc.errcode)
    return f"errcode {exc.errcode} ({exc.errmsg})" + (f": {plain}" if plain else "")


@dataclass(frozen=True)
class Check:
    what: str
    result: str  # OK, FAILED or SKIPPED
    detail: str


def online(settings: Settings, redis: redis_lib.Redis) -> list[Check]:
    wecom = settings.wecom
    clients: dict[str, WeComClient] = {}

    def client(secret: str) -> WeComClient:
        if secret not in clients:
            clients[secret] = WeComClient(
                api_base=wecom.api_base, corp_id=wecom.corp_id, secret=secret, redis=redis,
                timeout=wecom.timeout_seconds, max_busy_retries=1,
            )  # fmt: skip
        return clients[secret]

    checks: list[Check] = []
    refused: dict[str, Check] = {}  # secret → its failed token check
    secrets = {
        "secret": wecom.secret.get_secret_value(),
        "contact_secret": wecom.contact_secret_value,
        "kf_secret": wecom.kf_secret_value,
    }
    for key in ("secret", "contact_secret", "kf_secret"):
        if key != "secret" and not getattr(wecom, key):
            continue  # not set (or empty): the app secret stands in
        what = f"[wecom] {key}: access token"
        try:
            client(secrets[key]).access_token()
            checks.append(Check(what, OK, "issued"))
        except WeComError as exc:
            checks.append(Check(what, FAILED, explain(exc)))
            refused[secrets[key]] = checks[-1]

    def call(what: str, key: str, run) -> None:
        secret = secrets[key]
        if secret in refused:
            checks.append(Check(what, SKIPPED, f"not checked: [wecom] {_owner(wecom, key)} "
                                               "got no access token"))  # fmt: skip
            return
        try:
            result, detail = run(client(secret))
        except WeComError as exc:
            result, detail = FAILED, explain(exc)
        checks.append(Check(what, result, detail))

    call(f"app {wecom.agent_id} (agent/get)", "secret", lambda c: _agent(c, wecom.agent_id))
    call("customer contact (get_follow_user_list)", "contact_secret", _customer_contact)
    if wecom.kf_open_kfid:
        call(f"微信客服 account {wecom.kf_open_kfid} (kf/account/list)", "kf_secret",
             lambda c: _kf_account(c, wecom.kf_open_kfid))  # fmt: skip
    else:
        checks.append(Check("微信客服 account", SKIPPED, "[wecom] kf_open_kfid is not set"))
    for made in clients.values():
        made.close()
    return checks


def _owner(wecom, key: str) -> str:
    """The key whose value a secret is: contact_secret and kf_secret fall back to secret."""
    return key if key == "secret" or getattr(wecom, key) else "secret"


def _agent(client: WeComClient, agent_id: int) -> tuple[str, str]:
    answer = client.get("agent/get", agentid=agent_id)  # 应用管理: 获取指定的应用详情
    if answer.get("close"):
        return FAILED, f"「{answer.get('name', '')}」 is disabled in the admin console"
    return OK, f"「{answer.get('name', '')}」"


def _customer_contact(client: WeComClient) -> tuple[str, str]:
    members = externalcontact.follow_users(client)
    if not members:
        return FAILED, "no member has customer contact (客户联系) yet: nobody can be added"
    return OK, f"{len(members)} member(s) with customer contact (客户联系)"


def _kf_account(client: WeComClient, open_kfid: str) -> tuple[str, str]:
    accounts, offset = [], 0
    while True:  # 微信客服: 获取客服账号列表, 100 a page
        page = client.post("kf/account/list", json={"offset": offset, "limit": 100})
        batch = page.get("account_list") or []
        accounts += batch
        if len(batch) < 100:
            break
        offset += 100
    found = next((a for a in accounts if a.get("open_kfid") == open_kfid), None)
    if found is None:
        return FAILED, (f"not among the {len(accounts)} account(s) this secret can use "
                        "(check kf_open_kfid, and that the app may use the account)")  # fmt: skip
    return OK, f"「{found.get('name', '')}」"
