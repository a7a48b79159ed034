"""Decoding and NMS: the right box comes out once, duplicates and weak scores do not."""

import torch

from effnet.detection.anchors import anchors_for, encode_boxes
from effnet.detection.postprocess import Detections, postprocess
from effnet.detection.spec import get_det_spec

SPEC = get_det_spec("d0").replace(image_size=64, anchor_scale=2.0)
SIZES = [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)]


def head_maps(logits: torch.Tensor, codes: torch.Tensor, classes: int) -> tuple[list, list]:
    """Per-level maps whose flattening is ``logits`` (N, C) and ``codes`` (N, 4)."""
    class_maps, box_maps, start = [], [], 0
    for h, w in SIZES:
        n = h * w * 9
        class_maps.append(
            logits[start : start + n].reshape(1, h, w, 9 * classes).permute(0, 3, 1, 2)
        )
        box_maps.append(codes[start : start + n].reshape(1, h, w, 36).permute(0, 3, 1, 2))
        start += n
    return class_maps, box_maps


def test_a_confident_anchor_becomes_one_box_and_its_neighbours_are_suppressed():
    anchors = anchors_for(SPEC, (64, 64))
    target = torch.tensor([[10.0, 12.0, 34.0, 30.0]])
    logits = torch.full((anchors.shape[0], 2), -8.0)
    codes = encode_boxes(target.expand(anchors.shape[0], 4), anchors)  # all anchors say: target
    best = 100  # any anchor: the codes make every anchor predict the target box
    logits[best, 1] = 4.0  # confident class 1
    logits[best + 1, 1] = 2.0  # a weaker duplicate of the same box: NMS removes it
    logits[best + 2, 0] = 1.0  # the same box for class 0: NMS is per class, it stays
    class_maps, box_maps = head_maps(logits, codes, 2)
    (found,) = postprocess(class_maps, box_maps, anchors, 2, score_threshold=0.05)
    assert found.labels.tolist() == [1, 0]
    torch.testing.assert_close(found.scores, torch.sigmoid(torch.tensor([4.0, 1.0])))
    torch.testing.assert_close(found.boxes, target.expand(2, 4), rtol=0, atol=1e-4)


def test_threshold_limit_and_scaling():
    anchors = anchors_for(SPEC, (64, 64))
    logits = torch.linspace(-6, 3, anchors.shape[0] * 3).reshape(-1, 3)
    class_maps, box_maps = head_maps(logits, torch.zeros(anchors.shape[0], 4), 3)
    (found,) = postprocess(class_maps, box_maps, anchors, 3, 0.5, max_detections=5)
    assert len(found.scores) == 5 and (found.scores >= 0.5).all()
    assert (found.scores[:-1] >= found.scores[1:]).all()  # best first
    half = Detections(found.boxes, found.scores, found.labels).scaled(0.5, 2.0)
    torch.testing.assert_close(half.boxes[:, 0], found.boxes[:, 0] * 0.5)
    torch.testing.assert_close(half.boxes[:, 1], found.boxes[:, 1] * 2.0)
