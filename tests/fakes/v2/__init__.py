"""An Open Inference Protocol (KServe v2 REST) stand-in on 127.0.0.1, written from the spec
(kserve ``docs/predict-api/v2/required_api.md``; Triton's ``extension_binary_data.md`` and
``extension_classification.md``) and checked with the real ``tritonclient`` HTTP client.

Its "model" is the TF Serving stand-in's: the class is a function of the picture's mean colour
(``tests.fakes.tfserving.images``), so ``image_for_class`` photos come back as their class.
Flavours copy what a real server announces and takes:

* ``triton``: ``GET /v2`` lists ``binary_tensor_data`` and ``classification``; BYTES inputs
  must come through the binary extension (JSON strings are taken as text, not decoded);
* ``mlserver``: no binary extension (a request with ``Inference-Header-Content-Length`` is
  refused), BYTES in JSON as base64 with ``"content_type": "base64"``;
* ``ovms``: binary like Triton, no classification, not listed in ``GET /v2``;
* ``kserve``: KServe 0.21's ModelServer: binary tensors, but a BYTES element in binary must be
  UTF-8 text (a JPEG fails with "Failed to encode"); base64 text in JSON is the model's to decode.

::

    with FakeV2([V2Model("resnet")], flavour="triton") as srv:
        srv.url, srv.requests          # requests: RecordedV2 (path, headers, body size, doc)
"""

from tests.fakes.v2.server import FakeV2, RecordedV2, V2Model

__all__ = ["FakeV2", "RecordedV2", "V2Model"]
