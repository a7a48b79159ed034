"""The task interface: classification's loss and modes are what the loop computed before it;
detection's loss is fp32 whatever the forward pass's precision, and its frozen backbone keeps the
BiFPN and heads learning; a config names its task, and a detection recipe's absolute learning
rate is the loop's, whatever the batch."""

import math

import pytest
import torch
from torch import nn

from effnet.detection.config import DetectionConfig
from effnet.detection.model import EfficientDet
from effnet.detection.spec import get_det_spec
from effnet.detection.task import DetectionTask
from effnet.detection.train import batch_loss
from effnet.models import EfficientNet
from effnet.registry import get_spec
from effnet.train import TrainConfig
from effnet.train.build import plan_run
from effnet.train.task import ClassificationTask, Task, task_for


def test_both_tasks_supply_every_member_the_loop_reads():
    for task in (ClassificationTask(), DetectionTask(DetectionConfig())):
        assert isinstance(task, Task)
    assert isinstance(task_for(TrainConfig()), ClassificationTask)
    assert isinstance(task_for(DetectionConfig()), DetectionTask)
    assert ClassificationTask.metric.key == "val_acc"  # logs, plots and summaries unchanged
    assert DetectionTask.metric.name == "map"


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_classification_loss_is_label_smoothed_cross_entropy(smoothing):
    torch.manual_seed(0)
    logits, labels = torch.randn(5, 4), torch.tensor([0, 3, 1, 1, 2])
    logp = logits.log_softmax(dim=1)
    by_hand = -((1 - smoothing) * logp[range(5), labels] + smoothing * logp.mean(dim=1)).mean()
    loss = ClassificationTask(TrainConfig(label_smoothing=smoothing)).loss(
        logits, labels, torch.empty(5, 3, 8, 8)
    )
    assert math.isclose(loss.item(), by_hand.item(), rel_tol=1e-6)


def test_classification_loss_of_half_precision_logits_is_fp32():
    logits = torch.randn(3, 4).to(torch.bfloat16)
    loss = ClassificationTask().loss(logits, torch.tensor([0, 1, 2]), torch.empty(3))
    assert loss.dtype == torch.float32


def _bn_training(model: nn.Module) -> dict[str, bool]:
    return {
        name: m.training
        for name, m in model.named_modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
    }


def test_classification_frozen_backbone_fixes_every_backbone_bn():
    model = EfficientNet(get_spec("efficientnet_b0"), num_classes=3)
    ClassificationTask().train_mode(model, frozen_backbone=True)
    assert model.training and not any(_bn_training(model).values())
    ClassificationTask().train_mode(model, frozen_backbone=False)
    assert all(_bn_training(model).values())


@pytest.fixture(scope="module")
def tiny_detector():
    torch.manual_seed(0)
    return EfficientDet(get_det_spec("d0").replace(image_size=64), num_classes=3)


def test_detection_frozen_backbone_keeps_bifpn_and_heads_learning(tiny_detector):
    DetectionTask.for_model(tiny_detector).train_mode(tiny_detector, frozen_backbone=True)
    modes = _bn_training(tiny_detector)
    backbone = [v for k, v in modes.items() if k.startswith("backbone")]
    rest = [v for k, v in modes.items() if not k.startswith("backbone")]
    assert backbone and rest and not any(backbone) and all(rest)


def test_detection_loss_moves_targets_and_is_fp32(tiny_detector):
    task = DetectionTask.for_model(tiny_detector)
    images = torch.randn(2, 3, 64, 64)
    targets = [
        {"boxes": torch.tensor([[4.0, 4.0, 40.0, 30.0]]), "labels": torch.tensor([1]), "id": 7},
        {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)},
    ]
    assert set(task.to_device(targets, torch.device("cpu"))[0]) == {"boxes", "labels"}
    tiny_detector.eval()
    with torch.no_grad():
        outputs = tiny_detector(images)
        loss, cls, box = task.losses(outputs, targets, images)
        low = task.loss(tuple([m.bfloat16() for m in maps] for maps in outputs), targets, images)
        again = batch_loss(tiny_detector, images, targets)[0]
    assert loss.dtype == low.dtype == torch.float32
    assert torch.isfinite(loss) and cls > 0 and box > 0
    assert math.isclose(low.item(), loss.item(), rel_tol=2e-2)  # bf16 maps, fp32 arithmetic
    assert again.item() == loss.item()  # the detector loop's loss is the task's


@pytest.mark.parametrize(("lr", "batch"), [(2e-3, 16), (1e-3, 3), (0.08, 7), (3e-4, 128)])
def test_a_detection_recipes_lr_is_absolute_whatever_the_batch(lr, batch):
    cfg = DetectionConfig(lr=lr, batch_size=batch, epochs=4, max_steps=9)
    plan = plan_run(cfg, 64, train_images=1000, world_size=1)
    assert plan.base_lr == lr and plan.batch_size == batch and plan.total_steps == 9
    classifier = plan_run(TrainConfig(batch_size=batch, lr_per_256=0.016), 64, 1000, 1)
    assert classifier.base_lr == pytest.approx(0.016 * batch / 256)  # scaled by the batch


def test_detection_tells_the_backbone_from_the_head():
    task = DetectionTask(DetectionConfig())
    assert task.is_head("class_net.conv.weight") and task.is_head("fpn.cells.0.w")
    assert not task.is_head("backbone.blocks.0.conv.weight")
    assert not task.is_head("fpn_extra.weight")  # a prefix of a name, not a module
