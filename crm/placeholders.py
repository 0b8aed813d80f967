"""Placeholders in the texts operators write (channel welcomes, playbook steps): {name},
{advisor}, {stage}, {no} for a mother; {group}, {newcomers}, {advisor} for a customer group.
Other braces are left as written.

What each kind of text may use is checked where the text is loaded (the config, a playbook),
so a typo such as {nmae} is refused there instead of reaching a mother as written."""

from __future__ import annotations

import re
from collections.abc import Iterable

_PLACEHOLDER = re.compile(r"\{(name|advisor|stage|no|group|newcomers)\}")

# The placeholders each kind of text is rendered with (handlers.welcome, sop.executor,
# sop.group_executor fill exactly these).
WELCOME = ("name", "advisor")  # a channel's welcome, [welcome] default
CONTACT = ("name", "advisor", "stage", "no")  # a step of a contact SOP
GROUP = ("group", "newcomers", "advisor")  # a step of a customer-group SOP

# An attempt at a placeholder: a word (letters, digits, underscore) in braces, e.g. {nmae},
# {Name}, {advisor_name}, {姓名}, also in doubled braces ({{name}}, which render would turn into
# "{小雨}"). Lone braces, {} and JSON-like text ({"a": 1}, { name }) are not attempts.
_ATTEMPT = re.compile(r"\{+(\w+)\}+")


def render(text: str, values: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def unknown(text: str, allowed: Iterable[str]) -> list[str]:
    """The placeholder attempts in text that would not be filled in: a {word} whose word is not
    allowed, or any placeholder in doubled braces; each once, as written, in order."""
    names = set(allowed)
    found = (m.group(0) for m in _ATTEMPT.finditer(text)
             if m.group(0) != "{" + m.group(1) + "}" or m.group(1) not in names)  # fmt: skip
    return list(dict.fromkeys(found))


def problem(text: str, allowed: Iterable[str]) -> str:
    """Why text cannot be sent as meant ("" when it can), e.g. "unknown placeholder {nmae}
    (use {name}, {advisor})"."""
    allowed = tuple(allowed)
    bad = unknown(text, allowed)
    if not bad:
        return ""
    plural = "s" if len(bad) > 1 else ""
    use = ", ".join(f"{{{name}}}" for name in allowed)
    return f"unknown placeholder{plural} {', '.join(bad)} (use {use})"
