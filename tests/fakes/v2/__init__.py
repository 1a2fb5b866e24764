"""An Open Inference Protocol (KServe "v2" REST) stand-in on 127.0.0.1, written from the spec
(KServe ``docs/predict-api/v2/required_api.md``; Triton's ``extension_binary_data.md`` and
``extension_classification.md``) and from the four servers' sources; docs/v2-protocol.md has
the facts and where each comes from. Checked with NVIDIA's ``tritonclient`` HTTP client
(tests/standins/test_v2_standin.py).

The "model" is the TF Serving stand-in's: the class is a function of the picture's mean colour
(``tests.fakes.tfserving.image_for_class`` makes a photo of any class), through a BYTES JPEG
input or an FP32/UINT8 tensor, NHWC or NCHW. Flavours answer as the real servers do:

* ``triton``: binary tensor data and classification extensions (listed in ``GET /v2``); a
  BYTES element in JSON is the string's UTF-8 bytes (no base64); errors ``{"error"}`` with
  Triton's texts and codes (unknown model 400, unknown version / loading 404);
* ``mlserver``: JSON only (FastAPI: a binary body is a 422 ``{"detail"}``); BYTES decoded by
  MLServer's base64 codec (``"parameters": {"content_type": "base64"}``, also the runtime's
  default); ``versions`` is a free-form list; no classification;
* ``kserve``: KServe's Python ModelServer: binary tensors only with a non-JSON Content-Type,
  a binary BYTES element must be UTF-8 text ("Failed to encode", 500); the model decodes
  base64 text itself; any ``/versions/`` path is 501; metadata ``versions`` is null;
* ``ovms``: OpenVINO Model Server: binary tensors (not listed: its ``GET /v2`` has no
  ``extensions``), BYTES sent to a 4-D input are decoded as JPEG/PNG; no classification.

::

    with FakeV2([V2Model("resnet"), V2Model("nchw", kind="fp32", layout="NCHW")]) as srv:
        srv.url                       # http://127.0.0.1:<port>
        srv.models[0].ready = False   # knobs are read on every request
        srv.fail_next(503, "busy")    # or drop_next(); delay_s; token; restricted
        srv.requests                  # RecordedV2: method, path, headers, body_bytes, doc, ...
"""

from tests.fakes.v2.flavours import FLAVOURS, Flavour
from tests.fakes.v2.model import V2Model
from tests.fakes.v2.request import HEADER_LENGTH
from tests.fakes.v2.server import FakeV2, RecordedV2

__all__ = ["FLAVOURS", "HEADER_LENGTH", "FakeV2", "Flavour", "RecordedV2", "V2Model"]
