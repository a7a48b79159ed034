"""The shapes data set: seeded, COCO-format, with tight boxes around the drawn pixels."""

import json

import numpy as np

from effnet.detection.shapes import SHAPE_CLASSES, ShapesSpec, ensure_shapes, shapes_image

SMALL = ShapesSpec(image_size=48, train=6, val=3, test=2, min_size=10, max_size=20)


def test_each_image_is_a_pure_function_of_seed_split_and_index():
    a, objects_a = shapes_image(SMALL, "train", 3)
    b, objects_b = shapes_image(SMALL, "train", 3)
    c, _ = shapes_image(SMALL, "val", 3)
    assert np.array_equal(a, b) and objects_a == objects_b
    assert not np.array_equal(a, c)


def test_boxes_are_tight_around_the_drawn_shapes():
    for index in range(5):
        image, objects = shapes_image(SMALL, "train", index)
        drawn = (image != 255).any(-1)
        covered = np.zeros_like(drawn)
        assert 1 <= len(objects) <= 3
        for obj in objects:
            assert obj["label"] in SHAPE_CLASSES
            x, y, w, h = obj["bbox"]
            box = drawn[y : y + h, x : x + w]
            assert box[0].any() and box[-1].any() and box[:, 0].any() and box[:, -1].any()
            covered[y : y + h, x : x + w] = True
        assert not (drawn & ~covered).any()  # every shape pixel lies in some box


def test_splits_are_written_once_as_coco(tmp_path):
    root = ensure_shapes(tmp_path, SMALL)
    coco = json.loads((root / "train" / "annotations.json").read_text())
    assert len(coco["images"]) == 6 and len(list((root / "train" / "images").glob("*.png"))) == 6
    assert [c["name"] for c in coco["categories"]] == list(SHAPE_CLASSES)
    assert all(a["iscrowd"] == 0 and a["area"] > 0 for a in coco["annotations"])
    assert (root / "test" / "annotations.json").is_file()
    stamp = (root / "val" / "annotations.json").stat().st_mtime_ns
    ensure_shapes(tmp_path, SMALL)  # same spec: nothing rewritten
    assert (root / "val" / "annotations.json").stat().st_mtime_ns == stamp
