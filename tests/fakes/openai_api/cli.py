"""Command line: ``python -m tests.fakes.openai_api`` runs the stand-in to try the bot by hand."""

from __future__ import annotations

import argparse
import secrets
import time
from collections.abc import Sequence

from tests.fakes.openai_api.standin import OpenAIStandIn

KEY_ENV = "WECHAT_VISION_BOT_ASK_KEY"  # [ask] api_key_env's default


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    key = None if args.no_key else (args.key or f"sk-standin-{secrets.token_hex(8)}")
    standin = OpenAIStandIn(args.model or ["qwen2-vl"], api_key=key, port=args.port, host=args.host)
    standin.answer = args.answer
    standin.text_only = args.text_only
    standin.first_token_delay_s = args.first_token_delay
    standin.chunk_delay_s = args.chunk_delay
    print(
        f"OpenAI-compatible stand-in at {standin.base_url}  (models: {', '.join(standin.models)})"
    )
    if key is not None:
        print(f"  export {KEY_ENV}={key}")
    print(f'  [ask] url = "{standin.base_url}"  model = "{standin.models[0]}"', flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.openai_api",
        description="A stand-in OpenAI-compatible Chat Completions server (vision model).",
    )
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--model", action="append", help="a model served (repeatable)")
    key = parser.add_mutually_exclusive_group()
    key.add_argument("--key", help="the bearer key required (default: a random one)")
    key.add_argument("--no-key", action="store_true", help="take any key, or none")
    parser.add_argument("--answer", default=None, help="the answer (default: names the size)")
    parser.add_argument("--text-only", action="store_true", help="refuse pictures (400)")
    parser.add_argument("--first-token-delay", type=float, default=0.5, metavar="S")
    parser.add_argument("--chunk-delay", type=float, default=0.1, metavar="S")
    return parser
