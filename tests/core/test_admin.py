"""The owner's commands: every command and alias, echoes ignored, reload refusals without paths."""

from __future__ import annotations

import pytest

from bot.core.admin import HELP, CommandDesk, status_text
from bot.core.events import Command
from bot.errors import ConfigError, LabelError, LocalError
from tests.core.fakes import FakeControls, FakeOutbox, Post

OWNER = "filehelper"
PAUSED = "已暂停: 图片不再识别 (发送 resume 继续)"
RESUMED = "已继续: 识别图片"


def desk_with(controls: FakeControls) -> tuple[CommandDesk, FakeOutbox]:
    outbox = FakeOutbox()
    return CommandDesk(controls, outbox=outbox, reply_to=OWNER), outbox


@pytest.mark.parametrize("text", ["status", "状态", " Status ", "STATUS\n"])
def test_status_answers_the_status_text(text: str) -> None:
    controls = FakeControls(status="状态: 运行中, 已运行 1.0 小时")
    desk, outbox = desk_with(controls)
    desk.handle(Command(text))

    assert outbox.posts == [Post(OWNER, "状态: 运行中, 已运行 1.0 小时")]


@pytest.mark.parametrize("text", ["pause", "暂停", "Pause"])
def test_pause_pauses_and_says_how_to_resume(text: str) -> None:
    controls = FakeControls()
    desk, outbox = desk_with(controls)
    desk.handle(Command(text))

    assert controls.paused == [True]
    assert outbox.posts == [Post(OWNER, PAUSED)]


@pytest.mark.parametrize("text", ["resume", "继续", "RESUME"])
def test_resume_resumes(text: str) -> None:
    controls = FakeControls()
    desk, outbox = desk_with(controls)
    desk.handle(Command(text))

    assert controls.paused == [False]
    assert outbox.posts == [Post(OWNER, RESUMED)]


@pytest.mark.parametrize("text", ["reload", "重新加载"])
def test_reload_applies_the_config_and_says_what_changed(text: str) -> None:
    controls = FakeControls(reload_answer="群 家庭群, 工作群; 阈值 0.3")
    desk, outbox = desk_with(controls)
    desk.handle(Command(text))

    assert controls.reloads == 1
    assert outbox.posts == [Post(OWNER, "配置已重新读取: 群 家庭群, 工作群; 阈值 0.3")]


@pytest.mark.parametrize("text", ["help", "帮助"])
def test_help_lists_the_commands(text: str) -> None:
    desk, outbox = desk_with(FakeControls())
    desk.handle(Command(text))

    assert outbox.posts == [Post(OWNER, HELP)]
    assert HELP == (
        "命令: status (状态), pause (暂停), resume (继续), reload (重新加载), "
        "forget 名字 (删除此人的记录), help (帮助)"
    )


@pytest.mark.parametrize("text", ["hello", "stop", "pause now", "暂停一下"])
def test_unknown_text_is_answered_with_help(text: str) -> None:
    controls = FakeControls()
    desk, outbox = desk_with(controls)
    desk.handle(Command(text))

    assert outbox.posts == [Post(OWNER, f"不认识的命令。{HELP}")]
    assert (controls.paused, controls.reloads) == ([], 0)


def test_reload_refused_lists_every_problem_and_never_the_path() -> None:
    refused = ConfigError(
        "/home/owner/.config/wechat-vision-bot/config.toml",
        [
            "[reply] min_confidence = 2: must be between 0 and 1",
            "[wechat] workers = 0: must be at least 1",
        ],
    )
    desk, outbox = desk_with(FakeControls(reload_answer=refused))
    desk.handle(Command("reload"))

    assert outbox.posts == [
        Post(
            OWNER,
            "配置有误, 仍使用原配置: [reply] min_confidence = 2: must be between 0 and 1; "
            "[wechat] workers = 0: must be at least 1",
        )
    ]
    assert "/home/owner" not in outbox.posts[0].text


def test_reload_refused_for_another_reason_says_the_first_line() -> None:
    refused = LabelError("the label table has 10 names but the model 1000 classes\nmore detail")
    desk, outbox = desk_with(FakeControls(reload_answer=refused))
    desk.handle(Command("重新加载"))

    assert outbox.texts_to(OWNER) == [
        "配置有误, 仍使用原配置: the label table has 10 names but the model 1000 classes"
    ]


def test_the_bots_own_answers_coming_back_are_not_commands() -> None:
    controls = FakeControls(status="状态: 运行中\n图片: 已处理 3")
    desk, outbox = desk_with(controls)
    for command in ("pause", "status", "hello"):
        desk.handle(Command(command))
    answers = outbox.texts_to(OWNER)

    for answer in answers:  # WeChat shows the bot's messages in the file helper too
        desk.handle(Command(answer))

    assert outbox.texts_to(OWNER) == answers
    assert controls.paused == [True]


def test_audit_lines_in_the_file_helper_are_not_commands() -> None:
    desk, outbox = desk_with(FakeControls())
    desk.handle(Command("[2024-06-03 12:00:00] 家庭群 @小明: 一张图片 → 猫 90.0%"))
    desk.handle(Command("  [2024-06-03 12:00:01] 私聊 @小红: 一张图片 → 未处理 (忙)"))
    desk.handle(Command("   "))

    assert outbox.posts == []


def test_the_same_command_twice_is_answered_twice() -> None:
    controls = FakeControls()
    desk, outbox = desk_with(controls)
    desk.handle(Command("pause"))
    desk.handle(Command("pause"))

    assert controls.paused == [True, True]
    assert outbox.texts_to(OWNER) == [PAUSED, PAUSED]


def test_status_text_counts_everything_but_ignored_as_handled() -> None:
    counts = {"replied": 5, "low_confidence": 2, "failed": 1, "shed": 1, "ignored": 7}
    text = status_text(
        counts, paused=True, uptime_s=5400.0, serving_ok=False, groups=("家庭群", "工作群")
    )

    assert text == (
        "状态: 已暂停, 已运行 1.5 小时\n"
        "图片: 已处理 9, 回复 5, 不确定 2, 失败 1, 丢弃 1, 忽略 7\n"
        "识图服务: 无响应\n"
        "群: 家庭群, 工作群"
    )


@pytest.mark.parametrize("text", ["forget 小明", "删除 小明", "Forget  小明"])
def test_forget_deletes_one_persons_rows_and_says_how_many(text: str) -> None:
    controls = FakeControls()
    desk, outbox = desk_with(controls)
    desk.handle(Command(text))

    assert controls.forgotten == ["小明"]
    assert outbox.texts_to(OWNER) == ["已删除 小明 的 3 条记录"]


def test_forget_that_fails_tells_the_owner_why_not_a_count() -> None:
    controls = FakeControls()
    controls.forget_error = LocalError("the audit log x cannot be written (database is locked)")
    desk, outbox = desk_with(controls)
    desk.handle(Command("forget 小明"))

    [said] = outbox.texts_to(OWNER)
    assert said.startswith("没有删除 小明 的记录:") and "database is locked" in said, said


def test_forget_without_a_name_is_no_command() -> None:
    controls = FakeControls()
    desk, outbox = desk_with(controls)
    desk.handle(Command("forget"))

    assert controls.forgotten == []
    assert outbox.texts_to(OWNER)[0].startswith("不认识的命令")
