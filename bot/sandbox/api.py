"""The sandbox's HTTP face: WeCom's /cgi-bin/ API over a SandboxState."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.sandbox.state import ApiError, Call, SandboxState

Endpoint = Callable[[SandboxState, dict[str, str], dict[str, Any]], dict[str, Any]]
ENDPOINTS: dict[str, Endpoint] = {}
STATE = web.AppKey("state", SandboxState)


def endpoint(path: str) -> Callable[[Endpoint], Endpoint]:
    def register(function: Endpoint) -> Endpoint:
        ENDPOINTS[path] = function
        return function

    return register


@endpoint("externalcontact/get")
def externalcontact_get(state: SandboxState, params: dict[str, str], _body: dict) -> dict:
    return state.external_contact(params.get("external_userid", ""))


async def dispatch(request: web.Request) -> web.Response:
    state = request.app[STATE]
    path = request.match_info["path"]
    params = dict(request.query)
    body: dict[str, Any] = {}
    if request.method == "POST" and request.content_type == "application/json":
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error(47001, "data format error")
    with state.lock:
        state.calls.append(Call(path, params, body or None))
    gate = state.gate(path)
    if gate is not None:
        await asyncio.get_running_loop().run_in_executor(None, gate.wait)
    with state.lock:
        try:
            fault = state.take_fault(path)
            if fault is not None:
                raise ApiError(fault, "sandbox: scripted fault")
            if path == "gettoken":
                result = state.issue_token(params.get("corpid", ""), params.get("corpsecret", ""))
            else:
                handler = ENDPOINTS.get(path)
                if handler is None:
                    raise ApiError(60011, f"sandbox does not implement {path}")
                state.check_token(params.get("access_token", ""))
                result = handler(state, params, body)
        except ApiError as exc:
            return _error(exc.errcode, exc.errmsg)
    return web.json_response({"errcode": 0, "errmsg": "ok", **result})


def _error(errcode: int, errmsg: str) -> web.Response:
    return web.json_response({"errcode": errcode, "errmsg": errmsg})


def create_app(state: SandboxState) -> web.Application:
    app = web.Application()
    app[STATE] = state
    app.router.add_route("*", "/cgi-bin/{path:.+}", dispatch)
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
