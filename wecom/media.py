"""素材管理 (media): temporary media that messages refer to by media_id (kept 3 days)."""

from __future__ import annotations

from wecom.client import WeComClient


def upload_image(client: WeComClient, filename: str, data: bytes, mime: str) -> str:
    """Upload an image as temporary media; its media_id."""
    answer = client.upload("media/upload", files={"media": (filename, data, mime)}, type="image")
    return answer["media_id"]
