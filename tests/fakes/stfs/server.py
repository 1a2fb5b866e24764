"""FakeSTFS: a threaded HTTP server answering like ``simple_tensorflow_serving`` 0.8.2."""

from __future__ import annotations

import contextlib
import email.utils
import json
import re
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from PIL import Image

from tests.fakes.stfs import app
from tests.fakes.stfs.pages import CORS_METHODS, REASONS, SERVER, Reply, server_error
from tests.fakes.tfserving.spec import ModelSpec, RecordedRequest

_DETAIL_RE = re.compile(r"/v1/models/([^/]+)")
_ROUTES = {"/": "GET, OPTIONS, HEAD, POST", "/health": "HEAD, OPTIONS, GET"}


class FakeSTFS:
    """Simple TensorFlow Serving 0.8.2 stand-in on 127.0.0.1; a context manager.

    ``enable_auth`` / ``enable_b64_autoconvert`` / ``enable_cors`` mirror the server flags;
    ``init_op_first=True`` emulates a TF2 SavedModel whose ``__saved_model_init_op`` signature
    is iterated first (pure-python protobuf): every request, even ``/health``, is an HTML 500.
    """

    def __init__(
        self,
        models: ModelSpec | Sequence[ModelSpec],
        *,
        port: int = 0,
        enable_auth: bool = False,
        auth_username: str = "admin",
        auth_password: str = "admin",
        enable_b64_autoconvert: bool = False,
        enable_cors: bool = True,
        init_op_first: bool = False,
        model_base_path: str = "./model",
    ) -> None:
        specs = [models] if isinstance(models, ModelSpec) else list(models)
        self.models: dict[str, ModelSpec] = {s.name: s for s in specs}
        self.enable_auth = enable_auth
        self.auth_username = auth_username
        self.auth_password = auth_password
        self.enable_b64_autoconvert = enable_b64_autoconvert
        self.enable_cors = enable_cors
        self.init_op_first = init_op_first
        self.model_base_path = model_base_path
        self.requests: list[RecordedRequest] = []
        self.predict_images: list[Image.Image] = []
        self._serial = threading.Lock()  # app.run(threaded=False): one request at a time
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self._httpd.daemon_threads = True
        cast(Any, self._httpd).fake = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeSTFS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the Flask app -----------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        broken = self.init_op_first and any(s.tf2 for s in self.models.values())
        if broken:  # before_first_request (manager.init) raises on every request
            return server_error()
        allow = _ROUTES.get(path)
        detail = _DETAIL_RE.fullmatch(path) or path == "/v1/models"
        if allow is None and not detail:
            return app.not_found()
        allow = allow or "HEAD, OPTIONS, GET"
        if method == "OPTIONS":
            return Reply(200, "", headers={"Allow": allow})
        if method not in allow.split(", "):
            return app.not_allowed(allow)
        if path == "/health":
            return Reply(200, "healthy")
        if self.enable_auth and not app.check_auth(
            headers.get("authorization"), self.auth_username, self.auth_password
        ):
            return app.unauthorized()
        if path == "/":
            return self._predict(headers, body) if method == "POST" else app.dashboard()
        if path == "/v1/models":
            details = [app.model_detail(s, self.model_base_path) for s in self.models.values()]
            return Reply(200, json.dumps(details))
        m = _DETAIL_RE.fullmatch(path)
        name = m.group(1) if m else ""
        spec = self.models.get(name)
        if spec is None:
            return Reply(200, f"Model not found: {name}")
        return Reply(200, json.dumps(app.model_detail(spec, self.model_base_path)))

    def _predict(self, headers: dict[str, str], body: bytes) -> Reply:
        """WsgiApp.do_inference (server.py:292-339) + manager.inference."""
        content_type = headers.get("content-type")
        if content_type is None:  # request.content_type is None -> .startswith: AttributeError
            return server_error()
        if content_type.startswith("application/json"):
            try:
                doc = json.loads(body)
            except ValueError:
                doc = None
            if not isinstance(doc, dict):
                return app.jsonify({"error": f"Invalid json data: {body!r}"}, 400)
        elif content_type.startswith("multipart/form-data"):
            return server_error()  # field "image" -> data {"images": [...]}: not emulated
        else:
            return app.jsonify({"error": "Error, unsupported content type"}, 400)
        name = doc.get("model_name", "default")
        try:
            known = name in self.models
        except TypeError:
            return server_error()
        if not known:
            keys = f"dict_keys({list(self.models)!r})"
            return app.jsonify(
                {"error": f"Invalid model name: {name}, available models: {keys}"}, 400
            )
        images: list[Image.Image] = []
        try:
            if self.enable_b64_autoconvert:
                app.replace_b64(doc)
            result = app.inference(self.models[name], doc, images)
        except Exception:  # Flask turns any escaping exception into its HTML 500
            return server_error()
        self.predict_images.extend(images)
        return app.jsonify(result, 200)

    def cors_headers(self, headers: dict[str, str]) -> dict[str, str]:
        """flask-cors defaults (origins "*", always_send): echo Origin, else "*"."""
        if not self.enable_cors:
            return {}
        origin = headers.get("origin")
        out = {"Access-Control-Allow-Origin": origin or "*"}
        if origin:
            out["Vary"] = "Origin"
        if "access-control-request-method" in headers:
            out["Access-Control-Allow-Methods"] = CORS_METHODS
            if "access-control-request-headers" in headers:
                out["Access-Control-Allow-Headers"] = headers["access-control-request-headers"]
        return out


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        fake: FakeSTFS = cast(Any, self.server).fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        path = self.path.split("?", 1)[0]
        record = RecordedRequest(self.command, self.path, headers, len(body), None)
        with contextlib.suppress(ValueError):
            record.json = json.loads(body) if body else None
        with fake._serial:
            reply = fake.handle(self.command, path, headers, body)
        record.status = reply.status
        fake.requests.append(record)
        data = reply.body.encode("utf-8")
        lines = [
            f"HTTP/1.1 {reply.status} {REASONS.get(reply.status, 'UNKNOWN')}",
            f"Server: {SERVER}",
            f"Date: {email.utils.formatdate(usegmt=True)}",
            f"Content-Type: {reply.content_type}",
            f"Content-Length: {len(data)}",
        ]
        lines += [f"{k}: {v}" for k, v in {**reply.headers, **fake.cors_headers(headers)}.items()]
        lines.append("Connection: close")  # the Werkzeug dev server closes after every reply
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head if self.command == "HEAD" else head + data)
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_HEAD = do_PATCH = _serve
