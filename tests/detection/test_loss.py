"""Focal + box loss: equal to effdet's loss_fn (the official loss) on the same targets."""

import warnings

import torch

from effnet.detection.anchors import anchors_for, batch_targets
from effnet.detection.loss import detection_loss, flatten_outputs, focal_loss, huber_loss
from effnet.detection.spec import get_det_spec

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from effdet.anchors import AnchorLabeler, Anchors
    from effdet.loss import loss_fn


def test_focal_and_huber_elementwise():
    logits = torch.tensor([0.0, 2.0, -2.0])
    targets = torch.tensor([1.0, 1.0, 0.0])
    p = torch.sigmoid(logits)
    expected = torch.stack([
        0.25 * (1 - p[0]) ** 1.5 * -torch.log(p[0]),
        0.25 * (1 - p[1]) ** 1.5 * -torch.log(p[1]),
        0.75 * p[2] ** 1.5 * -torch.log(1 - p[2]),
    ])  # fmt: skip
    torch.testing.assert_close(focal_loss(logits, targets), expected)
    err = torch.tensor([0.05, -0.3])
    torch.testing.assert_close(
        huber_loss(err, torch.zeros(2)), torch.tensor([0.5 * 0.05**2, 0.1 * (0.3 - 0.05)])
    )


def test_detection_loss_equals_effdets():
    spec = get_det_spec("d0").replace(image_size=64, anchor_scale=2.0)
    boxes = [torch.tensor([[5.0, 6.0, 30.0, 28.0], [30.0, 33.0, 60.0, 50.0]]),
             torch.tensor([[10.0, 10.0, 20.0, 40.0]])]  # fmt: skip
    labels = [torch.tensor([0, 2]), torch.tensor([3])]
    ref_anchors = Anchors(3, 7, 3, list(spec.aspect_ratios), 2.0, (64, 64))
    ref_targets = AnchorLabeler(ref_anchors, 4, 0.5).batch_label_anchors(
        [b[:, [1, 0, 3, 2]] for b in boxes], [c + 1 for c in labels]
    )
    generator = torch.Generator().manual_seed(0)
    sizes = [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)]
    class_maps = [torch.randn(2, 36, h, w, generator=generator) for h, w in sizes]
    box_maps = [0.1 * torch.randn(2, 36, h, w, generator=generator) for h, w in sizes]
    want = loss_fn(class_maps, box_maps, *ref_targets, num_classes=4, alpha=0.25, gamma=1.5,
                   delta=0.1, box_loss_weight=50.0)  # fmt: skip
    given = [{"boxes": b, "labels": c} for b, c in zip(boxes, labels, strict=True)]
    targets = batch_targets(anchors_for(spec, (64, 64)), given)
    got = detection_loss(flatten_outputs(class_maps, 4), flatten_outputs(box_maps, 4), *targets)
    for mine, theirs in zip(got, want, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-6)
    assert got[2] > 0  # the box term is live
