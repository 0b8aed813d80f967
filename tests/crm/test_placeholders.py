"""Placeholders: one renderer, and the check of what each kind of text may use."""

import pytest

from crm import placeholders
from crm.placeholders import CONTACT, GROUP, WELCOME, problem, render, unknown


def test_each_kind_of_text_has_its_placeholders():
    assert WELCOME == ("name", "advisor")
    assert CONTACT == ("name", "advisor", "stage", "no")
    assert GROUP == ("group", "newcomers", "advisor")


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("你好{nmae}", ["{nmae}"]),
        ("你好{Name}", ["{Name}"]),  # placeholders are lower case
        ("我是{advisor_name}", ["{advisor_name}"]),
        ("编号{no2}", ["{no2}"]),
        ("你好{姓名}", ["{姓名}"]),
        ("你好{{name}}", ["{{name}}"]),  # would be sent as "{小雨}"
        ("你好{name}}", ["{name}}"]),
        ("你好{stage}", ["{stage}"]),  # a mother's, not a welcome's
        ("{nmae}{advisor}{nmae}{Name}", ["{nmae}", "{Name}"]),  # each once, in order
    ],
)
def test_attempts_at_placeholders_that_would_not_be_filled(text, found):
    assert unknown(text, WELCOME) == found


@pytest.mark.parametrize(
    "text",
    [
        "你好{name}，我是{advisor}",
        "没有占位符",
        "{}",
        "单个 { 或 } 括号",
        "{ name }",  # spaces: not a placeholder
        '{"gift": "试用装", "n": 1}',  # JSON
        "{a: 1}",
        "表情 :-{",
        "",
    ],
)
def test_known_placeholders_and_other_braces_pass(text):
    assert unknown(text, WELCOME) == [] and problem(text, WELCOME) == ""


def test_problem_names_the_placeholders_and_what_to_use():
    assert problem("你好{nmae}", WELCOME) == "unknown placeholder {nmae} (use {name}, {advisor})"
    assert problem("{group}{nmae}", CONTACT) == (
        "unknown placeholders {group}, {nmae} (use {name}, {advisor}, {stage}, {no})"
    )
    assert problem("{name}", GROUP) == (
        "unknown placeholder {name} (use {group}, {newcomers}, {advisor})"
    )


def test_every_allowed_placeholder_is_one_render_fills():
    values = {name: f"<{name}>" for name in {*WELCOME, *CONTACT, *GROUP}}
    for kind in (WELCOME, CONTACT, GROUP):
        text = "".join(f"{{{name}}}" for name in kind)
        assert render(text, values) == "".join(f"<{name}>" for name in kind)


def test_render_is_unchanged():
    values = {"name": "小雨", "advisor": "张顾问"}
    assert render("你好{name}，我是{advisor}{nmae}{ name }", values) == (
        "你好小雨，我是张顾问{nmae}{ name }"
    )
    assert render("{stage}", values) == "{stage}"  # no value: left as written
    assert placeholders.render("{{name}}", values) == "{小雨}"  # why {{name}} is refused
