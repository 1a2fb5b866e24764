"""Build labels/imagenet1k.xlsx from the checked ImageNet-1k table.

Usage: python labels/build_imagenet1k.py [SOURCE_TSV] [OUT_XLSX]
Defaults: ../shared/data/imagenet1k_labels.tsv (beside the repo) -> labels/imagenet1k.xlsx.
Columns written: class_NO (0-based ImageNet index), class_EN, class_ZH.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = HERE.parent.parent / "shared" / "data" / "imagenet1k_labels.tsv"
DEFAULT_OUT = HERE / "imagenet1k.xlsx"


def build(source: Path, out: Path) -> pd.DataFrame:
    table = pd.read_csv(source, sep="\t", dtype={"index": int}, keep_default_na=False)
    frame = pd.DataFrame(
        {
            "class_NO": table["index"],
            "class_EN": table["name_en"],
            "class_ZH": table["name_zh"],
        }
    )
    if list(frame["class_NO"]) != list(range(len(frame))):
        raise SystemExit(f"{source}: index column is not 0..{len(frame) - 1} in order")
    frame.to_excel(out, index=False, sheet_name="imagenet1k", engine="openpyxl")
    return frame


if __name__ == "__main__":
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SOURCE
    dst = Path(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT_OUT
    rows = build(src, dst)
    print(f"wrote {dst} ({len(rows)} classes)")
