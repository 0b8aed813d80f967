"""The welcome bot link's scene_param: signed with a key derived from the callback secrets,
within WeCom's 128 bytes, and worthless once edited."""

from urllib.parse import quote

import pytest

from crm import scene
from tests.support import make_settings

OTHER_TOKEN = "q8Vn2LxTz5RkW7mJc4HbY9sDf3GpA6eU"


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path)


def test_a_signed_value_round_trips(settings):
    value = scene.sign(settings, "xhs-diaper", "zhangsan")
    assert value.startswith("c=xhs-diaper&u=zhangsan&s=")
    assert scene.verify(settings, value) == ("xhs-diaper", "zhangsan")
    assert scene.verify(settings, quote(value, safe="")) == ("xhs-diaper", "zhangsan")
    assert scene.verify(settings, scene.sign(settings, "", "lisi")) == ("", "lisi")


@pytest.mark.parametrize(
    "edit",
    [
        lambda v: v.replace("u=zhangsan", "u=lisi"),
        lambda v: v.replace("c=xhs-diaper", "c=store-poster"),
        lambda v: v.replace("c=xhs-diaper", "c="),
        lambda v: v.rsplit("&s=", 1)[0],  # no mac
        lambda v: v + "&u=lisi",  # a second advisor
        lambda v: v[:-1] + ("A" if v[-1] != "A" else "B"),  # one character of the mac
        lambda v: "c=xhs-diaper&u=zhangsan",  # the old unsigned shape
        lambda v: "",
        lambda v: "%ZZ&&==s=",
    ],
)
def test_an_edited_value_binds_nobody(settings, edit):
    assert scene.verify(settings, edit(scene.sign(settings, "xhs-diaper", "zhangsan"))) is None


def test_the_key_comes_from_the_callback_secrets(tmp_path, settings):
    value = scene.sign(settings, "xhs-diaper", "zhangsan")
    rotated = make_settings(tmp_path, wecom={"token": OTHER_TOKEN})
    assert scene.verify(rotated, value) is None
    same_secrets = make_settings(tmp_path, wecom={"secret": "Zr4tHw9KpL2mXc7V"})
    assert scene.verify(same_secrets, value) == ("xhs-diaper", "zhangsan")


def test_the_longest_channel_and_userid_fit_in_wecoms_128_bytes(settings):
    value = scene.sign(settings, "c" * 30, "u" * 64)
    assert len(quote(value, safe="")) <= scene.MAX_BYTES and scene.fits(value)
    assert scene.verify(settings, value) == ("c" * 30, "u" * 64)
    assert not scene.fits(scene.sign(settings, "c" * 30, "@" * 64))
