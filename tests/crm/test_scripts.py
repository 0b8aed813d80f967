"""The 话术库: the default set covers every stage in words a mother reads, and a bad script
file is refused naming the file, the script and what is wrong."""

from pathlib import Path

import pytest

from crm import scripts
from crm.stages import STAGES
from tests.support import make_settings


def test_the_default_set_has_scripts_for_every_stage_filled_in_for_her(tmp_path):
    settings = make_settings(tmp_path)
    loaded = scripts.configured(settings)
    assert {stage for s in loaded for stage in s.stages} == set(STAGES)
    mine = scripts.for_her(settings, "孕晚期", {"name": "小雨", "advisor": "张顾问",
                                               "stage": "孕晚期"})  # fmt: skip
    assert [s["id"] for s in mine][:2] == ["late-bag", "late-signs"] and mine[-1]["id"] == "hello"
    assert mine[-1]["text"].startswith("小雨你好，我是张顾问")
    assert all("{" not in s["text"] for s in mine)


@pytest.mark.parametrize(("block", "problem"), [
    ('id = "a"\ntitle = "t"\ntext = "你好{nmae}"', "script 'a': unknown placeholder {nmae}"),
    ('id = "a"\ntitle = "t"\ntext = "x"\nstages = ["孕末期"]', "stages must be a list of"),
    ('id = "a"\ntitle = ""\ntext = "x"', "title must be non-empty text"),
    ('id = "a"\ntitle = "t"\ntext = "x"\ncolour = 1', "unknown key(s) colour"),
])  # fmt: skip
def test_a_bad_script_is_refused_naming_file_and_script(tmp_path, block, problem):
    path = tmp_path / "mine.toml"
    path.write_text(f"[[script]]\n{block}\n", encoding="utf-8")
    with pytest.raises(scripts.ScriptError, match=problem.replace("(", r"\(").replace(")", r"\)")
                       .replace("{", r"\{").replace("}", r"\}")) as refused:  # fmt: skip
        scripts.load((Path(path),))
    assert str(path) in str(refused.value)


def test_a_folder_of_scripts_replaces_the_default(tmp_path):
    (tmp_path / "a.toml").write_text('[[script]]\nid = "x"\ntitle = "问候"\ntext = "你好"\n',
                                     encoding="utf-8")  # fmt: skip
    settings = make_settings(tmp_path, sidebar={"scripts": str(tmp_path)})
    assert [s.id for s in scripts.configured(settings)] == ["x"]
