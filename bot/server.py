"""The HTTP side: WeCom callbacks (verify, decrypt, store, queue, ack) and health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal

from aiohttp import web

from bot import redis_conn
from bot import runtime as runtime_module
from bot.ingest import Ingestor
from bot.runtime import Runtime
from crm.config import Settings
from store import db, inbox
from store.inbox import NewEvent
from wecom.callbacks import dedupe_key, encrypted_part, parse_xml, to_event
from wecom.crypto import CallbackError, WeComCrypto

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
RUNTIME = web.AppKey("runtime", Runtime)
CRYPTO = web.AppKey("crypto", WeComCrypto)
INGESTOR = web.AppKey("ingestor", Ingestor)


def _signed_params(request: web.Request, *extra: str) -> list[str]:
    names = ("msg_signature", "timestamp", "nonce", *extra)
    missing = [name for name in names if not request.query.get(name)]
    if missing:
        raise CallbackError(f"missing query parameter(s): {', '.join(missing)}")
    return [request.query[name] for name in names]


def _refuse(request: web.Request, error: CallbackError) -> web.Response:
    log.warning("refused %s callback from %s: %s", request.method, request.remote, error)
    return web.Response(status=error.status, text=f"{error}\n")


async def verify_url(request: web.Request) -> web.Response:
    """WeCom's URL check: answer the decrypted echostr as the plain body."""
    try:
        signature, timestamp, nonce, echostr = _signed_params(request, "echostr")
        plain = request.app[CRYPTO].verify_and_decrypt(signature, timestamp, nonce, echostr)
    except CallbackError as error:
        return _refuse(request, error)
    return web.Response(text=plain)


async def receive(request: web.Request) -> web.Response:
    try:
        signature, timestamp, nonce = _signed_params(request)
        # the signature first, over the cheaply found <Encrypt>: nothing unsigned is parsed
        encrypted = encrypted_part(await request.read())
        plain = request.app[CRYPTO].verify_and_decrypt(signature, timestamp, nonce, encrypted)
        event = to_event(parse_xml(plain))
    except CallbackError as error:
        return _refuse(request, error)
    try:
        stored = await request.app[INGESTOR].submit(
            NewEvent(dedupe_key(event), event.msg_type, event.event, event.change_type, plain)
        )
    except Exception:
        # Not the sender's fault: a non-200 makes WeCom deliver it again.
        return web.Response(status=503, text="temporarily unable to store the callback\n")
    if not stored.new:
        log.info("duplicate callback %s (inbox %d) acknowledged", event.route, stored.id)
    return web.Response(status=200)


async def healthz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    loop = asyncio.get_running_loop()
    report: dict[str, object] = {}
    healthy = True
    try:
        report["inbox"] = await loop.run_in_executor(None, _inbox_counts, runtime)
        report["database"] = "ok"
    except Exception as exc:
        healthy, report["database"] = False, f"unreachable: {type(exc).__name__}"
    try:
        await loop.run_in_executor(None, runtime.redis.ping)
        report["redis"] = "ok"
    except Exception as exc:
        healthy, report["redis"] = False, f"unreachable: {type(exc).__name__}"
    report["status"] = "ok" if healthy else "degraded"
    return web.json_response(report, status=200 if healthy else 503)


def _inbox_counts(runtime: Runtime) -> dict[str, int]:
    with runtime.engine.connect() as connection:
        return inbox.counts_by_status(connection)


def serve(settings: Settings, host: str, port: int) -> None:
    """Run the HTTP server in [server] processes processes sharing one port (SO_REUSEPORT).

    The schema is migrated and the embedded Redis started once, before forking; each process
    then builds its own runtime (connections are never shared across a fork).
    """
    engine = db.make_engine(settings.database_url)
    db.upgrade(engine)
    engine.dispose()
    redis_conn.connect(settings.redis.url, settings.data_path).close()
    children = []
    for _ in range(settings.server.process_count - 1):
        pid = os.fork()
        if pid == 0:
            _serve_one(settings, host, port)
            os._exit(0)
        children.append(pid)
    try:
        _serve_one(settings, host, port)
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)


def _serve_one(settings: Settings, host: str, port: int) -> None:
    runtime = runtime_module.build(settings, migrate=False)
    log.info("serving on %s:%d (pid %d)", host, port, os.getpid())
    web.run_app(
        create_app(runtime), host=host, port=port, reuse_port=True, print=None, access_log=None
    )


def create_app(runtime: Runtime) -> web.Application:
    wecom = runtime.settings.wecom
    app = web.Application(client_max_size=MAX_BODY)
    app[RUNTIME] = runtime
    app[CRYPTO] = WeComCrypto(
        wecom.token.get_secret_value(), wecom.encoding_aes_key.get_secret_value(), wecom.corp_id
    )
    app[INGESTOR] = Ingestor(runtime)

    async def lifecycle(app: web.Application):
        app[INGESTOR].start()
        yield
        await app[INGESTOR].stop()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/wecom/callback", verify_url)
    app.router.add_post("/wecom/callback", receive)
    app.router.add_get("/healthz", healthz)
    return app
