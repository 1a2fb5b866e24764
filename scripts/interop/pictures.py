"""Deterministic test pictures and the 120-row label table (numpy + Pillow only).

Pictures are photo-like: smooth colour blobs plus a little noise, each with its own
dominant colours so the histogram net gives them different top-1 classes. Every picture
has its short side <= 299, so a bot that shrinks to a short side of 320 never resamples
them: what it sends has the very pixels the reference computation used (PNG), or a
re-encoding of them (JPEG).

Usage: python pictures.py OUT_DIR   (writes OUT_DIR/pictures/* and OUT_DIR/labels.csv)
"""

from __future__ import annotations

import csv
import os
import sys

NUM_CLASSES = 120

# name, seed, (width, height), format
PICTURES = [
    ("p1_red.png", 11, (299, 299), "PNG"),
    ("p2_green.png", 12, (299, 299), "PNG"),
    ("p3_blue.png", 13, (299, 299), "PNG"),
    ("p4_yellow.png", 14, (299, 299), "PNG"),
    ("p5_dark.png", 15, (299, 299), "PNG"),
    ("p6_pastel.png", 16, (299, 299), "PNG"),
    ("p7_wide.png", 17, (320, 240), "PNG"),
    ("p8_photo.jpg", 18, (299, 299), "JPEG"),
]

BASE_COLOURS = {
    11: [(220, 40, 30), (250, 120, 80)],
    12: [(30, 170, 40), (120, 220, 90)],
    13: [(30, 60, 200), (100, 160, 250)],
    14: [(240, 220, 30), (200, 140, 20)],
    15: [(20, 20, 30), (80, 60, 50)],
    16: [(250, 200, 220), (200, 230, 250)],
    17: [(150, 90, 40), (60, 120, 160)],
    18: [(200, 180, 160), (90, 60, 40)],
}


def make_picture(seed: int, size: tuple[int, int]):
    import numpy as np
    from PIL import Image

    w, h = size
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    c0, c1 = (np.array(c, np.float32) for c in BASE_COLOURS[seed])
    img = np.empty((h, w, 3), np.float32)
    img[:] = c0
    for _ in range(6):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        r = rng.uniform(0.15, 0.4) * min(w, h)
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))[..., None]
        colour = c1 + rng.normal(0, 25, 3)
        img = img * (1 - blob) + colour * blob
    img += rng.normal(0, 6, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def write_labels(path: str) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["class_NO", "class_EN", "class_ZH"])
        for i in range(NUM_CLASSES):
            out.writerow([i, f"breed-{i:03d}", f"犬种{i:03d}号"])


def main() -> int:
    out = sys.argv[1]
    pic_dir = os.path.join(out, "pictures")
    os.makedirs(pic_dir, exist_ok=True)
    for name, seed, size, fmt in PICTURES:
        img = make_picture(seed, size)
        kwargs = {"quality": 95} if fmt == "JPEG" else {}
        img.save(os.path.join(pic_dir, name), fmt, **kwargs)
    write_labels(os.path.join(out, "labels.csv"))
    print(f"wrote {len(PICTURES)} pictures to {pic_dir} and {out}/labels.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
