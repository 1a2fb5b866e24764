"""The Open Inference Protocol (KServe v2 REST) adapter: Triton, KServe, MLServer, OpenVINO
Model Server. The client: ``bot.adapters.v2.client``; the wire format: ``bot.adapters.v2.wire``."""

from bot.adapters.v2.client import SERVER, V2Client, looks_like, start_hint

__all__ = ["SERVER", "V2Client", "looks_like", "start_hint"]
