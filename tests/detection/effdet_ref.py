"""The ``effdet`` package as the reference: its models with random weights, at any input size."""

from __future__ import annotations

import warnings

import torch

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # effdet's torch.jit.script deprecation notices
    from effdet import EfficientDet as EffdetModel
    from effdet import get_efficientdet_config


def effdet_model(
    name: str, image_size: int, seed: int = 0, fpn_name: str | None = None
) -> torch.nn.Module:
    """effdet's ``tf_efficientdet_<name>`` at ``image_size``, random weights and BN statistics
    (so that every tensor matters), in eval mode; ``fpn_name`` swaps its BiFPN variant."""
    cfg = get_efficientdet_config(f"tf_efficientdet_{name}")
    cfg.image_size = (image_size, image_size)
    if fpn_name is not None:
        cfg.fpn_name = fpn_name
    torch.manual_seed(seed)
    model = EffdetModel(cfg, pretrained_backbone=False).eval()
    with torch.no_grad():
        for key, value in model.state_dict().items():
            if key.endswith("running_var"):
                value.uniform_(0.5, 2.0)
            elif key.endswith("running_mean") or (".bn" in key and key.endswith(".bias")):
                value.normal_(0.0, 0.1)
            elif key.endswith("edge_weights"):
                value.uniform_(0.2, 2.0)
    return model
