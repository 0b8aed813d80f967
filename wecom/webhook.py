"""群机器人 (group robot): a team group's webhook takes texts and images (base64 + md5, at most
2 MB) without an access token, at most 20 messages a minute. Its URL holds the robot's key, a
secret: it never reaches a log or an error message."""

from __future__ import annotations

import base64
import hashlib

import httpx

from wecom.client import RATE_LIMIT_ERRCODES, WeComError, WeComRateLimited, WeComUnavailable

PATH = "webhook/send"
IMAGE_LIMIT = 2 * 1024 * 1024


def send_text(http: httpx.Client, url: str, text: str) -> None:
    _post(http, url, {"msgtype": "text", "text": {"content": text}})


def send_image(http: httpx.Client, url: str, png: bytes) -> None:
    if len(png) > IMAGE_LIMIT:
        raise WeComError(None, f"image of {len(png)} bytes is over the robot's 2 MB", PATH)
    image = {"base64": base64.b64encode(png).decode(), "md5": hashlib.md5(png).hexdigest()}
    _post(http, url, {"msgtype": "image", "image": image})


def _post(http: httpx.Client, url: str, body: dict) -> None:
    try:
        response = http.post(url, json=body)
    except httpx.TransportError as exc:
        raise WeComUnavailable(None, type(exc).__name__, PATH) from None
    if response.status_code >= 500:
        raise WeComUnavailable(None, f"HTTP {response.status_code}", PATH)
    try:
        answer = response.json()
    except ValueError:
        raise WeComError(None, f"HTTP {response.status_code}, not JSON", PATH) from None
    errcode = answer.get("errcode", -1) if isinstance(answer, dict) else -1
    if errcode in RATE_LIMIT_ERRCODES:
        raise WeComRateLimited(errcode, str(answer.get("errmsg", "")), PATH)
    if errcode != 0:
        errmsg = answer.get("errmsg", "") if isinstance(answer, dict) else ""
        raise WeComError(errcode, str(errmsg)[:200], PATH)
