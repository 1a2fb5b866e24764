"""The WeCom (企业微信) AI-bot transport over its long connection: the only package that imports
the WeCom SDK (``wecom-aibot-python-sdk``, ``aibot``).

    settings    ``[wecom]`` (``WeComConfig``) and the core's view of it
    transport   the registry entry: read, build, check
    messages    callback frames -> ``Inbound`` (translated once, at the border)
    link        the SDK in its own thread and event loop: connect, reconnect, how it ended
    backoff     when to connect again and when to give up (grows across short connections)
    words       the extra CA, the SDK logger, which refusals are final, the failure messages
    media       a picture's encrypted file: streamed against max_bytes, decrypted by the SDK
    replies     reply handles and the SDK calls for a text, a picture, a proactive message
    chat        ``WeComChat``, the ``Chat`` port: pictures, hints, owner commands, replies
"""
