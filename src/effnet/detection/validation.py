"""Reading a COCO ``annotations.json`` and checking every field before anything trains on it.

A detector trained on a box of negative width learns NaN, and one scored against an annotation
naming an unknown image raises deep inside pycocotools; so the file is checked once, here, and
any fault is one ``ValueError`` line naming the file and the entry (``annotations[4] (id 17)``).

Box policy: a box that reaches past its image's border is **clipped** to the image and counted
(:attr:`Annotations.clipped`, which training and evaluation report); a box with NaN or infinite
coordinates, a width or height <= 0, or less than :data:`MIN_SIDE` left after clipping (it lies
wholly outside the image, or is a sliver) is **refused**, never dropped, so no object goes
missing silently. Also refused: duplicate image, annotation or category ids, two categories of
one name, annotations naming an unknown image or category, and any field of the wrong type. The
result is a clean COCO dict holding only the fields effnet and pycocotools read, with ``area``
filled in where the file has none.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

SECTIONS = ("images", "annotations", "categories")
#: The smallest side (pixels) of a box within its image: below it a box holds no pixel, and its
#: corners may round to one point in float32, where the loss takes log(width).
MIN_SIDE = 0.01


@dataclass
class Annotations:
    """A checked ``annotations.json``: ``coco`` (images, annotations, categories) and how many
    boxes were clipped to their image."""

    path: Path
    coco: dict[str, list[dict[str, Any]]]
    clipped: int = 0


def read_annotations(path: str | Path) -> Annotations:
    """Parse and check ``path``; raise one ``ValueError`` line naming it and the faulty field."""
    path = Path(path)
    check = _Checker(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not UTF-8 text ({err.reason} at byte {err.start})") from None
    except ValueError as err:  # JSONDecodeError, or an integer of more than 4300 digits
        raise ValueError(f"{path} is not valid JSON ({err})") from None
    except RecursionError:
        raise ValueError(f"{path} is nested too deeply to be COCO annotations") from None
    if not isinstance(raw, dict):
        check.fail("the file", f"must be a JSON object, got {_kind(raw)}")
    for key in SECTIONS:
        if key not in raw:
            check.fail(f"'{key}'", "is missing (COCO needs images, annotations and categories)")
        if not isinstance(raw[key], list):
            check.fail(f"'{key}'", f"must be a list, got {_kind(raw[key])}")
    categories = [check.category(i, entry) for i, entry in enumerate(raw["categories"])]
    images = [check.image(i, entry) for i, entry in enumerate(raw["images"])]
    if not categories:
        check.fail("'categories'", "is empty: there is nothing to detect")
    check.unique("categories", [c["id"] for c in categories], "id")
    check.unique("categories", [c["name"] for c in categories], "name")
    check.unique("images", [i["id"] for i in images], "id")
    sizes = {i["id"]: (i["width"], i["height"]) for i in images}
    known = {c["id"] for c in categories}
    annotations = [
        check.annotation(i, entry, sizes, known) for i, entry in enumerate(raw["annotations"])
    ]
    check.unique("annotations", [a["id"] for a in annotations], "id")
    coco = {"images": images, "annotations": annotations, "categories": categories}
    return Annotations(path, coco, check.clipped)


def _kind(value: Any) -> str:
    """A JSON value's type in JSON's words, for messages."""
    if isinstance(value, bool):
        return "a boolean"
    return {
        dict: "an object", list: "a list", str: "a string", int: "an integer", float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)  # fmt: skip


def _show(value: Any) -> str:
    """``value`` as JSON, cut short: a message stays one readable line whatever the file holds."""
    text = json.dumps(value) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class _Checker:
    """The checks of one file; ``fail`` raises the one-line error naming it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.clipped = 0

    def fail(self, where: str, problem: str) -> NoReturn:
        raise ValueError(f"{self.path}: {where} {problem}")

    def entry(self, section: str, index: int, entry: Any) -> str:
        """Where an entry is, with its id when it has a usable one; refuse a non-object."""
        if not isinstance(entry, dict):
            self.fail(f"{section}[{index}]", f"must be an object, got {_kind(entry)}")
        ident = entry.get("id")
        named = isinstance(ident, int) and not isinstance(ident, bool)
        return f"{section}[{index}] (id {ident})" if named else f"{section}[{index}]"

    def field(self, where: str, entry: dict, key: str, kind: str) -> Any:
        """``entry[key]`` if present and of ``kind`` ("int", "str", "number")."""
        if key not in entry:
            self.fail(f"{where}:", f"'{key}' is missing")
        value = entry[key]
        ok = {
            "int": isinstance(value, int) and not isinstance(value, bool),
            "str": isinstance(value, str) and value.strip() != "",
            "number": isinstance(value, int | float) and not isinstance(value, bool),
        }[kind]
        if not ok:
            wanted = {"int": "an integer", "str": "a non-empty string", "number": "a number"}[kind]
            self.fail(f"{where}:", f"'{key}' must be {wanted}, got {_show(value)}")
        if kind == "number":
            try:
                value = float(value)
            except OverflowError:
                value = math.inf
            if not math.isfinite(value):
                self.fail(f"{where}:", f"'{key}' must be finite, got {_show(entry[key])}")
        return value

    def unique(self, section: str, values: list, key: str) -> None:
        seen: dict[Any, int] = {}
        for index, value in enumerate(values):
            if value in seen:
                self.fail(
                    f"{section}[{index}]:",
                    f"{key} {_show(value)} is already used by {section}[{seen[value]}]",
                )
            seen[value] = index

    def category(self, index: int, entry: Any) -> dict[str, Any]:
        where = self.entry("categories", index, entry)
        return {"id": self.field(where, entry, "id", "int"),
                "name": self.field(where, entry, "name", "str")}  # fmt: skip

    def image(self, index: int, entry: Any) -> dict[str, Any]:
        where = self.entry("images", index, entry)
        image = {"id": self.field(where, entry, "id", "int"),
                 "file_name": self.field(where, entry, "file_name", "str")}  # fmt: skip
        for key in ("width", "height"):
            size = self.field(where, entry, key, "int")
            if size < 1:
                self.fail(f"{where}:", f"'{key}' must be >= 1, got {size}")
            image[key] = size
        return image

    def annotation(
        self, index: int, entry: Any, sizes: dict[int, tuple[int, int]], categories: set[int]
    ) -> dict[str, Any]:
        where = self.entry("annotations", index, entry)
        ann = {key: self.field(where, entry, key, "int") for key in ("id", "image_id")}
        ann["category_id"] = self.field(where, entry, "category_id", "int")
        if ann["image_id"] not in sizes:
            self.fail(f"{where}:", f"image_id {ann['image_id']} names no image in 'images'")
        if ann["category_id"] not in categories:
            self.fail(f"{where}:", f"category_id {ann['category_id']} names no category")
        ann["bbox"] = self.box(where, entry, sizes[ann["image_id"]])
        crowd = entry.get("iscrowd", 0)
        if crowd not in (0, 1) or isinstance(crowd, float):
            self.fail(f"{where}:", f"'iscrowd' must be 0 or 1, got {_show(crowd)}")
        ann["iscrowd"] = int(crowd)
        if "area" not in entry:  # pycocotools needs it (its small/medium/large ranges)
            ann["area"] = ann["bbox"][2] * ann["bbox"][3]
        elif (area := self.field(where, entry, "area", "number")) < 0:
            self.fail(f"{where}:", f"'area' must be >= 0, got {_show(entry['area'])}")
        else:
            ann["area"] = area
        return ann

    def box(self, where: str, entry: dict, size: tuple[int, int]) -> list[float]:
        """The checked [x, y, w, h], clipped to the image (counted) when it reaches past it."""
        bbox = entry.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4:
            self.fail(f"{where}:", f"'bbox' must be 4 numbers [x, y, w, h], got {_show(bbox)}")
        x, y, w, h = (self.field(where, {"bbox": v}, "bbox", "number") for v in bbox)
        if w <= 0 or h <= 0:
            self.fail(f"{where}:", f"bbox {_show(bbox)} has a width or height <= 0")
        x1, y1 = max(x, 0.0), max(y, 0.0)
        x2, y2 = min(x + w, float(size[0])), min(y + h, float(size[1]))
        if x2 - x1 < MIN_SIDE or y2 - y1 < MIN_SIDE:
            image = f"its {size[0]}x{size[1]} image"
            problem = (
                f"lies outside {image}"
                if x2 <= x1 or y2 <= y1
                else f"is under {MIN_SIDE} px wide or high within {image}"
            )
            self.fail(f"{where}:", f"bbox {_show(bbox)} {problem}")
        if (x1, y1, x2, y2) != (x, y, x + w, y + h):
            self.clipped += 1
        return [x1, y1, x2 - x1, y2 - y1]
