"""EfficientDet as a torch module: an effnet backbone, a BiFPN, and shared class/box nets.

The backbone is :class:`effnet.models.EfficientNet` with ``features_only=True``; the detector reads
its stride-8/16/32 maps (P3-P5). Submodule names (``backbone``, ``fpn``, ``class_net``,
``box_net``) are the state-dict layout of effnet detection checkpoints;
:mod:`effnet.detection.convert` maps the ``effdet`` package's layout onto it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..models import EfficientNet
from ..registry import get_spec
from .bifpn import BiFPN
from .head import HeadNet
from .spec import DetSpec, get_det_spec

if TYPE_CHECKING:
    from .postprocess import Detections

#: The backbone strides that become P3, P4, P5.
PYRAMID_STRIDES = (8, 16, 32)


class EfficientDet(nn.Module):
    """A detector from a :class:`~effnet.detection.spec.DetSpec`.

    ``forward`` returns per-level raw maps ``(class_maps, box_maps)``: logits shaped
    ``(batch, anchors * classes, H_l, W_l)`` and box codes ``(batch, anchors * 4, H_l, W_l)`` for
    P3 ... P7. :meth:`detect` decodes them into boxes. ``class_names``, ``mean``/``std`` (input
    normalisation of [0, 1] pixels) and ``weights_source`` travel with the model like
    EfficientNet's metadata.
    """

    def __init__(self, spec: DetSpec | str, num_classes: int = 90) -> None:
        super().__init__()
        spec = get_det_spec(spec)
        if num_classes < 1:
            raise ValueError(f"a detector needs at least one class, got {num_classes}")
        self.spec = spec
        self.num_classes = num_classes
        self.class_names: list[str] | None = None
        self.mean: tuple[float, ...] = (0.485, 0.456, 0.406)
        self.std: tuple[float, ...] = (0.229, 0.224, 0.225)
        self.weights_source: str | None = None
        backbone_spec = get_spec(spec.backbone).replace(
            bn_eps=spec.bn_eps, bn_momentum=spec.bn_momentum
        )
        self.backbone = EfficientNet(
            backbone_spec,
            num_classes=0,
            padding="same",
            drop_path_rate=spec.drop_path_rate,
            features_only=True,
        )
        info = self.backbone.feature_info
        self.levels = [i for i, f in enumerate(info) if f["reduction"] in PYRAMID_STRIDES]
        kw = dict(eps=spec.bn_eps, momentum=spec.bn_momentum)
        self.fpn = BiFPN(
            [info[i]["channels"] for i in self.levels],
            spec.fpn_channels,
            spec.fpn_repeats,
            spec.num_levels,
            spec.fusion,
            **kw,
        )
        head = dict(
            channels=spec.fpn_channels,
            num_anchors=spec.num_anchors,
            repeats=spec.head_repeats,
            num_levels=spec.num_levels,
            **kw,
        )
        self.class_net = HeadNet(outputs=num_classes, **head)
        self.box_net = HeadNet(outputs=4, **head)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """BiFPN: Glorot-uniform convs (the official init); heads: see :class:`HeadNet`."""
        for module in self.fpn.modules():
            if isinstance(module, nn.Conv2d):
                fan_in = module.weight[0].numel()
                fan_out = module.weight.shape[0] * module.weight[0, 0].numel() // module.groups
                limit = math.sqrt(3.0 / max(1.0, (fan_in + fan_out) / 2))
                nn.init.uniform_(module.weight, -limit, limit)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        self.class_net.reset_parameters(class_prior=True)
        self.box_net.reset_parameters(class_prior=False)

    def labels(self) -> list[str]:
        return list(self.class_names or (str(i) for i in range(self.num_classes)))

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The BiFPN's P3-P7 maps."""
        pyramid = self.backbone.forward_pyramid(x)
        return self.fpn([pyramid[i] for i in self.levels])

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        maps = self.forward_features(x)
        return self.class_net(maps), self.box_net(maps)

    @torch.no_grad()
    def detect(
        self, x: torch.Tensor, score_threshold: float = 0.05, max_detections: int = 100
    ) -> list[Detections]:
        """Boxes (x1, y1, x2, y2 in input pixels), scores and labels for each image of a batch."""
        return self.detections(self(x), x.shape, score_threshold, max_detections)

    def detections(
        self,
        outputs: tuple[list[torch.Tensor], list[torch.Tensor]],
        input_shape: torch.Size,
        score_threshold: float = 0.05,
        max_detections: int = 100,
    ) -> list[Detections]:
        """:meth:`detect` from a forward pass's ``outputs`` on inputs of ``input_shape`` (so one
        pass can give both a loss and boxes)."""
        from .anchors import anchors_for
        from .postprocess import postprocess

        class_maps, box_maps = outputs
        size = (int(input_shape[-2]), int(input_shape[-1]))
        anchors = anchors_for(self.spec, size, class_maps[0].device)
        return postprocess(
            class_maps, box_maps, anchors, self.num_classes, score_threshold, max_detections, size
        )
