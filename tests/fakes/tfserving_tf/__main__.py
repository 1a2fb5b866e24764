"""``python -m tests.fakes.tfserving_tf --port PORT --model NAME=BASE_PATH [--model ...]``.

Loads every model, then listens (like TF Serving, the port opens only after the models have
loaded) and says so on stderr: ``listening on http://HOST:PORT`` (``--port 0``: a free port).
"""

from __future__ import annotations

import argparse
import contextlib
import sys

from tests.fakes.tfserving_tf.server import load_models, make_server


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.fakes.tfserving_tf")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--model", action="append", required=True, metavar="NAME=BASE_PATH")
    args = ap.parse_args(argv)
    try:
        models = load_models(dict(spec.split("=", 1) for spec in args.model))
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    server = make_server(models, args.host, args.port)
    port = server.server_address[1]
    print(f"listening on http://{args.host}:{port}", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
