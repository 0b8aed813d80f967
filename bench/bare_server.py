"""The baseline: an aiohttp handler that reads the body and answers 200, nothing else."""

import sys

from aiohttp import web


async def callback(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=200)


app = web.Application(client_max_size=1024 * 1024)
app.router.add_post("/wecom/callback", callback)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
