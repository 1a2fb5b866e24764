"""The Open Inference Protocol: bytes and the bot's own time per picture, per input kind.

For a 12 MP phone photo (``bench.photos.LARGE``), through the real ``PhotoPreparer`` and
``V2Client.encode`` against the v2 stand-in (``tests/fakes/v2``), one thread on one core:

- BYTES JPEG through the binary extension (Triton, OpenVINO, KServe), BYTES JPEG as base64 in
  JSON (MLServer), an FP32 224×224 NCHW tensor binary (Triton) and as JSON ``data`` (MLServer);
- the bot's time outside the model: prepare + encode + reading the server's answer;
- the answer's bytes for a 1,001-class model with all scores, binary and JSON, and with
  Triton's classification extension (the top five as ``score:index``).
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import requests

from bench.common import Row, Section, kb, one_core, summary_ms, time_calls
from bench.photos import LARGE, photo_jpeg
from bot.adapters.imaging import PhotoPreparer
from bot.adapters.v2 import V2Client, wire
from bot.core.settings import ImagesConfig, ServingConfig
from tests.fakes.v2 import FakeV2, V2Model

MODELS = [V2Model("resnet"), V2Model("fp32", kind="fp32", layout="NCHW")]
CASES = (  # (label, flavour, model, scores)
    ("BYTES JPEG, binary extension (Triton)", "triton", "resnet", "logits"),
    ("BYTES JPEG, base64 JSON (MLServer)", "mlserver", "resnet", "logits"),
    ("FP32 224×224 NCHW, binary (Triton)", "triton", "fp32", "logits"),
    ("FP32 224×224 NCHW, JSON data (MLServer)", "mlserver", "fp32", "logits"),
    ("BYTES JPEG + classification extension (Triton)", "triton", "resnet", "probabilities"),
)


def _client(url: str, model: str, scores: str) -> V2Client:
    settings = ServingConfig(url=url, model=model, scores=scores, value_range="0_1")
    return V2Client(settings, session=requests.Session(), sleep=time.sleep)


def _bot_time(client: V2Client, prepare: PhotoPreparer, data: bytes, answer: Any) -> None:
    body, headers = client.encode(prepare(data))
    wire.read_answer(answer.content, answer.headers, "bench")
    assert body and headers


def _case(
    label: str, flavour: str, model: str, scores: str, data: bytes, runs: int
) -> dict[str, Any]:
    with FakeV2(MODELS, flavour=flavour) as srv:  # type: ignore[arg-type]
        client = _client(srv.url, model, scores)
        prepare = PhotoPreparer(client.model_info().input, ImagesConfig())
        body, headers = client.encode(prepare(data))
        answer = requests.post(
            f"{srv.url}/v2/models/{model}/infer", data=body, headers=headers, timeout=60
        )
        answer.raise_for_status()
        with one_core():
            took = summary_ms(time_calls(partial(_bot_time, client, prepare, data, answer), runs))
    return {"label": label, "body": len(body), "answer": len(answer.content), **took}


def run(*, quick: bool) -> Section:
    runs = 6 if quick else 20
    data = photo_jpeg(LARGE, 0)
    results = [_case(*case, data, runs) for case in CASES]
    sec = "v2 12 MP"
    rows = [Row(sec, "photo (4032×3024 JPEG)", kb(len(data)))]
    jpeg_body = results[0]["body"]
    for r in results:
        rows.append(
            Row(
                sec,
                f"{r['label']}: body / answer",
                f"{kb(r['body'])} ({r['body'] / jpeg_body:.1f}× the raw JPEG's) / "
                f"{kb(r['answer'])}",
                value=float(r["body"]),
            )
        )
        rows.append(
            Row(
                sec,
                f"{r['label']}: bot per picture (median / p95)",
                f"{r['median_ms']:.0f} / {r['p95_ms']:.0f} ms",
                value=r["median_ms"],
            )
        )
    return Section("v2", rows, {"runs": runs, "photo_bytes": len(data), "cases": results})
