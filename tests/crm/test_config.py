import json
import tomllib
from pathlib import Path

import pytest

from bot.cli import main
from crm import config

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = """
[wecom]
corp_id = "ww1436e0e65a779aee"
agent_id = 1000002
secret = "s3cr3t-app-secret"
token = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
encoding_aes_key = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
api_base = "http://127.0.0.1:9000"
[server]
host = "127.0.0.1"
port = 8123
[database]
url = ""
[redis]
url = ""
[[channels]]
code = "xhs-diaper"
name = "小红书纸尿裤笔记"
tags = ["小红书"]
welcome = "你好"
[report]
managers = ["boss"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_config_loads_with_defaults(tmp_path):
    settings = config.load(write(tmp_path, MINIMAL))
    assert settings.wecom.api_base == "http://127.0.0.1:9000"
    assert settings.timezone == "Asia/Shanghai"
    assert settings.data_path == tmp_path / "data"  # the config file's folder's, not cwd's
    assert settings.database_url == f"sqlite:///{tmp_path}/data/mombot.db"
    assert settings.wecom.contact_secret_value == "s3cr3t-app-secret"
    assert settings.channels[0].tags == ["小红书"]


def test_env_var_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("MOMBOT_CONFIG", str(write(tmp_path, MINIMAL)))
    assert config.load().server.port == 8123


@pytest.mark.parametrize(
    ("change", "key", "reason"),
    [
        (("[server]", "[server]\nhots = 1"), "server.hots", "unknown key"),
        (("port = 8123", "port = 99999"), "server.port", "less than or equal to 65535"),
        (("agent_id = 1000002", 'agent_id = "abc"'), "wecom.agent_id", "valid integer"),
        (('url = ""\n[[channels]]', 'url = "mysql://x"\n[[channels]]'), "redis.url", "redis://"),
        (('code = "xhs-diaper"', 'code = "小红书"'), "channels[0].code", "pattern"),
        (('api_base = "http://127.0.0.1:9000"', 'api_base = "ftp://x"'), "wecom.api_base", "URL"),
        (("[report]", '[roles]\nmasked = ["secrets"]\n[report]'), "roles.masked[0]", "'city'"),
        (
            ("[report]", 'timezone = "Mars/Base"\n[report]'),
            "channels[xhs-diaper].timezone",
            "unknown key",
        ),
    ],
)
def test_bad_values_name_file_key_and_reason(tmp_path, change, key, reason):
    path = write(tmp_path, MINIMAL.replace(*change))
    with pytest.raises(config.ConfigError) as info:
        config.load(path)
    message = str(info.value)
    assert str(path) in message and key in message and reason in message


def test_bad_time_zone(tmp_path):
    path = write(tmp_path, 'timezone = "Mars/Base"\n' + MINIMAL)
    with pytest.raises(config.ConfigError, match="timezone: unknown time zone"):
        config.load(path)


def test_missing_credentials_and_file(tmp_path):
    with pytest.raises(config.ConfigError, match=r"wecom: required key is missing"):
        config.load(write(tmp_path, "timezone = 'Asia/Shanghai'\n"))
    with pytest.raises(config.ConfigError, match="config file not found"):
        config.load(tmp_path / "nope.toml")
    with pytest.raises(config.ConfigError, match="not valid TOML"):
        config.load(write(tmp_path, "[wecom\n"))


def test_secrets_never_in_errors_or_repr(tmp_path):
    bad = MINIMAL.replace('encoding_aes_key = "6qkd', 'encoding_aes_key = "!!kd')
    with pytest.raises(config.ConfigError) as info:
        config.load(write(tmp_path, bad))
    assert "!!kd" not in str(info.value) and "encoding_aes_key" in str(info.value)
    settings = config.load(write(tmp_path, MINIMAL))
    assert "s3cr3t" not in repr(settings) and "s3cr3t" not in str(settings.model_dump())


def test_cli_refuses_bad_config_with_exit_2(tmp_path, capsys):
    path = write(tmp_path, MINIMAL.replace("[server]", "[server]\nhots = 1"))
    assert main(["--config", str(path), "config", "check"]) == 2
    assert "server.hots: unknown key" in capsys.readouterr().err


def test_a_welcome_with_an_unknown_placeholder_is_refused(tmp_path):
    path = write(tmp_path, MINIMAL.replace('welcome = "你好"', 'welcome = "你好{nmae}"'))
    with pytest.raises(config.ConfigError) as info:
        config.load(path)
    assert str(info.value) == (f"{path}: channels[xhs-diaper].welcome: unknown placeholder "
                               "{nmae} (use {name}, {advisor})")  # fmt: skip
    path = write(tmp_path, MINIMAL + '[welcome]\ndefault = "你好{Name}，我是{advisor_name}"\n')
    with pytest.raises(config.ConfigError) as info:
        config.load(path)
    assert str(info.value) == (f"{path}: welcome.default: unknown placeholders {{Name}}, "
                               "{advisor_name} (use {name}, {advisor})")  # fmt: skip


@pytest.mark.parametrize(
    "welcome",
    [
        "你好{name}，我是{advisor}",
        "你好！回复{ 1 }或者 {} 都行",  # braces that are no placeholder
        '扫码领取 {"gift": "试用装"}',
        "笑脸 :-{ 和 }",
    ],
)
def test_welcomes_with_known_placeholders_or_plain_braces_load(tmp_path, welcome):
    quoted = json.dumps(welcome, ensure_ascii=False)  # a JSON string is a TOML basic string
    text = MINIMAL.replace('welcome = "你好"', f"welcome = {quoted}")
    settings = config.load(write(tmp_path, f"{text}[welcome]\ndefault = {quoted}\n"))
    assert settings.channels[0].welcome == welcome == settings.welcome.default


def test_cli_refuses_an_unknown_placeholder_with_exit_2(tmp_path, capsys):
    path = write(tmp_path, MINIMAL.replace('welcome = "你好"', 'welcome = "你好{nmae}"'))
    assert main(["--config", str(path), "config", "check"]) == 2
    assert ("channels[xhs-diaper].welcome: unknown placeholder {nmae} (use {name}, {advisor})"
            in capsys.readouterr().err)  # fmt: skip


def test_channel_entries_are_named_by_code_unless_it_cannot_name_them(tmp_path):
    second = '[[channels]]\ncode = "store"\nname = "门店"\nadvisors = [""]\n'
    path = write(tmp_path, MINIMAL + second)
    with pytest.raises(config.ConfigError, match=r"channels\[store\]\.advisors\[0\]: String"):
        config.load(path)
    path = write(tmp_path, MINIMAL + second.replace('"store"', '"xhs-diaper"'))
    with pytest.raises(config.ConfigError, match=r"channels\[1\]\.advisors\[0\]: String"):
        config.load(path)  # the code is used twice: the entry's index


def _keys(model: type, prefix: str = "") -> set[str]:
    keys = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        inner = getattr(annotation, "__args__", (annotation,))[0] if prefix == "" else annotation
        if isinstance(inner, type) and issubclass(inner, config._Section):
            keys |= _keys(inner, f"{prefix}{name}.")
        else:
            keys.add(f"{prefix}{name}")
    return keys


def test_example_documents_every_key():
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    config.parse(tomllib.loads(text), "config.example.toml")
    for key in _keys(config.Settings):
        name = key.split(".")[-1]
        assert f"{name} =" in text or f"# {name} =" in text, f"{key} is not documented"


def test_a_relative_data_dir_is_the_config_folders_whatever_the_cwd(tmp_path, monkeypatch):
    folder = tmp_path / "etc"
    folder.mkdir()
    path = folder / "config.toml"
    path.write_text('data_dir = "./state"\n' + MINIMAL, encoding="utf-8")
    seen = set()
    for cwd in (tmp_path, folder, tmp_path / "elsewhere"):
        cwd.mkdir(exist_ok=True)
        monkeypatch.chdir(cwd)
        settings = config.load(path.relative_to(tmp_path) if cwd == tmp_path else path)
        seen.add((settings.data_path, settings.database_url))
    assert seen == {(folder / "state", f"sqlite:///{folder}/state/mombot.db")}
    monkeypatch.chdir(tmp_path / "elsewhere")  # an absolute one, or settings made in code: as is
    absolute = config.load(write(tmp_path, f'data_dir = "{tmp_path}/abs"\n' + MINIMAL))
    assert absolute.data_path == tmp_path / "abs"
    made = config.parse(tomllib.loads('data_dir = "rel"\n' + MINIMAL))
    assert made.data_path == Path("rel")


def test_the_same_database_from_another_directory(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "deploy"
    folder.mkdir()
    path = folder / "config.toml"
    path.write_text('data_dir = "data"\n' + MINIMAL, encoding="utf-8")
    monkeypatch.chdir(folder)
    assert main(["--config", "config.toml", "db", "upgrade"]) == 0
    monkeypatch.chdir(tmp_path)
    assert main(["config", "check", "--config", "deploy/config.toml"]) == 0
    out = capsys.readouterr().out
    assert f"data_dir {folder / 'data'}" in out and f"{folder}/data/mombot.db" in out
    assert (folder / "data" / "mombot.db").exists() and not (tmp_path / "data").exists()


EXAMPLE = (ROOT / "config.example.toml").read_text(encoding="utf-8")


def test_the_unedited_example_warns_of_every_placeholder_but_passes(tmp_path, capsys):
    path = write(tmp_path, EXAMPLE)
    assert main(["--config", str(path), "config", "check"]) == 0
    out = capsys.readouterr().out
    warned = out.split("warnings:\n", 1)[1].splitlines()
    assert [line.split(" looks like")[0].strip() for line in warned[:4]] == [
        "[wecom] corp_id",
        "[wecom] secret",
        "[wecom] token",
        "[wecom] encoding_aes_key",
    ]
    assert "channels[store-poster].attachments[0] points at https://example.com/guide" in out
    assert "replace-with-the-app-secret" not in out  # a secret's value is never shown


@pytest.mark.parametrize(
    ("change", "warning"),
    [
        (('corp_id = "ww1436e0e65a779aee"', 'corp_id = "wwxxxxxxxx"'),
         "[wecom] corp_id looks like a placeholder ('wwxxxxxxxx')"),
        (('secret = "s3cr3t-app-secret"', 'secret = "your-secret"'),
         "[wecom] secret looks like a placeholder:"),
        (('secret = "s3cr3t-app-secret"', 'secret = "changeme"'),
         "[wecom] secret looks like a placeholder:"),
        (('secret = "s3cr3t-app-secret"', 'secret = "xxxxxxxxxxxxxxxx"'),
         "[wecom] secret looks like a placeholder:"),
        (('secret = "s3cr3t-app-secret"', 'secret = ""'), "[wecom] secret is empty"),
        (('token = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"', 'token = ""'), "[wecom] token is empty"),
        (('api_base', 'contact_secret = ""\napi_base'),
         "[wecom] contact_secret is empty (the app secret is used instead)"),
        (('api_base', 'kf_secret = "<kf secret>"\napi_base'),
         "[wecom] kf_secret looks like a placeholder:"),
    ],
)  # fmt: skip
def test_placeholders_and_empty_secrets_are_warned_of_by_key(tmp_path, capsys, change, warning):
    path = write(tmp_path, MINIMAL.replace(*change))
    assert main(["--config", str(path), "config", "check"]) == 0
    out = capsys.readouterr().out
    assert "warnings:\n" in out and warning in out
    assert len(out.split("warnings:\n", 1)[1].splitlines()) == 1


def test_a_real_looking_config_has_no_warnings(tmp_path, capsys):
    assert main(["--config", str(write(tmp_path, MINIMAL)), "config", "check"]) == 0
    assert "warnings" not in capsys.readouterr().out
