"""`mombot report`: the managers' numbers and charts for operators and scripts."""

import json

import pytest

from bot import worker
from bot.cli import main
from crm import config
from tests.support import added, deliver, settings_data

DAY = "2026-11-22 2026-11-22"  # the test clock's day: the command itself runs on the real clock
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def corp(runtime, sandbox, tmp_path):
    """Two mothers added 张顾问 through the 小红书 code, one 李顾问 at the shop, on 11-22."""
    for name, userid, channel in (("小雨", "zhangsan", "xhs-diaper"),
                                  ("阿敏", "zhangsan", "xhs-diaper"),
                                  ("婷婷", "lisi", "store-poster")):  # fmt: skip
        deliver(runtime, added(sandbox.state, name, userid, channel)[1])
        worker.run(runtime, burst=True)
    return config.write(tmp_path / "config.toml", settings_data(runtime))


def test_the_numbers_as_json_and_the_dashboard_as_a_png(corp, tmp_path, capsys):
    out = tmp_path / "report.png"
    assert main(["--config", str(corp), "report", "--period", DAY, "--out", str(out),
                 "--json"]) == 0  # fmt: skip
    found = json.loads(capsys.readouterr().out)
    assert (found["adds"], found["leads"], found["net_adds"]) == (3, 3, 3)
    assert found["by_day"] == [{"day": "2026-11-22", "adds": 3, "net_adds": 3}]
    assert {c["channel"]: c["adds"] for c in found["channels"]} == {"小红书纸尿裤笔记": 2,
                                                                    "门店海报": 1}  # fmt: skip
    assert found["images"] == [str(out)] and out.read_bytes().startswith(PNG)
    assert "线索→签约转化率" in found["definitions"]


def test_a_focus_writes_each_of_its_charts(corp, tmp_path, capsys):
    out = tmp_path / "channels.png"
    assert main(["--config", str(corp), "report", "--period", DAY, "--focus", "渠道",
                 "--out", str(out)]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert text.startswith("经营报表 · 2026-11-22 · 全部顾问\n")
    assert "小红书纸尿裤笔记：2 / 2 / 0 / 0.0%" in text
    assert f"图表：{tmp_path / 'channels-2.png'}" in text
    assert (tmp_path / "channels-2.png").read_bytes().startswith(PNG)


def test_as_an_advisor_and_bad_words(corp, capsys):
    assert main(["--config", str(corp), "report", "--period", DAY, "--as", "lisi",
                 "--json"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["adds"] == 1
    assert main(["--config", str(corp), "report", "--as", "nobody"]) == 2
    assert "nobody is no manager, team lead or advisor" in capsys.readouterr().err
    assert main(["--config", str(corp), "report", "--period", "后天"]) == 2
    assert "没看懂时间「后天」" in capsys.readouterr().err
