"""Anchors, box codes and targets agree with effdet's (the official definitions)."""

import warnings

import pytest
import torch

from effnet.detection.anchors import (
    anchors_for,
    assign_targets,
    batch_targets,
    decode_boxes,
    encode_boxes,
    feature_sizes,
    make_anchors,
)
from effnet.detection.spec import get_det_spec

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from effdet.anchors import AnchorLabeler, Anchors

BOXES = [torch.tensor([[5.0, 6.0, 30.0, 28.0], [30.0, 33.0, 60.0, 50.0]]),
         torch.tensor([[10.0, 10.0, 20.0, 40.0]])]  # fmt: skip
LABELS = [torch.tensor([0, 2]), torch.tensor([3])]


def xyxy(yxyx: torch.Tensor) -> torch.Tensor:
    return yxyx[:, [1, 0, 3, 2]]


@pytest.mark.parametrize("name, size", [("d0", 512), ("d7", 1536), ("d0", 96)])
def test_anchors_equal_effdets(name, size):
    spec = get_det_spec(name).replace(image_size=size)
    ref = Anchors(3, 7, 3, list(spec.aspect_ratios), spec.anchor_scale, (size, size))
    mine = make_anchors(spec, (size, size))
    assert mine.shape == (sum(h * w for h, w in feature_sizes((size, size), 7)[3:]) * 9, 4)
    torch.testing.assert_close(mine, xyxy(ref.boxes), rtol=0, atol=1e-3)


def test_box_codes_round_trip_and_are_effdets_order():
    anchors = torch.tensor([[0.0, 0.0, 10.0, 20.0]])
    box = torch.tensor([[2.0, 4.0, 14.0, 28.0]])  # centre (8, 16) vs (5, 10); w 12 vs 10, h 24/20
    codes = encode_boxes(box, anchors)
    log12 = float(torch.tensor(1.2).log())
    expected = torch.tensor([[(16 - 10) / 20, (8 - 5) / 10, log12, log12]])  # ty tx th tw
    torch.testing.assert_close(codes, expected)
    torch.testing.assert_close(decode_boxes(codes, anchors), box)


def test_targets_equal_effdets_labeler():
    spec = get_det_spec("d0").replace(image_size=64, anchor_scale=2.0)
    ref = Anchors(3, 7, 3, list(spec.aspect_ratios), 2.0, (64, 64))
    labeler = AnchorLabeler(ref, 4, match_threshold=0.5)
    ref_cls, ref_box, ref_pos = labeler.batch_label_anchors(
        [b[:, [1, 0, 3, 2]] for b in BOXES], [label + 1 for label in LABELS]
    )
    given = [{"boxes": b, "labels": c} for b, c in zip(BOXES, LABELS, strict=True)]
    classes, codes, positive = batch_targets(anchors_for(spec, (64, 64)), given)
    torch.testing.assert_close(positive.sum(1).float(), ref_pos)
    flat_cls = torch.cat([c.reshape(2, -1) for c in ref_cls], 1)
    flat_box = torch.cat([b.reshape(2, -1, 4) for b in ref_box], 1)
    assert torch.equal(classes, flat_cls)
    torch.testing.assert_close(codes, flat_box, rtol=0, atol=1e-5)


def test_every_box_gets_an_anchor_even_a_tiny_one():
    spec = get_det_spec("d0").replace(image_size=64)
    anchors = anchors_for(spec, (64, 64))
    tiny = torch.tensor([[30.0, 30.0, 33.0, 33.0]])  # IoU with any anchor far below 0.5
    classes, codes, positive = assign_targets(anchors, tiny, torch.tensor([1]))
    assert positive.sum() == 1 and classes[positive].item() == 1
    torch.testing.assert_close(decode_boxes(codes[positive], anchors[positive]), tiny)
    none = assign_targets(anchors, torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))
    assert (none[0] == -1).all() and not none[2].any()
