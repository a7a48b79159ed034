"""Detection as a :class:`effnet.train.task.Task`: what the one training loop needs from a
detector that it does not already know from a classifier.

* The model is :class:`~.model.EfficientDet` from the config's spec (input size, anchor scale, BN
  momentum, stochastic depth); the data are the run's COCO folders (:mod:`.rundata`), whose
  labels follow the training set's category names (or, on a resume, the run's own).
* Targets are a list of ``{"boxes", "labels"}`` dictionaries (one per image, any length),
  matched to the anchors of the batch's input size inside :meth:`DetectionTask.losses`; the loss
  is focal + weighted box loss (:func:`.loss.detection_loss`), in fp32 whatever the forward pass.
* Scoring predicts every rank's shard of a split, gathers the COCO records on every rank and
  computes COCO mAP@[.5:.95] (the headline) and mAP@.5 from all of them, with the loss on the
  same forward passes (what the divergence guard reads; detection has no other held-out loss).
* During a frozen-backbone epoch only the BiFPN and the heads learn and update their BN
  statistics; ``backbone_lr_scale`` scales the backbone's learning rate as for a classifier.
* The shipped checkpoint is the detector file (:func:`.checkpoint.save_detector`) with the run's
  val and test mAPs in its ``extra``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..train import distributed
from ..train.task import ExportFacts, Metric, ScoreContext, set_train_mode
from .anchors import anchors_for, batch_targets
from .checkpoint import save_detector
from .config import DetectionConfig
from .evaluate import MAX_DETECTIONS, SCORE_THRESHOLD, DetectionResult, coco_records
from .loss import detection_loss, flatten_outputs
from .metrics import coco_map
from .model import EfficientDet
from .rundata import RunData, load_run_data
from .spec import DetSpec, get_det_spec

#: Modules whose parameters are the head: they learn (and update BN statistics) while the
#: backbone is frozen, at the full learning rate when ``backbone_lr_scale`` slows the backbone.
HEAD_MODULES = ("fpn.", "class_net.", "box_net.")


@dataclass(frozen=True)
class DetectionScores:
    """A split's COCO scores and the mean training loss on the same images."""

    result: DetectionResult
    loss: float | None  # None: nothing scored


def det_spec_for(cfg: DetectionConfig) -> DetSpec:
    """The model's spec with the config's input size, anchor scale, BN momentum, drop path."""
    changes: dict[str, Any] = {}
    for key in ("image_size", "anchor_scale", "bn_momentum", "drop_path_rate"):
        if getattr(cfg, key) is not None:
            changes[key] = getattr(cfg, key)
    return get_det_spec(cfg.model).replace(**changes)


class DetectionTask:
    """EfficientDet training: anchors, focal + box loss, judged by mAP.

    ``spec`` and ``num_classes`` are known once :meth:`spec` and :meth:`load_data` ran (the loop
    calls them first), or given for a model built elsewhere (:meth:`for_model`).
    """

    name = "detection"
    metric = Metric(
        name="map",
        key="val_map",
        title="mAP@[.5:.95]",
        label="val mAP@[.5:.95] (%)",
        loss_label="focal + 50 x box loss",
        split="val",
    )

    def __init__(self, cfg: DetectionConfig | None = None):
        self.cfg = cfg
        self.det_spec: DetSpec | None = det_spec_for(cfg) if cfg is not None else None
        self.num_classes = 0

    @classmethod
    def for_model(cls, model: EfficientDet) -> DetectionTask:
        """The task of an existing detector (its spec and classes), for its loss."""
        task = cls()
        task.det_spec, task.num_classes = model.spec, model.num_classes
        return task

    # ---- what is trained ------------------------------------------------------------------------
    def spec(self, cfg: DetectionConfig) -> DetSpec:
        self.det_spec = det_spec_for(cfg)
        return self.det_spec

    def image_size(self, cfg: DetectionConfig, spec: DetSpec) -> int:
        return spec.image_size

    def load_data(
        self, cfg: DetectionConfig, image_size: int, say: Any, classes: list[str] | None = None
    ) -> RunData:
        """The run's COCO folders; labels follow ``classes`` (a resumed run's) when given."""
        data = load_run_data(cfg, image_size, classes, say)
        self.num_classes = data.num_classes
        return data

    def build_model(
        self, cfg: DetectionConfig, spec: DetSpec, data: RunData, d: distributed.Dist
    ) -> nn.Module:
        torch.manual_seed(cfg.seed)
        model = EfficientDet(spec, data.num_classes)
        model.class_names = list(data.class_names)
        model.to(device=d.device)
        if cfg.sync_bn and d.enabled:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return model

    def is_head(self, parameter: str) -> bool:
        return parameter.startswith(HEAD_MODULES)

    def train_mode(self, model: nn.Module, frozen_backbone: bool) -> None:
        """Train mode; a frozen backbone keeps its BN statistics fixed (BiFPN and heads learn)."""
        set_train_mode(model, frozen_backbone, self.is_head)

    # ---- one batch ------------------------------------------------------------------------------
    def collate(self, batch: list[Any]) -> tuple[torch.Tensor, list[dict[str, Any]], list[Any]]:
        """Stack the images; targets stay a list (each image has its own number of boxes)."""
        images, targets = zip(*batch, strict=True)
        return torch.stack(images), list(targets), []

    def to_device(self, targets: list[dict[str, Any]], device: torch.device) -> list[dict]:
        """Each image's boxes and labels on ``device`` (other keys stay behind)."""
        return [{k: t[k].to(device) for k in ("boxes", "labels")} for t in targets]

    def losses(
        self, outputs: Any, targets: list[dict[str, torch.Tensor]], images: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(loss, class loss, box loss) of a batch from the model's (class maps, box maps).

        The maps are flattened in fp32, so an autocast forward pass changes no loss arithmetic.
        """
        assert self.det_spec is not None, "the task's spec is set by spec() or for_model()"
        class_maps, box_maps = outputs
        anchors = anchors_for(self.det_spec, tuple(images.shape[-2:]), images.device)
        classes, codes, positive = batch_targets(anchors, self.to_device(targets, images.device))
        return detection_loss(
            flatten_outputs(class_maps, self.num_classes).float(),
            flatten_outputs(box_maps, 4).float(),
            classes,
            codes,
            positive,
        )

    def loss(
        self, outputs: Any, targets: list[dict[str, torch.Tensor]], images: torch.Tensor
    ) -> torch.Tensor:
        """The batch's training loss (see :meth:`losses`)."""
        return self.losses(outputs, targets, images)[0]

    # ---- how it is judged -----------------------------------------------------------------------
    def prepare_scoring(self, model: nn.Module, data: RunData) -> nn.Module:
        """``model``, or with ``bn_calibration_images`` a copy whose BN statistics are
        re-estimated on those training images (:func:`recalibrate_bn`)."""
        if data.calibration is None:
            return model
        return recalibrate_bn(copy.deepcopy(model), data.calibration)

    @torch.no_grad()
    def score(self, model: nn.Module, dataset: Any, ctx: ScoreContext) -> DetectionScores:
        """COCO mAP of ``model`` on ``dataset`` (a COCO folder), every rank predicting its shard,
        and the mean loss on the same forward passes."""
        was_training = model.training
        model.eval()
        records: list[dict[str, Any]] = []
        loss_sum, count = 0.0, 0
        device, amp = ctx.d.device, ctx.amp_dtype
        for images, targets, _ in ctx.loader(dataset, self.collate):
            images = images.to(device)
            with torch.autocast(device.type, amp, enabled=amp is not None):
                outputs = model(images)
            outputs = tuple([m.float() for m in maps] for maps in outputs)
            loss_sum += self.loss(outputs, targets, images).item() * len(images)
            count += len(images)
            found = model.detections(outputs, images.shape, SCORE_THRESHOLD, MAX_DETECTIONS)
            records += coco_records(found, targets, dataset.category_ids)
        model.train(was_training)
        shards = distributed.gather_objects(ctx.d, (records, loss_sum, count))
        records = [r for shard, _, _ in shards for r in shard]
        loss_sum, count = sum(s[1] for s in shards), sum(s[2] for s in shards)
        scores = coco_map(dataset.coco, records)
        result = DetectionResult(
            scores["map"], scores["map50"], scores["map75"], count, dataset.clipped
        )
        return DetectionScores(result, loss_sum / count if count else None)

    def headline(self, scores: DetectionScores) -> float:
        """COCO mAP@[.5:.95] on the scored images."""
        return scores.result.map

    def score_loss(self, scores: DetectionScores) -> float | None:
        return scores.loss

    def probe(self, data: RunData, count: int) -> Any:
        """The first ``count`` training images, unflipped (a detection run always has a val
        split, so the loop never needs this; it is here for the interface's sake)."""
        return torch.utils.data.Subset(data.plain_train, range(min(count, len(data.plain_train))))

    # ---- what ships -----------------------------------------------------------------------------
    def export(self, path: Any, model: nn.Module, run: ExportFacts) -> None:
        """The detector file, with its val and test mAPs (when scored) in ``extra``."""
        val, test = run.val_scores, run.test_scores
        extra = {
            "trained_on": run.cfg.dataset,
            "epochs": run.progress.epoch,
            "steps": run.progress.step,
            "best_val_map": run.progress.best_val_acc,
            "val_map": val.result.map if val is not None else None,
            "val_map50": val.result.map50 if val is not None else None,
            "test_map": test.result.map if test is not None else None,
            "test_map50": test.result.map50 if test is not None else None,
        }
        save_detector(path, model, extra)  # type: ignore[arg-type]

    def facts(self, data: RunData, spec: DetSpec) -> None:
        """None: chance has no single value for mAP, so no meaningless-result warning."""
        return None


@torch.no_grad()
def recalibrate_bn(model: nn.Module, batches: list[torch.Tensor]) -> nn.Module:
    """Re-estimate every BN's running mean and variance as the plain average over ``batches``.

    "Precise BN" (Wu & Johnson, 2021): the running statistics are an exponential average over
    steps whose weights kept moving. Off by default (``bn_calibration_images=0``): on the shapes
    set the EMA's own averaged statistics scored better (see :class:`DetectionConfig`), likely
    because these batches run in train mode, with stochastic depth. Returns ``model`` in eval mode.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    momenta = [bn.momentum for bn in norms]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average
    model.train()
    device = next(model.parameters()).device
    for images in batches:
        model(images.to(device))
    for bn, momentum in zip(norms, momenta, strict=True):
        bn.momentum = momentum
    return model.eval()
