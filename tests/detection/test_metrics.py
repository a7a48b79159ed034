"""COCO mAP through pycocotools: perfect, shifted and missing detections."""

from effnet.detection.metrics import coco_map

GT = {
    "images": [{"id": 1, "width": 64, "height": 64}, {"id": 2, "width": 64, "height": 64}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [4, 4, 20, 20], "area": 400,
         "iscrowd": 0},
        {"id": 2, "image_id": 2, "category_id": 2, "bbox": [30, 10, 16, 30], "area": 480,
         "iscrowd": 0},
    ],
    "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
}  # fmt: skip


def det(image, category, bbox, score=0.9):
    return {"image_id": image, "category_id": category, "bbox": bbox, "score": score}


def test_perfect_detections_score_one():
    scores = coco_map(GT, [det(1, 1, [4, 4, 20, 20]), det(2, 2, [30, 10, 16, 30])])
    assert scores == {"map": 1.0, "map50": 1.0, "map75": 1.0}


def test_a_box_at_iou_0_6_counts_at_0_5_only():
    # [4, 4, 20, 20] vs [4, 4, 20, 12]: IoU 0.6
    scores = coco_map(GT, [det(1, 1, [4, 4, 20, 12]), det(2, 2, [30, 10, 16, 30])])
    assert scores["map50"] == 1.0
    assert scores["map75"] == 0.5  # one class of two still perfect
    assert 0.5 < scores["map"] < 1.0


def test_wrong_class_and_nothing_score_zero():
    assert coco_map(GT, [det(1, 2, [4, 4, 20, 20])])["map50"] == 0.0
    assert coco_map(GT, []) == {"map": 0.0, "map50": 0.0, "map75": 0.0}
