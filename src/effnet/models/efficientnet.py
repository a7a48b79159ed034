"""The torch model built from a :class:`~effnet.spec.NetSpec`.

One builder serves EfficientNet and the spec-expressed baselines alike, so anything ``scale()``
produces can be trained. Submodule names (``stem``, ``blocks.<stage>.<block>``, ``head``,
``classifier``) are the state-dict layout that effnet checkpoints use; converters in
``effnet.weights`` map peers' layouts onto it rather than bending the model.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..nn import ConvBNAct, make_block
from ..spec import NetSpec

if TYPE_CHECKING:  # a type only: the data layer sits above the models
    from ..data.preprocess import Preprocess


class FeatureInfo:
    """What a ``features_only`` model returns, level by level, as timm's ``feature_info`` says it.

    Each level is a dict with ``num_chs`` (alias ``channels``), ``reduction`` (the stride from the
    input) and ``module`` (the submodule whose output it is: ``"stem"`` or ``"blocks.<stage>"``).
    ``out_indices`` are the levels the model returns, in order; the helpers take an index into
    them, or None for all: ``channels()`` -> ``[40, 112, 320]`` for B0 with ``out_indices=(2, 3,
    4)``. Iterating yields the returned levels' dicts.
    """

    def __init__(self, levels: list[dict[str, Any]], out_indices: Sequence[int]) -> None:
        self.levels = levels
        self.out_indices = tuple(out_indices)

    def get(self, key: str, idx: int | None = None) -> Any:
        if idx is not None:
            return self.levels[self.out_indices[idx]][key]
        return [self.levels[i][key] for i in self.out_indices]

    def channels(self, idx: int | None = None) -> Any:
        """Channels of each returned map (or of the ``idx``-th)."""
        return self.get("num_chs", idx)

    def reduction(self, idx: int | None = None) -> Any:
        """Stride of each returned map relative to the input (or of the ``idx``-th)."""
        return self.get("reduction", idx)

    def module_name(self, idx: int | None = None) -> Any:
        """Name of the submodule whose output each returned map is (or the ``idx``-th's)."""
        return self.get("module", idx)

    def get_dicts(self, keys: Sequence[str] | None = None) -> list[dict[str, Any]]:
        chosen = [self.levels[i] for i in self.out_indices]
        return [{k: d[k] for k in keys} if keys else dict(d) for d in chosen]

    def __getitem__(self, idx: int) -> dict[str, Any]:
        return dict(self.levels[self.out_indices[idx]])

    def __len__(self) -> int:
        return len(self.out_indices)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.get_dicts())

    def __repr__(self) -> str:
        rows = ", ".join(
            f"{d['module']}: {d['num_chs']}ch /{d['reduction']}" for d in self.get_dicts()
        )
        return f"FeatureInfo({rows})"


def _levels(spec: NetSpec) -> list[dict[str, Any]]:
    """The last map at each stride (2, 4, 8, 16, 32): from the stem or from a stage."""
    stride = spec.stem.stride
    points = {stride: {"stage": -1, "module": "stem", "num_chs": spec.stem.channels}}
    if spec.stem.max_pool:
        stride *= 2
    for i, stage in enumerate(spec.stages):
        stride *= stage.stride
        points[stride] = {"stage": i, "module": f"blocks.{i}", "num_chs": stage.out_channels}
    return [
        {**points[s], "channels": points[s]["num_chs"], "reduction": s, "index": n}
        for n, s in enumerate(sorted(points))
    ]


def _out_indices(out_indices: Sequence[int] | None, levels: list[dict[str, Any]]) -> list[int]:
    """Sorted, unique, non-negative level indices; negative ones count from the deepest level."""
    count = len(levels)
    if out_indices is None:
        return list(range(count))
    chosen = []
    for i in out_indices:
        if not -count <= int(i) < count:
            strides = ", ".join(f"{n}: stride {d['reduction']}" for n, d in enumerate(levels))
            raise ValueError(f"out_indices {tuple(out_indices)}: {i} is not a level ({strides})")
        chosen.append(int(i) % count)
    if not chosen or len(set(chosen)) != len(chosen):
        raise ValueError(f"out_indices must name distinct levels, got {tuple(out_indices)}")
    return sorted(chosen)


#: State-dict prefixes of the classification head, which a ``features_only`` model does not have.
_HEAD_KEYS = ("head.", "classifier.")


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
        features_only: return a list of feature maps instead of logits: by default the last map at
            strides 2, 4, 8, 16 and 32 (levels 0-4); ``feature_info`` describes them.
        out_indices: with ``features_only``, the levels to return, e.g. ``(2, 3, 4)`` for strides
            8, 16, 32 (an FPN's P3-P5); blocks after the deepest one asked for are not run.

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
        out_indices: Sequence[int] | None = None,
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
        if out_indices is not None and not features_only:
            raise ValueError("out_indices selects feature maps: pass features_only=True as well")
        levels = _levels(spec)
        self.feature_info = FeatureInfo(levels, _out_indices(out_indices, levels))

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

    def as_features(self, out_indices: Sequence[int] | None = None, **kwargs: Any) -> EfficientNet:
        """This network's body as a ``features_only`` model: the same weights, no head.

        ``kwargs`` go to the new model (``drop_path_rate``); what the weights expect
        (``preprocess``, ``weights_source``) carries over.
        """
        net = EfficientNet(
            self.spec,
            num_classes=0,
            in_chans=self.in_chans,
            padding=self.padding,
            features_only=True,
            out_indices=out_indices,
            **kwargs,
        )
        body = {k: v for k, v in self.state_dict().items() if not k.startswith(_HEAD_KEYS)}
        net.load_state_dict(body)
        net.preprocess, net.weights_source = self.preprocess, self.weights_source
        return net.train(self.training)

    # ----------------------------------------------------------------------------------------------
    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.in_chans:
            raise ValueError(
                f"{self.spec.name} expects images shaped (batch, {self.in_chans}, height, width), "
                f"got {tuple(x.shape)}"
            )
        weight = next(self.parameters())
        if x.dtype != weight.dtype and not torch.is_autocast_enabled(x.device.type):
            # Autocast mixes precisions on purpose; otherwise say what to do, not what mismatched.
            hint = (
                "convert the images to float (and scale them to the model's preprocessing)"
                if not x.is_floating_point()
                else f"call .to({weight.dtype}) on the images, or on the model, or use autocast"
            )
            raise ValueError(
                f"{self.spec.name} holds {weight.dtype} weights but got {x.dtype} images: {hint}"
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
        """The maps ``feature_info`` lists (default: strides 2, 4, 8, 16, 32), shallowest first."""
        wanted = {info["stage"]: i for i, info in enumerate(self.feature_info)}
        out: list[torch.Tensor] = [x] * len(wanted)
        x = self._stem(x)
        if -1 in wanted:
            out[wanted[-1]] = x
        if self.stem_pool is not None:
            x = self.stem_pool(x)
        last = max(wanted)
        for i, stage in enumerate(self.blocks):
            if i > last:
                break
            x = stage(x)
            if i in wanted:
                out[wanted[i]] = x
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        if self.features_only:
            return self.forward_pyramid(x)
        return self.forward_head(self.forward_features(x))
