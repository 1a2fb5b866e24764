"""Label spreadsheet -> LabelTable (pandas + openpyxl). Accepts .xlsx, .csv and .tsv."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bot.core.pipeline import LabelTable
from bot.errors import LabelError

ID_COLUMN = "id"
ENGLISH = "class_EN"
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
    if id_column not in columns and ID_COLUMN in columns:
        id_column = ID_COLUMN  # a label map's own ids (COCO's 1-90 with gaps)
    measures = _column(frame, f"measure_{column.rpartition('_')[2]}", columns)
    english = _column(frame, ENGLISH, columns) if column != ENGLISH else None
    gaps: tuple[int, ...] | None = None
    if id_column in columns:
        try:
            ids = [int(str(v).strip()) for v in frame[id_column]]
        except ValueError as exc:
            raise LabelError(
                f"{path}: column {id_column!r} must hold whole numbers ({exc})"
            ) from exc
        if len(set(ids)) != len(ids) or min(ids) < 0:
            raise LabelError(
                f"{path}: column {id_column!r} must number the classes once each, from 0 up"
            )
        if sorted(ids) == list(range(len(ids))):
            order = sorted(range(len(ids)), key=ids.__getitem__)
            names = [names[i] for i in order]
            measures = None if measures is None else tuple(measures[i] for i in order)
            english = None if english is None else tuple(english[i] for i in order)
        else:  # ids with gaps: a detector's label map, looked up by id
            gaps = tuple(ids)
    return LabelTable(
        names=tuple(names),
        source=str(path),
        column=column,
        ids=gaps,
        measures=measures,
        english=english,
    )


def _column(frame: pd.DataFrame, name: str, columns: list[str]) -> tuple[str, ...] | None:
    """A column of words beside the names (measure words, English names), if the table has it;
    an empty cell is left empty (the caller has a default)."""
    if name not in columns:
        return None
    return tuple("" if pd.isna(v) else str(v).strip()[:20] for v in frame[name])
