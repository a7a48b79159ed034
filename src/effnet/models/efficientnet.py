"""The torch model built from a :class:`~effnet.spec.NetSpec`.

One builder serves EfficientNet and the spec-expressed baselines alike, so anything ``scale()``
produces can be trained. Submodule names (``stem``, ``blocks.<stage>.<block>``, ``head``,
``classifier``) are the state-dict layout that effnet checkpoints use; converters in
``effnet.weights`` map peers' layouts onto it rather than bending the model.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..nn import ConvBNAct, make_block
from ..spec import NetSpec

if TYPE_CHECKING:  # a type only: the data layer sits above the models
    from ..data.preprocess import Preprocess


class EfficientNet(nn.Module):
    """A classification network (or multi-scale feature extractor) from a spec.

    Args:
        spec: the architecture.
        num_classes: classifier outputs; 0 keeps pooled features as the output.
        in_chans: input image channels.
        padding: ``"symmetric"`` (PyTorch-trained weights) or ``"same"`` (TensorFlow-trained).
        dropout: dropout before the classifier; default from the spec (0.2 for B0 ... 0.5 for B7).
        drop_path_rate: stochastic-depth drop rate of the last block; it grows linearly from 0 at
            the first block (paper: survival probability 0.8 at the end). Default from the spec.
        features_only: return the feature maps at strides 2, 4, 8, 16 and 32 instead of logits.

    What the weights expect and mean travels with the model, so that ``effnet.transforms_for``,
    ``save_model``, ``predict`` and ``eval`` need nothing else: ``preprocess`` (None: the paper's
    default for the spec), ``class_names`` (None: unnamed outputs) and ``weights_source`` (a
    pretrained weight name or a file; None for random initialisation). :func:`effnet.load`,
    ``create_model(pretrained=...)`` and the converters set them.
    """

    preprocess: Preprocess | None
    class_names: list[str] | None
    weights_source: str | None

    def __init__(
        self,
        spec: NetSpec,
        num_classes: int = 1000,
        in_chans: int = 3,
        padding: str = "symmetric",
        dropout: float | None = None,
        drop_path_rate: float | None = None,
        features_only: bool = False,
    ) -> None:
        super().__init__()
        if num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {num_classes}")
        self.spec = spec
        self.in_chans = in_chans
        self.padding = padding
        self.features_only = features_only
        self.preprocess = None
        self.class_names = None
        self.weights_source = None
        act = spec.activation
        conv_kw: dict[str, Any] = dict(
            bn_eps=spec.bn_eps, bn_momentum=spec.bn_momentum, padding=padding
        )

        self.stem = ConvBNAct(
            in_chans, spec.stem.channels, spec.stem.kernel, spec.stem.stride, act=act, **conv_kw
        )
        self.stem_pool = nn.MaxPool2d(3, 2, 1) if spec.stem.max_pool else None

        rate = spec.drop_path_rate if drop_path_rate is None else drop_path_rate
        last = max(spec.num_blocks - 1, 1)
        stages: list[list[nn.Module]] = [[] for _ in spec.stages]
        for index, (stage, block) in enumerate(spec.blocks()):
            stages[stage].append(make_block(block, act, rate * index / last, **conv_kw))
        self.blocks = nn.Sequential(*(nn.Sequential(*stage) for stage in stages))
        self.feature_info = self._feature_info()

        self.num_features = spec.num_features
        if features_only:
            self.head = self.classifier = None
        else:
            self.head = (
                ConvBNAct(spec.stages[-1].out_channels, spec.head_channels, 1, act=act, **conv_kw)
                if spec.head_channels
                else None
            )
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.dropout = nn.Dropout(spec.dropout if dropout is None else dropout)
            self.classifier = self._make_classifier(num_classes)
        self.num_classes = num_classes
        self.reset_parameters()

    # ----------------------------------------------------------------------------------------------
    def _feature_info(self) -> list[dict[str, Any]]:
        """Where the last map at each stride comes from: the stem (-1) or a stage index."""
        stride = self.spec.stem.stride
        points = {stride: {"module": -1, "channels": self.spec.stem.channels, "reduction": stride}}
        if self.spec.stem.max_pool:
            stride *= 2
        for i, stage in enumerate(self.spec.stages):
            stride *= stage.stride
            points[stride] = {"module": i, "channels": stage.out_channels, "reduction": stride}
        return [points[s] for s in sorted(points)]

    def _make_classifier(self, num_classes: int) -> nn.Module:
        return nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()

    def reset_parameters(self) -> None:
        """The paper's initialisation: conv N(0, sqrt(2 / fan_out)), dense U(+-1/sqrt(out))."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)

    def labels(self) -> list[str]:
        """The name of each output: ``class_names``, or "0".."n-1" where the weights name none."""
        return list(self.class_names or (str(i) for i in range(self.num_classes)))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier with a freshly initialised one (for fine-tuning)."""
        if self.features_only:
            raise RuntimeError("a features_only model has no classifier")
        self.num_classes = num_classes
        self.classifier = self._make_classifier(num_classes)
        self.class_names = None  # the old labels name the old classes
        if isinstance(self.classifier, nn.Linear):
            bound = 1.0 / math.sqrt(num_classes)
            nn.init.uniform_(self.classifier.weight, -bound, bound)
            nn.init.zeros_(self.classifier.bias)

    # ----------------------------------------------------------------------------------------------
    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.in_chans:
            raise ValueError(
                f"{self.spec.name} expects images shaped (batch, {self.in_chans}, height, width), "
                f"got {tuple(x.shape)}"
            )

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        return self.stem(x)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map, after the head conv (what the classifier pools)."""
        x = self._stem(x)
        if self.stem_pool is not None:
            x = self.stem_pool(x)
        x = self.blocks(x)
        return self.head(x) if self.head is not None else x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool, dropout and classify a feature map; ``pre_logits`` stops before the classifier."""
        x = self.dropout(self.pool(x).flatten(1))
        return x if pre_logits else self.classifier(x)

    def forward_pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps at strides 2, 4, 8, 16, 32 (the last block output at each stride)."""
        wanted = {info["module"]: i for i, info in enumerate(self.feature_info)}
        out: list[torch.Tensor] = [x] * len(wanted)
        x = self._stem(x)
        if -1 in wanted:
            out[wanted[-1]] = x
        if self.stem_pool is not None:
            x = self.stem_pool(x)
        for i, stage in enumerate(self.blocks):
            x = stage(x)
            if i in wanted:
                out[wanted[i]] = x
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        if self.features_only:
            return self.forward_pyramid(x)
        return self.forward_head(self.forward_features(x))
