"""Running the model: shape check, concurrency slots, classification and the predict output."""

from __future__ import annotations

import json
import threading
from collections import deque
from typing import Any, cast

from PIL import Image

from tests.fakes.tfserving.b64text import decode_base64_text_input
from tests.fakes.tfserving.errors import _invalid, _TFError
from tests.fakes.tfserving.images import _decode_image, _tensor_to_image, default_classify
from tests.fakes.tfserving.outputs import output_rows
from tests.fakes.tfserving.rjson import _PrettyWriter, _rj_string, _write_decimal
from tests.fakes.tfserving.spec import ModelSpec, _Signature
from tests.fakes.tfserving.tensors import _shape_str, _Tensor


class _ModelRunner:
    """Predict execution for :class:`FakeTFServing` (which sets the attributes below)."""

    _lock: threading.Lock
    _cond: threading.Condition
    _stop_event: threading.Event
    _images: deque[Image.Image]
    _ranges: list[tuple[float, float]]
    _in_flight: int
    peak_concurrent: int
    delay_s: float
    max_concurrent: int | None
    override_predict_json: object | None

    def _graph_shape_check(self, spec: ModelSpec, tensor: _Tensor, row: bool) -> None:
        expected = [] if spec.input_kind == "b64" else [spec.height, spec.width, 3]
        got = tensor.shape[1:]
        if len(tensor.shape) >= 1 and got == expected:
            return
        if row:
            size = 1
            for d in got:
                size *= d
            want = 1
            for d in expected:
                want *= d
            inner = (
                f"Expecting tensor size: {want} but got: {size}"
                if size != want
                else f"Expecting shape {_shape_str(expected)} but got: {_shape_str(got)}"
            )
            raise _invalid(
                f"Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: "
                f"{inner}"
            )
        raise _invalid(
            f"Expecting shape {_shape_str([-1, *expected])} but got: {_shape_str(tensor.shape)}"
        )

    def _acquire_slot(self) -> bool:
        with self._cond:
            while True:
                if self._stop_event.is_set():
                    return False
                limit = self.max_concurrent
                if limit is None or self._in_flight < limit:
                    break
                self._cond.wait(0.05)
            self._in_flight += 1
            self.peak_concurrent = max(self.peak_concurrent, self._in_flight)
            return True

    def _release_slot(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()

    def _run_model(
        self, spec: ModelSpec, signature: _Signature, tensors: dict[str, _Tensor], row: bool
    ) -> str:
        if not self._acquire_slot():
            raise _TFError("UNAVAILABLE", "Server is shutting down")
        try:
            delay = self.delay_s
            if delay > 0:
                self._stop_event.wait(delay)
            return self._compute(spec, signature, tensors, row)
        finally:
            self._release_slot()

    def _compute(
        self, spec: ModelSpec, signature: _Signature, tensors: dict[str, _Tensor], row: bool
    ) -> str:
        tensor = tensors[spec.alias] if spec.alias in tensors else next(iter(tensors.values()))
        images: list[Image.Image] = []
        ranges: list[tuple[float, float]] = []
        if spec.input_kind == "base64_text":
            images = [decode_base64_text_input(tensor.shape, tensor.values)]
        elif spec.input_kind == "b64":
            self._graph_shape_check(spec, tensor, row)
            images = [_decode_image(cast(bytes, v)) for v in tensor.values]
        else:
            self._graph_shape_check(spec, tensor, row)
            n = spec.height * spec.width * 3
            for i in range(tensor.shape[0]):
                chunk = tensor.values[i * n : (i + 1) * n]
                ranges.append((float(min(chunk)), float(max(chunk))))
                images.append(_tensor_to_image(chunk, spec.height, spec.width, spec))
        classes = classify_images(spec, images)
        with self._lock:
            self._images.extend(images)
            self._ranges.extend(ranges)

        override = self.override_predict_json
        if override is not None:
            if isinstance(override, bytes | bytearray):
                return bytes(override).decode("utf-8", "surrogateescape")
            return json.dumps(override, indent=4)

        outputs = output_rows(spec, signature, classes)
        w = _PrettyWriter()
        w.start_object()
        multi = len(outputs) > 1
        if row:
            w.key("predictions")
            w.start_array()
            for i in range(len(classes)):
                if multi:
                    w.start_object()
                w.single_line = True
                for alias, kind, per_example in outputs:
                    if multi:
                        w.key(alias)
                    self._write_example(w, kind, per_example[i])
                w.single_line = False
                if multi:
                    w.end_object()
            w.end_array()
        else:
            w.key("outputs")
            if multi:
                w.start_object()
            for alias, kind, per_example in outputs:
                if multi:
                    w.key(alias)
                w.start_array()
                for item in per_example:
                    self._write_example(w, kind, item)
                w.end_array()
            if multi:
                w.end_object()
        w.end_object()
        return w.text()

    @staticmethod
    def _write_example(w: _PrettyWriter, kind: str, item: Any) -> None:
        if kind == "int":
            w.raw(str(item))
            return
        w.start_array()
        cache: dict[Any, str] = {}
        for value in cast(list[Any], item):
            text = cache.get(value)
            if text is None:
                text = _rj_string(value) if kind == "str" else _write_decimal(value, single=True)
                cache[value] = text
            w.raw(text)
        w.end_array()


def classify_images(spec: ModelSpec, images: list[Image.Image]) -> list[int]:
    """The model's winning class for each image (``spec.classify`` or the colour-bin scheme)."""
    classes: list[int] = []
    for img in images:
        k = (
            spec.classify(img)
            if spec.classify is not None
            else default_classify(img, spec.num_classes)
        )
        if not 0 <= int(k) < spec.num_classes:
            raise _TFError("INTERNAL", f"classify() returned {k} outside 0..{spec.num_classes}")
        classes.append(int(k))
    return classes
