"""The advisors' sidebar over HTTP: GET /sidebar (the page, behind WeCom's OAuth2), its assets,
the JSON it reads (GET /api/sidebar/session, jssdk, contact, group, search, tags) and the
actions it posts (POST /api/sidebar/{action}, with the session's CSRF token).

A member is known by a signed session cookie (HttpOnly, SameSite=Lax, Secure over HTTPS) that
lasts [sidebar] session_hours. Without one, /sidebar sends the browser to WeCom's OAuth2 with
a random `state` kept in a short cookie; WeCom comes back with ?code=…&state=…, the code is
exchanged once for the member's userid, and the browser is sent to the page without it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import html
import json
import logging
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from bot.runtime import Runtime
from crm.config import Settings
from crm.context import Context
from handlers import sidebar as view
from handlers.intake import Reply
from wecom import jsapi

log = logging.getLogger(__name__)

PAGE = Path(__file__).parent / "sidebar_page"
SESSION = "mombot_sidebar"
OAUTH_STATE = "mombot_oauth_state"
STATE_SECONDS = 600  # the OAuth2 round trip must come back within this
ASSETS = {"sidebar.js": "text/javascript", "sidebar.css": "text/css",
          "wecom-jssdk-2.4.4.js": "text/javascript"}  # fmt: skip
ASSET_CACHE = "public, max-age=3600"  # ours change with mombot; WeCom's is named by version
VERSIONED_CACHE = "public, max-age=31536000, immutable"
RUNTIME = web.AppKey("sidebar_runtime", Runtime)


def _key(settings: Settings) -> bytes:
    secret = settings.sidebar.session_secret.get_secret_value()
    if secret:
        return secret.encode()
    app_secret = settings.wecom.secret.get_secret_value().encode()
    return hmac.new(app_secret, b"mombot sidebar session", hashlib.sha256).digest()


def make_session(settings: Settings, userid: str, now: float) -> str:
    """A cookie value naming the member until now + session_hours, signed."""
    body = f"{userid}|{int(now) + settings.sidebar.session_hours * 3600}".encode()
    mac = hmac.new(_key(settings), body, hashlib.sha256).hexdigest()
    return base64.urlsafe_b64encode(body).decode().rstrip("=") + "." + mac


def session_user(settings: Settings, value: str, now: float) -> str | None:
    """The member a cookie value names, if it is ours and not expired."""
    encoded, _, mac = value.partition(".")
    try:
        body = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (ValueError, TypeError):
        return None
    expected = hmac.new(_key(settings), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac.encode(), expected.encode()):
        return None
    userid, _, expires = body.decode(errors="replace").rpartition("|")
    if not expires.isdigit() or int(expires) < now or not userid:
        return None
    return userid


def csrf_token(settings: Settings, session: str) -> str:
    """What the page must send back (X-CSRF-Token) with each action: tied to its session, so
    another site cannot forge it even where the browser sends our cookie along."""
    return hmac.new(_key(settings), f"csrf|{session}".encode(), hashlib.sha256).hexdigest()


def _secure(request: web.Request) -> bool:
    """The browser reached us over HTTPS: directly, through a proxy that says so, or at an
    https public_url."""
    settings = request.app[RUNTIME].settings
    return (request.secure or request.headers.get("X-Forwarded-Proto", "") == "https"
            or settings.sidebar.public_url.startswith("https://"))  # fmt: skip


def _page_url(request: web.Request, settings: Settings) -> str:
    base = settings.sidebar.public_url or f"{'https' if _secure(request) else 'http'}://" \
        f"{request.host}"  # fmt: skip
    return f"{base}/sidebar"


def _notice(status: int, text: str) -> web.Response:
    """A plain page saying what went wrong, in the advisor's words."""
    body = (f"<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\"><meta name=\"viewport\" "
            f"content=\"width=device-width,initial-scale=1\"><title>客户侧边栏</title>"
            f"<body style=\"font-family:sans-serif;padding:24px\"><p>{html.escape(text)}</p>"
            f"</body></html>")  # fmt: skip
    return web.Response(status=status, text=body, content_type="text/html", charset="utf-8",
                        headers={"Cache-Control": "no-store"})  # fmt: skip


def _redirect(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})


def member(request: web.Request) -> str | None:
    runtime: Runtime = request.app[RUNTIME]
    value = request.cookies.get(SESSION, "")
    return session_user(runtime.settings, value, time.time()) if value else None


async def page(request: web.Request) -> web.StreamResponse:
    runtime: Runtime = request.app[RUNTIME]
    settings = runtime.settings
    code = request.query.get("code")
    if code is not None:
        return await _logged_in(request, runtime, code)
    if member(request):
        return web.FileResponse(
            PAGE / "index.html",
            headers={"Cache-Control": "no-store", "Content-Type": "text/html; charset=utf-8"},
        )
    state = secrets.token_urlsafe(16)
    target = jsapi.authorize_url(settings.wecom.corp_id, settings.wecom.agent_id,
                                 _page_url(request, settings), state,
                                 settings.sidebar.oauth_base)  # fmt: skip
    response = _redirect(target)
    response.set_cookie(OAUTH_STATE, state, max_age=STATE_SECONDS, httponly=True,
                        secure=_secure(request), samesite="Lax", path="/sidebar")  # fmt: skip
    return response


async def _logged_in(request: web.Request, runtime: Runtime, code: str) -> web.StreamResponse:
    expected = request.cookies.get(OAUTH_STATE, "")
    given = request.query.get("state", "")
    if not expected or not hmac.compare_digest(expected.encode(), given.encode()):
        return _notice(400, "登录已过期或不是从本页发起的，请从企业微信里重新打开侧边栏。")

    def exchange() -> str:
        with runtime.context() as ctx:
            return view.login(ctx, code)

    try:
        userid = await asyncio.get_running_loop().run_in_executor(None, exchange)
    except view.LoginRefused as refused:
        return _notice(400, str(refused))
    except Exception:
        log.exception("sidebar login failed")
        return _notice(503, "暂时无法登录，请稍后再试。")
    response = _redirect("/sidebar")
    response.set_cookie(SESSION, make_session(runtime.settings, userid, time.time()),
                        max_age=runtime.settings.sidebar.session_hours * 3600, httponly=True,
                        secure=_secure(request), samesite="Lax", path="/")  # fmt: skip
    response.del_cookie(OAUTH_STATE, path="/sidebar")
    log.info("sidebar: %s logged in", userid)
    return response


async def asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in ASSETS:
        raise web.HTTPNotFound()
    cache = VERSIONED_CACHE if name.startswith("wecom-jssdk-") else ASSET_CACHE
    return web.FileResponse(PAGE / name, headers={"Cache-Control": cache,
                                                  "Content-Type": ASSETS[name]})  # fmt: skip


async def _json_api(request: web.Request, call: Callable[[Context, str], Reply]) -> web.Response:
    runtime: Runtime = request.app[RUNTIME]
    userid = member(request)
    if userid is None:
        return web.json_response({"error": "no session: open the sidebar in WeCom"},
                                 status=401)  # fmt: skip

    def run() -> Reply:
        with runtime.context() as ctx:
            return call(ctx, userid)

    try:
        reply = await asyncio.get_running_loop().run_in_executor(None, run)
    except Exception:
        log.exception("sidebar %s failed", request.path)
        return web.json_response({"error": "try again"}, status=503)
    return web.json_response(reply.body, status=reply.status,
                             dumps=lambda v: json.dumps(v, ensure_ascii=False),
                             headers={"Cache-Control": "no-store"})  # fmt: skip


async def me(request: web.Request) -> web.Response:
    """Who the page is logged in as, and its CSRF token for actions."""
    runtime: Runtime = request.app[RUNTIME]
    userid = member(request)
    if userid is None:
        return web.json_response({"error": "no session: open the sidebar in WeCom"}, status=401)
    token = csrf_token(runtime.settings, request.cookies[SESSION])
    return web.json_response({"userid": userid, "csrf": token},
                             headers={"Cache-Control": "no-store"})  # fmt: skip


async def action(request: web.Request) -> web.Response:
    """POST /api/sidebar/{action}: JSON, with the session's X-CSRF-Token."""
    runtime: Runtime = request.app[RUNTIME]
    name = request.match_info["action"]
    if name not in view.ACTIONS:
        return web.json_response({"error": f"no action {name!r}"}, status=404)
    if member(request) is None:
        return web.json_response({"error": "no session: open the sidebar in WeCom"}, status=401)
    expected = csrf_token(runtime.settings, request.cookies[SESSION])
    given = request.headers.get("X-CSRF-Token", "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return web.json_response({"error": "missing or wrong X-CSRF-Token"}, status=403)
    if request.content_type != "application/json":
        return web.json_response({"error": "send JSON (Content-Type: application/json)"},
                                 status=415)  # fmt: skip
    try:
        body = await request.json()
    except (ValueError, RecursionError, UnicodeDecodeError, LookupError):  # LookupError: charset
        return web.json_response({"error": "body is not JSON"}, status=400)
    return await _json_api(request, lambda ctx, userid: view.act(ctx, userid, name, body))


async def jssdk(request: web.Request) -> web.Response:
    url = request.query.get("url", "")
    return await _json_api(request, lambda ctx, _userid: view.jssdk(ctx, url))


async def search(request: web.Request) -> web.Response:
    query = request.query.get("q", "")
    return await _json_api(request, lambda ctx, userid: view.search(ctx, userid, query))


async def tags(request: web.Request) -> web.Response:
    return await _json_api(request, view.corp_tags)


async def group(request: web.Request) -> web.Response:
    chat_id = request.query.get("chat_id", "")
    return await _json_api(request, lambda ctx, userid: view.group(ctx, userid, chat_id))


async def contact(request: web.Request) -> web.Response:
    external_userid = request.query.get("external_userid", "")
    return await _json_api(request, lambda ctx, userid: view.contact(ctx, userid, external_userid))


def add_routes(app: web.Application, runtime: Runtime) -> None:
    app[RUNTIME] = runtime
    app.router.add_get("/sidebar", page)
    app.router.add_get("/sidebar/static/{name}", asset)
    app.router.add_get("/api/sidebar/jssdk", jssdk)
    app.router.add_get("/api/sidebar/contact", contact)
    app.router.add_get("/api/sidebar/session", me)
    app.router.add_get("/api/sidebar/search", search)
    app.router.add_get("/api/sidebar/group", group)
    app.router.add_get("/api/sidebar/tags", tags)
    app.router.add_post("/api/sidebar/{action}", action)
