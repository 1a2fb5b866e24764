"""Label tables: the shipped spreadsheet, CSV/TSV, and clear errors for bad tables."""

from __future__ import annotations

import csv
import hashlib
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bot.adapters.labels import load_labels
from bot.core.pipeline import Recogniser
from bot.core.serving import JpegPayload
from bot.core.settings import ReplyConfig
from bot.errors import LabelError
from tests.conftest import LABELS_XLSX, REPO

BUILD_SCRIPT = REPO / "labels" / "build_imagenet1k.py"
# SHA-256 of the checked source table's columns (shared/data/imagenet1k_labels.tsv, one name a
# line, joined by "\n"), which labels/imagenet1k.xlsx is built from. When the source changes:
# rebuild the spreadsheet with labels/build_imagenet1k.py and put the new digests here.
SOURCE_NAME_EN_SHA256 = "1f0f2f0cc077fd0bd25ced6045d7d7bb6a491a4286e31c42e728c5451ea4d0d4"
SOURCE_NAME_ZH_SHA256 = "55a4565e0b9c5c784712b095b1bf78a34bf68bcbbf9bc4da84f79cbea7ca044d"


def digest(names: tuple[str, ...]) -> str:
    return hashlib.sha256("\n".join(names).encode("utf-8")).hexdigest()


def test_shipped_spreadsheet_has_1000_chinese_and_english_names() -> None:
    zh = load_labels(LABELS_XLSX, column="class_ZH", id_column="class_NO")
    en = load_labels(LABELS_XLSX, column="class_EN", id_column="class_NO")
    assert len(zh) == len(en) == 1000
    assert (zh.names[0], en.names[0]) == ("丁鲷", "tench")
    assert en.names[285] == "Egyptian cat"
    assert en.names[999] == "toilet tissue"
    assert len(set(zh.names)) == 1000


def test_shipped_spreadsheet_matches_the_checked_source_table() -> None:
    table = pd.read_excel(LABELS_XLSX, sheet_name="imagenet1k", keep_default_na=False)
    assert list(table.columns) == ["class_NO", "class_EN", "class_ZH"]
    assert list(table["class_NO"]) == list(range(1000))
    en = load_labels(LABELS_XLSX, column="class_EN", id_column="class_NO")
    zh = load_labels(LABELS_XLSX, column="class_ZH", id_column="class_NO")
    assert (digest(en.names), digest(zh.names)) == (SOURCE_NAME_EN_SHA256, SOURCE_NAME_ZH_SHA256)


def test_build_script_turns_a_source_table_into_a_spreadsheet_the_bot_reads(
    tmp_path: Path,
) -> None:
    source = tmp_path / "source.tsv"
    rows = [
        (0, "n01440764", "tench", "丁鲷"),
        (1, "n01443537", "goldfish", "金鱼"),
        (2, "n02012849", "crane", "鹤"),
        (3, "n03126707", "crane 2", "起重机"),
        (4, "n15075141", "toilet tissue", "卫生纸"),
    ]
    with source.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter="\t")
        writer.writerow(["index", "wnid", "name_en", "name_zh"])
        writer.writerows(rows)
    out = tmp_path / "labels.xlsx"
    done = subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), str(source), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (0, f"wrote {out} (5 classes)"), done.stderr
    en = load_labels(out, column="class_EN", id_column="class_NO")
    zh = load_labels(out, column="class_ZH", id_column="class_NO")
    assert en.names == tuple(r[2] for r in rows)
    assert zh.names == tuple(r[3] for r in rows)


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
        ("class_NO,name\n0,a\n0,b\n", "must number the classes once each"),
        ("class_NO,name\n0,a\n-1,b\n", "must number the classes once each, from 0 up"),
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


def test_class_names_that_pandas_would_read_as_missing_are_kept(tmp_path: Path) -> None:
    import pandas as pd

    path = tmp_path / "na.xlsx"
    pd.DataFrame({"class_NO": [0, 1, 2], "class_EN": ["NA", "null", "n/a"]}).to_excel(
        path, index=False
    )
    assert load_labels(path, column="class_EN", id_column="class_NO").names == ("NA", "null", "n/a")


def test_a_label_map_with_gaps_keeps_its_ids_measure_words_and_english_names(
    tmp_path: Path,
) -> None:
    path = tmp_path / "map.csv"
    path.write_text(
        "id,class_EN,class_ZH,measure_ZH\n1,person,人,个\n3,car,汽车,辆\n18,dog,狗,只\n",
        encoding="utf-8",
    )
    table = load_labels(path, column="class_ZH", id_column="class_NO")
    assert table.ids == (1, 3, 18)
    assert table.measures == ("个", "辆", "只")
    assert table.english == ("person", "car", "dog")
    assert table.row_of(18, offset=0) == 2
    assert table.row_of(2, offset=0) is None
    english = load_labels(path, column="class_EN", id_column="class_NO")
    assert english.measures is None  # no measure_EN column: counted as "dog ×2"


def test_a_classifier_refuses_a_table_whose_ids_have_gaps(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("class_NO,name\n0,a\n2,b\n", encoding="utf-8")
    table = load_labels(path, column="name", id_column="class_NO")
    with pytest.raises(LabelError, match="a classifier's table numbers its classes 0..n-1"):
        Recogniser(
            prepare=lambda data: JpegPayload(data, 1, 1),
            classifier=None,  # type: ignore[arg-type]
            labels=table,
            rules=ReplyConfig(),
            offset=None,
        )
