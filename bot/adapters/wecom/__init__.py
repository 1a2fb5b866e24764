"""The WeCom (企业微信) AI-bot transport over its long connection: the only package that imports
the WeCom SDK (``wecom-aibot-python-sdk``, ``aibot``).

    messages    callback frames -> ``Inbound`` (translated once, at the border)
    link        the SDK in its own thread and event loop: connect, reconnect, how it ended
    words       the extra CA, the SDK logger, the reconnect policy, the failure messages
    chat        ``WeComChat``, the ``Chat`` port: pictures, hints, owner commands, replies
"""
