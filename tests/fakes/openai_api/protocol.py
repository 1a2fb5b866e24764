"""Reading a ``POST /v1/chat/completions`` body, checked as a real server checks it.

The order is a server's: the body's shape first (400), then the model (404), then a text-only
model's refusal of images (400), then the images themselves (400). Whatever could be read is
kept even when the request is refused, so a test can see what the bot sent.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
from collections.abc import Collection
from dataclasses import dataclass, field

from PIL import Image, UnidentifiedImageError

from tests.fakes.openai_api import errors
from tests.fakes.openai_api.errors import ApiError

_DATA_URL = re.compile(r"data:(image/[A-Za-z0-9.+-]+);base64,(.*)", re.DOTALL)
_MIMES = {
    "image/jpeg": "JPEG",
    "image/jpg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WEBP",
    "image/gif": "GIF",
}
_UNSUPPORTED = (
    "You uploaded an unsupported image. Please make sure your image has one of the following "
    "formats: ['png', 'jpeg', 'gif', 'webp']."
)


@dataclass
class SentImage:
    """One ``image_url`` part: its data URL's MIME type and, once decoded, what Pillow saw."""

    mime: str
    data: bytes
    width: int | None = None
    height: int | None = None
    format: str | None = None


@dataclass
class ChatBody:
    """The fields of a chat request that the stand-in looks at."""

    model: str | None = None
    question: str | None = None
    system: str | None = None
    images: list[SentImage] = field(default_factory=list)
    stream: bool = False
    include_usage: bool = False
    max_tokens: int | None = None
    text_chars: int = 0


class _Refused(Exception):
    def __init__(self, error: ApiError) -> None:
        super().__init__(error.message)
        self.error = error


def read_chat(
    raw: bytes, models: Collection[str], *, text_only: bool
) -> tuple[ChatBody, ApiError | None]:
    """The request's fields, and the error a server would answer (None: it is fine)."""
    body = ChatBody()
    try:
        doc = _json_object(raw)
        _read_options(doc, body)
        _read_messages(doc.get("messages"), body)
    except _Refused as refused:
        return body, refused.error
    undecodable = [image for image in body.images if not _decode(image)]
    if body.model not in models:
        return body, errors.model_not_found(str(body.model))
    if body.images and text_only:
        return body, errors.not_multimodal(str(body.model))
    if undecodable:
        return body, errors.bad_request(_UNSUPPORTED, code="invalid_image_format")
    return body, None


def _json_object(raw: bytes) -> dict[str, object]:
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _Refused(
            errors.bad_request(
                "We could not parse the JSON body of your request. (HINT: This likely means "
                "you aren't using your HTTP library correctly.)"
            )
        ) from None
    if not isinstance(doc, dict):
        raise _Refused(errors.bad_request(f"{_short(doc)} is not of type 'object'"))
    return doc


def _read_options(doc: dict[str, object], body: ChatBody) -> None:
    model = doc.get("model")
    if not isinstance(model, str) or not model:
        raise _Refused(errors.bad_request("you must provide a model parameter", param="model"))
    body.model = model
    stream = doc.get("stream", False)
    if not isinstance(stream, bool) and stream is not None:
        raise _Refused(errors.bad_request(f"{_short(stream)} is not of type 'boolean' - 'stream'"))
    body.stream = bool(stream)
    options = doc.get("stream_options")
    if isinstance(options, dict):
        body.include_usage = options.get("include_usage") is True
    limit = doc.get("max_tokens", doc.get("max_completion_tokens"))
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise _Refused(
                errors.bad_request(
                    f"{_short(limit)} is less than the minimum of 1", param="max_tokens"
                )
            )
        body.max_tokens = limit


def _read_messages(messages: object, body: ChatBody) -> None:
    if not isinstance(messages, list) or not messages:
        raise _Refused(
            errors.bad_request(f"{_short(messages)} is too short - 'messages'", param="messages")
        )
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise _Refused(errors.bad_request(f"Invalid 'messages[{i}]'", param=f"messages[{i}]"))
        text = _read_content(message.get("content"), body, f"messages[{i}].content")
        body.text_chars += len(text)
        if message["role"] == "system" and body.system is None:
            body.system = text
        elif message["role"] == "user":
            body.question = text


def _read_content(content: object, body: ChatBody, where: str) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _Refused(errors.bad_request(f"Invalid type for '{where}'", param=where))
    texts: list[str] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part, dict) and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "image_url" and isinstance(part, dict):
            body.images.append(_image_part(part.get("image_url"), f"{where}[{j}]"))
        else:
            message = (
                f"Invalid value: {_short(kind)}. Supported values are: 'text' and 'image_url'."
            )
            raise _Refused(errors.bad_request(message, param=f"{where}[{j}].type"))
    return "\n".join(texts)


def _image_part(image_url: object, where: str) -> SentImage:
    url = image_url.get("url") if isinstance(image_url, dict) else None
    if not isinstance(url, str):
        raise _Refused(errors.bad_request(f"Missing required parameter: '{where}.image_url.url'"))
    match = _DATA_URL.fullmatch(url)
    if match is None:
        # Real servers fetch http(s) URLs; this one is offline and takes data: URLs only.
        message = "Invalid image URL: expected a base64-encoded data URL with an image MIME type"
        raise _Refused(errors.bad_request(message, param=where, code="invalid_image_url"))
    mime = match.group(1).lower()
    try:
        data = base64.b64decode(match.group(2), validate=True)
    except (binascii.Error, ValueError):
        message = "Invalid base64 image data in the image URL"
        raise _Refused(
            errors.bad_request(message, param=where, code="invalid_image_format")
        ) from None
    if mime not in _MIMES:
        raise _Refused(errors.bad_request(_UNSUPPORTED, param=where, code="invalid_image_format"))
    return SentImage(mime, data)


def _decode(image: SentImage) -> bool:
    """Open the picture as a server does (by its bytes: a PNG sent as image/jpeg is fine)."""
    try:
        with Image.open(io.BytesIO(image.data)) as pic:
            pic.load()
            image.width, image.height, image.format = pic.width, pic.height, pic.format
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return False
    return image.format in _MIMES.values()


def _short(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."
