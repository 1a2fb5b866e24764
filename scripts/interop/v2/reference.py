"""EfficientNet-Lite0's own top-1 for the sample photos in DIR, in process, two ways: the
server-side crop (what a BYTES model does with the JPEG) and the bot's 224x224 tensor (what an
FP32 model gets). Also writes the photos (scikit-image's chelsea, astronaut, coffee) if missing.

    /tmp/pyt/bin/python scripts/interop/v2/reference.py DIR
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import openpyxl
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
import effnet

ROOT = Path(__file__).resolve().parents[3]


def main() -> None:
    out = Path(sys.argv[1])
    sheet = openpyxl.load_workbook(ROOT / "labels" / "imagenet1k.xlsx", read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    names = [r[rows[0].index("class_EN")] for r in rows[1:]]
    for photo in sorted(out.glob("*.jpg")):
        data = photo.read_bytes()
        crop = effnet.top1(data)
        img = (
            Image.open(io.BytesIO(data))
            .convert("RGB")
            .resize((224, 224), Image.Resampling.BILINEAR)
        )
        tensor = (np.asarray(img, dtype=np.float32) / 127.5 - 1).transpose(2, 0, 1)[np.newaxis]
        squashed = int(effnet.logits(tensor)[0].argmax())
        print(
            f"{photo.name}\tBYTES (server crop): {names[crop]}\t"
            f"FP32 (224 tensor): {names[squashed]}"
        )


if __name__ == "__main__":
    main()
