"""Label tables: the shipped spreadsheet, CSV/TSV, and clear errors for bad tables."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from bot.adapters.labels import load_labels
from bot.errors import LabelError
from tests.conftest import LABELS_XLSX, REPO

SHARED_TSV = REPO.parent / "shared" / "data" / "imagenet1k_labels.tsv"


def test_shipped_spreadsheet_has_1000_chinese_and_english_names() -> None:
    zh = load_labels(LABELS_XLSX, column="class_ZH", id_column="class_NO")
    en = load_labels(LABELS_XLSX, column="class_EN", id_column="class_NO")
    assert len(zh) == len(en) == 1000
    assert (zh.names[0], en.names[0]) == ("丁鲷", "tench")
    assert en.names[285] == "Egyptian cat"
    assert en.names[999] == "toilet tissue"
    assert len(set(zh.names)) == 1000


@pytest.mark.skipif(not SHARED_TSV.exists(), reason="shared/ data not beside the repo")
def test_shipped_spreadsheet_matches_the_checked_source_table() -> None:
    source = pd.read_csv(SHARED_TSV, sep="\t", keep_default_na=False)
    zh = load_labels(LABELS_XLSX, column="class_ZH", id_column="class_NO")
    assert list(zh.names) == list(source["name_zh"])


def test_csv_and_tsv_tables_are_read_by_id_column(tmp_path: Path) -> None:
    rows = [("2", "c"), ("0", "a"), ("1", "b")]
    for suffix, delim in ((".csv", ","), (".tsv", "\t")):
        path = tmp_path / f"t{suffix}"
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, delimiter=delim)
            writer.writerow(["class_NO", "name"])
            writer.writerows(rows)
        assert load_labels(path, column="name", id_column="class_NO").names == ("a", "b", "c")


def test_table_without_id_column_uses_row_order(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("name\nx\ny\n", encoding="utf-8")
    assert load_labels(path, column="name", id_column="class_NO").names == ("x", "y")


def test_unknown_column_lists_the_available_ones() -> None:
    with pytest.raises(
        LabelError, match="set \\[labels\\] column to one of: class_NO, class_EN, class_ZH"
    ):
        load_labels(LABELS_XLSX, column="chinese", id_column="class_NO")


@pytest.mark.parametrize(
    "content,match",
    [
        ("class_NO,name\n0,a\n2,b\n", "must number the classes 0..1 once each"),
        ("class_NO,name\n0,a\nx,b\n", "must hold whole numbers"),
        ("class_NO,name\n0,a\n1,\n", "row 3 has an empty 'name'"),
        ("class_NO,name\n", "has no rows"),
    ],
)
def test_malformed_tables_are_refused(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(LabelError, match=match):
        load_labels(path, column="name", id_column="class_NO")


def test_a_file_that_is_not_a_spreadsheet_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "labels.xlsx"
    path.write_bytes(b"this is not a zip file")
    with pytest.raises(LabelError, match="cannot read the label table"):
        load_labels(path, column="class_ZH", id_column="class_NO")


def test_unsupported_file_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "labels.json"
    path.write_text("{}", encoding="utf-8")
    with pytest.raises(LabelError, match="use .xlsx, .csv or .tsv"):
        load_labels(path, column="x", id_column="y")
