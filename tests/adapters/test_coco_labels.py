"""The shipped COCO table (labels/coco.csv) for object detectors, read by the bot's loader.

Ids and English names are those of the Object Detection API's label map
(tensorflow/models research/object_detection/data/mscoco_label_map.pbtxt); labels/README.md
names the commit and the measure-word rule checked here.
"""

from __future__ import annotations

import re
import warnings

from bot.adapters.labels import load_labels
from bot.core.detector import count, say_counts
from bot.core.pipeline import LabelTable
from bot.core.serving import Detection
from bot.core.settings import DetectConfig
from tests.conftest import REPO

COCO = REPO / "labels" / "coco.csv"
HEADER = "id,class_EN,class_ZH,measure_ZH"
# mscoco_label_map.pbtxt numbers its 80 classes 1..90 and leaves these ids out
UNUSED_IDS = {12, 26, 29, 30, 45, 66, 68, 69, 71, 83}
LABEL_MAP_IDS = set(range(1, 91)) - UNUSED_IDS
# the measure words of labels/README.md's rule, one character each
MEASURES = {"只", "匹", "头", "辆", "列", "架", "艘", "个", "把", "张", "台", "部", "本"}
MEASURES |= {"根", "块", "条", "副", "棵", "盆"}
CJK = re.compile(r"[\u4e00-\u9fff]+")


def shipped() -> LabelTable:
    """The table as the bot reads it (the default `[labels] id_column`, so `id` is found)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning from pandas or the loader fails the test
        return load_labels(COCO, column="class_ZH", id_column="class_NO")


def said(table: LabelTable, class_id: int) -> tuple[str, str, str]:
    """(Chinese name, measure word, English name) of the row the bot finds for a class id."""
    row = table.row_of(class_id, offset=0)
    assert row is not None, f"no row for id {class_id}"
    assert table.measures is not None and table.english is not None
    return table.names[row], table.measures[row], table.english[row]


def test_the_file_is_plain_utf8_csv_with_the_four_documented_columns() -> None:
    raw = COCO.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")  # no BOM
    lines = raw.decode("utf-8").splitlines()
    assert lines[0] == HEADER
    assert len(lines) == 1 + 80
    assert all(line.count(",") == 3 for line in lines)  # no quoted commas, no stray columns


def test_the_shipped_coco_table_names_every_label_map_id_once() -> None:
    table = shipped()
    assert len(table) == 80
    assert table.ids is not None
    assert len(set(table.ids)) == 80
    assert set(table.ids) == LABEL_MAP_IDS
    assert list(table.ids) == sorted(table.ids)  # in the label map's order
    assert all(table.row_of(gap, offset=0) is None for gap in UNUSED_IDS)


def test_people_dogs_and_cars_are_named_and_counted_with_their_own_measure_words() -> None:
    table = shipped()
    assert said(table, 1) == ("人", "个", "person")
    assert said(table, 18) == ("狗", "只", "dog")
    assert said(table, 3) == ("汽车", "辆", "car")
    assert said(table, 11) == ("消防栓", "个", "fire hydrant")  # either side of gap 12
    assert said(table, 13) == ("停车标志", "个", "stop sign")
    assert said(table, 90) == ("牙刷", "把", "toothbrush")


def test_skis_and_snowboards_are_told_apart() -> None:
    table = shipped()
    assert said(table, 35) == ("滑雪板", "副", "skis")
    assert said(table, 36) == ("单板滑雪板", "块", "snowboard")


def test_every_class_has_its_own_chinese_name() -> None:
    table = shipped()
    assert all(name and CJK.fullmatch(name) for name in table.names), [
        name for name in table.names if not CJK.fullmatch(name)
    ]
    assert len(set(table.names)) == len(table.names) == 80


def test_every_class_is_counted_with_one_measure_word_of_the_documented_rule() -> None:
    table = shipped()
    assert table.measures is not None
    assert len(table.measures) == 80
    assert all(len(word) == 1 for word in table.measures)
    assert set(table.measures) <= MEASURES, set(table.measures) - MEASURES


def test_a_detectors_finds_are_said_with_the_shipped_names_and_measure_words() -> None:
    found = [
        Detection(18, 0.97, (0.1, 0.1, 0.3, 0.3)),
        Detection(18, 0.91, (0.5, 0.5, 0.7, 0.7)),
        Detection(1, 0.88, (0.2, 0.6, 0.9, 0.8)),
        Detection(3, 0.80, (0.6, 0.1, 0.8, 0.3)),
    ]
    counted = count(found, shipped(), DetectConfig(), offset=0).counted
    assert say_counts(counted) == "2 只狗 (97%, 91%)、1 个人 (88%)、1 辆汽车 (80%)"
