"""Pictures made on the spot for tests and benchmarks: photo-like, awkward, and hostile."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def photo_pixels(width: int, height: int, *, seed: int = 1, detail: float = 1.0) -> np.ndarray:
    """A photo-like RGB array: smooth shapes, edges, texture and sensor noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    x /= width
    y /= height
    img = np.zeros((height, width, 3), dtype=np.float32)
    for c in range(3):
        fx, fy, phase = rng.uniform(1, 6), rng.uniform(1, 6), rng.uniform(0, 6.3)
        img[..., c] = 110 + 60 * np.sin(fx * 6.28 * x + phase) * np.cos(fy * 6.28 * y)
    for _ in range(6):  # a few blobs with hard edges
        cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.25)
        mask = (x - cx) ** 2 + ((y - cy) * height / width) ** 2 < r * r
        img[mask] = img[mask] * 0.5 + rng.uniform(0, 255, 3) * 0.5
    # Fine texture (fabric, foliage) and noise make the JPEG as large as a phone's.
    coarse = rng.normal(0, 1, (height // 4 + 1, width // 4 + 1, 3)).astype(np.float32)
    texture = np.kron(coarse, np.ones((4, 4, 1), dtype=np.float32))[:height, :width]
    img += 18 * detail * texture + rng.normal(0, 9 * detail, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def jpeg(pixels: np.ndarray | Image.Image, *, quality: int = 92, **save: object) -> bytes:
    img = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=quality, **save)
    return out.getvalue()


def encode(img: Image.Image, fmt: str, **save: object) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **save)
    return out.getvalue()


def photo_jpeg(width: int, height: int, *, seed: int = 1, quality: int = 92) -> bytes:
    return jpeg(photo_pixels(width, height, seed=seed), quality=quality)


def tiled_photo_jpeg(width: int, height: int, *, tiles: int = 4, seed: int = 1) -> bytes:
    """A large photo-like JPEG made fast: a photo of 1/tiles the size, repeated (a 12 MP one in
    about 0.5 s instead of 6; as detailed, so about as large as a phone's)."""
    tile = photo_pixels(width // tiles + 1, height // tiles + 1, seed=seed)
    return jpeg(np.tile(tile, (tiles, tiles, 1))[:height, :width])


def with_orientation(img: Image.Image, orientation: int) -> bytes:
    """A JPEG whose EXIF says how to turn it upright (6 = rotate 90° clockwise to view)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return jpeg(img, exif=exif.tobytes())


def bomb_png(width: int = 30_000, height: int = 30_000) -> bytes:
    """A tiny PNG that declares a huge grey image (its IDAT holds only a few rows)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 4)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def animated_gif(frames: int = 100, size: tuple[int, int] = (120, 90)) -> bytes:
    imgs = [
        Image.new("RGB", size, ((i * 37) % 256, (i * 91) % 256, (i * 13) % 256))
        for i in range(frames)
    ]
    return encode(imgs[0], "GIF", save_all=True, append_images=imgs[1:], duration=40, loop=0)


def sixteen_bit_png(size: tuple[int, int] = (200, 150), level: int = 40_000) -> bytes:
    arr = np.full((size[1], size[0]), level, dtype=np.uint16)
    arr[:, : size[0] // 2] = level // 4
    return encode(Image.fromarray(arr), "PNG")
