"""Detections drawn on their image: a box and a "class score" tag per object, as a PNG."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..fileio import atomic_write
from .postprocess import Detections

#: Distinct colours, one per class (cycled): matplotlib's tab10.
PALETTE = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
)  # fmt: skip
MIN_SIDE = 512  # small images are enlarged first so the tags stay legible


def draw_detections(image: Any, detections: Detections, class_names: list[str]) -> Any:
    """A copy of the PIL ``image`` (enlarged to >= 512 px) with the boxes and their tags."""
    from PIL import Image, ImageDraw, ImageFont

    zoom = max(1.0, MIN_SIDE / max(image.width, image.height))
    size = (round(image.width * zoom), round(image.height * zoom))
    canvas = image.convert("RGB").resize(size, Image.Resampling.NEAREST)  # crisp pixels
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=max(12, round(canvas.width / 40)))
    tags: list[tuple[float, float, float, float]] = []
    for box, score, label in zip(
        detections.boxes.tolist(), detections.scores.tolist(), detections.labels.tolist(),
        strict=True,
    ):  # fmt: skip
        color = PALETTE[int(label) % len(PALETTE)]
        x1, y1, x2, y2 = (v * zoom for v in box)
        draw.rectangle((x1, y1, x2, y2), outline=color, width=max(2, round(zoom)))
        tag = f"{class_names[int(label)]} {score:.2f}"
        left, top, right, bottom = draw.textbbox((x1, y1), tag, font=font)
        height = bottom - top
        ty = y1 - height - 4 if y1 - height - 4 >= 0 else y1
        width = right - left + 4
        while any(_overlap((x1, ty, x1 + width, ty + height + 4), tag) for tag in tags):
            ty += height + 4  # the same spot is tagged already (one box, two classes): stack
        tags.append((x1, ty, x1 + width, ty + height + 4))
        draw.rectangle(tags[-1], fill=color)
        draw.text((x1 + 2, ty + 2 - (top - y1)), tag, fill=(255, 255, 255), font=font)
    return canvas


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def save_png(image: Any, path: str | os.PathLike) -> Path:
    path = Path(path)
    with atomic_write(path) as tmp:
        image.save(tmp, format="PNG")
    return path
