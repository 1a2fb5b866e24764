"""Seed 000's 299×299 model: bytes and time per picture, float JSON tensor vs base64 text.

Two servables on the TF Serving stand-in, both seed 000's "AIDog" shape (120 classes, output
``prediction``): ``aidog`` takes web-safe base64 TEXT of the picture as one scalar string (the
graph decodes it), ``aidog_float`` the (-1, 299, 299, 3) float tensor in [0, 1] that the
article's first version took. Per photo (a phone photo, 1080×1440 and, unless --quick,
4032×3024), in one thread pinned to one core:

- bytes of the request body the bot sends (``[serving] input = "tensor"`` rounds to 4 decimals
  with compact separators; ``"base64_text"`` sends the picture shrunk to 320 px, JPEG q95);
- the bot's time from downloaded bytes to request body (decode, shrink/resize, encode);
- the round trip through the stand-in (its JSON parsing is Python's, far slower than TF
  Serving's rapidjson: read it as an upper bound, not as TF Serving's figure);
- for reference, the article's own float body (``json.dumps`` of float64 values /255).
"""

from __future__ import annotations

import io
import time
from functools import partial
from typing import Any

import numpy as np
import requests
from PIL import Image

from bench.common import Row, Section, kb, one_core, summary_ms, time_calls
from bench.photos import LARGE, SMALL, PhotoSize, photo_jpeg, seed_float_body
from bot.adapters.imaging import PhotoPreparer
from bot.adapters.tfserving import TFServingClient
from bot.core.settings import ImagesConfig, ServingConfig
from tests.fakes.tfserving import FakeTFServing, seed000_spec

NAME = "seedmodel"
MODES = {"float JSON tensor": ("aidog_float", "tensor"), "base64 text": ("aidog", "base64_text")}


def _client(url: str, model: str, mode: str) -> tuple[TFServingClient, PhotoPreparer]:
    settings = ServingConfig(url=url, model=model, input=mode, timeout_s=120.0)
    client = TFServingClient(settings, session=requests.Session(), sleep=time.sleep)
    return client, PhotoPreparer(client.model_info().input, ImagesConfig())


def _photo(size: PhotoSize) -> tuple[bytes, str]:
    """bench.photos' phone photo; without the bench extra (scikit-image), a synthetic one."""
    try:
        return photo_jpeg(size), "bench.photos (scikit-image base)"
    except RuntimeError:
        rng = np.random.default_rng(0)
        y, x = np.mgrid[0 : size.height, 0 : size.width]
        base = np.stack([x * 255 // size.width, y * 255 // size.height, (x + y) % 256], axis=-1)
        noisy = base + rng.normal(0, 18 * size.detail, base.shape)
        out = io.BytesIO()
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(out, "JPEG", quality=92)
        return out.getvalue(), "synthetic gradient + grain (scikit-image not installed)"


def _body(client: TFServingClient, prepare: PhotoPreparer, photo: bytes) -> bytes:
    return client.encode(prepare(photo))


def _ask(client: TFServingClient, prepare: PhotoPreparer, photo: bytes) -> object:
    return client.predict(prepare(photo))


def _argmax(values: tuple[float, ...]) -> int:
    return max(range(len(values)), key=values.__getitem__)


def _measure(url: str, size: PhotoSize, runs: int) -> tuple[list[Row], dict[str, Any]]:
    photo, origin = _photo(size)
    rows: list[Row] = []
    detail: dict[str, Any] = {"photo_bytes": len(photo), "photo": origin}
    sent: dict[str, int] = {}
    top1: dict[str, int] = {}
    for label, (model, mode) in MODES.items():
        client, prepare = _client(url, model, mode)
        body = client.encode(prepare(photo))
        sent[label] = len(body)
        with one_core():
            build = summary_ms(time_calls(partial(_body, client, prepare, photo), runs))
        ask = partial(_ask, client, prepare, photo)
        trip = summary_ms(time_calls(ask, max(2, runs // 2), warmup=1))
        top1[label] = _argmax(client.predict(prepare(photo)).probabilities)
        detail[label] = {"bytes": len(body), "build": build, "round_trip": trip}
        where = f"{size.key} photo, {label}"
        rows += [
            Row(NAME, f"{where}: bytes sent", kb(len(body)), value=float(len(body))),
            Row(
                NAME,
                f"{where}: bytes → body (bot)",
                f"{build['median_ms']:.1f} ms (p95 {build['p95_ms']:.1f})",
                value=build["median_ms"],
            ),
            Row(
                NAME,
                f"{where}: round trip (stand-in)",
                f"{trip['median_ms']:.0f} ms",
                value=trip["median_ms"],
            ),
        ]
    article = len(seed_float_body(photo))
    detail["article_float_body_bytes"] = article
    ratio = sent["float JSON tensor"] / sent["base64 text"]
    same = top1["base64 text"] == top1["float JSON tensor"]
    rows += [
        Row(NAME, f"{size.key} photo, the article's float64 JSON", kb(article), value=article),
        Row(
            NAME,
            f"{size.key} photo, base64 text vs float JSON tensor",
            f"{ratio:.0f}× fewer bytes; same top-1: {same}",
            target="≥ 10× fewer bytes",
            passed=ratio >= 10,
            value=ratio,
        ),
    ]
    detail["top1"] = top1
    return rows, detail


def run(*, quick: bool) -> Section:
    specs = [seed000_spec("aidog"), seed000_spec("aidog_float", input_kind="float")]
    rows: list[Row] = []
    detail: dict[str, Any] = {}
    with FakeTFServing(specs) as server:
        for size in (SMALL,) if quick else (SMALL, LARGE):
            found, detail[size.key] = _measure(server.url, size, 5 if quick else 15)
            rows += found
    return Section(NAME, rows, detail)


if __name__ == "__main__":
    from bench.common import render_table

    print(render_table(run(quick=True).rows))
