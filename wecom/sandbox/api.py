"""The sandbox's HTTP face: WeCom's /cgi-bin/ API and its OAuth2 page over a SandboxState."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from wecom.sandbox.state import ApiError, Call, SandboxState

Endpoint = Callable[[SandboxState, dict[str, str], dict[str, Any]], dict[str, Any]]
STATE = web.AppKey("state", SandboxState)


def _user_get(state: SandboxState, params: dict[str, str], _body: dict) -> dict:
    userid = params.get("userid", "")
    if userid not in state.users:
        raise ApiError(60111, "userid not found")
    return {"userid": userid, "name": state.users[userid], "status": 1}


def _kf_add_contact_way(state: SandboxState, _params: dict[str, str], body: dict) -> dict:
    open_kfid = str(body.get("open_kfid", ""))
    if not open_kfid:
        raise ApiError(95000, "invalid open_kfid")
    url = state.kf_links.setdefault(
        open_kfid, f"https://work.weixin.qq.com/kfid/{open_kfid}?enc_scene={body.get('scene', '')}"
    )
    return {"url": url}


def _ticket_get(state: SandboxState, params: dict[str, str], _body: dict) -> dict:
    if params.get("type") != "agent_config":
        raise ApiError(40004, "invalid type")
    return state.issue_ticket("agent")


def _body(method: Callable[[SandboxState, dict], dict]) -> Endpoint:
    """An endpoint that only reads the JSON body."""
    return lambda state, _params, body: method(state, body)


ENDPOINTS: dict[str, Endpoint] = {
    "externalcontact/get": lambda state, params, _body: state.external_contact(
        params.get("external_userid", "")
    ),
    "user/get": _user_get,
    "agent/get": lambda state, params, _body: state.agent(params.get("agentid", "")),
    "kf/account/list": _body(SandboxState.kf_account_list),
    "externalcontact/get_follow_user_list": lambda state, _p, _b: state.follow_user_list(),
    "externalcontact/batch/get_by_user": _body(SandboxState.customers_by_user),
    "externalcontact/get_corp_tag_list": lambda state, _p, _b: {"tag_group": state.tag_groups},
    "externalcontact/add_corp_tag": _body(SandboxState.add_corp_tags),
    "externalcontact/mark_tag": _body(SandboxState.mark_tag),
    "externalcontact/add_contact_way": _body(SandboxState.add_contact_way),
    "externalcontact/update_contact_way": _body(SandboxState.update_contact_way),
    "externalcontact/del_contact_way": _body(SandboxState.del_contact_way),
    "externalcontact/send_welcome_msg": _body(SandboxState.send_welcome),
    "message/send": _body(SandboxState.send_app_message),
    "externalcontact/add_msg_template": _body(SandboxState.add_msg_template),
    "externalcontact/get_groupmsg_task": _body(SandboxState.groupmsg_task),
    "externalcontact/get_groupmsg_send_result": _body(SandboxState.groupmsg_send_result),
    "externalcontact/groupchat/list": _body(SandboxState.group_list),
    "externalcontact/groupchat/get": _body(SandboxState.group_get),
    "externalcontact/transfer_customer": _body(SandboxState.transfer_customer),
    "externalcontact/resigned/transfer_customer": _body(SandboxState.transfer_resigned),
    "appchat/create": _body(SandboxState.appchat_create),
    "appchat/send": _body(SandboxState.appchat_send),
    "kf/add_contact_way": _kf_add_contact_way,
    "kf/sync_msg": _body(SandboxState.kf_sync),
    "kf/send_msg": _body(SandboxState.kf_send),
    "kf/send_msg_on_event": _body(SandboxState.kf_send_on_event),
    "auth/getuserinfo": lambda state, params, _body: state.user_of_code(params.get("code", "")),
    "get_jsapi_ticket": lambda state, _params, _body: state.issue_ticket("corp"),
    "ticket/get": _ticket_get,
}


async def dispatch(request: web.Request) -> web.Response:
    state = request.app[STATE]
    path = request.match_info["path"]
    params = dict(request.query)
    body: dict[str, Any] = {}
    if request.method == "POST" and request.content_type == "multipart/form-data":
        form = await request.post()
        media = form.get("media")
        if media is None or not hasattr(media, "file"):
            return _error(41005, "media data missing")
        body = {"_media": media.file.read()}
    elif request.method == "POST":
        try:
            body = json.loads(await request.read() or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(47001, "data format error")
    with state.lock:
        call = Call(path, params, body or None)
        state.calls.append(call)
    gate = state.gate(path)
    if gate is not None:
        await asyncio.get_running_loop().run_in_executor(None, gate.wait)
    with state.lock:
        try:
            fault = state.take_fault(path)
            if fault is not None:
                raise ApiError(fault, "sandbox: scripted fault")
            scripted = state.take_answer(path)
            if scripted is not None:
                result = scripted
            elif path == "gettoken":
                result = state.issue_token(params.get("corpid", ""), params.get("corpsecret", ""))
            elif path == "webhook/send":  # a group robot: its key is all it needs
                result = state.robot_send(params.get("key", ""), body)
            elif path == "media/upload":
                state.check_token(params.get("access_token", ""))
                result = _upload(state, params, body)
            else:
                handler = ENDPOINTS.get(path)
                if handler is None:
                    raise ApiError(60011, f"sandbox does not implement {path}")
                state.check_token(params.get("access_token", ""))
                result = handler(state, params, body)
        except ApiError as exc:
            call.errcode = exc.errcode
            return _error(exc.errcode, exc.errmsg)
        call.errcode = 0
    return web.json_response({"errcode": 0, "errmsg": "ok", **result})


def _upload(state: SandboxState, params: dict[str, str], body: dict) -> dict:
    data = body.get("_media", b"")
    if params.get("type") not in {"image", "voice", "video", "file"} or not data:
        raise ApiError(40004, "invalid media type or empty media")
    if params["type"] == "image" and len(data) > 10 * 1024 * 1024:
        raise ApiError(40009, "image size exceeds 10 MB")
    media_id = "3" + secrets.token_urlsafe(24)
    state.media[media_id] = data
    return {"type": params["type"], "media_id": media_id, "created_at": str(int(time.time()))}


def _error(errcode: int, errmsg: str) -> web.Response:
    return web.json_response({"errcode": errcode, "errmsg": errmsg})


async def authorize(request: web.Request) -> web.Response:
    """WeCom's OAuth2 page as the member signed in to the sandbox's WeCom sees it: straight
    back to redirect_uri with a code and the state; nobody signed in: a refusal."""
    state = request.app[STATE]
    query = request.query
    if query.get("appid") != state.corp_id or query.get("scope") != "snsapi_base":
        return web.Response(status=400, text="sandbox: wrong appid or scope")
    with state.lock:
        if not state.oauth_member:
            return web.Response(status=403, text="sandbox: nobody is signed in to WeCom")
        code = state.oauth_code(state.oauth_member)
    target = query.get("redirect_uri", "")
    glue = "&" if "?" in target else "?"
    location = f"{target}{glue}{urlencode({'code': code, 'state': query.get('state', '')})}"
    return web.Response(status=302, headers={"Location": location})


def create_app(state: SandboxState) -> web.Application:
    app = web.Application()
    app[STATE] = state
    app.router.add_route("*", "/cgi-bin/{path:.+}", dispatch)
    app.router.add_get("/connect/oauth2/authorize", authorize)
    return app


class SandboxServer:
    """Runs the sandbox API on 127.0.0.1 in a background thread."""

    def __init__(self, state: SandboxState, port: int = 0) -> None:
        self.state = state
        self._port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.url = ""

    def start(self) -> SandboxServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        self._runner = web.AppRunner(create_app(self.state), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
