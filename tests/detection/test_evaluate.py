"""Scoring on a COCO folder: detections go back to the images' pixels and category ids."""

import json

from PIL import Image

from effnet.detection.evaluate import evaluate_detector

from .stub import GivenDetections, boxes


def test_detections_are_scored_in_original_pixels_and_ids(tmp_path):
    (tmp_path / "images").mkdir()
    for name in ("a.png", "b.png"):
        Image.new("RGB", (128, 64)).save(tmp_path / "images" / name)
    coco = {
        "images": [{"id": 3, "file_name": "a.png", "width": 128, "height": 64},
                   {"id": 4, "file_name": "b.png", "width": 128, "height": 64}],
        "annotations": [
            {"id": 1, "image_id": 3, "category_id": 20, "bbox": [10, 20, 40, 30], "area": 1200,
             "iscrowd": 0},
            {"id": 2, "image_id": 4, "category_id": 10, "bbox": [60, 0, 60, 60], "area": 3600,
             "iscrowd": 0},
        ],
        "categories": [{"id": 10, "name": "x"}, {"id": 20, "name": "y"}],
    }  # fmt: skip
    (tmp_path / "annotations.json").write_text(json.dumps(coco))
    # the model sees 64x64 letterboxed inputs (scale 0.5); labels index the categories by id
    answers = [boxes([[5, 10, 25, 25]], [1]), boxes([[30, 0, 60, 30], [0, 0, 10, 10]], [0, 0])]
    model = GivenDetections(answers, image_size=64)
    result = evaluate_detector(model, tmp_path, batch_size=2)
    assert model.seen[0].shape == (2, 3, 64, 64)
    assert (result.map50, result.map, result.images) == (1.0, 1.0, 2)
    assert "mAP@.5 100.00" in result.format()
    wrong = evaluate_detector(GivenDetections(answers[::-1], 64), tmp_path, batch_size=2)
    assert wrong.map50 == 0.0  # boxes on the wrong images
