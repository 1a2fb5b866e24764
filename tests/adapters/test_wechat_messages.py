"""itchat message dicts -> ``Picture``: the one place that knows itchat's keys.

The dicts below are what itchat-uos 1.4.1's ``produce_msg`` hands a registered handler
(itchat/components/messages.py): web WeChat's raw fields, plus ``ActualUserName``,
``ActualNickName`` and ``IsAt`` for groups, ``User`` (itchat's own ``Chatroom`` or ``User``),
``Type``, ``FileName`` and ``Text`` (the download function). Names arrive HTML-escaped, as
web WeChat sends them.
"""

from __future__ import annotations

from typing import Any

import pytest
from itchat.storage import templates

from bot.adapters.wechat.messages import (
    UNNAMED_SENDER,
    picture_from_itchat,
    private_question,
    question_from_itchat,
)
from bot.errors import DownloadFailed

ME = "@0f5c1a2b3c4d5e6f708192a3b4c5d6e7"
ROOM = "@@9a8b7c6d5e4f30211203f4e5d6c7b8a9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3"
MEMBER = "@c3d4e5f60718293a4b5c6d7e8f901a2b"
FRIEND = "@7e6d5c4b3a2918f7e6d5c4b3a2918f7e"
MSG_ID = "1234567890123456789"
NEW_MSG_ID = 4651846021454894322
CREATED = 1717400000
JPEG = b"\xff\xd8\xff\xe0 a picture"


class FakePictureSource:
    """The ``PictureSource`` port: returns ``body`` or raises ``error``; records each ask."""

    def __init__(self, body: bytes = JPEG, error: Exception | None = None) -> None:
        self.body = body
        self.error = error
        self.asked: list[tuple[str, str]] = []

    def picture(self, new_msg_id: str, *, what: str) -> bytes:
        self.asked.append((new_msg_id, what))
        if self.error is not None:
            raise self.error
        return self.body


def no_name(user_name: str) -> str:
    return ""


def itchat_download(download_dir: Any = None) -> bytes:
    raise AssertionError("the bot downloads through its own Downloader, not msg['Text']")


def raw(**fields: Any) -> dict[str, Any]:
    """Web WeChat's fields of a picture message, as webwxsync delivers them."""
    base: dict[str, Any] = {
        "MsgId": MSG_ID,
        "FromUserName": MEMBER,
        "ToUserName": ME,
        "MsgType": 3,
        "Content": '<?xml version="1.0"?>\n<msg>\n\t<img aeskey="5f2c" length="40213" '
        'md5="a1b2c3" cdnmidheight="120" cdnmidwidth="160" />\n</msg>\n',
        "Status": 3,
        "ImgStatus": 2,
        "CreateTime": CREATED,
        "VoiceLength": 0,
        "PlayLength": 0,
        "FileName": "240603-151320.png",
        "FileSize": "",
        "MediaId": "",
        "Url": "",
        "AppMsgType": 0,
        "StatusNotifyCode": 0,
        "StatusNotifyUserName": "",
        "RecommendInfo": {
            "UserName": "",
            "NickName": "",
            "QQNum": 0,
            "Province": "",
            "City": "",
            "Content": "",
            "Signature": "",
            "Alias": "",
            "Scene": 0,
            "VerifyFlag": 0,
            "AttrStatus": 0,
            "Sex": 0,
            "Ticket": "",
            "OpCode": 0,
        },
        "ForwardFlag": 0,
        "AppInfo": {"AppID": "", "Type": 0},
        "HasProductId": 0,
        "Ticket": "",
        "ImgHeight": 120,
        "ImgWidth": 160,
        "SubMsgType": 0,
        "NewMsgId": NEW_MSG_ID,
        "OriContent": "",
        "EncryFileName": "",
        "Type": "Picture",
        "Text": itchat_download,
    }
    base.update(fields)
    return base


def room(nick_name: str = "家庭群", members: list[dict[str, Any]] | None = None) -> Any:
    return templates.Chatroom(
        {
            "UserName": ROOM,
            "NickName": nick_name,
            "MemberCount": 3,
            "MemberList": members or [],
            "Self": {"UserName": ME, "NickName": "识图机器人", "DisplayName": ""},
        }
    )


def friend(nick_name: str = "Ming", remark_name: str = "") -> Any:
    return templates.User(
        {
            "UserName": FRIEND,
            "NickName": nick_name,
            "RemarkName": remark_name,
            "ContactFlag": 3,
            "Sex": 1,
        }
    )


def group_picture(**fields: Any) -> dict[str, Any]:
    """A picture a member posted to a group (itchat split ``MEMBER:<br/>`` off the content)."""
    msg = raw(FromUserName=ROOM, ToUserName=ME)
    msg.update(ActualUserName=MEMBER, ActualNickName="小明", IsAt=False, User=room())
    msg.update(fields)
    return msg


def private_picture(**fields: Any) -> dict[str, Any]:
    msg = raw(FromUserName=FRIEND, ToUserName=ME, User=friend())
    msg.update(fields)
    return msg


def translate(
    msg: dict[str, Any], source: FakePictureSource | None = None, name_of: Any = no_name
) -> Any:
    return picture_from_itchat(msg, me=ME, source=source or FakePictureSource(), name_of=name_of)


# -- groups -----------------------------------------------------------------------------------
def test_group_picture_names_the_group_and_the_member_who_sent_it() -> None:
    pic = translate(group_picture())

    assert (pic.msg_id, pic.chat_id, pic.chat_name, pic.sender) == (MSG_ID, ROOM, "家庭群", "小明")
    assert (pic.is_group, pic.is_sticker, pic.from_self) == (True, False, False)
    assert (pic.created_at, pic.answer_to) == (float(CREATED), ROOM)


def test_group_picture_is_fetched_by_its_new_msg_id() -> None:
    source = FakePictureSource()
    pic = translate(group_picture(), source)
    assert source.asked == []  # nothing is downloaded until a worker asks

    assert pic.fetch() == JPEG
    assert source.asked == [(str(NEW_MSG_ID), f"picture {MSG_ID}")]


def test_own_picture_sent_from_the_phone_to_a_group_is_from_self() -> None:
    # itchat: FromUserName is the account itself, so ActualUserName is too
    msg = group_picture(FromUserName=ME, ToUserName=ROOM, ActualUserName=ME)
    msg["ActualNickName"] = "识图机器人"
    pic = translate(msg)

    assert (pic.chat_id, pic.from_self, pic.is_group) == (ROOM, True, True)


def test_member_itchat_could_not_name_is_named_from_the_room_member_list() -> None:
    members = [{"UserName": MEMBER, "NickName": "Xiao Ming", "DisplayName": "小明(群名片)"}]
    pic = translate(group_picture(ActualNickName="", User=room(members=members)))

    assert pic.sender == "小明(群名片)"


def test_member_missing_from_the_room_is_named_by_name_of() -> None:
    asked: list[str] = []

    def name_of(user_name: str) -> str:
        asked.append(user_name)
        return "小明"

    pic = translate(group_picture(ActualNickName=""), name_of=name_of)

    assert (pic.sender, asked) == ("小明", [MEMBER])


def test_sender_with_no_name_anywhere_is_called_a_friend() -> None:
    pic = translate(group_picture(ActualNickName=""))

    assert pic.sender == UNNAMED_SENDER


# -- private chats ----------------------------------------------------------------------------
def test_private_picture_sender_is_the_remark_name_the_owner_gave() -> None:
    pic = translate(private_picture(User=friend("Ming", remark_name="小明(同事)")))

    assert (pic.chat_id, pic.chat_name, pic.sender) == (FRIEND, "Ming", "小明(同事)")
    assert (pic.is_group, pic.from_self) == (False, False)


def test_private_picture_without_a_remark_name_is_from_the_nickname() -> None:
    pic = translate(private_picture())

    assert pic.sender == "Ming"


def test_own_picture_sent_from_the_phone_to_a_friend_is_from_self() -> None:
    pic = translate(private_picture(FromUserName=ME, ToUserName=FRIEND))

    assert (pic.chat_id, pic.from_self, pic.is_group) == (FRIEND, True, False)


# -- kinds of message -------------------------------------------------------------------------
def test_sticker_is_marked_as_a_sticker() -> None:
    pic = translate(group_picture(MsgType=47, FileName="240603-151320.gif"))

    assert pic.is_sticker is True


def test_app_sticker_is_marked_as_a_sticker() -> None:
    # itchat makes MsgType 49 with AppMsgType 8 a Picture too
    pic = translate(group_picture(MsgType=49, AppMsgType=8, FileName="240603-151320.gif"))

    assert pic.is_sticker is True


@pytest.mark.parametrize(
    ("type_", "msg_type"),
    [("Text", 1), ("Recording", 34), ("Video", 43), ("Sharing", 49), ("Note", 10000)],
)
def test_messages_that_are_no_pictures_are_not_translated(type_: str, msg_type: int) -> None:
    assert translate(group_picture(Type=type_, MsgType=msg_type, Text="hello")) is None


def test_html_escaped_names_are_unescaped() -> None:
    msg = group_picture(
        ActualNickName="&lt;b&gt;小明&lt;/b&gt; &amp; Co", User=room("Tom &amp; Jerry&#39;s 群")
    )
    pic = translate(msg)

    assert (pic.chat_name, pic.sender) == ("Tom & Jerry's 群", "<b>小明</b> & Co")


# -- downloads --------------------------------------------------------------------------------
def test_download_failure_reaches_the_worker_as_download_failed() -> None:
    failed = DownloadFailed(f"WeChat did not deliver picture {MSG_ID} (ConnectionError)")
    pic = translate(group_picture(), FakePictureSource(error=failed))

    with pytest.raises(DownloadFailed) as raised:
        pic.fetch()
    assert raised.value is failed


def group_text(text: str, *, is_at: bool) -> dict[str, Any]:
    """A group text as itchat hands it: ``IsAt`` set when it @-mentions this account."""
    return raw(
        MsgType=1,
        Type="Text",
        Text=text,
        Content=text,
        FromUserName=ROOM,
        ActualUserName=MEMBER,
        ActualNickName="小明",
        IsAt=is_at,
        User=room(),
    )


def test_a_group_text_that_mentions_the_account_is_a_question() -> None:
    question = question_from_itchat(
        group_text("@识图机器人\u2005这是什么品种?", is_at=True),
        me=ME,
        my_names=("识图机器人",),
        name_of=no_name,
    )

    assert question is not None
    assert (question.chat_id, question.chat_name, question.sender, question.sender_id) == (
        ROOM,
        "家庭群",
        "小明",
        MEMBER,
    )
    assert (question.text, question.msg_id, question.created_at, question.quotes) == (
        "这是什么品种?",  # the bot's own mention is no part of the question
        MSG_ID,
        float(CREATED),
        None,
    )


def test_a_group_text_without_a_mention_is_no_question() -> None:
    text = group_text("大家好", is_at=False)
    assert question_from_itchat(text, me=ME, my_names=("识图机器人",), name_of=no_name) is None


QUOTE_XML = (
    '<?xml version="1.0"?>\n<msg>\n<appmsg appid="" sdkver="0"><title>@识图机器人\u2005这只狗'
    "是什么品种?</title><des></des><type>57</type><url></url><refermsg><type>3</type>"
    "<svrid>4651846021454894322</svrid><fromusr>@@room</fromusr><chatusr>wxid_a</chatusr>"
    "<displayname>小红</displayname><content>&lt;msg&gt;&lt;img /&gt;&lt;/msg&gt;</content>"
    "</refermsg></appmsg><fromusername>wxid_b</fromusername></msg>"
)


def test_a_quote_that_mentions_the_account_asks_about_the_quoted_message() -> None:
    msg = raw(
        MsgType=49,
        AppMsgType=57,
        Type="Sharing",
        Text="",
        Content=QUOTE_XML,
        FromUserName=ROOM,
        ActualUserName=MEMBER,
        ActualNickName="小明",
        IsAt=True,
        User=room(),
    )
    question = question_from_itchat(msg, me=ME, my_names=("识图机器人",), name_of=no_name)

    assert question is not None
    assert (question.text, question.quotes) == ("这只狗是什么品种?", "4651846021454894322")


def test_a_picture_can_be_quoted_by_its_new_msg_id() -> None:
    pic = picture_from_itchat(
        raw(FromUserName=ROOM, ActualUserName=MEMBER, User=room()),
        me=ME,
        source=FakePictureSource(),
        name_of=no_name,
    )
    assert pic is not None and pic.ref_ids == (str(NEW_MSG_ID),)


def test_a_millisecond_create_time_is_read_as_milliseconds() -> None:
    pic = picture_from_itchat(
        raw(CreateTime=CREATED * 1000, FromUserName=ROOM, ActualUserName=MEMBER, User=room()),
        me=ME,
        source=FakePictureSource(),
        name_of=no_name,
    )
    assert pic is not None and pic.created_at == float(CREATED)


def test_two_pictures_without_a_msg_id_are_two_pictures() -> None:
    found = [
        picture_from_itchat(
            raw(MsgId="", NewMsgId=0, FromUserName=ROOM, ActualUserName=MEMBER, User=room()),
            me=ME,
            source=FakePictureSource(),
            name_of=no_name,
        )
        for _ in range(2)
    ]
    ids = [pic.msg_id for pic in found if pic is not None]
    assert len(set(ids)) == 2 and all(i.startswith("no-msgid-") for i in ids)


def test_a_friends_private_text_is_a_question_and_the_bots_own_is_not() -> None:
    friend = templates.User({"UserName": FRIEND, "NickName": "老同学", "RemarkName": "小明"})
    msg = raw(MsgType=1, Type="Text", Text="这是什么?", FromUserName=FRIEND, User=friend)

    question = private_question(msg, me=ME)
    assert question is not None
    assert (question.chat_id, question.sender, question.is_group, question.text) == (
        FRIEND,
        "小明",
        False,
        "这是什么?",
    )
    assert private_question({**msg, "FromUserName": ME}, me=ME) is None
