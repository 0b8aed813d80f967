"""`mombot leads import|export` and `mombot audit list`: a partner's file comes in (UTF-8 or
GBK, Chinese or English headers), each row created, merged or rejected with its reason; an
export masks phones and is kept in the audit log."""

import csv
import json
from datetime import datetime, timedelta

import pytest
from sqlmodel import func, select

from bot import worker
from bot.cli import main
from crm import config
from store import contacts
from store.db import session
from store.models import Contact
from tests.support import TZ, added, deliver, settings_data

TODAY = datetime.now(TZ).date()  # the command runs on the real clock
DUE = TODAY + timedelta(days=100)


@pytest.fixture
def corp(runtime, sandbox, tmp_path):
    """An existing mother (小雨, 13812341234) and round-robin assignment to zhangsan, lisi."""
    follow, fields = added(sandbox.state, "小雨")
    deliver(runtime, fields)
    worker.run(runtime, burst=True)
    with session(runtime.engine) as s:
        her = contacts.get(s, follow.external_userid)
        her.phone = "13812341234"
        s.add(her)
        s.commit()
        known = her.id
    data = settings_data(runtime)
    data["assign"] = [{"advisors": ["zhangsan", "lisi"]}]
    return config.write(tmp_path / "config.toml", data), known


def run(corp, capsys, *args):
    path, _ = corp
    code = main(["--config", str(path), *args])
    return code, capsys.readouterr()


def people(runtime) -> int:
    with session(runtime.engine) as s:
        return s.exec(select(func.count()).select_from(Contact)).one()


def test_a_gbk_file_with_chinese_headers(corp, capsys, runtime, tmp_path, sandbox):
    text = (
        "姓名,手机号码,渠道,预产期,城市,备注\n"
        f"王芳,13900001111,xhs-diaper,{DUE},上海市,想了解待产包\n"
        "小雨,138 1234 1234,,,,老客户\n"  # the known mother: merged
        "李娜,12345,,,,\n"  # no mobile number: rejected
        f"王芳,+86 139-0000-1111,,{DUE},苏州,\n"  # the same as row 2: merged
        "赵敏,13700002222,,下个月20号生,,\n"
    )
    file = tmp_path / "hospital.csv"
    file.write_bytes(text.encode("gbk"))
    code, out = run(corp, capsys, "leads", "import", str(file), "--source", "协和医院", "--json")
    assert code == 0
    report = json.loads(out.out)
    assert report["encoding"] == "gbk"
    assert (report["created"], report["merged"], report["rejected"]) == (2, 2, 1)
    rows = {row["row"]: row for row in report["rows"]}
    assert rows[3]["result"] == "merged" and rows[3]["id"] == corp[1]
    assert rows[4]["result"] == "rejected" and "phone" in rows[4]["reason"]
    assert rows[5]["id"] == rows[2]["id"] and "city" in rows[5]["reason"]
    assert people(runtime) == 3
    assert sum(report["assigned"].values()) == 2  # the new ones; 小雨 has her advisor
    with session(runtime.engine) as s:
        wang = s.get(Contact, rows[2]["id"])
        assert (wang.city, wang.source, wang.due_date) == ("上海", "协和医院", DUE)
    worker.run(runtime, burst=True)  # each advisor told once, of all his new leads
    told = [m.touser for m in sandbox.state.messages if "线索" in m.content]
    assert sorted(told) == ["lisi", "zhangsan"]


def test_a_dry_run_reports_and_keeps_nothing(corp, capsys, runtime, tmp_path):
    file = tmp_path / "leads.csv"
    file.write_text("name\tphone\tdue_date\n王芳\t13900001111\t\n王芳\t13900001111\t\n",
                    encoding="utf-8-sig")  # fmt: skip
    code, out = run(corp, capsys, "leads", "import", str(file), "--dry-run")
    assert code == 0
    assert "2 rows: 1 created, 1 merged, 0 rejected — dry run" in out.out
    assert people(runtime) == 1


def test_a_file_without_a_phone_column_is_refused(corp, capsys, tmp_path):
    file = tmp_path / "leads.csv"
    file.write_text("name,city\n王芳,上海\n", encoding="utf-8")
    code, out = run(corp, capsys, "leads", "import", str(file))
    assert code == 2 and "no phone column" in out.err and str(file) in out.err


def test_an_export_masks_phones_and_is_audited(corp, capsys, tmp_path):
    out_file = tmp_path / "out.csv"
    code, out = run(corp, capsys, "leads", "export", "--out", str(out_file), "--by", "运营小王")
    assert code == 0 and "1 leads written" in out.out
    with out_file.open(encoding="utf-8-sig") as file:
        rows = list(csv.DictReader(file))
    assert [(r["姓名"], r["手机"]) for r in rows] == [("小雨", "138****1234")]
    code, out = run(corp, capsys, "leads", "export", "--out", str(out_file), "--with-phones",
                    "未签约")  # fmt: skip
    with out_file.open(encoding="utf-8-sig") as file:
        assert next(csv.DictReader(file))["手机"] == "13812341234"
    code, out = run(corp, capsys, "audit", "list", "--json")
    entries = json.loads(out.out)
    assert [(e["actor"].split("@")[0], e["rows"], e["detail"]["phones"]) for e in entries] == [
        (entries[0]["actor"].split("@")[0], 1, "full"),
        ("运营小王", 1, "masked"),
    ]
    assert entries[0]["detail"]["query"] == "未签约"
    assert "13812341234" not in out.out


def test_phones_are_never_logged(corp, capsys, tmp_path, caplog):
    file = tmp_path / "leads.csv"
    file.write_text("name,phone\n王芳,13900001111\n阿敏,139-0000-1112x\n", encoding="utf-8")
    code, out = run(corp, capsys, "leads", "import", str(file))
    assert code == 0 and "1 created" in out.out
    assert "1390000111" not in caplog.text
