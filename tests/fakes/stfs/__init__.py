"""Stand-in for Simple TensorFlow Serving 0.8.2 (PyPI ``simple-tensorflow-serving``).

Written from the 0.8.2 source and checked against the real server (Flask 2.2.5, Werkzeug 2.2.3,
flask-cors 6, Python 3.11) run with a stub and with real TensorFlow 2.21; notes in
``/tmp/notes/stfs.md``.  Models are :class:`tests.fakes.tfserving.ModelSpec` s (same classes as
the TF Serving fake: a picture made for class k is class k here too).

What it answers
---------------
* ``POST /`` JSON ``{"model_name": "default", "model_version": 1, "signature_name": ...,
  "data": {<input alias>: <value fed as given>}}`` -> 200 ``{<output alias>: <list>, ...}``
  (``flask.jsonify``: sorted keys, compact, ``\\n``).  Unknown ``model_name`` / non-object or
  invalid JSON / other content types -> 400 ``{"error": ...}``; EVERY other failure (no
  ``data``, wrong alias or version or signature, graph errors, DT_STRING outputs, bad base64
  with autoconvert, missing Content-Type) -> Flask's HTML 500 page.
* ``GET /v1/models``, ``GET /v1/models/<name>`` -> ``json.dumps`` of the model detail as
  ``text/html`` (unknown name: 200 ``Model not found: <name>``); ``GET /health`` -> ``healthy``
  (never needs auth); ``GET /`` -> an HTML dashboard; anything else -> Werkzeug's HTML 404/405.
* ``enable_auth``: 401 ``Need basic auth to request the resources`` with
  ``WWW-Authenticate: "Basic realm="Login Required"`` (sic).
* ``enable_b64_autoconvert``: every ``{"b64": ...}`` in the request -> ``urlsafe_b64decode``
  bytes before inference.  ``enable_cors`` (on by default, as in STFS): ACAO ``*`` / echo.

Known deviations: multipart/form-data uploads, ``/v1/models/<name>/gen_json|gen_client``,
``/image_inference``, ``/json_inference``, ``/generate_clients`` and ``run_profile`` are not
emulated (form uploads and ``run_profile`` give the HTML 500, the pages 404); the dashboard HTML
is a small placeholder; models/outputs only as ModelSpec allows; shapes of float tensors are
checked as (N, H, W, 3) only.
"""

from tests.fakes.stfs.app import DTYPE_ENUM, model_detail
from tests.fakes.stfs.pages import AUTH_BODY, AUTH_CHALLENGE, HTML_500
from tests.fakes.stfs.server import FakeSTFS

__all__ = ["AUTH_BODY", "AUTH_CHALLENGE", "DTYPE_ENUM", "HTML_500", "FakeSTFS", "model_detail"]
