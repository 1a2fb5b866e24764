"""A local WeCom (企业微信) AI-bot long-connection server that the real, unmodified
``wecom-aibot-python-sdk`` 1.0.2 (``from aibot import WSClient``) talks to.

Use::

    from tests.fakes.wecom import WeComStandIn

    with WeComStandIn(bot_id="aibBOT", secret="s3cret") as wecom:
        # SDK 1.0.2 verifies TLS with a context built from certifi at import (aibot/ws.py:13-18,
        # aibot/api.py:10-15): add the stand-in's CA to both (or use the product's ca_file path).
        aibot.ws._SSL_CONTEXT.load_verify_locations(cafile=wecom.ca_file)
        aibot.api._SSL_CONTEXT.load_verify_locations(cafile=wecom.ca_file)
        client = WSClient(WSClientOptions(bot_id="aibBOT", secret="s3cret", ws_url=wecom.ws_url))
        ...                                    # connect in the SDK's own loop
        wecom.wait_subscribed()
        posted = wecom.post_mixed(wecom.new_chatid(), "xiaoming", None, [jpeg])
        reply = wecom.wait_reply(posted.req_id)            # aibot_respond_msg, finish=true
        reply.stream["content"]

Protocol emulated (sources in /tmp/notes/wecom.md)
    * ``wss://127.0.0.1:PORT`` (no path); the certificate is for 127.0.0.1, signed by a CA made
      with ``trustme`` at construction; ``ca_file`` is its PEM.
    * ``aibot_subscribe`` {bot_id, secret} -> ``{headers:{req_id}, errcode:0, errmsg:"ok"}``;
      wrong bot_id or secret -> errcode 853000 and the socket stays open. A successful subscribe
      while another connection is subscribed sends the old one an ``aibot_event_callback`` with
      ``event.eventtype = "disconnected_event"`` and closes it (``kick()`` does the same on demand).
    * ``ping`` -> the same ack shape. Any other request before subscribing -> 40058.
    * Pushed: ``aibot_msg_callback`` (``image``/``voice``/``file`` in single chats only, ``mixed``,
      ``text``, ``quote``) and ``aibot_event_callback``; each with a fresh ``headers.req_id``.
      Single chats carry no ``chatid``.
    * ``aibot_respond_msg`` on a callback's req_id -> ack errcode 0; ``stream.id`` required,
      ``content`` at most 20480 bytes; an update after ``stream_window_s`` (360 s) or after the
      stream finished -> 846608 "stream message update expired". Unknown req_id -> 40058.
    * ``aibot_send_msg`` {chatid, msgtype markdown|template_card} -> ack, if someone wrote to the
      bot in that chat (group chatid or userid of a single chat); otherwise 40058.
    * Media: ``https://127.0.0.1:PORT2/cos/TOKEN``, AES-256-CBC (see ``media``), per-message key;
      ``Fault.EXPIRED`` / past ``media.media_ttl_s`` -> HTTP 403, ``Fault.CORRUPT`` -> 200 with
      bytes the SDK cannot decrypt.

Errcodes other than 0, 853000 and 846608 are guesses (40058 everywhere); the real server's close
code for a kick and its answer for an expired media URL are not documented either.
"""

from tests.fakes.wecom.frames import ClientFrame, Json, Media, Posted
from tests.fakes.wecom.media import Fault, decrypt, encrypt
from tests.fakes.wecom.standin import WeComStandIn

__all__ = ["ClientFrame", "Fault", "Json", "Media", "Posted", "WeComStandIn", "decrypt", "encrypt"]
