"""config.toml: the shipped example loads; every wrong value is named with its fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.adapters.wechat.settings import WeChatConfig
from bot.config import load_config
from bot.core.settings import DEFAULT_TEMPLATE
from bot.errors import ConfigError
from tests.conftest import REPO, WriteConfig


def test_shipped_example_config_is_valid_and_uses_the_seed_reply() -> None:
    config = load_config(REPO / "config.toml", env={})
    assert config.serving.url == "http://127.0.0.1:8501"
    assert config.serving.model == "resnet"
    assert config.labels.file == REPO / "labels" / "imagenet1k.xlsx"
    assert config.labels.column == "class_ZH"
    assert config.labels.offset is None
    assert config.reply.template == DEFAULT_TEMPLATE
    assert config.reply.top_k == 3


def test_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "names.csv").write_text("class_NO,name\n0,a\n", encoding="utf-8")
    path = tmp_path / "cfg.toml"
    path.write_text('[labels]\nfile = "sub/names.csv"\ncolumn = "name"\n', encoding="utf-8")
    assert load_config(path, env={}).labels.file == tmp_path / "sub" / "names.csv"


NO_LABELS = (
    "[labels] file = '{dir}/labels/imagenet1k.xlsx': no such file; give the path of the label "
    'spreadsheet (the bot ships "labels/imagenet1k.xlsx" for ImageNet models), or "model" for '
    "the names the model outputs itself"
)


@pytest.mark.parametrize(
    "extra,expected",
    [
        (
            "[serving]\ntimeout_s = -1\n",
            "[serving] timeout_s = -1: must be a number of seconds from 0.1 to 600",
        ),
        (
            '[serving]\ntimeout_s = "fast"\n',
            "[serving] timeout_s = 'fast': must be a number of seconds from 0.1 to 600",
        ),
        (
            '[serving]\nurl = "localhost:8501"\n',
            "[serving] url = 'localhost:8501': must start with http:// or https://, "
            'e.g. "http://127.0.0.1:8501"',
        ),
        (
            '[serving]\nmodle = "resnet"\n',
            "[serving] modle = 'resnet': unknown key; did you mean \"model\"?",
        ),
        (
            '[serving]\ninput = "png"\n',
            '[serving] input = \'png\': must be one of "auto", "jpeg", "tensor", "base64_text"',
        ),
        (
            '[serving]\nvalue_range = "0-1"\n',
            '[serving] value_range = \'0-1\': must be one of "0_1", "-1_1", "0_255", "caffe"',
        ),
        (
            '[serving]\nversion = 2\nversion_label = "stable"\n',
            "[serving] version_label = 'stable': set either version or version_label",
        ),
        (
            '[serving]\nusername = "bot"\n',
            "[serving] username = 'bot': needs a password in the environment variable "
            "WECHAT_VISION_BOT_PASSWORD",
        ),
        (
            '[labels]\nfile = "nope.xlsx"\n',
            "[labels] file = '{dir}/nope.xlsx': no such file; give the path of the label "
            'spreadsheet (the bot ships "labels/imagenet1k.xlsx" for ImageNet models), or '
            '"model" for the names the model outputs itself',
        ),
        (
            "[labels]\noffset = -1\n",
            '[labels] offset = -1: must be "auto" or a whole number >= 0 (1 = background class)',
        ),
        (
            "[reply]\ntop_k = 0\n",
            "[reply] top_k = 0: must be a whole number of labels from 1 to 10",
        ),
        (
            "[reply]\nmin_confidence = 1.5\n",
            "[reply] min_confidence = 1.5: must be a probability from 0 to 1",
        ),
        (
            '[reply]\ntemplate = "{{user}} {{label}}"\n',
            "[reply] template = '{{user}} {{label}}': is not a valid template (KeyError('user')); "
            "use only {{sender}}, {{label}}, {{probability}}, {{topk}}, {{counts}}",
        ),
        (
            "[images]\nshort_side_px = 10.5\n",
            "[images] short_side_px = 10.5: must be a whole number of pixels from 32 to 4096",
        ),
        ('[sevring]\nurl = "http://x"\n', '[sevring]: unknown section; did you mean "[serving]"?'),
        ("serving = 3\n", "[serving] must be a table, e.g. a line `[serving]` followed by keys"),
    ],
)
def test_each_wrong_value_names_file_key_and_fix(tmp_path: Path, extra: str, expected: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(extra.format(), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert str(path) in str(err.value)
    problem = expected.format(dir=tmp_path.as_posix())
    assert problem in err.value.problems
    assert problem in str(err.value)
    # Such a file also lacks the default label table: at most that one more problem.
    assert set(err.value.problems) <= {problem, NO_LABELS.format(dir=tmp_path.as_posix())}


def test_all_problems_are_reported_together(write_config: WriteConfig) -> None:
    path = write_config("[reply]\ntop_k = 99\n", serving="timeout_s = 0\nretries = -2")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert sorted(err.value.problems) == [
        "[reply] top_k = 99: must be a whole number of labels from 1 to 10",
        "[serving] retries = -2: must be a whole number of retries from 0 to 10",
        "[serving] timeout_s = 0: must be a number of seconds from 0.1 to 600",
    ]
    assert str(err.value).splitlines() == [
        f"{path} has 3 problems:",
        *(f"  - {problem}" for problem in err.value.problems),
    ]


def test_missing_config_file_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist: pass --config PATH"):
        load_config(tmp_path / "absent.toml", env={})


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[serving\nurl=", encoding="utf-8")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(path, env={})


def test_secrets_come_from_the_environment_and_stay_out_of_repr(write_config: WriteConfig) -> None:
    path = write_config(serving='token_env = "MY_TOKEN"')
    config = load_config(path, env={"MY_TOKEN": "s3cret-token"})
    assert config.serving.token == "s3cret-token"
    assert "s3cret-token" not in repr(config)


def test_more_headers_come_from_the_environment_as_json_and_stay_out_of_repr(
    write_config: WriteConfig,
) -> None:
    env = {"WECHAT_VISION_BOT_HEADERS": '{"Host": "resnet.example.com", "X-Api-Key": "k3y-s3cret"}'}
    config = load_config(write_config(), env=env)
    assert config.serving.headers == (("Host", "resnet.example.com"), ("X-Api-Key", "k3y-s3cret"))
    assert "k3y-s3cret" not in repr(config)
    assert load_config(write_config(), env={}).serving.headers == ()


@pytest.mark.parametrize(
    "value",
    ["Host: a", '["a"]', '{"Bad Name": "x"}', '{"X-Key": 3}', '{"X-Key": "a\\r\\nEvil: 1"}'],
)
def test_headers_that_are_not_a_json_object_of_one_line_texts_are_refused_unshown(
    write_config: WriteConfig, value: str
) -> None:
    path = write_config(serving='headers_env = "GATEWAY_HEADERS"')
    with pytest.raises(ConfigError) as err:
        load_config(path, env={"GATEWAY_HEADERS": value})
    [problem] = err.value.problems
    assert "GATEWAY_HEADERS must hold a JSON object of header names" in problem
    assert value not in problem


def test_offset_accepts_auto_and_whole_numbers(write_config: WriteConfig) -> None:
    assert load_config(write_config('offset = "auto"\n'), env={}).labels.offset is None
    assert load_config(write_config("offset = 1\n"), env={}).labels.offset == 1


def test_state_folder_defaults_to_the_users_state_directory(write_config: WriteConfig) -> None:
    config = load_config(write_config(), env={"XDG_STATE_HOME": "/var/lib/me"})
    assert config.chat.state_dir == Path("/var/lib/me/wechat-vision-bot")
    assert config.audit.path == Path("/var/lib/me/wechat-vision-bot/audit.sqlite3")
    assert load_config(write_config(), env={"HOME": "/home/u"}).chat.state_dir == Path(
        "/home/u/.local/state/wechat-vision-bot"
    )


def test_shipped_example_whitelists_a_group_and_keeps_the_seed_filehelper_audit() -> None:
    config = load_config(REPO / "config.toml", env={})
    assert config.transport.targets == ("我们一家",)
    assert isinstance(config.transport, WeChatConfig)
    assert config.transport.filehelper_audit is True
    assert config.transport.login_url == "https://login.weixin.qq.com"
    assert config.chat.min_send_interval_s == 1.0
    assert config.warnings == ()  # the example writes every key where it belongs


@pytest.mark.parametrize(
    "extra,expected",
    [
        (
            '[wechat]\ngroups = "我们一家"\n',
            "[wechat] groups = '我们一家': must be a list of group names, "
            'e.g. ["我们一家"], or ["*"]',
        ),
        (
            '[wechat]\ngroups = ["*", "我们一家"]\n',
            "[wechat] groups = ['*', '我们一家']: "
            '"*" means every group; do not list names beside it',
        ),
        (
            '[wechat]\nstickers = "yes"\n',
            '[wechat] stickers = \'yes\': must be one of "ignore", "classify"',
        ),
        (
            '[wechat]\nprivate_chats = "no"\n',
            "[wechat] private_chats = 'no': must be true or false (no quotes)",
        ),
        (
            "[chat]\nmin_send_interval_s = -1\n",
            "[chat] min_send_interval_s = -1: must be a number of seconds from 0 to 600",
        ),
        (
            "[chat]\nworkers = 0\n",
            "[chat] workers = 0: must be a whole number of threads from 1 to 32",
        ),
        (
            '[chat]\ntransport = "telegram"\n',
            '[chat] transport = \'telegram\': must be one of "wechat", "wecom"',
        ),
        (
            '[wechat]\nlogin_url = "weixin.qq.com"\n',
            "[wechat] login_url = 'weixin.qq.com': must start with http:// or https://, "
            'e.g. "https://login.weixin.qq.com"',
        ),
        ('[audit]\npaht = "a.db"\n', "[audit] paht = 'a.db': unknown key; did you mean \"path\"?"),
    ],
)
def test_wrong_wechat_and_audit_values_are_named(
    write_config: WriteConfig, extra: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write_config(extra), env={})
    assert err.value.problems == [expected]
    assert expected in str(err.value)


def test_shared_keys_still_read_from_wechat_with_one_warning_naming_chat(
    write_config: WriteConfig,
) -> None:
    config = load_config(write_config("[wechat]\nworkers = 5\nqueue_size = 7\n"), env={})

    assert (config.chat.workers, config.chat.queue_size) == (5, 7)
    assert len(config.warnings) == 1
    assert "[wechat] workers, queue_size" in config.warnings[0]
    assert "now belong in [chat]" in config.warnings[0]


@pytest.mark.parametrize(
    "text,expected",
    [
        (
            '[models.dogs]\nserving = "http://127.0.0.1:8502"\n',
            "[models.dogs] serving = 'http://127.0.0.1:8502': must be a table",
        ),
        (
            'serving = "oops"\n[models.dogs.serving]\nmodel = "dogs"\n',
            "[serving] must be a table",
        ),
    ],
)
def test_a_value_where_a_table_belongs_is_a_config_error_naming_the_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert any(p.startswith(expected) for p in err.value.problems), err.value.problems
