"""`mombot leads list`: the funnel as a list, found with the query language the sidebar
shares; names, advisors by name and id, phones masked; `--json` for scripts."""

import json
from datetime import datetime, timedelta

import pytest

from bot import worker
from bot.cli import main
from crm import config, lead_query
from store import advisors, contacts, followups
from store import leads as steps
from store.db import session
from store.models import ContactStatus, LeadSource
from tests.support import TZ, added, deliver, settings_data

NOW = datetime.now(TZ)  # the command runs on the real clock


@pytest.fixture
def corp(runtime, sandbox, tmp_path):
    """Three mothers: 小雨 (上海, 孕晚期, due in 20 days, no follow-up for 10 days),
    阿敏 (北京, 孕中期, signed), 婷婷 (上海, 孕晚期, followed up today) — all zhangsan's."""
    ids = {}
    for name in ("小雨", "阿敏", "婷婷"):
        follow, fields = added(sandbox.state, name)
        deliver(runtime, fields)
        worker.run(runtime, burst=True)
        ids[name] = follow.external_userid
    with session(runtime.engine) as s:
        advisors.remember(s, "zhangsan", "张顾问", NOW)
        rows = {name: contacts.get(s, ext) for name, ext in ids.items()}
        for name, city, stage, phone in (("小雨", "上海", "孕晚期", "13812341234"),
                                         ("阿敏", "北京", "孕中期", ""),
                                         ("婷婷", "上海", "孕晚期", "13900001111")):  # fmt: skip
            her = rows[name]
            her.city, her.stage, her.phone = city, stage, phone
            her.added_at = NOW - timedelta(days=10)
            s.add(her)
        rows["小雨"].due_date = (NOW + timedelta(days=20)).date()
        steps.change(s, rows["阿敏"], ContactStatus.SIGNED, NOW, source=LeadSource.APP,
                     actor="zhangsan", amount_cents=398000)  # fmt: skip
        followups.log(s, rows["婷婷"], "zhangsan", "电话沟通", NOW)
        s.commit()
        numbers = {name: her.id for name, her in rows.items()}
    return config.write(tmp_path / "config.toml", settings_data(runtime)), numbers


def listed(corp, capsys, *words):
    path, _ = corp
    assert main(["--config", str(path), "leads", "list", "--json", *words]) == 0
    return json.loads(capsys.readouterr().out)


def names(found):
    return [lead["name"] for lead in found]


def test_the_query_language_narrows_the_list(corp, capsys):
    assert names(listed(corp, capsys)) == ["婷婷", "阿敏", "小雨"]
    assert names(listed(corp, capsys, "孕晚期", "未签约", "上海", "7天未跟进")) == ["小雨"]
    assert names(listed(corp, capsys, "已签约")) == ["阿敏"]
    assert names(listed(corp, capsys, "晚期")) == []  # no stage starts so: part of a name
    assert names(listed(corp, capsys, "上海市", "30天内预产")) == ["小雨"]
    assert names(listed(corp, capsys, "张顾问", "已沟通")) == ["婷婷"]
    assert names(listed(corp, capsys, "雨")) == ["小雨"]
    assert names(listed(corp, capsys, "--status", "已签约", "--owner", "zhangsan")) == ["阿敏"]


def test_json_names_people_and_masks_phones(corp, capsys):
    first = listed(corp, capsys, "小雨")[0]
    expected = {
        "name": "小雨", "phone": "138****1234", "status": "新线索", "owner": "zhangsan",
        "owner_name": "张顾问", "stage": "孕晚期", "channel": "xhs-diaper", "city": "上海",
    }  # fmt: skip
    assert {key: first[key] for key in expected} == expected
    assert listed(corp, capsys, "阿敏")[0]["signed_amount"] == 3980.0


def test_the_table_reads_as_people_do(corp, capsys):
    path, numbers = corp
    assert main(["--config", str(path), "leads", "list", "上海"]) == 0
    out = capsys.readouterr().out
    assert "13812341234" not in out and "138****1234" in out
    assert "张顾问 · zhangsan" in out and "共 2 条线索" in out
    assert f"{numbers['小雨']}" in out


def test_a_bad_status_is_refused_clearly(corp, capsys):
    path, _ = corp
    assert main(["--config", str(path), "leads", "list", "--status", "成交了"]) == 2
    assert "'成交了' is no lead status" in capsys.readouterr().err


def test_words_the_query_does_not_know_are_name_parts(runtime):
    vocabulary = lead_query.Vocabulary.of(runtime.settings, {"上海"}, {"zhangsan": "张顾问"})
    found = lead_query.parse("新生儿 预产期30天内 15天没跟进 小雨 zhangsan", vocabulary, NOW)
    assert found.stages == {"新生儿期"} and found.owners == {"zhangsan"}
    assert found.words == ("小雨",) and found.due_by == (NOW + timedelta(days=30)).date()
    assert found.idle_since == NOW - timedelta(days=15)


def test_score_and_tier_words(runtime):
    vocabulary = lead_query.Vocabulary.of(runtime.settings, set(), {})
    assert lead_query.parse("高意向", vocabulary, NOW).min_score == 20  # [scoring] threshold
    assert lead_query.parse("15分以上", vocabulary, NOW).min_score == 15
    assert lead_query.parse("评分≥30", vocabulary, NOW).min_score == 30
    assert lead_query.parse("待唤醒 流失风险", vocabulary, NOW).tiers == {"待唤醒", "流失风险"}


def test_one_lead_shown_whole_with_her_score_breakdown(corp, capsys):
    path, numbers = corp
    assert main(["--config", str(path), "leads", "show", str(numbers["婷婷"]), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["name"], shown["phone"], shown["status"]) == ("婷婷", "139****1111", "已沟通")
    # added 10 days ago, but her advisor talked with her today: not silent
    assert [(i["rule"], i["points"]) for i in shown["score_breakdown"]] == [
        ("顾问跟进", 8.0),
        ("添加了顾问", 2.0),
    ]
    assert shown["score"] == 10 and shown["hot"] is False
    assert [(h["from"], h["to"]) for h in shown["history"]] == [(None, "新线索"),
                                                                ("新线索", "已沟通")]  # fmt: skip
    assert shown["follow_ups"][0]["note"] == "电话沟通"
    assert main(["--config", str(path), "leads", "show", str(numbers["婷婷"])]) == 0
    out = capsys.readouterr().out
    assert "婷婷（编号" in out and "评分：10" in out and "+8  顾问跟进" in out
    assert main(["--config", str(path), "leads", "show", "999999"]) == 1
    assert "no lead 999999" in capsys.readouterr().err
