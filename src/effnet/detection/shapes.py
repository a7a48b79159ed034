"""A labelled detection data set that needs no download: scikit-image's random shapes.

``skimage.draw.random_shapes`` draws circles, rectangles, triangles and ellipses of random size
and colour on a white canvas and names each one with its class. Every image comes from its own
seeded generator, so a split is a pure function of (seed, split, index): the same files on every
machine. Each split is written as a COCO-format folder (``annotations.json`` + ``images/``), the
layout :class:`~effnet.detection.coco.CocoFolder` reads for users' own data too. Boxes are the
tight boxes of the drawn pixels (shapes do not overlap, and no shape pixel is pure white).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..fileio import atomic_write

#: The classes, in scikit-image's names; COCO category ids are 1-based in this order.
SHAPE_CLASSES = ("circle", "rectangle", "triangle", "ellipse")
SPLITS = {"train": 0, "val": 1, "test": 2}


@dataclass(frozen=True)
class ShapesSpec:
    """What a shapes data set holds; written beside it so a changed spec is regenerated."""

    image_size: int = 64
    train: int = 1200
    val: int = 200
    test: int = 200
    min_shapes: int = 1
    max_shapes: int = 3
    min_size: int = 12
    max_size: int = 32
    seed: int = 0

    def count(self, split: str) -> int:
        return int(getattr(self, split))


def shapes_image(spec: ShapesSpec, split: str, index: int) -> tuple[np.ndarray, list[dict]]:
    """One image (H, W, 3 uint8) and its objects: ``{"label": name, "bbox": [x, y, w, h]}``."""
    from skimage.draw import random_shapes

    rng = np.random.default_rng([spec.seed, SPLITS[split], index])
    size = spec.image_size
    image, labels = random_shapes(
        (size, size),
        max_shapes=spec.max_shapes,
        min_shapes=spec.min_shapes,
        min_size=spec.min_size,
        max_size=spec.max_size,
        allow_overlap=False,
        rng=rng,
    )
    drawn = (image != 255).any(axis=-1)
    objects = []
    for name, ((r0, r1), (c0, c1)) in labels:
        region = np.zeros_like(drawn)
        region[max(r0, 0) : max(r1, 0), max(c0, 0) : max(c1, 0)] = True
        rows, cols = np.nonzero(drawn & region)
        if rows.size == 0:  # a shape clipped away entirely
            continue
        x0, y0, x1, y1 = cols.min(), rows.min(), cols.max() + 1, rows.max() + 1
        objects.append({"label": name, "bbox": [int(x0), int(y0), int(x1 - x0), int(y1 - y0)]})
    return image, objects


def write_split(spec: ShapesSpec, split: str, folder: Path) -> Path:
    """Write ``folder/images/*.png`` and ``folder/annotations.json`` (COCO) for one split."""
    from PIL import Image

    images_dir = folder / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    coco: dict = {
        "images": [],
        "annotations": [],
        "categories": [{"id": i + 1, "name": n} for i, n in enumerate(SHAPE_CLASSES)],
    }
    for index in range(spec.count(split)):
        image, objects = shapes_image(spec, split, index)
        name = f"{index:06d}.png"
        Image.fromarray(image).save(images_dir / name)
        image_id = index + 1
        coco["images"].append(
            {"id": image_id, "file_name": name, "width": spec.image_size, "height": spec.image_size}
        )
        for obj in objects:
            coco["annotations"].append(
                {
                    "id": len(coco["annotations"]) + 1,
                    "image_id": image_id,
                    "category_id": SHAPE_CLASSES.index(obj["label"]) + 1,
                    "bbox": obj["bbox"],
                    "area": obj["bbox"][2] * obj["bbox"][3],
                    "iscrowd": 0,
                }
            )
    path = folder / "annotations.json"
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(coco))
    return path


def ensure_shapes(root: str | Path, spec: ShapesSpec = ShapesSpec()) -> Path:
    """The shapes data set under ``root`` (train/, val/, test/), written once per spec."""
    root = Path(root)
    marker = root / "shapes.json"
    wanted = json.dumps(asdict(spec), sort_keys=True)
    if marker.is_file() and marker.read_text() == wanted:
        return root
    for split in SPLITS:
        write_split(spec, split, root / split)
    with atomic_write(marker) as tmp:
        tmp.write_text(wanted)
    return root
