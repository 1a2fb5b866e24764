"""In-process fake of the TensorFlow Serving 2.20 REST API (image classifier).

Emulates the behaviour described in ``/work/shared/docs/tfserving-rest.md`` (which was checked
against ``tensorflow_serving/model_servers/http_rest_api_{handler,util}.cc``,
``util/json_tensor.cc`` and ``util/net_http/server/internal/evhttp_*.cc``):

* URL grammar (case-insensitive regexes, matched against path *and query*), ``Malformed
  request: <METHOD> <path>`` for everything else under ``/v1/``, libevent's non-JSON HTML 404
  for paths outside ``/v1/``.
* ``GET`` status (``model_version_status``, versions as strings, newest first) and metadata
  (``{"metadata": {"signature_def": {"signature_def": {...}}}}``, dims with string sizes,
  ``__saved_model_init_op`` for TF2 models, ``predict`` + ``serving_default`` for r1 exports).
* ``:predict`` in row (``instances``) and columnar (``inputs``) format with the exact JSON ->
  tensor rules and error texts of ``json_tensor.cc`` (rectangularity, dtype checks, ``b64`` only
  for ``DT_STRING``, standard-alphabet base64), the single-output collapse rule and rapidjson's
  pretty-printing (single-line arrays inside ``predictions``; floats printed like
  ``WriteDecimal``).
* Errors as ``{"error": "..."}`` with TF status -> HTTP code mapping; gzip request bodies;
  HTTP/1.1 keep-alive; TCP_NODELAY.

Model kinds (issue 11, :mod:`tests.fakes.tfserving.kinds`): seed 000's base64-text model
(``input_kind="base64_text"``: scalar web-safe base64 text, TF's ``DecodeBase64``/``DecodePng``
errors with node annotations), logits-only (``outputs="logits"``), Estimator named classes
(``outputs="classes_scores"``) and a 120-class model with its label table (``dogs120.csv``).

The "model" is deterministic: see :func:`default_classify` / :func:`image_for_class`.

The image <-> class scheme and the preprocessing that the server undoes for tensor models are
described in :mod:`tests.fakes.tfserving.images`.

Known differences from the real server
--------------------------------------
* Model ("graph") errors are fake-specific 400s: an input whose per-example shape does not match
  the signature gives ``Failed to process element: 0 of 'instances' list. Error:
  INVALID_ARGUMENT: Expecting tensor size: X but got: Y`` (or ``Expecting shape [...]``); in
  columnar form ``Expecting shape [-1,H,W,3] but got: [...]``.  Real TF Serving returns a
  model-specific TF runtime error (also 400).  Undecodable image bytes always give
  ``Unknown image file format. One of JPEG, JPEG XL, PNG, GIF, BMP, WebP required.`` (corrupt
  JPEG: ``jpeg::Uncompress failed. Invalid JPEG data or crop window.``), without TF's node
  annotations.
* JSON parse errors come from Python's ``json`` translated to rapidjson messages and byte
  offsets; exotic inputs (``Inf``/``-NaN`` tokens, lone ``\\uD800`` escapes, numbers that
  overflow a double, a UTF-8 BOM) may differ.  Echoed JSON in messages is cut at 256 bytes
  + ``...`` (the real 2.18+ truncation format was not available).
* ``instances`` that is not an array reports ``Excepting 'instances' to be an list/array``
  (spelling of json_tensor.cc; the doc paraphrases it as "Expecting").
* A version number overflowing int64 gives 400 with an *empty* body (ParseModelInfo errors are
  returned before the handler writes the error JSON).
* ``OPTIONS`` is answered 200 with an empty body.  ``:classify`` / ``:regress`` only emulate the
  failure on predict signatures.  No UNLOADING/END status entries, batching 503s or 504
  timeouts (use :meth:`FakeTFServing.fail_next`).  ``max_concurrent`` throttles ``:predict``
  only (the real worker pool serves every REST call).
"""

from tests.fakes.tfserving.b64text import tf_base64_decode
from tests.fakes.tfserving.cli import main
from tests.fakes.tfserving.images import (
    class_from_mean,
    default_classify,
    image_for_class,
    jpeg_bytes,
)
from tests.fakes.tfserving.kinds import (
    DOGS120_CSV,
    DogBreed,
    dog_breeds,
    dogs120_spec,
    logits_spec,
    named_classes_spec,
    seed000_spec,
    write_dogs120_csv,
)
from tests.fakes.tfserving.server import FakeTFServing
from tests.fakes.tfserving.spec import FaultScope as FaultScope
from tests.fakes.tfserving.spec import InputKind as InputKind
from tests.fakes.tfserving.spec import ModelSpec, RecordedRequest

__all__ = [
    "DOGS120_CSV",
    "DogBreed",
    "FakeTFServing",
    "ModelSpec",
    "RecordedRequest",
    "class_from_mean",
    "default_classify",
    "dog_breeds",
    "dogs120_spec",
    "image_for_class",
    "jpeg_bytes",
    "logits_spec",
    "main",
    "named_classes_spec",
    "seed000_spec",
    "tf_base64_decode",
    "write_dogs120_csv",
]
