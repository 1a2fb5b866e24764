"""Pillow adapter: the ``Drawer`` port, a detector's boxes drawn on the photo, in memory.

With drawing on, the photo is decoded once at reduced scale (JPEG draft), turned upright and
shrunk to ``[detect] draw_side_px``; the model's input is made from that, and once the model
has answered each box is drawn with its label in the class's colour and the result encoded as
a JPEG that never touches the disk. Chinese labels need a font with Chinese
glyphs: ``[detect] font``, else the first of Debian's CJK fonts found (``FONT_CANDIDATES``:
WenQuanYi Micro Hei is the small one, `apt install fonts-wqy-microhei`); with none, the
labels are drawn in English (the table's ``class_EN``) with Pillow's built-in font, and the
bot says so once at start (``font_warning``).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from bot.adapters.imaging import PhotoPreparer, load_for_longer_side
from bot.core.chat import Image as ImageMessage
from bot.core.detector import Box
from bot.core.serving import ModelInput
from bot.core.settings import DetectConfig, ImagesConfig

FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),  # fonts-wqy-microhei
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),  # fonts-noto-cjk
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),  # fonts-wqy-zenhei
    Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),  # fonts-droid-fallback
    Path("/usr/share/fonts/truetype/arphic/uming.ttc"),  # fonts-arphic-uming
)
PALETTE = (
    (230, 25, 75),
    (60, 180, 75),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
)
DRAWN_QUALITY = 85
CJK_PROBE = ("狗", "猫")  # two glyphs: a font without them draws the same empty box twice

FontType = ImageFont.FreeTypeFont | ImageFont.ImageFont


def has_chinese(path: Path) -> bool:
    """Whether the font at ``path`` draws Chinese glyphs (not its 'missing glyph' box)."""
    try:
        font = ImageFont.truetype(str(path), 24)
    except OSError:
        return False
    masks = [bytes(font.getmask(ch)) for ch in CJK_PROBE]
    return masks[0] != masks[1] and any(masks[0])


def find_font(configured: Path | None) -> Path | None:
    """The font for Chinese labels: the configured one, else the first found on the system."""
    for path in (configured,) if configured is not None else FONT_CANDIDATES:
        if path.is_file() and has_chinese(path):
            return path
    return None


def font_warning(settings: DetectConfig, font: Path | None) -> str | None:
    """The one line said at start when drawn labels fall back to English."""
    if not settings.draw or font is not None:
        return None
    why = (
        f"[detect] font {settings.font} has no Chinese glyphs"
        if settings.font
        else "no Chinese font was found"
    )
    return (
        f"{why}: boxes are labelled in English (install one with "
        "`apt install fonts-wqy-microhei`, or set [detect] font)"
    )


@dataclass
class Fonts:
    """Fonts by size, from one file (None: Pillow's built-in font, for English labels)."""

    path: Path | None

    def __post_init__(self) -> None:
        self._made: dict[int, FontType] = {}

    def __call__(self, size: int) -> FontType:
        if size not in self._made:
            if self.path is not None:
                self._made[size] = ImageFont.truetype(str(self.path), size)
            else:
                self._made[size] = ImageFont.load_default(size)
        return self._made[size]


@dataclass
class PhotoLook:
    """The ``Look`` port: the model's input, and (when drawing) the photo decoded once at the
    drawn size, held only until the answer is made."""

    payload: ModelInput
    photo: Image.Image | None
    fonts: Fonts

    def draw(self, boxes: Sequence[Box]) -> ImageMessage | None:
        if self.photo is None:
            return None
        img, self.photo = self.photo, None  # drawn once; the photo is let go at once
        draw_boxes(img, boxes, self.fonts, chinese=self.fonts.path is not None)
        out = io.BytesIO()
        img.save(out, format="JPEG", quality=DRAWN_QUALITY)
        return ImageMessage(out.getvalue(), name="detections.jpg")


@dataclass
class PhotoSight:
    """The ``Sight`` port over Pillow: without drawing, the model's input as any preparer
    makes it; with drawing, the photo decoded once at ``draw_side_px`` (reduced-scale JPEG
    decoding), the model's input shrunk from that, and the drawing done on it."""

    prepare: Callable[[], PhotoPreparer]
    settings: DetectConfig
    limits: ImagesConfig
    font_path: Path | None

    def __post_init__(self) -> None:
        self._fonts = Fonts(self.font_path)

    def __call__(self, data: bytes, *, drawing: bool) -> PhotoLook:
        prepare = self.prepare()
        if not drawing:
            return PhotoLook(prepare(data), None, self._fonts)
        side = max(self.settings.draw_side_px, prepare.longer_side_px or 0)
        photo = load_for_longer_side(data, side, self.limits, fast=True)
        return PhotoLook(prepare.from_upright(photo), photo, self._fonts)


def draw_boxes(
    img: Image.Image, boxes: Sequence[Box], font_of: Callable[[int], FontType], *, chinese: bool
) -> None:
    """Each box as a rectangle in its class's colour, its label on a filled strip above it
    (inside the box where the photo's edge leaves no room)."""
    width, height = img.size
    line = max(2, round(max(width, height) / 320))
    size = max(12, round(max(width, height) / 40))
    font = font_of(size)
    pen = ImageDraw.Draw(img)
    for box in boxes:
        colour = PALETTE[box.slot % len(PALETTE)]
        top, left, bottom, right = box.box
        x0, y0 = round(left * (width - 1)), round(top * (height - 1))
        x1, y1 = round(right * (width - 1)), round(bottom * (height - 1))
        pen.rectangle((x0, y0, x1, y1), outline=colour, width=line)
        text = f"{box.caption if chinese else box.english} {box.score * 100:.0f}%"
        tx0, ty0, tx1, ty1 = pen.textbbox((0, 0), text, font=font)
        tw, th = tx1 - tx0 + 2 * line, ty1 - ty0 + 2 * line
        ty = y0 - th if y0 - th >= 0 else y0
        pen.rectangle((x0, ty, x0 + tw, ty + th), fill=colour)
        pen.text((x0 + line - tx0, ty + line - ty0), text, fill=(255, 255, 255), font=font)
