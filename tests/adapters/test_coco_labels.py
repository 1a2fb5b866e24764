"""The shipped COCO table (labels/coco.csv) for object detectors, read by the bot's loader."""

from __future__ import annotations

import re

from bot.adapters.labels import load_labels
from tests.conftest import REPO

COCO = REPO / "labels" / "coco.csv"
UNUSED_IDS = {12, 26, 29, 30, 45, 66, 68, 69, 71, 83}  # mscoco_label_map.pbtxt leaves them out
MEASURES = set("只匹头辆列架艘个把张台部本根块条副棵盆")


def test_the_shipped_coco_table_names_every_label_map_id_once() -> None:
    table = load_labels(COCO, column="class_ZH", id_column="class_NO")
    assert table.ids is not None
    assert sorted(table.ids) == sorted(set(range(1, 91)) - UNUSED_IDS)
    assert len(table) == 80


def test_coco_classes_have_unique_chinese_names_and_a_measure_word() -> None:
    table = load_labels(COCO, column="class_ZH", id_column="class_NO")
    assert len(set(table.names)) == 80
    assert all(re.fullmatch(r"[\u4e00-\u9fff]+", name) for name in table.names)
    assert table.measures is not None and set(table.measures) <= MEASURES


def test_people_dogs_and_cars_are_counted_with_their_own_measure_words() -> None:
    table = load_labels(COCO, column="class_ZH", id_column="class_NO")
    assert table.ids is not None and table.measures is not None and table.english is not None
    said = {table.ids[r]: (table.names[r], table.measures[r], table.english[r]) for r in range(80)}
    assert said[1] == ("人", "个", "person")
    assert said[18] == ("狗", "只", "dog")
    assert said[3] == ("汽车", "辆", "car")
    assert said[90] == ("牙刷", "把", "toothbrush")
