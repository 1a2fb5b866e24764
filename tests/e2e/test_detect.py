"""Object detectors end to end: real TF SavedModels with the Object Detection API's and Model
Garden's signatures (tests/fakes/detector) served by real TensorFlow over TF Serving's REST
API; the real bot process with itchat-uos against the Web WeChat simulator, and ``check`` and
``classify`` in process. The photos hold red squares (dogs) and blue ones (people)."""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bot.adapters.imaging.drawing import PALETTE
from bot.cli import main
from tests.botproc import FAMILY, WORK, BotProcess, wait_for_rows, write_bot_config
from tests.fakes.detector import ExpectedSquare, SquaresPhoto, score_for_side, squares_photo
from tests.fakes.tfserving_tf import RealTfServing
from tests.fakes.wechat_sim import WeChatSimulator

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
COCO = REPO / "labels" / "coco.csv"
MENTION = "\u2005"
BOX_SLACK = 0.02  # of the picture's side: JPEG moves a square's edge by a pixel or two

# Two red squares (dogs) and a smaller blue one (a person), so the dogs, the most confident
# class, come first.
PHOTO = squares_photo(
    960, 720, [("red", 240, 200, 200), ("red", 720, 200, 140), ("blue", 480, 540, 100)]
)
# Small: an image_tensor detector gets the picture as JSON numbers (slow to parse).
SMALL = squares_photo(320, 240, [("red", 80, 70, 66), ("red", 240, 70, 46), ("blue", 160, 180, 34)])


@pytest.fixture
def sim() -> Iterator[WeChatSimulator]:
    with WeChatSimulator(auto_scan_after_s=0.05, synccheck_hold_s=0.5) as s:
        s.add_group(FAMILY, ["小明", "小红"])
        s.add_group(WORK, ["老王"])
        yield s


def detector_config(tmp_path: Path, server_url: str, model: str, **urls: str) -> Path:
    return write_bot_config(
        tmp_path,
        wechat_url=urls.get("wechat_url", "http://127.0.0.1:9"),
        serving_url=server_url,
        serving=f'model = "{model}"\ntimeout_s = 30',
        labels=f'file = "{COCO.as_posix()}"\n',
    )


def palette_near(pixels: np.ndarray) -> np.ndarray:
    """Which pixels are (after JPEG) one of the box colours."""
    colours = np.array(PALETTE, dtype=np.int16)
    diff = np.abs(pixels[..., None, :].astype(np.int16) - colours).max(axis=-1)
    return np.asarray((diff <= 40).any(axis=-1))


def assert_boxes_drawn_at_the_squares(drawn: bytes, photo: SquaresPhoto) -> None:
    """Every square's left and right edges are outlined in a box colour along their height,
    and the middle of the photo's empty corner is not."""
    pixels = np.asarray(Image.open(io.BytesIO(drawn)).convert("RGB"))
    assert pixels.shape == (photo.height, photo.width, 3)
    boxed = palette_near(pixels)
    for square in photo.expected:
        top, left, bottom, right = square.box_px
        rows = range(top + 8, bottom - 8, 4)
        for x in (left, right - 1):
            near_edge = boxed[top + 8 : bottom - 8 : 4, max(x - 3, 0) : x + 4]
            assert near_edge.any(axis=1).all(), f"{square.colour} square at x={x}: no box edge"
        assert not boxed[rows[0], (left + right) // 2], "the inside of a square is painted over"
    assert not boxed[photo.height - 30 : photo.height - 10, 10:30].any()


def test_a_photo_of_two_dogs_and_a_person_is_counted_in_chinese_and_drawn(
    sim: WeChatSimulator, detectors: RealTfServing, tmp_path: Path
) -> None:
    config = detector_config(tmp_path, detectors.url, "od_encoded", wechat_url=sim.url)
    bot = BotProcess(config)
    try:
        bot.wait_logged_in()
        sim.post_picture(FAMILY, "小明", PHOTO.data)
        text, picture = sim.wait_for_sent(lambda m: m.to_nickname == FAMILY, count=2)
        # the detector sees the photo shrunk to [detect] max_side_px = 640: sides x 2/3
        assert text.content == f"@小明{MENTION}图里有: {say(PHOTO, scale=640 / 960)}"
        assert picture.msg_type == 3 and picture.media is not None
        assert picture.time >= text.time  # the picture follows the words
        assert_boxes_drawn_at_the_squares(picture.media, PHOTO)
        [row] = wait_for_rows(
            tmp_path / "audit.sqlite3", lambda r: len(r) == 1 and r[0]["outcome"] == "replied"
        )
        assert row["detail"] == "狗×2, 人×1"
        assert bot.stop() == 0
    finally:
        bot.kill()


@pytest.mark.parametrize(
    "model",
    [
        "od_image_tensor",
        "od_encoded",
        "od_encoded_b1",
        "mg_image_tensor",
        "mg_image_bytes_normalized",
    ],
)
def test_classify_finds_the_squares_in_every_export_kind(
    model: str,
    detectors: RealTfServing,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = detector_config(tmp_path, detectors.url, model)
    photo = tmp_path / "squares.jpg"
    photo.write_bytes(SMALL.data)
    assert (
        main(["--config", str(config), "classify", "--draw", str(tmp_path / "out"), str(photo)])
        == 0
    )
    head, *objects, drawn = capsys.readouterr().out.splitlines()
    assert head.split("\t")[1:3] == [say(SMALL), "3 objects"]
    found = []
    for line in objects:
        name, _, where = line.strip().split("\t")
        found.append((name, [float(v) for v in where.split(" ")[-1].split(",")]))
    expected = [("狗" if s.colour == "red" else "人", list(s.box)) for s in SMALL.expected]
    for (name, box), (want_name, want_box) in zip(sorted(found), sorted(expected), strict=True):
        assert name == want_name
        assert box == pytest.approx(want_box, abs=BOX_SLACK)
    assert drawn.strip() == f"drawn: {tmp_path / 'out' / 'squares.detections.jpg'}"
    with Image.open(tmp_path / "out" / "squares.detections.jpg") as drawn_picture:
        # (where the boxes are drawn: the WeChat test above, on a larger photo)
        assert (drawn_picture.format, drawn_picture.size) == ("JPEG", (SMALL.width, SMALL.height))


def say(photo: SquaresPhoto, *, scale: float = 1.0) -> str:
    """The counts as the bot says them, from the scores the detector answers for the photo
    scaled by ``scale``."""

    def score(square: ExpectedSquare) -> float:
        top, left, bottom, right = square.box_px
        return score_for_side(math.sqrt((bottom - top) * (right - left)) * scale)

    dogs = [score(s) for s in photo.expected if s.colour == "red"]
    people = [score(s) for s in photo.expected if s.colour == "blue"]
    dog_scores = ", ".join(f"{v:.0%}" for v in sorted(dogs, reverse=True))
    return f"2 只狗 ({dog_scores})、1 个人 ({people[0]:.0%})"


def test_check_says_which_detector_convention_it_found(
    detectors: RealTfServing, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for model, said in (
        ("od_image_tensor", "the Object Detection API's outputs"),
        ("mg_image_tensor", "TF Model Garden's detection outputs (with image_info)"),
    ):
        config = detector_config(tmp_path, detectors.url, model)
        assert main(["--config", str(config), "check"]) in (0, 1)
        out = capsys.readouterr().out
        assert said in out, out
