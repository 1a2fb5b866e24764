"""A local OpenAI-compatible vision-model server for the ``[ask]`` tests (see ``server``)."""

from tests.fakes.vlm.server import NO_IMAGES, Asked, Script, VisionModelServer

__all__ = ["NO_IMAGES", "Asked", "Script", "VisionModelServer"]
