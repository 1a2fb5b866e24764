"""A local Web WeChat server that the real, unmodified ``itchat`` (itchat-uos 1.4.1) logs into.

Use::

    import itchat
    from tests.fakes.wechat_sim import WeChatSimulator

    with WeChatSimulator() as sim:
        room = sim.add_group("我们一家", ["小明", "小红"])
        itchat.config.BASE_URL = sim.url          # before auto_login; it is a module global
        core = itchat.new_instance()
        core.auto_login(hotReload=True, statusStorageDir=str(tmp / "itchat.pkl"),
                        enableCmdQR=False, qrCallback=on_qr,
                        loginCallback=on_login, exitCallback=on_exit)
        core.run(blockThread=False)
        sim.post_picture("我们一家", "小明", jpeg_bytes)
        sim.wait_for_sent(lambda s: s.to_nickname == "我们一家")

Pointing itchat at the simulator
    itchat-uos reads ``itchat.config.BASE_URL`` (default ``https://login.weixin.qq.com``) at call
    time, in four places only: the connectivity test of ``auto_login`` (a plain ``requests.get``),
    ``webwxpushloginurl`` (hot-reload fallback), ``/jslogin`` and the ``/cgi-bin/mmwebwx-bin/login``
    poll. Everything after the scan uses ``core.loginInfo['url']``, which is the ``redirect_uri``
    the poll returns cut at its last ``/``: this simulator answers
    ``http://127.0.0.1:PORT/cgi-bin/mmwebwx-bin/webwxnewloginpage?ticket=..&uuid=..&lang=zh_CN&scan=..``
    so every later request (``fileUrl`` and ``syncUrl`` too, because the host contains neither
    ``qq.com`` nor ``wechat.com``) comes here. ``BASE_URL`` is shared by every ``new_instance()``;
    set it before ``auto_login`` (every call: the connectivity test runs even for a hot reload)
    and keep it set. A hot reload whose session is still valid then talks to the URL saved in the
    pickle (``loginInfo['url']``); only its push-login fallback uses ``BASE_URL`` again.

What itchat-uos 1.4.1 does (checked against this server by tests/test_wechat_sim.py)
    * Login: ``GET BASE_URL`` (5 tries, no timeout) -> hot reload (see below) -> ``/jslogin``
      (``redirect_uri=...webwxnewloginpage?mod=desktop``) -> QR PNG handed to
      ``qrCallback(uuid=, status='0', qrcode=png)`` -> poll ``/login`` (``qrCallback`` again after
      every poll with status '408'/'201'/'200' and the same PNG) -> ``GET redirect_uri`` with
      the UOS headers ``client-version: 2.0.0``, ``extspam``, ``referer``, no redirects ->
      ``webwxinit`` -> ``webwxstatusnotify`` -> ``webwxgetcontact`` -> ``loginCallback()`` -> the
      receive thread starts -> with hotReload the pickle is written. itchat-uos does NOT parse the
      XML of the login page: it reads ``wxsid``/``wxuin`` from the cookies, sets ``skey`` to ""
      and ``pass_ticket`` to its random DeviceID. ``auto_login`` returns None in every case:
      success means ``core.alive`` is True afterwards (or ``loginCallback`` ran).
    * Nobody scans: the poll loop has no deadline. 408 repeats forever; an expired QR (400) makes
      itchat fetch a new one (``qrCallback`` status '0' again) and go on. The only way out is to
      raise from ``qrCallback`` (called after every poll): the exception leaves ``auto_login``
      and the instance keeps ``isLogging = True``.
    * 1203 (``sim.login_ret = 1203``) and a missing wxsid (``sim.omit_wxsid = True``) look the
      same to itchat-uos: ``cookies["wxsid"]`` raises ``KeyError('wxsid')``, which propagates out of
      ``auto_login()``/``login()`` (no error log, no callback, no pickle). The XML message is never
      read (the 201 poll logs "Please press confirm on your phone.", nothing after). The
      instance is left with ``isLogging = True``: a second ``login()`` on it only logs
      "itchat has already logged in." and returns None, and ``auto_login(hotReload=True)`` would
      then pickle an empty session. Detect: ``except KeyError as e: if e.args == ('wxsid',)`` ->
      "WeChat refused the web login"; use a NEW instance to retry. The last ``qrCallback`` status
      seen is '201' ('200' is never reported).
    * Unreachable ``BASE_URL``: ``auto_login`` calls ``sys.exit()`` after 5 failed ``requests.get``
      (no timeout: a black-holed address costs the OS connect timeout, ~2 min on Linux, per
      try): ``SystemExit`` with code None, after an
      ERROR log with the traceback and an INFO "You can't get access to internet or wechat domain,
      so exit.". Catch ``SystemExit`` around ``auto_login`` (or probe the URL yourself first).
    * Server logout (``sim.logout(1100|1101|1102)``): the next ``synccheck`` returns that retcode;
      the receive thread sets ``alive = False``, calls ``core.logout()`` (no ``webwxlogout``
      request, since alive is already False; cookies and contact lists are cleared) and then
      ``exitCallback()`` with no arguments. Queued but unhandled messages are lost. The retcode is
      only visible as a DEBUG record of logger ``itchat``: ``Unexpected sync check result:
      window.synccheck={retcode:"1102",selector:"0"}``; all retcodes behave the same.
    * ``core.logout()`` by the caller while alive: ``GET webwxlogout`` (this server then ends the
      session and wakes the held synccheck), then the receive thread ends and ALSO calls
      ``exitCallback()``.
    * The receive thread (``Thread-N (maintain_loop)``, daemon) exits after more than
      ``core.receivingRetryCount`` (5) consecutive errors (HTTP errors, bad JSON), sleeping 1 s
      after each; a ``requests`` ReadTimeout is ignored; a connection closed without an answer
      (``drop_connections``) counts as "new messages" (itchat maps ``BadStatusLine`` to selector 2)
      and is not an error.
    * ``core.run(blockThread=True)`` runs handlers in the calling thread until ``alive`` is False;
      ``blockThread=False`` starts ``Thread-N (reply_fn)`` (daemon). Handlers run one at a time;
      the loop polls the queue with a 1 s timeout, so it stops at most 1 s after ``alive`` drops.
      Ctrl-C in a blocking ``run`` re-dumps the pickle (the only re-dump itchat does).
    * Hot reload (``auto_login(hotReload=True)`` with an existing pickle of the same itchat
      VERSION): restore loginInfo and cookies, then ONE ``webwxsync`` with the SAVED SyncKey. If it
      answers Ret 0, the returned AddMsgList (messages newer than the saved SyncKey) is queued
      again, the receive thread starts, then ``loginCallback`` runs (after the thread, unlike a
      QR login), no QR, no ``webwxinit``, and ``qrCallback`` is never called. Because the pickle
      is only written right after the QR login, a restarted bot is replayed every message since
      that login (call ``core.dump_login_status()`` after handling to avoid it, or deduplicate
      by MsgId).
      If ``webwxsync`` fails (e.g. after a 1101/1102 logout), itchat rebuilds the cookies
      ``wxuin``, ``webwxuvid``, ``webwx_auth_ticket``, ``wxloadtime`` from the pickle and calls
      ``webwxpushloginurl?uin=``: this server answers a uuid (the phone is asked to confirm, which
      happens after ``auto_scan_after_s``); ``qrCallback`` is then called with ``qrcode=b''`` and
      statuses '201'/'200' (with a real phone: '408' until someone taps confirm, and no QR to
      show: delete the pickle to get a QR instead); it is a fresh login: new ``@``/``@@`` ids,
      ``webwxinit``, new pickle.
    * Sending: ``core.send(text, toUserName)`` returns an ``itchat.returnvalues.ReturnValue``
      (a dict) that is falsy when ``BaseResponse.Ret != 0`` (``sim.send_ret``); no exception.
    * Downloads: ``msg.download(None)`` / ``msg['Text']()`` return the body whatever the HTTP status
      (404 -> the HTML error page; ``image_body_override=b""`` -> ``b""``). No timeouts anywhere
      except synccheck/webwxsync (10 s connect, 60 s read).
    * Importing itchat writes "\\u2588\\r" to stdout; ``setDaemon`` gives DeprecationWarnings.

Protocol emulated here
    User ids are ``@`` + 32 lowercase hex digits, rooms ``@@`` + 64. They change at every fresh
    login (the first login keeps the ids returned before it); a hot reload keeps them. A fresh
    login ends every other live session (their synccheck answers 1101). The message stream is one
    counter: ``webwxinit`` answers the current value as SyncKey (Key 1); ``webwxsync`` returns every
    message with a sequence number above the client's SyncKey; ``synccheck`` holds up to
    ``synccheck_hold_s`` and answers selector 2 as soon as such a message exists. The login poll
    holds up to ``login_poll_hold_s`` (408) until ``auto_scan_after_s`` after the jslogin, then 201
    once, then 200. Also served: ``webwxbatchgetcontact`` (group members, including the bot),
    ``webwxgetmsgimg``, ``webwxsendmsg``, ``webwxuploadmedia`` + ``webwxsendmsgimg`` /
    ``webwxsendemoticon`` / ``webwxsendappmsg`` / ``webwxsendvideomsg`` (recorded with
    ``media``), ``webwxrevokemsg``, ``webwxgeticon``/``webwxgetheadimg``, ``webwxlogout``.

Run ``python -m tests.fakes.wechat_sim`` for a simulator with the group 我们一家
(小明, 小红) in which 小明 posts a generated JPEG every 5 s.
"""

from tests.fakes.wechat_sim.cli import main as main
from tests.fakes.wechat_sim.models import API as API
from tests.fakes.wechat_sim.models import MISSING as MISSING
from tests.fakes.wechat_sim.models import MSG_1203 as MSG_1203
from tests.fakes.wechat_sim.models import Json as Json
from tests.fakes.wechat_sim.models import SentMessage
from tests.fakes.wechat_sim.models import image_size as image_size
from tests.fakes.wechat_sim.server import WeChatSimulator

__all__ = ["SentMessage", "WeChatSimulator"]
