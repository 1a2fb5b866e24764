"""Label spreadsheet -> LabelTable (pandas + openpyxl). Accepts .xlsx, .csv and .tsv."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bot.core.pipeline import LabelTable
from bot.errors import LabelError

_READERS = {".xlsx": "excel", ".xlsm": "excel", ".csv": ",", ".tsv": "\t", ".txt": "\t"}


def _read(path: Path) -> pd.DataFrame:
    kind = _READERS.get(path.suffix.lower())
    if kind is None:
        raise LabelError(
            f"{path}: unsupported label file type {path.suffix!r}; use .xlsx, .csv or .tsv"
        )
    try:
        if kind == "excel":
            return pd.read_excel(path, engine="openpyxl", dtype=object, keep_default_na=False)
        return pd.read_csv(path, sep=kind, dtype=object, keep_default_na=False)
    except FileNotFoundError as exc:
        raise LabelError(f"{path}: no such label file; check [labels] file") from exc
    except Exception as exc:  # pandas/openpyxl raise many unrelated types for a bad file
        raise LabelError(
            f"{path}: cannot read the label table ({type(exc).__name__}: {exc}); "
            "is it a real .xlsx/.csv/.tsv file?"
        ) from exc


def load_labels(path: Path, *, column: str, id_column: str) -> LabelTable:
    """Read the table; names are indexed by the 0-based id column (or by row order)."""
    frame = _read(path)
    columns = [str(c) for c in frame.columns]
    if column not in columns:
        raise LabelError(
            f"{path}: no column {column!r}; set [labels] column to one of: {', '.join(columns)}"
        )
    if frame.empty:
        raise LabelError(f"{path}: the label table has no rows")
    names = [str(v).strip() if not pd.isna(v) else "" for v in frame[column]]
    for row, name in enumerate(names):
        if not name:
            raise LabelError(f"{path}: row {row + 2} has an empty {column!r}; fill it in")
    if id_column in columns:
        try:
            ids = [int(str(v).strip()) for v in frame[id_column]]
        except ValueError as exc:
            raise LabelError(
                f"{path}: column {id_column!r} must hold whole numbers ({exc})"
            ) from exc
        if sorted(ids) != list(range(len(ids))):
            raise LabelError(
                f"{path}: column {id_column!r} must number the classes 0..{len(ids) - 1} once each"
            )
        ordered = [""] * len(ids)
        for class_id, name in zip(ids, names, strict=True):
            ordered[class_id] = name
        names = ordered
    return LabelTable(names=tuple(names), source=str(path), column=column)
