"""Placeholders in the texts operators write (channel welcomes, playbook steps): {name},
{advisor}, {stage}, {no} for a mother; {group}, {newcomers} for a customer group. Other braces
are left as written."""

from __future__ import annotations

import re

_PLACEHOLDER = re.compile(r"\{(name|advisor|stage|no|group|newcomers)\}")


def render(text: str, values: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)
