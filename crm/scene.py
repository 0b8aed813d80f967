"""The scene_param of the welcome bot's link: her channel and her advisor, signed.

The link rides in her welcome, so she can read and edit it; if the bot trusted it as written,
changing `u=` would make any member of staff her advisor. The value is

    c=<channel code>&u=<advisor userid>&s=<mac>

where mac is HMAC-SHA256 over the pair, cut to its first 9 bytes (72 bits, 12 characters of
base64url). The key is derived (HKDF-SHA256, label "mombot scene_param v1") from the
callback Token and EncodingAESKey, secrets every mombot process already has and no mother
does. A value whose mac does not match, or that has none, binds nobody.

URL-encoded it stays inside WeCom's 128 bytes: a channel code is at most 30 characters, a
userid at most 64 bytes, and the rest takes 30 (`fits` says whether a value does).

Changing the Token or the EncodingAESKey makes the links in welcomes sent before bind nobody:
those mothers open the bot as if from nowhere (a lead without an owner, unless she is known).
"""

from __future__ import annotations

import base64
import hmac
import json
from hashlib import sha256
from urllib.parse import parse_qs, quote, unquote

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crm.config import Settings

LABEL = b"mombot scene_param v1"
MAC_BYTES = 9
MAX_BYTES = 128  # WeCom's limit for scene_param, URL-encoded


def _key(settings: Settings) -> bytes:
    wecom = settings.wecom
    secret = json.dumps(
        [wecom.token.get_secret_value(), wecom.encoding_aes_key.get_secret_value()]
    ).encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=LABEL).derive(secret)


def _mac(settings: Settings, channel: str, userid: str) -> str:
    message = json.dumps([channel, userid], ensure_ascii=False).encode()  # unambiguous
    digest = hmac.new(_key(settings), message, sha256).digest()[:MAC_BYTES]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign(settings: Settings, channel: str, userid: str) -> str:
    """The scene_param (not yet URL-encoded) that tells the bot her channel and advisor."""
    return f"c={channel}&u={userid}&s={_mac(settings, channel, userid)}"


def fits(value: str) -> bool:
    """Whether the value, URL-encoded, is within WeCom's limit."""
    return len(quote(value, safe="")) <= MAX_BYTES


def verify(settings: Settings, value: str) -> tuple[str, str] | None:
    """(channel, userid) of a scene_param that `sign` made with these secrets, else None
    (none given, unsigned, edited, or signed under other secrets)."""
    for candidate in (value, unquote(value)) if "%" in value else (value,):
        fields = parse_qs(candidate, keep_blank_values=True)
        if set(fields) != {"c", "u", "s"} or any(len(v) != 1 for v in fields.values()):
            continue
        (channel,), (userid,), (mac,) = fields["c"], fields["u"], fields["s"]
        if userid and hmac.compare_digest(mac.encode(), _mac(settings, channel, userid).encode()):
            return channel, userid
    return None
