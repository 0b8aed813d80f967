"""The baseline: an aiohttp handler that reads the body and answers 200, nothing else.

Usage: bare_server.py PORT [PROCESSES]  (several processes share the port, as mombot's do)
"""

import os
import sys

from aiohttp import web


async def callback(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=200)


def main() -> None:
    port, processes = int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1
    for _ in range(processes - 1):
        if os.fork() == 0:
            break
    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post("/wecom/callback", callback)
    web.run_app(app, host="127.0.0.1", port=port, reuse_port=True, print=None, access_log=None)


main()
